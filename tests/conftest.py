"""Test configuration: every test taking `device` runs once per device in
$MINIGRAD_TEST_DEVICES (default "cpu,strict"; add "cuda" on a GPU machine)."""

import os

import pytest

from minigrad import backend
from minigrad import testing as mt

mt.load_profile(os.environ.get("HYPOTHESIS_PROFILE"))


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", backend.test_devices())


def pytest_collection_modifyitems(config, items):
    if backend.cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU (CuPy missing or no device)")
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and str(callspec.params.get("device", "")).startswith("cuda"):
            item.add_marker(skip)
