"""The manifest of a saved model: ``fercls.json``, the same in both containers.

A saved estimator is a manifest plus one network file per FERClassifier, kept
either in a zip archive (``.fercls``) or in a folder (the bundled model's
form). The manifest describes the object: class names from an allow-list,
parameters and learned attributes as plain JSON values, tagged where JSON has
no type of its own (tuples, arrays, dicts with non-string keys), and
optionally the model's card (how it was trained, what it measured).

Version 2 added the folder container, weights-only networks and the card;
version-1 archives (fercls 0.x before it) are the same manifest without them.
"""

from __future__ import annotations

import os

import numpy as np

from ._model_files import MAX_LABEL_CHARS, ModelFileError
from ._version import __version__

FORMAT = "fercls"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "fercls.json"
# A manifest holds parameters, classes, a few arrays and a card: kilobytes.
# Reading is capped at this, whatever a file or an archive's directory claims.
MAX_MANIFEST_BYTES = 16 * 1024**2


def new_manifest(description: dict, *, card: dict | None) -> dict:
    """The manifest of the object ``description`` (see :func:`encode`)."""
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fercls_version": __version__,
        "object": description,
    }
    if card:
        manifest["card"] = card
    return manifest


def check_header(manifest: dict, where) -> dict:
    """``manifest`` if it says it is a fercls manifest of a version read here."""
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"{where}: {MANIFEST} does not describe a fercls model")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{where}: format_version {version!r:.40}; this fercls ({__version__}) reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    card = manifest.get("card", {})
    if not isinstance(card, dict):
        raise ModelFileError(f"{where}: the card must be an object, got {card!r:.80}")
    return manifest


def encode(value, where: str):
    """Plain JSON, with tags for tuples, arrays and dicts whose keys are not strings."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):  # e.g. FERClassifier(init=Path(...)): read back as str
        return os.fspath(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, where) for v in value]}
    if isinstance(value, list):
        return [encode(v, where) for v in value]
    if isinstance(value, np.ndarray):
        return _encode_array(value, where)
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": [[k, encode(v, f"{where}.{k}")] for k, v in value.items()]}
        pairs = [[encode(k, where), encode(v, f"{where}[{k!r}]")] for k, v in value.items()]
        return {"__dict__": pairs}
    raise TypeError(f"{where}: cannot store a value of type {type(value).__name__} ({value!r:.60})")


def _encode_array(value: np.ndarray, where: str) -> dict:
    if value.dtype.kind not in "biufUO":
        raise TypeError(f"{where}: cannot store an array of dtype {value.dtype}")
    plain = (str, int, float)
    if value.dtype.kind == "O" and not all(isinstance(v, plain) for v in value.flat):
        raise TypeError(f"{where}: object arrays may hold only strings and numbers")
    dtype = value.dtype.str if value.dtype.kind != "O" else "O"
    return {"__ndarray__": value.tolist(), "dtype": dtype}


def decode(value):
    """What :func:`encode` stored; a ValueError for anything it would not write."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__ndarray__" in value:
        return _decode_array(value)
    if "__dict__" in value:
        pairs = value["__dict__"]
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in pairs
        ):
            raise ValueError("a tagged __dict__ must be a list of [key, value] pairs")
        return {_hashable(decode(k)): decode(v) for k, v in pairs}
    raise ValueError(f"unexpected object in the manifest: keys {sorted(value)}")


def _decode_array(value: dict) -> np.ndarray:
    dtype = np.dtype(object if value["dtype"] == "O" else value["dtype"])
    if dtype.kind not in "biufUO":
        raise ValueError(f"unsupported array dtype {value['dtype']!r} in the manifest")
    if dtype.itemsize > (4 * MAX_LABEL_CHARS if dtype.kind == "U" else 16):
        # '<U20000000' would make every element 80 MB, whatever it holds.
        raise ValueError(f"array dtype {value['dtype']!r} in the manifest has oversized items")
    try:
        return np.asarray(value["__ndarray__"], dtype=dtype)
    except ValueError as exc:
        raise ValueError(f"an array not rectangular or not {dtype} ({exc})") from None


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key
