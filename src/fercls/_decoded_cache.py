"""A decoded copy of a FER2013 file, so loading the same file again skips the decoding.

Decoding the Kaggle zip's 35,887 JPEGs takes seconds in every process that
loads it (each ``fercls train``, script and example); reading the decoded
arrays back takes a fraction of one. The copy is named by a SHA-256 of the
source file's bytes (and of this format's version and Pillow's, whose decoder
made the pixels), so an edited or replaced source never meets a stale copy.
It is an ``.npz`` read with ``allow_pickle=False``: reading it cannot run code,
and a damaged or foreign copy is ignored and written again.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from ._io import short_reason, write_atomic
from ._pixels import FER_N_PIXELS
from .labels import EMOTIONS

__all__ = ["CACHE_ENV", "cache_file", "read_decoded", "write_decoded"]

#: The environment variable naming a folder for decoded copies, used when
#: ``load_fer2013`` is not given ``cache_dir``.
CACHE_ENV = "FERCLS_CACHE_DIR"
# Bump when the stored arrays or their order change: old copies are then never read.
_FORMAT = 1
_CHUNK_BYTES = 1 << 20


def cache_file(source: Path, cache_dir) -> Path | None:
    """Where the decoded copy of ``source`` lives, or None when nothing is cached.

    ``cache_dir=None`` falls back to ``$FERCLS_CACHE_DIR``; a folder source is
    not cached (naming it by content would mean reading every file).
    """
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or None
    if cache_dir is None or not source.is_file():
        return None
    from PIL import __version__ as pillow_version

    digest = hashlib.sha256(f"fercls-decoded-{_FORMAT}-pillow-{pillow_version}\n".encode())
    with open(source, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return Path(cache_dir) / f"fer2013-{digest.hexdigest()[:40]}.npz"


def read_decoded(path: Path):
    """``(pixels, target, usage, filenames)`` from a decoded copy, or None if unusable."""
    # No copy yet, or a damaged or foreign one (which can fail anywhere inside the
    # zip and npy readers): either way "decode the source again", never a failed load.
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except Exception:
        return None
    if not _well_formed(arrays):
        return None
    filenames = arrays.get("filenames")
    return (
        arrays["pixels"],
        arrays["target"],
        arrays["usage"].astype(object),
        None if filenames is None else filenames.astype(object),
    )


def _well_formed(arrays: dict) -> bool:
    pixels, target, usage = (arrays.get(k) for k in ("pixels", "target", "usage"))
    if pixels is None or target is None or usage is None:
        return False
    n = len(pixels)
    return (
        pixels.dtype == np.uint8
        and pixels.shape == (n, FER_N_PIXELS)
        and target.dtype == np.int64
        and target.shape == (n,)
        and bool(np.all((target >= 0) & (target < len(EMOTIONS))))
        and all(
            names.dtype.kind == "U" and names.shape == (n,)
            for names in (usage, arrays.get("filenames", usage))
        )
    )


def write_decoded(path: Path, pixels, target, usage, filenames) -> None:
    """Store the decoded arrays atomically; a folder that cannot be written only warns."""
    arrays = {"pixels": pixels, "target": target, "usage": usage.astype(str)}
    if filenames is not None:
        arrays["filenames"] = filenames.astype(str)

    def write(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            np.savez(stream, **arrays)

    try:
        write_atomic(path, write)
    except OSError as exc:
        warnings.warn(
            f"could not keep a decoded copy of the data in {path.parent} ({short_reason(exc)}); "
            "the data loaded, and the next load decodes it again",
            RuntimeWarning,
            stacklevel=3,
        )
