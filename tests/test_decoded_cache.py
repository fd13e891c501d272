"""load_fer2013's decoded copies: the same arrays back, never stale, never code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import encode_png, zip_with

from fercls import EMOTIONS, load_fer2013
from fercls.datasets import CACHE_ENV
from fercls.preprocessing import format_pixel_strings

N_IMAGES = 6


@pytest.fixture
def pixels():
    return np.random.default_rng(0).integers(0, 256, (N_IMAGES, 2304), dtype=np.uint8)


@pytest.fixture
def fer_zip(tmp_path, pixels):
    """A Kaggle-layout zip: four Training and two PrivateTest PNGs (lossless)."""
    members = {}
    for i, row in enumerate(pixels):
        split, folder = ("Training", "train") if i < 4 else ("PrivateTest", "test")
        members[f"{folder}/{EMOTIONS[i]}/{split}_{i}.png"] = encode_png(row.reshape(48, 48))
    return zip_with(tmp_path / "fer.zip", members)


@pytest.fixture(autouse=True)
def no_cache_from_the_environment(monkeypatch):
    # The suite sets $FERCLS_CACHE_DIR for its scripts; these tests name their folder.
    monkeypatch.delenv(CACHE_ENV, raising=False)


def copies(folder):
    return sorted(folder.glob("*.npz")) if folder.exists() else []


def assert_same_bunch(actual, expected):
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert actual[key].dtype == value.dtype, key
            np.testing.assert_array_equal(actual[key], value, err_msg=key)
        else:
            assert actual[key] == value, key


def test_a_second_load_reads_the_same_arrays_from_one_copy(fer_zip, tmp_path):
    cache = tmp_path / "cache"
    decoded = load_fer2013(fer_zip)
    first = load_fer2013(fer_zip, cache_dir=cache)
    assert len(copies(cache)) == 1
    second = load_fer2013(fer_zip, cache_dir=cache)
    assert_same_bunch(first, decoded)
    assert_same_bunch(second, decoded)
    assert second.usage.dtype == object and second.filenames.dtype == object


def test_the_copy_is_what_is_read(fer_zip, tmp_path):
    # Proves the second load does not decode: an edited copy shows through.
    cache = tmp_path / "cache"
    load_fer2013(fer_zip, cache_dir=cache)
    (copy,) = copies(cache)
    with np.load(copy) as saved:
        arrays = dict(saved)
    arrays["target"] = np.full(N_IMAGES, 6, dtype=np.int64)
    np.savez(copy, **arrays)
    assert load_fer2013(fer_zip, cache_dir=cache).target.tolist() == [6] * N_IMAGES


def test_a_changed_source_is_decoded_afresh(fer_zip, pixels, tmp_path):
    cache = tmp_path / "cache"
    load_fer2013(fer_zip, cache_dir=cache)
    changed = pixels[::-1].copy()
    members = {
        f"train/{EMOTIONS[i]}/Training_{i}.png": encode_png(row.reshape(48, 48))
        for i, row in enumerate(changed)
    }
    zip_with(fer_zip, members)
    reloaded = load_fer2013(fer_zip, cache_dir=cache)
    np.testing.assert_array_equal(reloaded.data, changed)
    assert len(copies(cache)) == 2


def test_the_environment_names_the_folder_when_none_is_given(fer_zip, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "from-env"))
    load_fer2013(fer_zip)
    assert len(copies(tmp_path / "from-env")) == 1


def test_without_a_folder_nothing_is_written(fer_zip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so a copy kept in the working folder would show
    before = sorted(p.name for p in tmp_path.rglob("*"))
    load_fer2013(fer_zip)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_csv_is_cached_without_file_names(pixels, tmp_path):
    csv = tmp_path / "fer.csv"
    frame = pd.DataFrame(
        {
            "emotion": np.arange(N_IMAGES),
            "pixels": format_pixel_strings(pixels),
            "Usage": "Training",
        }
    )
    frame.to_csv(csv, index=False)
    cache = tmp_path / "cache"
    load_fer2013(csv, cache_dir=cache)
    again = load_fer2013(csv, cache_dir=cache, as_frame=True)
    assert "filenames" not in again
    np.testing.assert_array_equal(again.data, pixels)
    assert again.frame["pixels"].tolist() == frame["pixels"].tolist()


def test_an_image_folder_is_not_cached(fer_zip, tmp_path):
    import zipfile

    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(fer_zip) as archive:
        archive.extractall(folder)
    cache = tmp_path / "cache"
    assert len(load_fer2013(folder, cache_dir=cache).target) == N_IMAGES
    assert copies(cache) == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(b"not an npz"), id="garbage"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[:1000]), id="truncated"),
        pytest.param(
            lambda path: np.savez(path, pixels=np.zeros((2, 10), np.uint8)), id="wrong-shapes"
        ),
    ],
)
def test_a_damaged_copy_is_decoded_again_and_replaced(fer_zip, tmp_path, damage):
    cache = tmp_path / "cache"
    expected = load_fer2013(fer_zip, cache_dir=cache)
    (copy,) = copies(cache)
    damage(copy)
    assert_same_bunch(load_fer2013(fer_zip, cache_dir=cache), expected)
    assert_same_bunch(load_fer2013(fer_zip, cache_dir=cache), expected)  # the rewritten copy


class _Planted:
    """Unpickling this would create the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_copy_holding_pickled_objects_runs_no_code(fer_zip, tmp_path):
    cache = tmp_path / "cache"
    expected = load_fer2013(fer_zip, cache_dir=cache)
    (copy,) = copies(cache)
    marker = tmp_path / "code-ran"
    planted = np.array([_Planted(marker)] * N_IMAGES, dtype=object)
    with np.load(copy) as saved:
        arrays = dict(saved)
    np.savez(copy, **{**arrays, "usage": planted}, allow_pickle=True)
    assert_same_bunch(load_fer2013(fer_zip, cache_dir=cache), expected)
    assert not marker.exists()


def test_a_folder_that_cannot_be_written_warns_and_still_loads(fer_zip, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file where the cache folder should be")
    with pytest.warns(RuntimeWarning, match="could not keep a decoded copy"):
        bunch = load_fer2013(fer_zip, cache_dir=not_a_folder / "cache")
    assert len(bunch.target) == N_IMAGES
    assert not_a_folder.read_text().startswith("a file")


def test_a_file_in_no_known_layout_fails_before_any_copy(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(ValueError, match="expected the challenge CSV"):
        load_fer2013(other, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
