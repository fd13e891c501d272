"""Decoded images as uint8, whatever their bit depth.

PIL's ``convert("L")`` clips 16-bit and float images instead of scaling them
(a 16-bit grey of 30000/65535 became 255, a float 0.5 became 0). Here each is
scaled to 0..255 by its own type's range: 16-bit by 65535, float images in
[0, 1] by 255; other value ranges are stretched from their min to their max.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# File names read as images, by the loader (inside FER2013 folders and zips)
# and by the CLI (folders of photos).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_image_name(path) -> bool:
    """Whether the file's suffix is one of :data:`IMAGE_SUFFIXES` (any case)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def files_in(folder) -> tuple[list[Path], list[Path]]:
    """The image files under ``folder`` (recursively, by suffix, sorted) and the
    other files, from one walk; a ``ValueError`` if there are no images."""
    folder = Path(folder)
    found: list[Path] = []
    others: list[Path] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        (found if is_image_name(path) else others).append(path)
    if not found:
        raise ValueError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return found, others


# Modes PIL uses for one-channel images deeper than 8 bits.
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}
_DEEP = _SIXTEEN_BIT | {"I", "F"}


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Numeric image values as uint8 0..255, by the range of their type.

    uint8 is returned as it is; other integer types are scaled by their
    maximum (uint16 by 65535), or from 0..65535 for wider types whose values
    fit it; floats in [0, 1] by 255, floats in [0, 255] as they are; anything
    else (and non-finite values, set to the minimum) is stretched min..max.
    """
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * np.uint8(255)
    if values.size == 0:
        return values.astype(np.uint8)
    if values.dtype.kind in "iu":
        low, high = int(values.min()), int(values.max())
        top = np.iinfo(values.dtype).max if values.dtype.itemsize <= 2 else 65535
        if low >= 0 and high <= top:
            return np.round(values.astype(np.float64) * (255.0 / top)).astype(np.uint8)
        return _stretch(values.astype(np.float64))
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        values = np.where(finite, values, values[finite].min() if finite.any() else 0.0)
    low, high = values.min(), values.max()
    if low >= 0 and high <= 1:
        return np.round(values * 255.0).astype(np.uint8)
    if low >= 0 and high <= 255:
        return np.round(values).astype(np.uint8)
    return _stretch(values)


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def pil_to_array(image, *, gray: bool) -> np.ndarray:
    """A PIL image as uint8: (h, w) if ``gray`` or one-channel, else (h, w, 3) RGB."""
    if image.mode in _DEEP:
        values = np.asarray(image)
        if image.mode in _SIXTEEN_BIT:
            values = values.astype(np.uint16)
        return scale_to_uint8(values)
    if gray or image.mode in ("1", "L", "LA"):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
