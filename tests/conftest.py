"""Shared fixtures: tiny synthetic face-like data, and the real FER2013 zip when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fercls._threads import usable_cores
from fercls.datasets import fer2013_path

# In one process the suite used 1.2 of two cores on average (17 min 38 s of CPU
# time in 14 min 45 s), so it runs in pytest-xdist workers (-n 2 in
# pyproject.toml) and each worker's TensorFlow gets its share of the cores:
# together they use the machine without oversubscribing it. Scripts the tests
# start inherit the worker's setting.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, usable_cores() // _WORKERS)))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FER_ZIP = fer2013_path(__file__)  # $FERCLS_FER2013, or ../shared/data/fer2013.zip


@pytest.fixture(scope="session")
def fer_zip() -> Path:
    """The complete FER2013 zip; tests that need it skip where it is absent."""
    if not FER_ZIP.exists():
        pytest.skip(
            f"FER2013 zip not found at {FER_ZIP} (set FERCLS_FER2013 to its path to run this test)"
        )
    return FER_ZIP


@pytest.fixture(scope="session")
def fer_bunch(fer_zip):
    from fercls import load_fer2013

    return load_fer2013(fer_zip)


# The outer loop: whole-data tests, scripts and docs run end to end (and tests that
# start TensorFlow in other processes, marked where they are). The inner
# loop leaves them out: python -m pytest -m "not slow".
SLOW_MODULES = {"test_examples.py", "test_benchmarks.py", "test_readme.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or "fer_zip" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
