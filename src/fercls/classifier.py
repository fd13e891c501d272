"""FERClassifier: a scikit-learn classifier that drives a Keras 3 CNN directly."""

from __future__ import annotations

import inspect
import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .architectures import ARCHITECTURES, import_keras

# Images per forward pass at prediction: large enough for throughput, small
# enough that activations of the default network stay well under 1 GB.
_PREDICT_BATCH = 256


class FERClassifier(ClassifierMixin, BaseEstimator):
    """Convolutional emotion classifier with the scikit-learn estimator API.

    Wraps a Keras 3 network (TensorFlow backend) built by name or by a
    callable. X is flat pixels ``(n, h*w)`` — the form imbalanced-learn
    samplers need — or images ``(n, h, w)`` / ``(n, h, w, 1)``; the network
    sees images. Labels can be of any type (challenge ids 0..6, names such as
    ``"happy"``); ``predict`` returns the same type.

    Parameter names follow :class:`sklearn.neural_network.MLPClassifier` where
    an equivalent exists, so the two fit in the same grid.

    Parameters
    ----------
    architecture : {"vgg", "vgg_small", "simple"} or callable, default="vgg"
        The network. A callable is called as ``architecture(input_shape,
        n_classes)`` (plus ``augment=`` and ``seed=`` if it accepts them) and
        must return an uncompiled ``keras.Model`` ending in a softmax over
        ``n_classes``.
    max_iter : int, default=30
        Maximum number of epochs.
    batch_size : int, default=64
        Images per gradient step.
    learning_rate_init : float, default=1e-3
        Initial learning rate of the Adam optimiser.
    learning_rate : {"constant", "adaptive", "cosine"}, default="cosine"
        Schedule. ``"cosine"`` decays the rate to zero over ``max_iter``
        epochs (the schedule behind the bundled model's measured figures).
        ``"adaptive"`` halves it each time the monitored score (validation
        accuracy with a validation set, else training loss) has not improved
        for ``max(2, n_iter_no_change // 3)`` epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified),
        stop when validation accuracy has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and restore the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience, in epochs. Without a validation set, training stops when the
        training loss has not improved by ``tol`` for this many epochs.
    tol : float, default=1e-4
        Smallest improvement that counts.
    label_smoothing : float, default=0.0
        Label smoothing of the cross-entropy loss.
    augment : bool, default=True
        Random flips, rotations, zooms and shifts while training (Keras
        preprocessing layers inside the model; inactive at prediction).
        Skipped for inputs smaller than 8×8, which are not pictures.
    class_weight : dict, "balanced" or None, default=None
        Weights per class, multiplied into ``sample_weight``. ``"balanced"``
        weights inversely to class frequency.
    image_shape : tuple of (int, int) or None, default=None
        How flat rows are reshaped. ``None`` infers it: a perfect square
        ``n_features`` becomes a square image (2304 → 48×48, FER2013's size),
        anything else a 1×n strip. An explicit shape must match the data.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, shuffling, dropout, augmentation and the validation
        split. The same integer gives identical predictions in separate
        processes on the CPU. TensorFlow's process-wide op determinism is
        never switched on.
    verbose : int, default=0
        Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch.
    warm_start : bool, default=False
        Continue training the fitted network on the next ``fit``.
    test_time_flip : bool, default=False
        Average the probabilities of each image and its left-right mirror at
        prediction (twice the compute). ``docs/model_card.md`` gives its
        measured effect on the bundled model's PrivateTest accuracy.

    Attributes
    ----------
    model_ : keras.Model
        The trained network (compiled).
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of ``predict_proba``'s columns.
    n_features_in_ : int
        Pixels per image (``h * w``).
    image_shape_ : tuple of (int, int)
        The image shape the network sees.
    history_ : dict of str to list of float
        Per-epoch ``loss``, ``accuracy``, ``learning_rate`` and, with a
        validation set, ``val_loss`` and ``val_accuracy``.
    best_iteration_ : int or None
        1-based epoch whose weights were restored (with a validation set).
    n_iter_ : int
        Epochs run.

    Examples
    --------
    >>> import numpy as np
    >>> from fercls import FERClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((60, 12, 12), dtype=np.float32)   # sixty 12×12 "images"
    >>> y = np.repeat(["happy", "sad"], 30)
    >>> X[y == "happy", ::2, :] += 1.0                    # happy: horizontal stripes
    >>> clf = FERClassifier("simple", max_iter=10, augment=False, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> clf.predict(X[[0, -1]]).tolist(), clf.image_shape_
    (['happy', 'sad'], (12, 12))
    """

    _parameter_constraints = {
        "architecture": [StrOptions(set(ARCHITECTURES)), callable],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions({"constant", "adaptive", "cosine"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "augment": ["boolean"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "test_time_flip": ["boolean"],
    }

    def __init__(
        self,
        architecture="vgg",
        *,
        max_iter=30,
        batch_size=64,
        learning_rate_init=1e-3,
        learning_rate="adaptive",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        label_smoothing=0.0,
        augment=True,
        class_weight=None,
        image_shape=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        test_time_flip=False,
    ):
        self.architecture = architecture
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.class_weight = class_weight
        self.image_shape = image_shape
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.test_time_flip = test_time_flip

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, *, validation_data=None, callbacks=None):
        """Train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, h*w), (n_samples, h, w) or (n_samples, h, w, 1)
            Pixels, already normalised (see :class:`fercls.PixelNormalizer`).
        y : array-like of shape (n_samples,)
            Labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, multiplied by ``class_weight``.
        validation_data : tuple (X_val, y_val), default=None
            An explicit validation set (e.g. FER2013's PublicTest), used instead
            of carving ``validation_fraction`` out of X for early stopping and
            the learning-rate schedule. It is never trained on.
        callbacks : list of keras.callbacks.Callback, default=None
            Extra Keras callbacks (checkpoints, TensorBoard, time budgets), run
            after the estimator's own, which records ``history_``, schedules
            the learning rate and stops early.

        Returns
        -------
        self : FERClassifier
        """
        self._validate_params()
        continuing = self.warm_start and hasattr(self, "model_")
        return self._fit(
            X, y, sample_weight, validation_data, self.max_iter, continuing, callbacks=callbacks
        )

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on (X, y), creating the network on the first call.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            All labels that will ever be seen; needed on the first call when
            ``y`` does not contain every class.

        Returns
        -------
        self : FERClassifier
        """
        continuing = hasattr(self, "model_")
        if not continuing:
            self._validate_params()
            self._partial_classes = classes
        return self._fit(X, y, sample_weight, None, 1, continuing, use_validation=False)

    def _fit(
        self,
        X,
        y,
        sample_weight,
        validation_data,
        epochs,
        continuing,
        use_validation=True,
        callbacks=None,
    ):
        X, y = self._check_fit_data(X, y, reset=not continuing)
        y_encoded = self._encode_labels(y, reset=not continuing)
        weights = self._sample_weights(y, sample_weight, X)
        seed = self._seed(continuing)
        X_val = y_val = None
        if validation_data is not None:
            X_val = self._to_images(self._check_predict_data(validation_data[0]))
            y_val = self._encode_labels(column_or_1d(validation_data[1]), reset=False)
        elif self.early_stopping and use_validation:
            X, X_val, y_encoded, y_val, weights = _split_validation(
                X, y_encoded, weights, self.validation_fraction, seed
            )
            X_val = self._to_images(X_val)
        if not continuing:
            self.model_ = self._build_model(seed)
            self.history_ = {}
            self.n_iter_ = 0
            self.best_iteration_ = None
        monitor = _Monitor(self, epochs, has_validation=X_val is not None)
        train = self._dataset(self._to_images(X), y_encoded, weights, seed=seed + self.n_iter_)
        val = None if X_val is None else self._dataset(X_val, y_val, None, seed=None)
        self.model_.fit(
            train,
            validation_data=val,
            initial_epoch=self.n_iter_,
            epochs=self.n_iter_ + epochs,
            callbacks=[monitor, *(callbacks or [])],
            shuffle=False,  # the dataset is already shuffled, with our seed
            verbose=self.verbose,
        )
        monitor.finish()
        return self

    def _check_fit_data(self, X, y, *, reset):
        X = self._flatten(X, reset=reset)
        X, y = validate_data(self, X, y, reset=reset, dtype="numeric", ensure_min_samples=1)
        check_classification_targets(y)
        if reset:
            self.image_shape_ = self._resolve_image_shape(X.shape[1])
        return X, y

    def _flatten(self, X, *, reset):
        """Images (n, h, w[, 1]) -> flat rows, remembering (h, w) when fitting."""
        if not hasattr(X, "shape") or getattr(X, "ndim", 2) <= 2:
            if reset:
                self._images_shape = None
            return X
        X = np.asarray(X)
        if X.ndim == 4 and X.shape[3] == 1:
            X = X[..., 0]
        if X.ndim != 3:
            raise ValueError(
                f"expected images of shape (n, h, w) or (n, h, w, 1), got shape {X.shape}"
            )
        if reset:
            self._images_shape = X.shape[1:]
        elif tuple(X.shape[1:]) != tuple(self.image_shape_):
            raise ValueError(
                f"X has images of shape {X.shape[1:]}, but {type(self).__name__} was "
                f"fitted on images of shape {tuple(self.image_shape_)}"
            )
        return X.reshape(len(X), -1)

    def _resolve_image_shape(self, n_features):
        from_images = self.__dict__.pop("_images_shape", None)
        if self.image_shape is not None:
            shape = tuple(int(v) for v in self.image_shape)
            if len(shape) != 2 or shape[0] * shape[1] != n_features:
                raise ValueError(
                    f"image_shape={self.image_shape!r} needs {math.prod(shape)} features per "
                    f"row, but X has {n_features}"
                )
            if from_images is not None and tuple(from_images) != shape:
                raise ValueError(f"X holds images of shape {from_images}, but image_shape={shape}")
            return shape
        if from_images is not None:
            return tuple(int(v) for v in from_images)
        side = math.isqrt(n_features)
        return (side, side) if side * side == n_features else (1, n_features)

    def _encode_labels(self, y, *, reset):
        if reset:
            classes = getattr(self, "_partial_classes", None)
            self.__dict__.pop("_partial_classes", None)
            encoder = LabelEncoder().fit(y if classes is None else np.concatenate([classes, y]))
            self.classes_ = encoder.classes_
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least two classes; "
                    f"got one class: {self.classes_[0].item()!r}"
                )
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"labels {unseen.tolist()} were not seen in the first fit; "
                f"expected labels in {self.classes_.tolist()}"
            )
        return np.searchsorted(self.classes_, y).astype(np.int32)

    def _sample_weights(self, y, sample_weight, X):
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if self.class_weight is not None:
            class_weight = self.class_weight
            if isinstance(class_weight, dict):
                class_weight = {k: class_weight.get(k, 1.0) for k in self.classes_}
            per_class = compute_sample_weight(class_weight, y).astype(np.float32)
            weights = per_class if weights is None else weights * per_class
        return weights

    def _seed(self, continuing):
        if continuing and hasattr(self, "_seed_"):
            return self._seed_
        self._seed_ = int(check_random_state(self.random_state).randint(2**31 - 1))
        return self._seed_

    def _build_model(self, seed):
        return self._compile(self._new_network(seed))

    def _new_network(self, seed):
        """The uncompiled network for this estimator's data."""
        input_shape = (*self.image_shape_, 1)
        n_classes = len(self.classes_)
        builder = (
            ARCHITECTURES[self.architecture]
            if isinstance(self.architecture, str)
            else self.architecture
        )
        accepted = inspect.signature(builder).parameters
        extra = {k: v for k, v in (("augment", self.augment), ("seed", seed)) if k in accepted}
        model = builder(input_shape, n_classes, **extra)
        if model.output_shape[-1] != n_classes:
            raise ValueError(
                f"architecture returned a model with {model.output_shape[-1]} outputs; "
                f"expected {n_classes} (one per class)"
            )
        return model

    def _compile(self, model):
        keras = import_keras()
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate_init),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing),
            metrics=["accuracy"],
            jit_compile=False,
        )
        return model

    def _dataset(self, images, y_encoded, weights, *, seed):
        """A tf.data pipeline: one-hot labels, seeded shuffling, batching, prefetch."""
        import tensorflow as tf

        n_classes = len(self.classes_)
        targets = np.eye(n_classes, dtype=np.float32)[y_encoded]
        tensors = (images, targets) if weights is None else (images, targets, weights)
        data = tf.data.Dataset.from_tensor_slices(tensors)
        if seed is not None:
            data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        return data.batch(self.batch_size).prefetch(tf.data.AUTOTUNE)

    # -------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, h*w), (n_samples, h, w) or (n_samples, h, w, 1)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
        """
        check_is_fitted(self)
        images = self._to_images(self._check_predict_data(X))
        probabilities = self._forward(images)
        if self.test_time_flip:
            probabilities += self._forward(np.ascontiguousarray(images[:, :, ::-1]))
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _forward(self, images):
        """Network outputs (float64) in batches of at most _PREDICT_BATCH images."""
        forward = _traced_forward(self.model_)
        return np.concatenate(
            [
                np.asarray(forward(images[i : i + _PREDICT_BATCH]))
                for i in range(0, len(images), _PREDICT_BATCH)
            ]
        ).astype(np.float64)

    def predict(self, X):
        """Predicted labels, of the type given to ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        probabilities = self.predict_proba(X)  # checks fitted before classes_ is read
        return self.classes_[np.argmax(probabilities, axis=1)]

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _check_predict_data(self, X):
        check_is_fitted(self)
        X = self._flatten(X, reset=False)
        return validate_data(self, X, reset=False, dtype="numeric")

    def _to_images(self, X):
        return np.asarray(X, dtype=np.float32).reshape(-1, *self.image_shape_, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


def _traced_forward(model):
    """The model's inference pass as a tf.function, traced once per model.

    Calling a Keras model eagerly dispatches every layer from Python: 23 ms for
    one image through vgg_small here, against 2.8 ms traced. The function is
    cached on the Keras model (it is not part of what Keras saves or pickles),
    so predicting leaves the estimator's own state untouched.
    """
    forward = getattr(model, "_fercls_forward", None)
    if forward is None:
        import tensorflow as tf

        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        model._fercls_forward = forward
    return forward


def _split_validation(X, y, weights, fraction, seed):
    """Stratified hold-out; falls back to a plain split when a class is too rare."""
    arrays = [X, y] if weights is None else [X, y, weights]
    try:
        parts = train_test_split(*arrays, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class with a single sample cannot be stratified
        parts = train_test_split(*arrays, test_size=fraction, random_state=seed)
    X_train, X_val, y_train, y_val = parts[:4]
    w_train = parts[4] if weights is not None else None
    return X_train, X_val, y_train, y_val, w_train


def _Monitor(estimator, epochs, *, has_validation):
    """Build the Keras callback that records history, schedules the learning
    rate, stops early and restores the best weights (created lazily so Keras is
    imported only when training)."""
    keras = import_keras()

    class Monitor(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.metric = "val_accuracy" if has_validation else "loss"
            self.sign = 1.0 if has_validation else -1.0  # larger is better after the sign
            self.best = -np.inf
            self.best_weights = None
            self.best_epoch = None
            self.stale = 0
            self.plateau = 0
            self.first_epoch = estimator.n_iter_

        def on_epoch_begin(self, epoch, logs=None):
            if estimator.learning_rate == "cosine":
                # Over this call's epochs: a warm-started fit decays afresh, and
                # partial_fit (one epoch a call) keeps the initial rate.
                progress = min((epoch - self.first_epoch) / epochs, 1.0)
                rate = 0.5 * estimator.learning_rate_init * (1 + math.cos(math.pi * progress))
                self.model.optimizer.learning_rate = rate

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            logs["learning_rate"] = float(
                np.asarray(self.model.optimizer.learning_rate, dtype=np.float64)
            )
            for key, value in logs.items():
                estimator.history_.setdefault(key, []).append(float(value))
            estimator.n_iter_ = epoch + 1
            score = self.sign * logs.get(self.metric, np.nan)
            if score > self.best + estimator.tol:
                self.best, self.stale, self.plateau = score, 0, 0
                self.best_epoch = epoch + 1
                if has_validation:
                    self.best_weights = self.model.get_weights()
            else:
                self.stale += 1
                self.plateau += 1
            if estimator.learning_rate == "adaptive" and self.plateau >= max(
                2, estimator.n_iter_no_change // 3
            ):
                self.model.optimizer.learning_rate = logs["learning_rate"] * 0.5
                self.plateau = 0
            if self.stale >= estimator.n_iter_no_change:
                self.model.stop_training = True

        def finish(self):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)
                estimator.best_iteration_ = self.best_epoch

    return Monitor()
