"""Reading the weights-plus-JSON model folder, without building an estimator.

A saved classifier is a folder with two files:

- ``model.json``: the estimator's parameters, ``classes_``, ``image_shape_``,
  the preprocessing it expects, and the figures measured when it was trained;
- ``model.weights.h5``: the network's weights only.

Reading rebuilds the network with fercls' own builder and loads the weights,
so no code stored in the files is executed (unlike pickle/joblib). The
estimator is made elsewhere (:mod:`fercls.pretrained`); the estimator itself
reads folders here to start from their weights (``FERClassifier(init=...)``),
which is why this module knows nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from ._io import OutputFolder, parse_json, read_regular_file, short_reason
from ._model_files import ModelFileError, check_classes, check_image_shape, check_network_size
from .architectures import ARCHITECTURES, build_network

METADATA = "model.json"
WEIGHTS = "model.weights.h5"
FORMAT_VERSION = 1
PRETRAINED_DIR = "models/fer2013_vgg_small"
#: A saved model folder holds these two files and nothing else.
MODEL_FOLDER = OutputFolder(METADATA, frozenset({WEIGHTS}))
# model.json holds parameters, classes and a training history: kilobytes.
MAX_METADATA_BYTES = 16 * 1024**2
NORMALIZATIONS = ("scale", "standardize")


class FolderModel(NamedTuple):
    """What a model folder holds: an uncompiled float32 network with its weights,
    and the checked contents of ``model.json``."""

    network: Any
    params: dict
    classes: Any
    image_shape: tuple
    metadata: dict
    history: dict


def bundled_model_folder() -> Path:
    """The folder of the bundled model inside the installed package."""
    return Path(str(resources.files("fercls") / PRETRAINED_DIR))


def network_for(params, image_shape, classes):
    """A fresh, uncompiled network of the saved architecture, in float32."""
    return build_network(
        params["architecture"],
        (*image_shape, 1),
        len(classes),
        # Folders saved before `augment` was a parameter were trained with the
        # warps (True), whatever the estimator's default is now.
        augment=params.get("augment", True),
        seed=0,
        precision="float32",
    )


def read_model_folder(directory, check_params: Callable[[dict], None]) -> FolderModel:
    """A saved model folder's network and metadata.

    ``model.json`` is checked before a network is built (``check_params``
    validates the estimator parameters it holds), and the network's size
    before its weights are allocated. Every error is a ``ValueError`` naming
    the file, or ``FileNotFoundError`` when a file is missing.
    """
    directory = Path(directory)
    meta_path = directory / METADATA
    if not meta_path.is_file() or not (directory / WEIGHTS).is_file():
        raise FileNotFoundError(f"{directory}: expected {METADATA} and {WEIGHTS} in this folder")
    metadata = _read_metadata(meta_path)
    try:
        params, classes, shape = _checked_metadata(metadata, str(meta_path), check_params)
        history = _checked_history(metadata, str(meta_path))
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ModelFileError(
            f"{meta_path}: malformed model metadata ({short_reason(exc)})"
        ) from None
    check_network_size(lambda: network_for(params, shape, classes), str(meta_path))
    network = network_for(params, shape, classes)
    try:
        network.load_weights(directory / WEIGHTS)
    except Exception as exc:  # h5py and Keras raise many types for a damaged file
        raise ModelFileError(
            f"{directory / WEIGHTS}: cannot load the weights ({short_reason(exc)})"
        ) from None
    return FolderModel(network, params, classes, shape, metadata, history)


def _read_metadata(meta_path: Path) -> dict:
    data = read_regular_file(meta_path, max_bytes=MAX_METADATA_BYTES)
    metadata = parse_json(data, str(meta_path))
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{meta_path}: format_version {metadata.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    return metadata


def _checked_metadata(metadata: dict, where: str, check_params: Callable[[dict], None]):
    """model.json's parameters, classes and image shape, checked before a network
    is built; every error a ValueError starting with ``where``."""
    for key in ("params", "classes", "image_shape", "normalization", "n_iter", "best_iteration"):
        if key not in metadata:
            raise ModelFileError(f"{where}: no {key!r} entry; not a model saved by fercls")
    params = metadata["params"]
    if not isinstance(params, dict):
        raise ModelFileError(f"{where}: params must be an object, got {params!r:.80}")
    params = dict(params)
    if params.get("image_shape") is not None:
        params["image_shape"] = tuple(params["image_shape"])
    if params.get("architecture") not in ARCHITECTURES:
        raise ModelFileError(
            f"{where}: unknown architecture {params.get('architecture')!r:.80}; "
            f"expected one of {', '.join(ARCHITECTURES)}"
        )
    try:
        check_params(params)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: bad params ({short_reason(exc)})") from None
    if metadata["normalization"] not in NORMALIZATIONS:
        raise ModelFileError(
            f"{where}: normalization {metadata['normalization']!r:.80}; expected "
            f"{' or '.join(NORMALIZATIONS)}"
        )
    classes = metadata["classes"]
    if not isinstance(classes, list):
        raise ModelFileError(f"{where}: classes must be a list of labels, got {classes!r:.80}")
    classes = check_classes(classes, where)
    shape = check_image_shape(metadata["image_shape"], where)
    for key in ("n_iter", "best_iteration"):
        value = metadata[key]
        if not (type(value) is int or (key == "best_iteration" and value is None)):
            raise ModelFileError(f"{where}: {key} must be an int, got {value!r:.80}")
    return params, classes, shape


def _checked_history(metadata: dict, where: str) -> dict:
    """The training history kept in the card (``{}`` where there is none); its
    values are checked with the rest of the fitted state."""
    card = metadata.get("card", {})
    history = card.get("history", {}) if isinstance(card, dict) else {}
    if not isinstance(history, dict):
        raise ModelFileError(f"{where}: card.history must be an object, got {history!r:.80}")
    return history
