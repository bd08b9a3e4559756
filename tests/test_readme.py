"""The README's code blocks run as written (so the tour stays true as the code changes)."""

import re
import sys
import types
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the blocks run as one importable module, as a user's script would: worker processes
    # (minigrad.tune's default executor) find the functions the blocks define by name
    module = types.ModuleType("readme_blocks")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for block in python_blocks()[: index + 1]:  # later blocks build on earlier ones
        exec(compile(block, f"README block {index}", "exec"), namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            value()  # a hypothesis test defined in the README: run it


def test_readme_starts_with_the_two_setup_commands():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].startswith("python -m pip install -e . && python examples/train_mnist.py")
    assert block[1] == 'python -m pip install -e ".[dev,distributed]" && python -m pytest'
