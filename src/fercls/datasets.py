"""Load FER2013 from every form users have it: the challenge CSV, the Kaggle
image folders, or their zip."""

from __future__ import annotations

import io
import os
import re
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import Literal, overload

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._decoded_cache import CACHE_ENV, cache_file, read_decoded, write_decoded
from ._images import IMAGE_SUFFIXES, pil_to_array
from ._io import checked_zip_entries, read_regular_file, read_zip_member, short_reason
from ._pixels import FER_N_PIXELS, format_pixel_strings, parse_pixel_strings
from .labels import EMOTIONS

__all__ = [
    "load_fer2013",
    "duplicate_groups",
    "overlaps_training",
    "summarize",
    "fer2013_path",
    "FER2013_ENV",
    "CACHE_ENV",
    "USAGES",
    "IMAGE_SIZE",
]

IMAGE_SIZE = (48, 48)
USAGES = ("Training", "PublicTest", "PrivateTest")
CSV_COLUMNS = ("emotion", "pixels", "Usage")
_USAGE_FROM_NAME = re.compile(r"^(Training|PublicTest|PrivateTest)_")
# Fallback usage for image files whose names carry no challenge split.
_USAGE_FROM_FOLDER = {"train": "Training", "test": "Test"}
# A FER2013 zip holds ~36k 48x48 images (~62 MB); refuse archives claiming far more.
MAX_ZIP_UNCOMPRESSED_BYTES = 2 * 1024**3
# A 48x48 face is ~2 KB as PNG/JPEG and 7 KB as BMP; no image file needs more than this.
MAX_IMAGE_FILE_BYTES = 4 * 1024**2


@overload
def load_fer2013(
    path: str | os.PathLike,
    *,
    as_frame: bool = ...,
    return_X_y: Literal[False] = ...,
    cache_dir: str | os.PathLike | None = ...,
) -> Bunch: ...


@overload
def load_fer2013(
    path: str | os.PathLike,
    *,
    as_frame: bool = ...,
    return_X_y: Literal[True],
    cache_dir: str | os.PathLike | None = ...,
) -> tuple: ...


