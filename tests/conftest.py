"""Shared fixtures: tiny synthetic face-like data, and the real FER2013 zip when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fercls.datasets import fer2013_path

# Tests train tiny networks; two threads each keep the 2-core CI machine busy
# without oversubscribing it.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
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
