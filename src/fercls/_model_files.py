"""A model read from a file is untrusted input: bounded, code-free, checked.

Shared by both model formats (the ``.fercls`` archive in :mod:`fercls.persistence`
and the weights-plus-JSON folder in :mod:`fercls.pretrained`):

- **Bounds before allocation.** A network's parameter count is computed from
  its description before any weight exists: Keras creates variables inside a
  ``StatelessScope(initialize_variables=False)`` without allocating them, so
  a 300 KB file that asks for a Dense layer of 8,000,000 units is refused
  having cost kilobytes. Class counts and label lengths are bounded too.
- **Safe mode that process state cannot switch off.** Keras lets the global
  ``keras.config.enable_unsafe_deserialization()`` override the
  ``safe_mode=True`` argument; inside ``SafeModeScope(True)`` the scope wins,
  so a Lambda layer in a file never runs, whatever a notebook called before.
- **One validation of a fitted classifier's state**: every learned
  attribute's type, range and consistency, and a probe prediction that must
  be finite.
"""

from __future__ import annotations

import contextlib
import math
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._io import parse_json, read_zip_member, short_reason
from .architectures import import_keras


class ModelFileError(ValueError):
    """A model file, or the fitted state read from one, is damaged, malformed,
    hostile or contradicts itself. The message starts with where it came from
    (the file, and the part of it), so callers pass it on unchanged."""


# Generous limits: the largest built-in network (vgg) has 4.8 M parameters
# and FER2013 has 7 classes. At these limits a load stays under the memory
# ceiling the security guide states (docs/guide/security.md).
MAX_PARAMETERS = 50_000_000
MAX_CLASSES = 1000
MAX_LABEL_CHARS = 256
MAX_IMAGE_PIXELS = 1024 * 1024
MAX_NETWORK_CONFIG_BYTES = 16 * 1024**2
_SEED_RANGE = (0, 2**32 - 1)
#: Keras's warning when a network whose optimizer never took a step (the
#: bundled model, loaded to predict) is loaded: it rebuilds the optimizer with
#: all of its slots and says it skipped loading them, though there was nothing
#: to load. Only that warning is silenced.
UNUSED_OPTIMIZER_WARNING = r"Skipping variable loading for optimizer .* has 2 variables"


@contextlib.contextmanager
def safe_deserialization():
    """Keras deserialises no code (Lambda layers, functions) inside this block,
    even where ``keras.config.enable_unsafe_deserialization()`` was called."""
    import_keras()  # TensorFlow starts quietly (fercls._startup)
    from keras.src.saving.serialization_lib import SafeModeScope  # no public alias

    with SafeModeScope(True):
        yield


def count_parameters(build) -> int:
    """The number of weights the network ``build()`` makes, without allocating them."""
    keras = import_keras()
    from keras.src.backend.common import global_state  # the deferred-variable registry

    registered = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with safe_deserialization(), keras.StatelessScope(initialize_variables=False):
            network = build()
            return sum(math.prod(int(d) for d in v.shape) for v in network.weights)
    finally:
        # Left registered, the unallocated variables would be allocated by the
        # next StatelessScope that Keras leaves with initialisation on.
        global_state.set_global_attribute("uninitialized_variables", registered)


def check_network_size(build, where: str) -> None:
    """Refuse a network description with more than MAX_PARAMETERS weights, before
    building it (see :func:`count_parameters`)."""
    try:
        n = count_parameters(build)
    except Exception as exc:  # Keras raises many types for a description it cannot build
        raise ModelFileError(f"{where}: cannot build the network ({short_reason(exc)})") from None
    if n > MAX_PARAMETERS:
        raise ModelFileError(
            f"{where}: the network has {n:,} parameters, more than the limit of "
            f"{MAX_PARAMETERS:,}; not loaded"
        )


