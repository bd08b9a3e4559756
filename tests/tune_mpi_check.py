"""Run by tests/test_tune.py as `mpiexec -n 3 python -m mpi4py.futures tests/tune_mpi_check.py`:
a search whose trials run on the MPI worker ranks through mpi4py's MPIPoolExecutor."""

from mpi4py.futures import MPIPoolExecutor  # noqa: TID251  (a user's script, not the package)
from test_tune import quadratic

from minigrad import tune

if __name__ == "__main__":
    space = {"x": tune.uniform(-1, 1), "y": tune.choice(["a", "b"])}
    with MPIPoolExecutor() as pool:
        result = tune.random_search(quadratic, space, 9, max_budget=3, seed=4, executor=pool)
    local = tune.random_search(quadratic, space, 9, max_budget=3, seed=4, max_workers=1)
    assert [r["score"] for r in result.rows] == [r["score"] for r in local.rows]
    print("ok", len(result.rows), "runs, best", result.best["config"])
