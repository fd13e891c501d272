"""Checks and conversions of FERClassifier's inputs and of a fitted state read from a file.

Plain functions of values, so the estimator's methods read as the API they
implement; every error names what was wrong and what was expected.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight

from .architectures import import_keras


def resolve_image_shape(image_shape, n_features, from_images):
    """(h, w) from ``image_shape``, else from image-shaped X, else a square or a strip."""
    if image_shape is not None:
        shape = tuple(int(v) for v in image_shape)
        if len(shape) != 2 or shape[0] * shape[1] != n_features:
            raise ValueError(
                f"image_shape={image_shape!r} needs {math.prod(shape)} features per "
                f"row, but X has {n_features}"
            )
        if from_images is not None and tuple(from_images) != shape:
            raise ValueError(f"X holds images of shape {from_images}, but image_shape={shape}")
        return shape
    if from_images is not None:
        return tuple(int(v) for v in from_images)
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else (1, n_features)


def fit_classes(y, classes, owner: str) -> np.ndarray:
    """The sorted labels of a first fit: those of ``y``, or ``classes`` if given
    (which must then hold every label in ``y``)."""
    if classes is not None:
        classes = column_or_1d(np.asarray(classes))
        outside = np.setdiff1d(np.unique(y), classes)
        if outside.size:
            raise ValueError(
                f"y holds labels {outside.tolist()} that are not in classes="
                f"{classes.tolist()}; classes must list every label"
            )
    fitted = LabelEncoder().fit(y if classes is None else classes).classes_
    if len(fitted) < 2:
        raise ValueError(
            f"{owner} needs samples of at least two classes; got one class: {fitted[0].item()!r}"
        )
    return fitted


def encode_labels(y, classes) -> np.ndarray:
    """Labels as int32 positions in ``classes``; labels outside it are an error."""
    unseen = np.setdiff1d(np.unique(y), classes)
    if unseen.size:
        raise ValueError(
            f"labels {unseen.tolist()} were not seen in the first fit; "
            f"expected labels in {classes.tolist()}"
        )
    return np.searchsorted(classes, y).astype(np.int32)


def sample_weights(y, sample_weight, X, class_weight, classes):
    """``sample_weight`` times the weight of each sample's class (None when neither is set)."""
    weights = None
    if sample_weight is not None:
        weights = _check_sample_weight(sample_weight, X, dtype=np.float32)
        _check_weights(weights, "sample_weight")
    if class_weight is not None:
        if isinstance(class_weight, dict):
            unknown = [k for k in class_weight if k not in set(classes.tolist())]
            if unknown:
                raise ValueError(
                    f"class_weight names classes {unknown!r} that are not in y; "
                    f"the classes are {classes.tolist()!r}"
                )
            for name, value in class_weight.items():
                if not isinstance(value, (int, float, np.number)) or not (
                    np.isfinite(value) and value >= 0
                ):
                    raise ValueError(
                        f"class_weight[{name!r}] = {value!r}; expected a finite number >= 0"
                    )
            class_weight = {k: class_weight.get(k, 1.0) for k in classes}
        per_class = compute_sample_weight(class_weight, y).astype(np.float32)
        weights = per_class if weights is None else weights * per_class
    return weights


def _check_weights(weights, what: str) -> None:
    """Weights scale the loss: NaN trains to NaN, and a negative weight climbs it."""
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        raise ValueError(
            f"{what}[{bad[0]}] = {weights[bad[0]].item()!r}; expected finite weights >= 0"
        )


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X):
    """The network computes in float32: larger values would become infinite."""
    if X.dtype.kind == "f" and X.dtype.itemsize > 4 and X.size:
        too_large = np.abs(X) > _FLOAT32_MAX
        if too_large.any():
            row, column = np.argwhere(too_large)[0]
            raise ValueError(
                f"X[{row}, {column}] = {X[row, column]!r} is beyond float32's range "
                f"(±{_FLOAT32_MAX:.3g}); normalise pixels first (fercls.PixelNormalizer)"
            )


def flatten(X):
    """Images (n, h, w[, 1]) -> (flat rows, (h, w)); other input as it is, with None."""
    if not hasattr(X, "shape") or getattr(X, "ndim", 2) <= 2:
        return X, None
    X = np.asarray(X)
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim != 3:
        raise ValueError(f"expected images of shape (n, h, w) or (n, h, w, 1), got shape {X.shape}")
    return X.reshape(len(X), -1), X.shape[1:]


def check_labels(y):
    """None among the labels gets a clear error rather than a TypeError from sorting."""
    if y is None:
        raise ValueError("FERClassifier requires y to be passed, but the target y is None")
    array = np.asarray(y, dtype=object) if not hasattr(y, "dtype") else np.asarray(y)
    if array.dtype == object:
        missing = [i for i, v in enumerate(array.ravel()) if v is None]
        if missing:
            raise ValueError(f"y[{missing[0]}] is None; every sample needs a label")
    return y


def check_callbacks(callbacks):
    """A list of keras.callbacks.Callback, or None."""
    if callbacks is None:
        return []
    keras = import_keras()
    if not isinstance(callbacks, (list, tuple)):
        raise ValueError(
            f"callbacks must be a list of keras.callbacks.Callback, got {type(callbacks).__name__}"
        )
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(
                f"callbacks[{i}] is a {type(callback).__name__}, not a keras.callbacks.Callback"
            )
    return list(callbacks)


def split_validation(X, y, weights, fraction, seed, targets=None):
    """Stratified hold-out; falls back to a plain split when a class is too rare.

    ``targets`` (soft targets, one row per sample) are split with the samples;
    the split is stratified on the labels ``y`` either way.
    """
    arrays = [a for a in (X, y, weights, targets) if a is not None]
    try:
        parts = train_test_split(*arrays, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class with a single sample cannot be stratified
        parts = train_test_split(*arrays, test_size=fraction, random_state=seed)
    X_train, X_val, y_train, y_val = parts[:4]
    rest = iter(parts[4::2])
    w_train = next(rest) if weights is not None else None
    t_train = next(rest) if targets is not None else None
    return X_train, X_val, y_train, y_val, w_train, t_train


def check_soft_targets(soft_targets, n_samples, classes) -> np.ndarray:
    """Class probabilities, one row per sample and one column per class, as float32.

    Each row must be finite, non-negative and sum to 1 (within 1e-3), in the
    order of ``classes``: what ``predict_proba`` of a teacher fitted on the
    same labels returns.
    """
    targets = np.asarray(soft_targets, dtype=np.float64)
    expected = (n_samples, len(classes))
    if targets.shape != expected:
        raise ValueError(
            f"soft_targets has shape {targets.shape}; expected {expected}: one row per "
            f"sample of X and one column per class, in the order {classes.tolist()}"
        )
    checks = (
        (~np.isfinite(targets), "is not finite"),
        (targets < 0, "is negative"),
    )
    for bad, what in checks:
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise ValueError(
                f"soft_targets[{row}, {column}] = {targets[row, column].item()!r} {what}; "
                "expected class probabilities"
            )
    sums = targets.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > 1e-3)
    if off.size:
        raise ValueError(
            f"soft_targets row {off[0]} sums to {sums[off[0]]:.6g}; each row must be "
            "class probabilities summing to 1"
        )
    return targets.astype(np.float32)
