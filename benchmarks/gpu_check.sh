#!/usr/bin/env bash
# The GPU check: everything that needs an NVIDIA GPU, in one time-boxed run (benchmarks/README.md,
# "GPU check"). Steps, each in its own process and time box, a failure not stopping the next:
#   0a install the wheels carried in .whl/ (bash benchmarks/gpu_wheels.sh fetches them)
#   0b versions: device, CuPy, CUDA driver/runtime, PyTorch
#   2  tests/test_cross_backend.py: cpu against strict and cuda, CUPY_TF32=0
#   3  host reads and CuPy memory of the main example's train step (gpu_steps.py syncs)
#   4  throughput against PyTorch CUDA (gpu_steps.py throughput)
#   5  NCCL on one rank (gpu_steps.py nccl)
#   1  the test suite on the cuda device, last: it gets what is left of the time budget
# Without a GPU it is a dry run: GPU parts are skipped ("skipped: no CUDA GPU"), steps 2 and 3
# run on the CPU (strict / cpu) unless GPU_CHECK_CPU_PARTS=0.
#
#   bash benchmarks/gpu_check.sh OUT_DIR    -> OUT_DIR/report.md, OUT_DIR/*.log
#
# Exit status 0 means report.md was written; each step's result is in it.
# Settings: PYTHON (python3), GPU_CHECK_WHEELS (.whl), GPU_CHECK_SITE (/tmp/site),
# GPU_CHECK_BUDGET (seconds, 420), GPU_CHECK_CPU_PARTS (1), GPU_CHECK_WORKERS (8).
set -u

OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
PY=${PYTHON:-python3}
WHEELS=${GPU_CHECK_WHEELS:-.whl}
SITE=${GPU_CHECK_SITE:-/tmp/site}
BUDGET=${GPU_CHECK_BUDGET:-420}
CPU_PARTS=${GPU_CHECK_CPU_PARTS:-1}
WORKERS=${GPU_CHECK_WORKERS:-8}
RESERVE=20 # seconds kept for the report
START=$SECONDS
: >"$OUT/steps.tsv"
: >"$OUT/gpu_check.log"

say() {
    echo "[$(date -u +%H:%M:%S) +$((SECONDS - START))s] $*" | tee -a "$OUT/gpu_check.log"
}

record() { # number name result seconds log note
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >>"$OUT/steps.tsv"
    say "step $1 ($2): $3 in $4 s${6:+ | $6}"
}

last_line() { # the log's last non-empty line, fit for a table cell
    grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | tr '|\t' '/ ' | cut -c 1-160
}

run_step() { # number name limit log command...
    local number=$1 name=$2 want=$3 log=$4
    shift 4
    local left=$((BUDGET - RESERVE - (SECONDS - START)))
    local limit=$((want < left ? want : left))
    if [ "$limit" -lt 10 ]; then
        record "$number" "$name" "skip" 0 "-" "no time left in the ${BUDGET}s budget"
        return
    fi
    say "step $number ($name): start, time box ${limit}s"
    local t0=$SECONDS rc result
    timeout -k 10 "$limit" "$@" >"$OUT/$log" 2>&1
    rc=$?
    case $rc in
    0) result=pass ;;
    77) result=skip ;;
    124 | 137) result="fail (timeout ${limit}s)" ;;
    *) result="fail (exit $rc)" ;;
    esac
    record "$number" "$name" "$result" "$((SECONDS - t0))" "$log" "$(last_line "$OUT/$log")"
}

skip_step() { # number name reason
    record "$1" "$2" "skip" 0 "-" "$3"
}

say "GPU check in $ROOT -> $OUT (budget ${BUDGET}s)"

