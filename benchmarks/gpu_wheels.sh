#!/usr/bin/env bash
# Fetch into .whl/ the wheels that the GPU machine's image lacks (it has no network), for
# benchmarks/gpu_check.sh to install with pip --no-index. Run on a machine that reaches PyPI:
#
#   bash benchmarks/gpu_wheels.sh            # then carry .whl/ along with the working tree
#
# array-api-compat is what minigrad needs (setup.cfg); array-api-strict is the "strict" device
# that tests/test_cross_backend.py compares against. Both are pure Python (py3-none-any); the
# platform flags only matter if a compiled wheel is ever added. The versions are those the
# suite passes with here. .whl/ is added to .git/info/exclude so that it is never committed.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
PACKAGES=("array-api-compat==1.16.0" "array-api-strict==2.6.1")

exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF ".whl/" "$exclude" 2>/dev/null || echo ".whl/" >>"$exclude"

"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl "${PACKAGES[@]}"
ls -l .whl