def load_keras_file(path: Path, where: str):
    """A ``.keras`` file's network, compiled, after its size is checked and with
    no code deserialised."""
    keras = import_keras()

    config = _keras_config(path, where)
    # The optimizer (compile_config) makes its own variables: it is counted as
    # a multiple of the network's, so the network alone is built here.
    network_config = {k: v for k, v in config.items() if k != "compile_config"}
    check_network_size(lambda: keras.saving.deserialize_keras_object(network_config), where)
    try:
        with safe_deserialization(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=UNUSED_OPTIMIZER_WARNING)
            return keras.saving.load_model(path, compile=True, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged or unsafe file
        # Keras's refusals run to a hundred lines; the first says what was wrong.
        raise ModelFileError(f"{where}: cannot load the network ({short_reason(exc)})") from None


def _keras_config(path: Path, where: str) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            data = read_zip_member(
                archive, "config.json", where, max_bytes=MAX_NETWORK_CONFIG_BYTES
            )
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{where}: not a .keras file ({exc})") from None
    config = parse_json(data, f"{where}: config.json")
    if config.get("class_name") not in ("Functional", "Sequential", "Model"):
        raise ModelFileError(f"{where}: holds a {config.get('class_name')!r}, not a Keras model")
    return config


def check_classes(classes, where: str) -> np.ndarray:
    """``classes`` as ``classes_`` must be: 2..MAX_CLASSES distinct, sorted labels
    (ints or strings of at most MAX_LABEL_CHARS characters)."""
    found = classes
    try:
        classes = np.asarray(classes)
    except (ValueError, TypeError):  # ragged or mixed nesting
        classes = None
    if classes is None or classes.ndim != 1 or classes.dtype.kind not in "iuUO":
        raise ModelFileError(f"{where}: classes_ must be a list of labels, got {found!r:.80}")
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise ModelFileError(
            f"{where}: {len(classes):,} classes_; expected 2 to {MAX_CLASSES:,} labels"
        )
    if classes.dtype.kind == "O" and not all(isinstance(c, str) for c in classes):
        raise ModelFileError(f"{where}: classes_ must all be strings or all be ints")
    if classes.dtype.kind in "UO" and max(len(c) for c in classes.tolist()) > MAX_LABEL_CHARS:
        raise ModelFileError(
            f"{where}: a label in classes_ is longer than {MAX_LABEL_CHARS} characters"
        )
    if classes.dtype.kind in "UO":
        classes = classes.astype(str)  # the narrowest string dtype that holds them
    if len(np.unique(classes)) != len(classes):
        raise ModelFileError(
            f"{where}: classes_ must be distinct labels, got {classes.tolist()!r:.200}"
        )
    if not np.array_equal(np.sort(classes), classes):
        raise ModelFileError(
            f"{where}: classes_ must be sorted (the network's outputs are in sorted order), "
            f"got {classes.tolist()!r:.200}"
        )
    return classes


def check_feature_count(estimator, where: str) -> None:
    """A learned ``n_features_in_`` (every fitted transformer has one) is a positive int."""
    n = getattr(estimator, "n_features_in_", 1)
    if not _is_int(n) or n < 1:
        raise ModelFileError(f"{where}: n_features_in_ must be a positive int, got {n!r:.80}")


def check_image_shape(shape, where: str) -> tuple[int, int]:
    """Two positive ints whose product is at most MAX_IMAGE_PIXELS."""
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(_is_int(v) and v > 0 for v in shape)
    ):
        raise ModelFileError(f"{where}: image_shape_ must be two positive ints, got {shape!r:.80}")
    if shape[0] * shape[1] > MAX_IMAGE_PIXELS:
        raise ModelFileError(
            f"{where}: image_shape_ {tuple(shape)} has more than {MAX_IMAGE_PIXELS:,} pixels"
        )
    return int(shape[0]), int(shape[1])


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_training_record(estimator, where: str) -> None:
    """``n_iter_``, ``best_iteration_``, ``history_`` and ``_seed_``: what a warm
    start reads, with the types and ranges training gives them."""
    n_iter = getattr(estimator, "n_iter_", 0)
    if not _is_int(n_iter) or n_iter < 0:
        raise ModelFileError(f"{where}: n_iter_ must be an int >= 0, got {n_iter!r:.80}")
    best = getattr(estimator, "best_iteration_", None)
    if best is not None and (not _is_int(best) or not 0 <= best <= max(n_iter, 1)):
        raise ModelFileError(
            f"{where}: best_iteration_ must be None or an int from 0 to n_iter_={n_iter}, "
            f"got {best!r:.80}"
        )
    history = getattr(estimator, "history_", {})
    if not isinstance(history, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(_is_number(x) for x in v)
        for k, v in history.items()
    ):
        raise ModelFileError(
            f"{where}: history_ must map names to lists of numbers, got {history!r:.80}"
        )
    if hasattr(estimator, "_seed_"):
        seed = estimator._seed_
        if not _is_int(seed) or not _SEED_RANGE[0] <= seed <= _SEED_RANGE[1]:
            raise ModelFileError(
                f"{where}: _seed_ must be an int in {_SEED_RANGE}, got {seed!r:.80}"
            )


