"""Shared fixtures: tiny synthetic face-like data, and the real FER2013 zip when present."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import encode_png, zip_with
from PIL import Image

from fercls._threads import usable_cores
from fercls.datasets import CACHE_ENV, fer2013_path

# In one process the suite used 1.2 of two cores on average (17 min 38 s of CPU
# time in 14 min 45 s), so it runs in pytest-xdist workers (-n 2 in
# pyproject.toml) and each worker's TensorFlow gets its share of the cores:
# together they use the machine without oversubscribing it. Scripts the tests
# start inherit the worker's setting.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, usable_cores() // _WORKERS)))
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    """One folder of decoded FER2013 copies for the whole run, workers and scripts included.

    Each script, example and CLI run a test starts loads the zip afresh; with
    ``$FERCLS_CACHE_DIR`` set, the first load decodes its 35,887 JPEGs and the
    others read the arrays back (``load_fer2013``'s own cache, tested in
    test_decoded_cache). Set here, in the process that starts the xdist
    workers, so they and their subprocesses inherit it; removed at the end.
    A folder the developer set is kept.
    """
    if hasattr(config, "workerinput") or os.environ.get(CACHE_ENV):
        return
    config._fercls_cache = tempfile.mkdtemp(prefix="fercls-decoded-")
    os.environ[CACHE_ENV] = config._fercls_cache


def pytest_unconfigure(config):
    folder = getattr(config, "_fercls_cache", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(CACHE_ENV, None)


FER_ROW = " ".join(["128"] * 2304)  # one grey FER2013 pixel string
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
SLOW_MODULES = {"test_examples.py", "test_training_scripts.py", "test_readme.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or "fer_zip" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory):
    """A tiny fitted 48x48 classifier saved as .fercls."""
    import fercls  # TensorFlow starts only in the modules that fit

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (16, 2304)).astype(np.float32) / 255
    y = np.repeat(["happy", "sad"], 8)
    clf = fercls.FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.fercls"
    fercls.save(clf, path)
    return path


@pytest.fixture(scope="session")
def tiny_data_zip(tmp_path_factory):
    """A Kaggle-layout zip of eight noise images: six Training, two PublicTest."""
    rng = np.random.default_rng(1)
    members = {}
    for i in range(8):
        folder, prefix = ("train", "Training") if i < 6 else ("test", "PublicTest")
        emotion = ("happy", "sad")[i % 2]
        image = rng.integers(0, 255, (48, 48)).astype(np.uint8)
        members[f"{folder}/{emotion}/{prefix}_{i}.png"] = encode_png(image)
    return zip_with(tmp_path_factory.mktemp("data") / "data.zip", members)


@pytest.fixture(scope="session")
def malformed_files(tmp_path_factory):
    """Malformed files of every kind, by name: the API and CLI corpora read them."""
    root = tmp_path_factory.mktemp("malformed")
    made = {}

    def add(name, data):
        path = root / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        made[name] = path

    add("good.csv", f"emotion,pixels,Usage\n3,{FER_ROW},PrivateTest\n4,{FER_ROW},PrivateTest\n")
    add("no_columns.csv", "a,b\n1,2\n")
    add("bad_emotion.csv", f"emotion,pixels,Usage\n9,{FER_ROW},Training\n")
    add("short_row.csv", "emotion,pixels,Usage\n0,1 2 3,Training\n")
    add("bad_usage.csv", f"emotion,pixels,Usage\n0,{FER_ROW},Validation\n")
    add("binary.csv", bytes(range(256)) * 4)
    add("truncated.csv.gz", gzip.compress(f"emotion,pixels\n0,{FER_ROW}\n".encode())[:40])
    add("notes.txt", "hello")
    add("corrupt.png", encode_png(np.zeros((48, 48), np.uint8))[:30])
    add("not_an_image.jpg", "just text")
    add("empty.png", b"")

    def add_zip(name, entries):
        path = root / name
        with zipfile.ZipFile(path, "w") as archive:
            for entry, data in entries.items():
                archive.writestr(entry, data)
        made[name] = path

    good = encode_png(np.zeros((48, 48), np.uint8))
    add_zip("layout.zip", {"faces/img1.png": good, "readme.txt": "x"})
    add_zip("traversal.zip", {"../train/happy/Training_1.png": good})
    add_zip("absolute.zip", {"/train/happy/Training_1.png": good})
    add_zip("emotion_folder.zip", {"train/joyful/Training_1.png": good})
    add_zip("truncated_image.zip", {"train/happy/Training_1.png": good[:40]})
    add_zip(
        "wrong_size.zip", {"train/happy/Training_1.png": encode_png(np.zeros((64, 64), np.uint8))}
    )
    add_zip("text_image.zip", {"train/happy/Training_1.png": b"not an image"})
    # A decompression bomb: a 12,000 x 12,000 PNG compresses to ~140 kB.
    add_zip(
        "bomb.zip", {"train/happy/Training_1.png": encode_png(np.zeros((12000, 12000), np.uint8))}
    )
    bomb = root / "bomb.png"
    Image.new("L", (12000, 12000)).save(bomb)
    made["bomb.png"] = bomb
    return made
