"""The backend rule of DESIGN.md section 3, checked on the source: only backend.py imports CuPy,
and the device-math modules do not import NumPy (they use the array namespace instead)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minigrad"
DEVICE_MATH = ["tensor.py", "creation.py", "ops.py", "shape_ops.py", "functional", "optim", "nn"]


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def sources():
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_backend_imports_cupy(path):
    if path.name == "backend.py" and path.parent == PACKAGE:
        return
    found = set(imported_modules(path)) & {"cupy", "cupyx"}
    assert not found, f"{path.name} imports {found}; device specifics belong in backend.py"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_distributed_imports_mpi4py(path):
    if path.name == "distributed.py" and path.parent == PACKAGE:
        return
    assert "mpi4py" not in set(imported_modules(path)), (
        f"{path.name} imports mpi4py; process-group code belongs in distributed.py"
    )


def device_math_sources():
    for entry in DEVICE_MATH:
        target = PACKAGE / entry
        yield from ([target] if target.is_file() else sorted(target.rglob("*.py")))


@pytest.mark.parametrize("path", list(device_math_sources()), ids=lambda p: p.name)
def test_device_math_does_not_import_numpy(path):
    assert "numpy" not in set(imported_modules(path)), (
        f"{path.relative_to(PACKAGE)} imports numpy: use backend.xp_of(x) / self.xp so the "
        "same code runs on CuPy and the strict test device"
    )


def test_the_rule_sees_a_planted_import(tmp_path):
    planted = tmp_path / "bad.py"
    planted.write_text("import cupy\nfrom numpy import zeros\n")
    assert set(imported_modules(planted)) == {"cupy", "numpy"}
