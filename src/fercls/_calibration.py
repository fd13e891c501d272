"""Temperature scaling: calibrated probabilities from a trained network.

A network trained with cross-entropy is often over-confident. Dividing its
logits by one temperature ``T > 1`` (fitted on held-out data by minimising the
negative log-likelihood) fixes much of that without changing any prediction:
the arg-max is the same for every ``T`` (Guo et al., 2017).

fercls bakes ``T`` into the network: the final ``Dense`` layer's kernel and
bias are divided by it, so the logits are divided by it. Every surface then
gives the calibrated probabilities with no extra step and no new file
format: ``predict_proba``, ``.fercls`` files, the bundled model's folder and
every export.
"""

from __future__ import annotations

import numpy as np

# Temperatures outside this range mean the held-out data is too small or odd.
_BOUNDS = (0.05, 20.0)


def fit_temperature(proba, y, classes) -> float:
    """The temperature that minimises the negative log-likelihood of ``y``.

    Parameters
    ----------
    proba : array of shape (n, n_classes)
        Probabilities (softmax outputs) on held-out data.
    y : array of shape (n,)
        True labels.
    classes : array of shape (n_classes,)
        The label of each column.

    Returns
    -------
    float

    Examples
    --------
    >>> p = np.array([[0.99, 0.01], [0.99, 0.01], [0.01, 0.99], [0.99, 0.01]])
    >>> round(fit_temperature(p, ["a", "a", "b", "b"], ["a", "b"]), 2) > 1  # over-confident
    True
    """
    from scipy.optimize import minimize_scalar

    proba = np.asarray(proba, dtype=np.float64)
    classes = list(np.asarray(classes).tolist())
    y = np.asarray(y).tolist()
    unknown = sorted({v for v in y if v not in classes}, key=str)
    if unknown:
        raise ValueError(f"y holds labels {unknown} that are not among the classes {classes}")
    if proba.ndim != 2 or proba.shape != (len(y), len(classes)):
        raise ValueError(f"proba has shape {proba.shape}; expected ({len(y)}, {len(classes)})")
    index = np.asarray([classes.index(v) for v in y])
    logits = np.log(np.clip(proba, 1e-12, 1.0))

    def nll(log_t):
        scaled = logits / np.exp(log_t)
        scaled -= scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float((log_norm - scaled[np.arange(len(index)), index]).mean())

    result = minimize_scalar(nll, bounds=np.log(_BOUNDS), method="bounded")
    return float(np.exp(result.x))


def calibrate_temperature(model, X, y) -> float:
    """Fit a temperature on held-out (X, y) and bake it into the network.

    Parameters
    ----------
    model : FERClassifier or Pipeline ending in one
        Fitted; its network must end in a softmax ``Dense`` layer (every
        built-in architecture does). Changed in place.
    X, y : held-out data, as ``model.predict_proba`` takes it
        Never the data the network was trained on; FER2013's PublicTest for
        the bundled model.

    Returns
    -------
    float
        The temperature. Predictions do not change; probabilities do.

    Examples
    --------
    >>> import fercls, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 16), dtype=np.float32)
    >>> y = np.repeat(["a", "b"], 20)
    >>> clf = fercls.FERClassifier("simple", max_iter=2, random_state=0).fit(X, y)
    >>> before = clf.predict(X)
    >>> t = fercls.calibrate_temperature(clf, X, y)
    >>> bool((clf.predict(X) == before).all()) and t > 0
    True
    """
    from .classifier import final_classifier

    classifier = final_classifier(model)
    if classifier is None:
        raise TypeError(f"{type(model).__name__} holds no FERClassifier to calibrate")
    _check_held_out(y, X)
    saved_tta = classifier.test_time_augmentation
    classifier.set_params(test_time_augmentation=None)  # fit on the network's own outputs
    try:
        temperature = fit_temperature(model.predict_proba(X), y, classifier.classes_)
    finally:
        classifier.set_params(test_time_augmentation=saved_tta)
    scale_logits(classifier.model_, 1.0 / temperature)
    return temperature


def _check_held_out(y, X) -> None:
    """Labels that can fit a temperature: one per sample of ``X``, of two classes
    or more. One class (or one sample) has no finite best temperature; the
    search would stop at its bound and bake that in."""
    if y is None:
        raise ValueError("calibrate_temperature needs the held-out labels y, got None")
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"y must be one label per sample (1-D), got shape {labels.shape}")
    if len(labels) != len(X):
        raise ValueError(f"y has {len(labels)} labels for {len(X)} samples of X")
    if len(np.unique(labels)) < 2:
        raise ValueError(
            f"calibrate_temperature needs held-out samples of at least two classes; got "
            f"{len(labels)} sample(s) of {len(np.unique(labels))} class(es)"
        )


def scale_logits(network, factor: float) -> None:
    """Multiply the logits of ``network``'s final softmax Dense layer by ``factor``."""
    keras_layer = network.layers[-1]
    activation = getattr(keras_layer, "activation", None)
    if not hasattr(keras_layer, "kernel") or getattr(activation, "__name__", "") != "softmax":
        raise ValueError(
            f"the network ends in {type(keras_layer).__name__} "
            f"(activation {getattr(activation, '__name__', None)}); temperature scaling "
            "needs a final Dense layer with a softmax"
        )
    weights = keras_layer.get_weights()
    keras_layer.set_weights([w * np.asarray(factor, dtype=w.dtype) for w in weights])
    # A traced forward pass holds the old values only by reference: no retrace needed.