# ----- 0a: what the image lacks, from wheels carried along (never from the network)
if compgen -G "$WHEELS/*.whl" >/dev/null && "$PY" -m pip --version >/dev/null 2>&1; then
    run_step 0a "install wheels" 120 install.log env PIP_ROOT_USER_ACTION=ignore \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q --no-index --no-deps \
        --no-compile --upgrade --target "$SITE" "$WHEELS"/*.whl
elif compgen -G "$WHEELS/*.whl" >/dev/null; then
    # an environment without pip: a pure-Python wheel installs by unzipping it onto the path
    run_step 0a "install wheels (no pip: unzipped)" 60 install.log "$PY" -c \
        "import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]" \
        "$SITE" "$WHEELS"/*.whl
else
    skip_step 0a "install wheels" "no wheels in $WHEELS/ (benchmarks/gpu_wheels.sh fetches them)"
fi
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# ----- 0b: versions; is there a GPU at all?
run_step 0b "versions" 60 info.log "$PY" -m benchmarks.gpu_steps info "$OUT"
if timeout 60 "$PY" -m benchmarks.gpu_steps has-gpu; then GPU=1; else GPU=0; fi
NO_GPU="skipped: no CUDA GPU"
say "CUDA GPU usable: $([ $GPU = 1 ] && echo yes || echo "no ($NO_GPU)")"

PYTEST=("$PY" -m pytest -rf -p no:cacheprovider) # -q comes from pyproject.toml
AUTOLOAD_OFF=${PYTEST_DISABLE_PLUGIN_AUTOLOAD:-} # then plugins must be named with -p
if "$PY" -c "import pytest_timeout" 2>/dev/null; then
    if [ -n "$AUTOLOAD_OFF" ]; then PYTEST+=(-p pytest_timeout); fi
    PYTEST+=(--timeout 120)
fi

# ----- 2: the same ops and train steps on cpu and on cuda (and strict)
if [ $GPU = 1 ] || [ "$CPU_PARTS" = 1 ]; then
    run_step 2 "cross-backend test$([ $GPU = 1 ] || echo ", strict only: cuda $NO_GPU")" 120 \
        cross_backend.log env CUPY_TF32=0 "${PYTEST[@]}" tests/test_cross_backend.py
else
    skip_step 2 "cross-backend test" "$NO_GPU"
fi

# ----- 3: host reads per train step (a dry run on cpu without a GPU) and CuPy's memory
if [ $GPU = 1 ]; then
    run_step 3 "host reads and memory" 90 syncs.log "$PY" -m benchmarks.gpu_steps syncs "$OUT"
elif [ "$CPU_PARTS" = 1 ]; then
    run_step 3 "host reads, dry run on cpu ($NO_GPU)" 90 syncs.log \
        "$PY" -m benchmarks.gpu_steps syncs "$OUT" --device cpu --steps 3 --scale 8
else
    skip_step 3 "host reads and memory" "$NO_GPU"
fi

# ----- 4 and 5: GPU only
if [ $GPU = 1 ]; then
    run_step 4 "throughput vs PyTorch CUDA" 180 throughput.log \
        "$PY" -m benchmarks.gpu_steps throughput "$OUT"
    run_step 5 "NCCL, one rank" 60 nccl.log \
        env CUPY_TF32=0 "$PY" -m benchmarks.gpu_steps nccl "$OUT"
else
    skip_step 4 "throughput vs PyTorch CUDA" "$NO_GPU"
    skip_step 5 "NCCL, one rank" "$NO_GPU"
fi

# ----- 1: the suite's device-parametrised tests on cuda, with what is left of the budget
if [ $GPU = 1 ]; then
    SUITE_ARGS=()
    if "$PY" -c "import xdist" 2>/dev/null; then
        SUITE_ARGS=(-n "$WORKERS")
        if [ -n "$AUTOLOAD_OFF" ]; then SUITE_ARGS=(-p xdist.plugin "${SUITE_ARGS[@]}"); fi
    fi
    # pytest-timeout's --session-timeout ends the run in time to print its summary
    LEFT=$((BUDGET - RESERVE - (SECONDS - START)))
    if "$PY" -m pytest --help 2>/dev/null | grep -q -- --session-timeout; then
        SUITE_ARGS+=(--session-timeout $((LEFT > 90 ? LEFT - 30 : 60)))
    fi
    run_step 1 "test suite on cuda (-k cuda)" 600 suite.log env MINIGRAD_TEST_DEVICES=cuda \
        HYPOTHESIS_PROFILE=ci CUPY_TF32=0 "${PYTEST[@]}" ${SUITE_ARGS[@]+"${SUITE_ARGS[@]}"} \
        --durations 15 --junitxml "$OUT/suite.xml" -k cuda tests
else
    skip_step 1 "test suite on cuda" "$NO_GPU"
fi

"$PY" -m benchmarks.gpu_steps report "$OUT" >>"$OUT/gpu_check.log" 2>&1
say "done in $((SECONDS - START)) s"
cat "$OUT/report.md" || exit 1
