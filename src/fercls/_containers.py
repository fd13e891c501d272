"""Where a saved model's files live: a zip archive or a folder, the same content.

Both hold :data:`~fercls._manifest.MANIFEST` and the network files it names;
:mod:`fercls.persistence` reads either through the same three calls (names,
bytes of one file, a local path of one file). A folder saved before the
manifest existed (``model.json`` + ``model.weights.h5``, fercls' first folder
layout) is read as the manifest it amounts to, so one reading path serves it.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections import Counter
from importlib import resources
from pathlib import Path, PurePosixPath

import numpy as np

from ._io import (
    OutputFile,
    OutputFolder,
    checked_zip_entries,
    parse_json,
    read_regular_file,
    read_zip_member,
    short_reason,
    zip_holding,
)
from ._manifest import FORMAT, MANIFEST, MAX_MANIFEST_BYTES, check_header, encode
from ._model_files import ModelFileError, check_image_shape

# The bundled vgg_small network with Adam's moments is ~15 MB; vgg ~60 MB.
MAX_MODEL_BYTES = 1024**3
#: Network files: a whole Keras model (``.keras``, with its optimizer state) or
#: its weights alone (``.weights.h5``, rebuilt by fercls' own builder).
NETWORK_FILE = re.compile(r"^(?:network-\d{1,3}|model)\.(?:keras|weights\.h5)$")
# fercls' first folder layout (read, no longer written; a save may replace it).
LEGACY_METADATA = "model.json"
LEGACY_WEIGHTS = "model.weights.h5"


def network_file(index: int, *, weights_only: bool) -> str:
    """The name :func:`fercls.save` gives the ``index``-th network it writes:
    its weights alone in a folder, the whole Keras model in an archive."""
    return f"network-{index}" + (".weights.h5" if weights_only else ".keras")


#: A model folder holds the manifest and its networks' weights, nothing else;
#: only such a folder (or an empty one) is replaced by a save.
MODEL_FOLDER = OutputFolder(
    MANIFEST,
    frozenset({*(network_file(i, weights_only=True) for i in range(4)), LEGACY_WEIGHTS}),
    former=frozenset({LEGACY_METADATA}),
)
#: A ``.fercls`` archive: a zip holding the manifest. Only such a file (or an
#: empty one) is replaced by the command line's saves.
MODEL_ARCHIVE = OutputFile("a fercls model (.fercls archive)", zip_holding(MANIFEST))
BUNDLED_DIR = "models/fer2013_vgg_small"


def bundled_model_folder() -> Path:
    """The folder of the bundled model inside the installed package."""
    return Path(str(resources.files("fercls") / BUNDLED_DIR))


class Archive:
    """A ``.fercls`` zip, checked before any member is read."""

    #: The file the manifest was read from, for messages.
    manifest_name = MANIFEST

    def __init__(self, archive: zipfile.ZipFile, path: Path):
        self.path = path
        self._zip = archive
        checked_zip_entries(archive, path, max_bytes=MAX_MODEL_BYTES)
        names = archive.namelist()
        twice = sorted(name for name, count in Counter(names).items() if count > 1)
        if twice:
            raise ModelFileError(
                f"{path}: the archive holds {', '.join(twice)} more than once; tools "
                "disagree on which copy is read, so it is not loaded"
            )

    def names(self) -> set[str]:
        return set(self._zip.namelist())

    def manifest(self) -> dict:
        if MANIFEST not in self.names():
            raise ModelFileError(f"{self.path}: not a fercls archive (no {MANIFEST} inside)")
        data = read_zip_member(self._zip, MANIFEST, self.path, max_bytes=MAX_MANIFEST_BYTES)
        manifest = check_header(parse_json(data, f"{self.path}: {MANIFEST}"), self.path)
        # fercls writes flat archives; anything in a folder was not written by save().
        for name in self._zip.namelist():
            if len(PurePosixPath(name).parts) != 1:
                raise ModelFileError(f"{self.path}: unexpected entry {name!r} in archive")
        return manifest

    def read(self, name: str) -> bytes:
        return read_zip_member(self._zip, name, self.path, max_bytes=MAX_MODEL_BYTES)

    def local_file(self, name: str, scratch: Path) -> Path:
        target = scratch / PurePosixPath(name).name
        target.write_bytes(self.read(name))
        return target


class Folder:
    """A model folder: the manifest and network files side by side."""

    def __init__(self, path: Path):
        self.path = path

    def names(self) -> set[str]:
        return set(os.listdir(self.path))

    @property
    def manifest_name(self) -> str:
        """The file the manifest is read from, for messages."""
        names = self.names()
        legacy = MANIFEST not in names and LEGACY_METADATA in names
        return LEGACY_METADATA if legacy else MANIFEST

    def manifest(self) -> dict:
        names = self.names()
        if MANIFEST in names:
            where = self.path / MANIFEST
            data = read_regular_file(where, max_bytes=MAX_MANIFEST_BYTES)
            return check_header(parse_json(data, str(where)), where)
        if LEGACY_METADATA in names and LEGACY_WEIGHTS in names:
            try:
                return legacy_manifest(self.path)
            except TypeError as exc:  # values JSON holds but a model cannot (nested objects)
                raise ModelFileError(
                    f"{self.path / LEGACY_METADATA}: malformed ({short_reason(exc)})"
                ) from None
        raise FileNotFoundError(
            f"{self.path}: not a model folder (expected {MANIFEST} and its network files)"
        )

    def read(self, name: str) -> bytes:
        return read_regular_file(self.path / name, max_bytes=MAX_MODEL_BYTES)

    def local_file(self, name: str, scratch: Path) -> Path:
        """The file itself, once it is known to be a regular file within the limit."""
        path = self.path / name
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MODEL_BYTES:
            raise ModelFileError(
                f"{path}: not a regular file of at most {MAX_MODEL_BYTES:,} bytes; not read"
            )
        return path


def open_container(path: Path, archive: zipfile.ZipFile | None) -> Archive | Folder:
    return Folder(path) if archive is None else Archive(archive, path)


def legacy_manifest(folder: Path) -> dict:
    """The manifest that a ``model.json`` folder amounts to: a pipeline of the
    normaliser it names and the classifier, whose weights are ``model.weights.h5``."""
    where = folder / LEGACY_METADATA
    metadata = parse_json(read_regular_file(where, max_bytes=MAX_MANIFEST_BYTES), str(where))
    if metadata.get("format_version") != 1:
        raise ModelFileError(
            f"{where}: format_version {metadata.get('format_version')!r:.40}, expected 1"
        )
    for key in ("params", "classes", "image_shape", "normalization", "n_iter", "best_iteration"):
        if key not in metadata:
            raise ModelFileError(f"{where}: no {key!r} entry; not a model saved by fercls")
    params, shape, card = metadata["params"], metadata["image_shape"], metadata.get("card", {})
    if not isinstance(params, dict) or not isinstance(shape, list) or not isinstance(card, dict):
        raise ModelFileError(f"{where}: params and card must be objects, image_shape a list")
    params = dict(params)
    if params.get("image_shape") is not None:
        params["image_shape"] = tuple(params["image_shape"])
    # Folders saved before `augment` was a parameter were trained with the warps.
    params.setdefault("augment", True)
    history = card.get("history", {})
    shape = check_image_shape(shape, str(where))
    state = {
        "classes_": _labels(metadata["classes"], where),
        "image_shape_": shape,
        "n_features_in_": shape[0] * shape[1],
        "n_iter_": metadata["n_iter"],
        "best_iteration_": metadata["best_iteration"],
        "history_": history,
    }
    normalizer = {
        "class": "fercls.PixelNormalizer",
        "params": encode({"method": metadata["normalization"]}, "normalization"),
        "state": encode({"n_features_in_": state["n_features_in_"]}, "image_shape"),
    }
    classifier = {
        "class": "fercls.FERClassifier",
        "params": encode(params, "params"),
        "state": encode(state, str(where)),
        "network": LEGACY_WEIGHTS,
    }
    pipeline = {
        "class": "sklearn.pipeline.Pipeline",
        "params": encode({}, "pipeline"),
        "steps": [["normalizer", normalizer], ["classifier", classifier]],
    }
    return {"format": FORMAT, "format_version": 1, "object": pipeline, "card": card}


def _labels(classes, where) -> np.ndarray:
    if not isinstance(classes, list):
        raise ModelFileError(f"{where}: classes must be a list of labels, got {classes!r:.80}")
    try:
        return np.asarray(classes)
    except ValueError:  # ragged
        raise ModelFileError(f"{where}: classes must be a list of labels") from None
