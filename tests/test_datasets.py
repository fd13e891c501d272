import gzip
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import DAMAGED_ZIPS, damaged_zip, encode_png, zip_with
from PIL import Image

from fercls import EMOTIONS, load_fer2013
from fercls.datasets import CACHE_ENV, duplicate_groups, overlaps_training
from fercls.preprocessing import format_pixel_strings

USAGE_PREFIX = {
    "Training": ("train", "Training"),
    "PublicTest": ("test", "PublicTest"),
    "PrivateTest": ("test", "PrivateTest"),
}


@pytest.fixture(scope="module")
def sample():
    """Nine small images: three per split, varied emotions, one exact duplicate."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (9, 2304), dtype=np.uint8)
    pixels[7] = pixels[1]  # a PrivateTest copy of a Training image
    target = np.array([0, 3, 6, 1, 4, 5, 2, 3, 6])
    usage = np.array(["Training"] * 3 + ["PublicTest"] * 3 + ["PrivateTest"] * 3, dtype=object)
    return pixels, target, usage


def png_bytes(row):
    buffer = io.BytesIO()
    Image.fromarray(row.reshape(48, 48)).save(buffer, format="PNG")  # lossless, so pixels match
    return buffer.getvalue()


def image_entries(sample, prefix=""):
    pixels, target, usage = sample
    for i, (row, label, split) in enumerate(zip(pixels, target, usage, strict=True)):
        folder, name = USAGE_PREFIX[split]
        yield f"{prefix}{folder}/{EMOTIONS[label]}/{name}_{1000 + i}.png", png_bytes(row)


def write_csv(path, sample, compress=False):
    pixels, target, usage = sample
    frame = pd.DataFrame(
        {"emotion": target, "pixels": format_pixel_strings(pixels), "Usage": usage}
    )
    text = frame.to_csv(index=False)
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def assert_matches(bunch, sample):
    pixels, target, usage = sample
    np.testing.assert_array_equal(bunch.data, pixels)
    np.testing.assert_array_equal(bunch.target, target)
    assert bunch.usage.tolist() == usage.tolist()
    assert bunch.images.shape == (9, 48, 48) and bunch.data.dtype == np.uint8
    assert bunch.target_names == list(EMOTIONS)


@pytest.mark.parametrize("compress", [False, True], ids=["csv", "csv.gz"])
def test_challenge_csv(tmp_path, sample, compress):
    path = write_csv(tmp_path / ("fer.csv.gz" if compress else "fer.csv"), sample, compress)
    assert_matches(load_fer2013(path), sample)


def test_image_folder(tmp_path, sample):
    for name, data in image_entries(sample):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    bunch = load_fer2013(tmp_path)
    assert_matches(bunch, sample)
    assert bunch.filenames[0] == "train/angry/Training_1000.png"


@pytest.mark.parametrize("prefix", ["", "archive/"], ids=["top", "nested"])
def test_kaggle_zip(tmp_path, sample, prefix):
    path = write_zip(tmp_path / "archive.zip", image_entries(sample, prefix))
    assert_matches(load_fer2013(path), sample)


def test_as_frame_has_the_challenge_columns_from_any_source(tmp_path, sample):
    path = write_zip(tmp_path / "archive.zip", image_entries(sample))
    frame = load_fer2013(path, as_frame=True).frame
    assert list(frame.columns) == ["emotion", "pixels", "Usage"]
    csv = write_csv(tmp_path / "fer.csv", sample)
    pd.testing.assert_frame_equal(frame, load_fer2013(csv, as_frame=True).frame, check_dtype=False)
    X, y = load_fer2013(csv, as_frame=True, return_X_y=True)
    assert list(X.columns) == ["pixels"] and y.name == "emotion"


def test_return_x_y(tmp_path, sample):
    X, y = load_fer2013(write_csv(tmp_path / "fer.csv", sample), return_X_y=True)
    assert X.shape == (9, 2304) and y.tolist() == sample[1].tolist()


def test_files_without_a_split_prefix_take_their_folder(tmp_path, sample):
    entries = [
        (n.replace("Training_", "").replace("PublicTest_", "").replace("PrivateTest_", ""), d)
        for n, d in image_entries(sample)
    ]
    bunch = load_fer2013(write_zip(tmp_path / "a.zip", entries))
    assert sorted(set(bunch.usage)) == ["Test", "Training"]


def test_duplicates_and_overlap_with_training(tmp_path, sample):
    bunch = load_fer2013(write_csv(tmp_path / "fer.csv", sample))
    groups = duplicate_groups(bunch.data)
    assert groups[1] == groups[7] and len(set(groups)) == 8
    assert np.flatnonzero(overlaps_training(bunch)).tolist() == [7]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("emotion,Usage\n3,Training\n", r"missing column\(s\) \['pixels'\]"),
        ("emotion,pixels,Usage\n9,1 2,Training\n", "row 0: emotion 9 is not a challenge id 0..6"),
        ("emotion,pixels,Usage\n3,1 2 3,Training\n", "row 0: expected 2304 pixel values, got 3"),
        ("emotion,pixels,Usage\n3,{px},Testing\n", r"unknown Usage value\(s\) \['Testing'\]"),
    ],
)
def test_malformed_csv_is_rejected_naming_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content.replace("{px}", " ".join(["1"] * 2304)))
    with pytest.raises(ValueError, match=message):
        load_fer2013(path)


def test_csv_without_usage_is_all_training(tmp_path):
    path = tmp_path / "nousage.csv"
    path.write_text("emotion,pixels\n2," + " ".join(["7"] * 2304) + "\n")
    assert load_fer2013(path).usage.tolist() == ["Training"]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("readme.txt", b"hi")], "no images in the Kaggle layout"),
        ([("train/joy/Training_1.png", None)], "unknown emotion folder 'joy'"),
        ([("train/happy/Training_1.png", b"not an image")], "not a readable image"),
        ([("train/happy/Training_1.png", "big")], "image is 64x64, expected 48x48"),
        ([("../evil/train/happy/x.png", None)], "unsafe entry name"),
    ],
)
def test_unexpected_zip_contents_are_rejected(tmp_path, entries, message):
    good = png_bytes(np.zeros(2304, np.uint8))
    big = io.BytesIO()
    Image.new("L", (64, 64)).save(big, format="PNG")
    resolved = [(n, good if d is None else big.getvalue() if d == "big" else d) for n, d in entries]
    with pytest.raises(ValueError, match=message):
        load_fer2013(write_zip(tmp_path / "bad.zip", resolved))


def test_missing_path_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_fer2013(tmp_path / "nope.csv")
    other = tmp_path / "data.parquet"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="expected the challenge CSV"):
        load_fer2013(other)


# ----------------------------------------------------------------- real data
def test_full_zip_counts(fer_bunch):
    assert fer_bunch.data.shape == (35887, 2304)
    counts = pd.Series(fer_bunch.usage).value_counts().to_dict()
    assert counts == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    train = fer_bunch.target[fer_bunch.usage == "Training"]
    assert np.bincount(train).tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert int((fer_bunch.data.max(axis=1) == 0).sum()) == 12  # blank images


def test_full_zip_duplicates_match_the_data_readme(fer_bunch):
    sizes = np.bincount(duplicate_groups(fer_bunch.data))
    assert int((sizes > 1).sum()) == 1516 and int(sizes[sizes > 1].sum()) == 3369
    private = fer_bunch.usage == "PrivateTest"
    assert int((overlaps_training(fer_bunch) & private).sum()) == 288


def test_full_csv_round_trip_matches_the_zip_and_loads_fast(
    fer_bunch, tmp_path_factory, monkeypatch
):
    import time

    monkeypatch.delenv(CACHE_ENV, raising=False)  # time the parsing, not a decoded copy

    path = tmp_path_factory.mktemp("csv") / "fer2013.csv"
    frame = pd.DataFrame(
        {
            "emotion": fer_bunch.target,
            "pixels": format_pixel_strings(fer_bunch.data),
            "Usage": fer_bunch.usage,
        }
    )
    frame.to_csv(path, index=False)
    start = time.perf_counter()
    from_csv = load_fer2013(path)
    seconds = time.perf_counter() - start
    np.testing.assert_array_equal(from_csv.data, fer_bunch.data)
    np.testing.assert_array_equal(from_csv.target, fer_bunch.target)
    assert from_csv.usage.tolist() == fer_bunch.usage.tolist()
    assert seconds < 15, f"the 301 MB CSV took {seconds:.1f} s"


# ------------------------------------------------------- property-based tests
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from fercls.datasets import USAGES  # noqa: E402

PROPERTY = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def fer_rows(draw, max_rows=4):
    n = draw(st.integers(1, max_rows))
    pixels = draw(arrays(np.uint8, (n, 2304), elements=st.integers(0, 255)))
    target = np.asarray(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)))
    usage = np.asarray(draw(st.lists(st.sampled_from(USAGES), min_size=n, max_size=n)), object)
    return pixels, target, usage


@PROPERTY
@given(fer_rows())
def test_csv_round_trip(tmp_path, rows):
    pixels, target, usage = rows
    path = tmp_path / "fer.csv"
    frame = pd.DataFrame(
        {"emotion": target, "pixels": format_pixel_strings(pixels), "Usage": usage}
    )
    frame.to_csv(path, index=False)
    bunch = load_fer2013(path)
    np.testing.assert_array_equal(bunch.data, pixels)
    np.testing.assert_array_equal(bunch.target, target)
    assert bunch.usage.tolist() == usage.tolist()


@PROPERTY
@given(fer_rows())
def test_zip_round_trip_orders_by_split_then_name(tmp_path, rows):
    pixels, target, usage = rows
    path = tmp_path / "fer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i, (image, label, split) in enumerate(zip(pixels, target, usage, strict=True)):
            folder, prefix = USAGE_PREFIX[split]
            buffer = io.BytesIO()
            Image.fromarray(image.reshape(48, 48)).save(buffer, format="PNG")
            archive.writestr(f"{folder}/{EMOTIONS[label]}/{prefix}_{i:03d}.png", buffer.getvalue())
    bunch = load_fer2013(path)
    order = sorted(range(len(usage)), key=lambda i: (USAGES.index(usage[i]), i))
    np.testing.assert_array_equal(bunch.data, pixels[order])
    np.testing.assert_array_equal(bunch.target, target[order])


@PROPERTY
@given(st.text(max_size=300))
def test_arbitrary_csv_text_loads_or_raises_value_error(tmp_path, text):
    path = tmp_path / "fer.csv"
    path.write_text(text, encoding="utf-8")
    try:
        bunch = load_fer2013(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:
        assert bunch.data.shape[1] == 2304 and bunch.data.dtype == np.uint8


@PROPERTY
@given(st.binary(max_size=200))
def test_arbitrary_image_bytes_in_a_zip_raise_value_error_naming_the_entry(tmp_path, data):
    path = tmp_path / "fer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train/happy/Training_0.png", data)
    with pytest.raises(ValueError, match="Training_0.png"):
        load_fer2013(path)


# Bad input: damaged zips, image bombs, FIFOs, devices, split rows, 16-bit images
@pytest.mark.parametrize("kind", DAMAGED_ZIPS)
def test_damaged_zip_members_are_value_errors_naming_the_member(tmp_path, kind):
    path = damaged_zip(tmp_path, kind)
    with pytest.raises(ValueError, match="Training_1.png"):
        load_fer2013(path)


def test_a_decompression_bomb_image_is_a_value_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 48x48 is then a "bomb"
    path = zip_with(
        tmp_path / "d.zip", {"train/happy/Training_1.png": encode_png(np.zeros((48, 48), np.uint8))}
    )
    with pytest.raises(ValueError, match="Training_1.png.*not a readable image"):
        load_fer2013(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need POSIX")
def test_a_fifo_in_an_image_folder_is_refused_without_blocking(tmp_path):
    folder = tmp_path / "train" / "happy"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "x.png")
    with pytest.raises(ValueError, match="x.png: not a regular file"):
        load_fer2013(tmp_path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_symlink_to_a_device_is_not_read(tmp_path):
    folder = tmp_path / "train" / "happy"
    folder.mkdir(parents=True)
    (folder / "x.png").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="x.png: not a regular file"):
        load_fer2013(tmp_path)


def test_a_csv_field_holding_two_images_names_its_row(tmp_path):
    row = " ".join(["7"] * 2304)
    path = tmp_path / "fer.csv"
    path.write_text(f'emotion,pixels,Usage\n3,"{row}\n{row}",Training\n4,,Training\n')
    with pytest.raises(ValueError, match="row 0"):
        load_fer2013(path)


def test_16_bit_pngs_are_scaled_not_clipped(tmp_path):
    grey16 = np.full((48, 48), 30000, np.uint16)
    path = zip_with(tmp_path / "d.zip", {"train/happy/Training_1.png": encode_png(grey16)})
    assert load_fer2013(path).data.max() == round(30000 / 65535 * 255)