def load_fer2013(
    path: str | os.PathLike,
    *,
    as_frame: bool = False,
    return_X_y: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> Bunch | tuple:
    """Load FER2013 from the challenge CSV, the Kaggle image folders or their zip.

    Parameters
    ----------
    path : str or path-like
        One of:

        - the original challenge CSV (``emotion,pixels,Usage``), ``.csv`` or ``.csv.gz``;
        - a folder in the Kaggle layout ``train/<emotion>/*.jpg``, ``test/<emotion>/*.jpg``;
        - that layout zipped (the Kaggle download), folders at the top or one level down.
    as_frame : bool, default=False
        Also build ``frame``: a DataFrame with the challenge's columns
        (``emotion``, ``pixels`` as strings, ``Usage``), whatever the source.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch; with ``as_frame=True``,
        ``(frame[["pixels"]], frame["emotion"])``.
    cache_dir : str, path-like or None, default=None
        A folder in which to keep a decoded copy of a zip or CSV source, so the
        next load of the same file (in any process) reads arrays instead of
        decoding 35,887 images. The copy is named by a hash of the file's bytes,
        so a changed file is decoded afresh. None uses ``$FERCLS_CACHE_DIR`` when
        it is set and keeps no copy otherwise. Image folders are not cached.

    Returns
    -------
    data : Bunch
        ``data`` (n, 2304) uint8; ``images`` (n, 48, 48) uint8 (a view of
        ``data``); ``target`` int64 challenge ids 0..6; ``target_names`` (the
        emotion names in id order); ``usage`` per row (``Training``,
        ``PublicTest``, ``PrivateTest``; image files whose names carry no split
        get ``Training``/``Test`` from their folder); ``filenames`` for image
        sources; ``frame`` when ``as_frame``; ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not in a layout above, naming what was found.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> csv = pathlib.Path(tempfile.mkdtemp()) / "fer.csv"
    >>> pixels = " ".join(["128"] * 2304)
    >>> _ = csv.write_text(f"emotion,pixels,Usage\\n3,{pixels},Training\\n")
    >>> bunch = load_fer2013(csv)
    >>> bunch.data.shape, bunch.target.tolist(), bunch.usage.tolist()
    ((1, 2304), [3], ['Training'])
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"FER2013 source not found: {path}")
    read = _reader(path)  # before any hashing: a file in no known layout fails at once
    cached = cache_file(path, cache_dir)
    decoded = read_decoded(cached) if cached is not None else None
    if decoded is None:
        decoded = read(path)
        if cached is not None:
            write_decoded(cached, *decoded)
    pixels, target, usage, filenames = decoded
    bunch = Bunch(
        data=pixels,
        images=pixels.reshape(-1, *IMAGE_SIZE),
        target=target,
        target_names=list(EMOTIONS),
        usage=usage,
        DESCR=f"FER2013 loaded from {path}: {len(target)} images of 48x48 grayscale faces.",
    )
    if filenames is not None:
        bunch.filenames = filenames
    if as_frame:
        bunch.frame = pd.DataFrame(
            {"emotion": target, "pixels": format_pixel_strings(pixels), "Usage": usage}
        )
        if return_X_y:
            return bunch.frame[["pixels"]], bunch.frame["emotion"]
    if return_X_y:
        return pixels, target
    return bunch


def _reader(path: Path):
    """The function reading ``path`` as ``(pixels, target, usage, filenames)``."""
    if path.is_dir():
        return _read_image_folder
    if zipfile.is_zipfile(path):
        return _read_zip
    if path.name.lower().endswith((".csv", ".csv.gz")):
        return _read_csv
    raise ValueError(
        f"{path}: expected the challenge CSV (.csv/.csv.gz), a Kaggle image folder or its zip"
    )


_UNREADABLE = (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError)


def _read_csv(path: Path):
    try:
        header = pd.read_csv(path, nrows=0).columns
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty file; expected the challenge CSV") from None
    except _UNREADABLE as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in ("emotion", "pixels") if c not in header]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; expected the challenge columns "
            f"{list(CSV_COLUMNS)}, found {list(header)}"
        )
    columns = ["emotion", "pixels"] + (["Usage"] if "Usage" in header else [])
    try:
        frame = pd.read_csv(
            path, usecols=columns, dtype={"pixels": object, "Usage": object}, keep_default_na=False
        )
    except _UNREADABLE as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc})") from None
    if frame.empty:
        raise ValueError(f"{path}: a header but no data rows; expected one row per image")
    target = _check_emotion_ids(frame["emotion"], path)
    try:
        pixels = parse_pixel_strings(frame["pixels"].tolist(), FER_N_PIXELS)
    except ValueError as exc:
        # Row numbers in the parser count data rows from 0; the file's line is 2 more.
        raise ValueError(f"{path}: {exc} (data rows count from 0, after the header)") from None
    if "Usage" in frame:
        usage = frame["Usage"].to_numpy(dtype=object)
        unknown = sorted(set(usage) - set(USAGES))
        if unknown:
            raise ValueError(f"{path}: unknown Usage value(s) {unknown}; expected {list(USAGES)}")
    else:
        usage = np.full(len(frame), "Training", dtype=object)
    return pixels, target, usage, None  # a CSV names no files


def _check_emotion_ids(column: pd.Series, path: Path) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() | (values < 0) | (values > 6) | (values != values.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = column.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(f"{path}: row {row}: emotion {value!r} is not a challenge id 0..6")
    return values.to_numpy().astype(np.int64)


def _classify_entry(relative: PurePosixPath):
    """(usage, emotion id) for ``<split>/<emotion>/<file>``, or None for other files."""
    parts = relative.parts
    if len(parts) != 3 or not parts[2].lower().endswith(IMAGE_SUFFIXES):
        return None
    split, emotion, name = parts
    if split.lower() not in _USAGE_FROM_FOLDER:
        return None
    if emotion.lower() not in EMOTIONS:
        raise ValueError(
            f"{relative}: unknown emotion folder {emotion!r}; expected one of {', '.join(EMOTIONS)}"
        )
    match = _USAGE_FROM_NAME.match(name)
    usage = match.group(1) if match else _USAGE_FROM_FOLDER[split.lower()]
    return usage, EMOTIONS.index(emotion.lower())


def _find_root(names: list[PurePosixPath]) -> PurePosixPath:
    """The folder holding ``train``/``test``: the top, or one level down (``archive/``)."""
    for name in names:
        for depth in (0, 1):
            if len(name.parts) > depth and name.parts[depth].lower() in _USAGE_FROM_FOLDER:
                return PurePosixPath(*name.parts[:depth])
    return PurePosixPath()


USAGE_ORDER = {usage: i for i, usage in enumerate(USAGES)}


def _collect(names: list[PurePosixPath], source) -> list:
    root = _find_root(names)
    entries = []
    for name in names:
        try:
            relative = name.relative_to(root)
        except ValueError:
            continue
        info = _classify_entry(relative)
        if info is not None:
            entries.append((USAGE_ORDER.get(info[0], 3), relative.name, str(relative), info, name))
    if not entries:
        raise ValueError(
            f"{source}: no images in the Kaggle layout train/<emotion>/*.jpg or "
            f"test/<emotion>/*.jpg (emotions: {', '.join(EMOTIONS)})"
        )
    # Challenge order: Training, PublicTest, PrivateTest; within a split by file
    # name, not folder, so classes interleave (a slice X[:n] holds every class).
    entries.sort(key=lambda e: e[:3])
    return [e[2:] for e in entries]


def _decode(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    # PIL raises DecompressionBombError from open() for huge headers; any other
    # decoder failure (truncated streams, bad chunks) is some Exception too.
    try:
        # PIL warns about huge images when opening; the size check below refuses them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image_file = Image.open(io.BytesIO(data))
        with image_file as image:
            if image.size != IMAGE_SIZE[::-1]:
                raise ValueError(
                    f"{name}: image is {image.size[0]}x{image.size[1]}, expected 48x48"
                )
            return pil_to_array(image, gray=True)
    except ValueError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{name}: not a readable image ({exc})") from None
    except Exception as exc:  # a damaged file can fail anywhere inside a decoder
        raise ValueError(f"{name}: not a readable image ({short_reason(exc)})") from None


def _stack(entries, read) -> tuple:
    pixels = np.empty((len(entries), FER_N_PIXELS), dtype=np.uint8)
    for row, (relative, _, name) in enumerate(entries):
        pixels[row] = _decode(read(name), relative).reshape(-1)
    target = np.fromiter((e[1][1] for e in entries), dtype=np.int64, count=len(entries))
    usage = np.asarray([e[1][0] for e in entries], dtype=object)
    filenames = np.asarray([e[0] for e in entries], dtype=object)
    return pixels, target, usage, filenames


def _read_zip(path: Path):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path}: damaged zip archive ({short_reason(exc)})") from None
    with archive:
        infos = checked_zip_entries(archive, path, max_bytes=MAX_ZIP_UNCOMPRESSED_BYTES)
        entries = _collect([PurePosixPath(i.filename) for i in infos], path)
        return _stack(
            entries,
            lambda name: read_zip_member(archive, str(name), path, max_bytes=MAX_IMAGE_FILE_BYTES),
        )


def _read_image_folder(path: Path):
    names = [
        PurePosixPath(Path(dirpath, f).relative_to(path).as_posix())
        for dirpath, _, files in os.walk(path)
        for f in files
    ]
    entries = _collect(names, path)
    # Only regular files, capped: a FIFO would block forever, /dev/zero never end.
    return _stack(
        entries, lambda name: read_regular_file(path / name, max_bytes=MAX_IMAGE_FILE_BYTES)
    )


def duplicate_groups(pixels) -> np.ndarray:
    """Label rows with identical pixels: equal rows share a group id.

    Parameters
    ----------
    pixels : array of shape (n, n_pixels), uint8

    Returns
    -------
    ndarray of shape (n,), int64
        Group ids; rows with identical pixels share an id.

    Examples
    --------
    >>> duplicate_groups(np.array([[1, 2], [3, 4], [1, 2]], dtype=np.uint8)).tolist()
    [0, 1, 0]
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    rows = pixels.view(np.dtype((np.void, pixels.shape[1]))).ravel()
    _, first, groups = np.unique(rows, return_index=True, return_inverse=True)
    # Number groups in order of first appearance so ids are stable and readable.
    order = np.argsort(np.argsort(first))
    return order[groups].astype(np.int64)


def overlaps_training(bunch: Bunch) -> np.ndarray:
    """Mark rows whose pixels are identical to some ``Training`` image.

    The protocol reports PrivateTest accuracy twice: on all images, and on the
    images that are not copies of a training image (FER2013 has 288 such
    byte-identical PrivateTest images).

    Returns
    -------
    ndarray of shape (n,), bool
        True for rows (of any split other than Training) that duplicate a
        Training image; Training rows are False.
    """
    groups = duplicate_groups(bunch.data)
    is_training = np.asarray(bunch.usage) == "Training"
    training_groups = np.zeros(groups.max() + 1, dtype=bool)
    training_groups[groups[is_training]] = True
    return training_groups[groups] & ~is_training


def summarize(bunch: Bunch) -> dict:
    """Counts per split and emotion, blank images and duplicates of a loaded data set.

    Returns
    -------
    dict
        ``images``; ``counts`` (split → emotion → images); ``blank_images``
        (uniform grey); ``duplicate_groups`` and ``duplicated_images``
        (byte-identical images); how many groups span Training and a test
        split, and how many carry conflicting labels; and per test split the
        images identical to a Training image. JSON-ready.
    """
    usage = np.asarray(bunch.usage)
    if not len(usage):
        raise ValueError("the data set holds no images")
    splits = [s for s in (*USAGES, "Test") if (usage == s).any()]
    counts = {
        s: {e: int(((usage == s) & (bunch.target == i)).sum()) for i, e in enumerate(EMOTIONS)}
        for s in splits
    }
    groups = duplicate_groups(bunch.data)
    sizes = np.bincount(groups)
    duplicated = sizes[groups] > 1
    spans: dict[tuple, list[int]] = {}
    for g in np.unique(groups[duplicated]):
        spans.setdefault(tuple(sorted(set(usage[groups == g]))), []).append(int(g))
    cross = sum(len(v) for k, v in spans.items() if "Training" in k and len(k) > 1)
    blank = np.flatnonzero(bunch.data.max(axis=1) == bunch.data.min(axis=1))
    copies = overlaps_training(bunch)
    conflicting = sum(
        int(len(set(bunch.target[groups == g])) > 1) for g in np.flatnonzero(sizes > 1)
    )
    return {
        "images": int(len(usage)),
        "counts": counts,
        "blank_images": int(len(blank)),
        "duplicate_groups": int((sizes > 1).sum()),
        "duplicated_images": int(duplicated.sum()),
        "duplicate_groups_spanning_training_and_test": int(cross),
        "duplicate_groups_with_conflicting_labels": int(conflicting),
        "test_images_identical_to_training": {
            s: int(((usage == s) & copies).sum()) for s in splits if s != "Training"
        },
    }


#: The environment variable that names a FER2013 file or folder for scripts,
#: examples, benchmarks and tests.
FER2013_ENV = "FERCLS_FER2013"


def fer2013_path(near=None) -> Path:
    """Where a script should look for FER2013.

    ``$FERCLS_FER2013`` when it is set. Otherwise the first ``fer2013.zip``
    found directly in, or under ``shared/data/`` of, the folder of ``near`` (a
    file or folder, by default the working directory) or any of its parents.
    Otherwise ``fer2013.zip`` in the working directory, which may not exist:
    callers check, and name the path in their error.

    Examples
    --------
    >>> import os
    >>> saved = os.environ.get("FERCLS_FER2013")
    >>> os.environ["FERCLS_FER2013"] = "/data/fer2013.csv"
    >>> str(fer2013_path())
    '/data/fer2013.csv'
    >>> if saved is None:
    ...     del os.environ["FERCLS_FER2013"]
    ... else:
    ...     os.environ["FERCLS_FER2013"] = saved
    """
    if os.environ.get(FER2013_ENV):
        return Path(os.environ[FER2013_ENV])
    start = Path(near).resolve() if near is not None else Path.cwd()
    folders = [start] if start.is_dir() else []
    folders += list(start.parents)
    for folder in folders:
        for candidate in (folder / "fer2013.zip", folder / "shared" / "data" / "fer2013.zip"):
            if candidate.is_file():
                return candidate
    return Path("fer2013.zip")