def check_fitted_state(estimator, where):
    """Refuse a fitted classifier's state that is malformed or contradicts itself
    (read from a file, it is input).

    Checks ``classes_`` (:func:`check_classes`), one per network output; that
    ``image_shape_`` and ``n_features_in_`` agree with each other and with the
    network's input; the training record (:func:`check_training_record`);
    that every weight is finite; and that the network's probabilities on two
    probe images are finite. ``where`` (a file, or None) starts each message.
    """
    where = where or "the classifier"
    learned = [k for k in ("classes_", "image_shape_", "n_features_in_") if hasattr(estimator, k)]
    if not hasattr(estimator, "model_"):
        if learned:
            raise ModelFileError(f"{where}: has {', '.join(learned)} but no network")
        return
    missing = sorted({"classes_", "image_shape_", "n_features_in_"} - set(learned))
    if missing:
        raise ModelFileError(f"{where}: a network without {', '.join(missing)}")
    estimator.classes_ = check_classes(estimator.classes_, where)
    outputs = estimator.model_.output_shape[-1]
    if outputs != len(estimator.classes_):
        raise ModelFileError(
            f"{where}: {len(estimator.classes_)} classes_ but the network has {outputs} outputs"
        )
    shape = check_image_shape(estimator.image_shape_, where)
    expected = (*shape, 1)
    if tuple(estimator.model_.input_shape[1:]) != expected:
        raise ModelFileError(
            f"{where}: image_shape_ {shape} but the network takes inputs of shape "
            f"{tuple(estimator.model_.input_shape[1:])}"
        )
    if not _is_int(estimator.n_features_in_) or estimator.n_features_in_ != shape[0] * shape[1]:
        raise ModelFileError(
            f"{where}: n_features_in_={estimator.n_features_in_!r:.40} but image_shape_ "
            f"{shape} has {shape[0] * shape[1]} pixels"
        )
    check_training_record(estimator, where)
    for weight in estimator.model_.weights:
        if not np.isfinite(np.asarray(weight.numpy(), dtype=np.float64)).all():
            raise ModelFileError(f"{where}: the network's weight {weight.path!r} is not finite")
    _check_probe(estimator.model_, expected, where)


def _check_probe(network, shape, where: str) -> None:
    """Finite weights can still overflow (a last layer of 3e38 gives NaN
    probabilities): two probe images, black and mid-grey, must give finite
    probabilities."""
    probe = np.zeros((2, *shape), dtype=np.float32)
    probe[1] = 0.5
    try:
        proba = np.asarray(network(probe, training=False), dtype=np.float64)
    except Exception as exc:  # a network that cannot run is as bad as one that overflows
        raise ModelFileError(
            f"{where}: the network fails on a probe image ({short_reason(exc)})"
        ) from None
    if not np.isfinite(proba).all():
        raise ModelFileError(
            f"{where}: the network's probabilities are not finite on a probe image "
            "(weights large enough to overflow); not loaded"
        )
