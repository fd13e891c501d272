"""FERClassifier: a scikit-learn classifier that drives a Keras 3 CNN directly.

The estimator API lives here; the training loop is in ``fercls._training``,
test-time views in ``fercls._views``, traced inference in ``fercls._tracing``.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._precision import dtype_policy, resolve_precision
from ._tracing import expected_retracing, traced_forward
from ._views import TEST_TIME_AUGMENTATIONS, augmented_views
from .architectures import ARCHITECTURES, build_network, import_keras

__all__ = ["FERClassifier", "TEST_TIME_AUGMENTATIONS", "final_classifier", "resolve_precision"]

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
    learning_rate : {"constant", "adaptive", "cosine"}, default="adaptive"
        Schedule. ``"adaptive"`` halves the rate each time the monitored score
        (validation accuracy with a validation set, else training loss) has
        not improved for ``max(2, n_iter_no_change // 3)`` epochs.
        ``"cosine"`` decays it to zero over ``max_iter`` epochs: the schedule
        behind the bundled model (decayed over a time budget there), best
        for long runs; over a handful of epochs it decays too early and
        underfits, which is why it is not the default.
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
    distribution : {"mirrored"}, tf.distribute.Strategy or None, default=None
        Train on several devices. ``"mirrored"`` creates a
        ``tf.distribute.MirroredStrategy`` over all local GPUs (the CPU when
        there are none); a strategy object (e.g. ``MultiWorkerMirroredStrategy``
        for several hosts) is used as given. ``batch_size`` is the global batch,
        split across replicas. A strategy object cannot be cloned or saved with
        :func:`fercls.save`; the string can.
    precision : {"float32", "mixed_float16", "mixed_bfloat16", "auto"}, default="float32"
        Layer compute precision. ``"mixed_float16"`` (GPUs; with loss scaling)
        and ``"mixed_bfloat16"`` (recent GPUs and CPUs with AMX/AVX-512 BF16)
        compute in 16 bits and keep float32 weights; the softmax stays float32.
        ``"auto"``: bfloat16 where the CPU has native BF16 instructions and no
        GPU is visible, float32 elsewhere. On a 2-core AVX-512 BF16 CPU,
        bfloat16 trained ``vgg_small`` 1.34x faster
        (``benchmarks/precision_throughput.py``) and as accurately; it stays
        opt-in because a seed then gives different models on different CPUs.
    test_time_augmentation : {"flip", "zoom_flip"} or None, default=None
        Average the probabilities of two views of each image at prediction
        (twice the compute). ``"flip"``: the image and its left-right mirror.
        ``"zoom_flip"``: the central 11/12 of the image enlarged back to full
        size (bilinear), and its mirror. Can be set after ``fit``.
        ``docs/model_card.md`` gives the measured effect of each on the bundled
        model.

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
        "distribution": [StrOptions({"mirrored"}), HasMethods(["scope"]), None],
        "precision": [StrOptions({"float32", "mixed_float16", "mixed_bfloat16", "auto"})],
        "test_time_augmentation": [StrOptions(set(TEST_TIME_AUGMENTATIONS)), None],
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
        distribution=None,
        precision="float32",
        test_time_augmentation=None,
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
        self.distribution = distribution
        self.precision = precision
        self.test_time_augmentation = test_time_augmentation

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        callbacks: list | None = None,
        checkpoint: str | os.PathLike | None = None,
    ) -> FERClassifier:
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
            after the estimator's own, which record ``history_``, schedule
            the learning rate and stop early.
        checkpoint : path-like, default=None
            Save the estimator to this ``.fercls`` archive (see
            :func:`fercls.save`) after every epoch, with the optimizer's and
            the schedule's state. If the file exists when ``fit`` starts, and
            was written by an estimator with the same parameters, training
            resumes from its last completed epoch instead of starting over; a
            finished run's checkpoint just loads.

        Returns
        -------
        self : FERClassifier

        Notes
        -----
        If ``fit`` is interrupted (``KeyboardInterrupt`` or any other
        exception) the estimator is left at its last completed epoch: the
        weights, optimizer state, ``history_`` and ``n_iter_`` of that epoch.
        If no epoch of a fresh fit completed, it is left unfitted; a
        warm-started fit with no completed epoch leaves the previous state.
        """
        callbacks = _check_callbacks(callbacks)
        continuing = self.warm_start and hasattr(self, "model_")
        resume = None
        if checkpoint is not None and not continuing and Path(checkpoint).exists():
            resume = self._restore_checkpoint(checkpoint)
            continuing = True
        return self._fit(
            X,
            y,
            sample_weight,
            epochs=self.max_iter,
            continuing=continuing,
            validation_data=validation_data,
            callbacks=callbacks,
            checkpoint=checkpoint,
            resume=resume,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        classes: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> FERClassifier:
        """Train for one epoch on (X, y), creating the network on the first call.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            All labels that will ever be seen; needed on the first call when
            ``y`` does not contain every class. Ignored on later calls.

        Returns
        -------
        self : FERClassifier
        """
        continuing = hasattr(self, "model_")
        return self._fit(
            X,
            y,
            sample_weight,
            epochs=1,
            continuing=continuing,
            classes=None if continuing else classes,
            hold_out=False,
        )

    def _fit(
        self,
        X,
        y,
        sample_weight,
        *,
        epochs,
        continuing,
        validation_data=None,
        classes=None,
        hold_out=True,
        callbacks=(),
        checkpoint=None,
        resume=None,
    ):
        from ._training import TrainingLoop  # imports Keras: only when training

        loop = None
        try:
            images, labels, weights, validation, seed = self._training_data(
                X, y, sample_weight, validation_data, continuing, classes, hold_out
            )
            if not continuing:
                self._start_network(seed)
            loop = TrainingLoop(
                self,
                epochs,
                continuing=continuing,
                has_validation=validation is not None,
                checkpoint=checkpoint,
                resume=resume,
            )
            loop.run(images, labels, weights, validation, seed=seed, extra_callbacks=callbacks)
        except BaseException:
            # Ctrl-C or a failing callback: never leave a half-trained epoch behind.
            restored = loop is not None and loop.rollback()
            if not restored and not continuing:
                self._forget_fit()
            raise
        return self

    def _training_data(self, X, y, sample_weight, validation_data, continuing, classes, hold_out):
        """Checked training arrays: images, encoded labels, weights, validation, seed.

        ``validation`` is ``(images, labels)``: the given ``validation_data``, or
        with ``early_stopping`` (and ``hold_out``) a stratified share of X.
        """
        X, y = self._check_fit_data(X, y, reset=not continuing)
        labels = self._encode_labels(y, reset=not continuing, classes=classes)
        weights = self._sample_weights(y, sample_weight, X)
        seed = self._seed(continuing)
        validation = None
        if validation_data is not None:
            X_val = self._to_images(self._check_predict_data(validation_data[0]))
            y_val = self._encode_labels(column_or_1d(validation_data[1]), reset=False)
            validation = (X_val, y_val)
        elif self.early_stopping and hold_out:
            X, X_val, labels, y_val, weights = _split_validation(
                X, labels, weights, self.validation_fraction, seed
            )
            validation = (self._to_images(X_val), y_val)
        return self._to_images(X), labels, weights, validation, seed

    def _start_network(self, seed):
        self.model_ = self._build_model(seed)
        self.history_ = {}
        self.n_iter_ = 0
        self.best_iteration_ = None

    def _restore_checkpoint(self, checkpoint):
        """Adopt the fitted state of a checkpoint written by this estimator's twin."""
        from .persistence import load_checkpoint

        saved, resume = load_checkpoint(checkpoint)
        if not isinstance(saved, FERClassifier) or resume is None:
            raise ValueError(
                f"{checkpoint}: not a FERClassifier training checkpoint (it was not written "
                "by fit(checkpoint=...)); pass a new path or delete the file"
            )
        ignored = {"verbose", "warm_start", "distribution"}
        mine, theirs = self.get_params(), saved.get_params()
        differ = sorted(k for k in mine if k not in ignored and _differs(mine[k], theirs[k]))
        if differ:
            details = ", ".join(f"{k}={theirs[k]!r} (now {mine[k]!r})" for k in differ)
            raise ValueError(
                f"{checkpoint}: written by an estimator with other parameters: {details}; "
                "delete it or pass a new path to start afresh"
            )
        for key, value in vars(saved).items():
            if key.endswith("_"):
                setattr(self, key, value)
        return resume

    def _forget_fit(self):
        """Back to unfitted: drop every learned attribute."""
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, key)

    def _check_fit_data(self, X, y, *, reset):
        X, images_shape = _flatten(X)
        if not reset:
            self._check_image_shape(images_shape)
        y = _check_labels(y)
        X, y = validate_data(self, X, y, reset=reset, dtype="numeric", ensure_min_samples=1)
        _check_float32_range(X)
        check_classification_targets(y)
        if reset:
            self.image_shape_ = self._resolve_image_shape(X.shape[1], images_shape)
        return X, y

    def _check_image_shape(self, images_shape):
        if images_shape is not None and tuple(images_shape) != tuple(self.image_shape_):
            raise ValueError(
                f"X has images of shape {tuple(images_shape)}, but {type(self).__name__} was "
                f"fitted on images of shape {tuple(self.image_shape_)}"
            )

    def _resolve_image_shape(self, n_features, from_images):
        """(h, w) from ``image_shape``, else from image-shaped X, else a square or a strip."""
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

    def _encode_labels(self, y, *, reset, classes=None):
        if reset:
            if classes is not None:
                classes = column_or_1d(np.asarray(classes))
                outside = np.setdiff1d(np.unique(y), classes)
                if outside.size:
                    raise ValueError(
                        f"y holds labels {outside.tolist()} that are not in classes="
                        f"{classes.tolist()}; classes must list every label"
                    )
            encoder = LabelEncoder().fit(y if classes is None else classes)
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
                unknown = [k for k in class_weight if k not in set(self.classes_.tolist())]
                if unknown:
                    raise ValueError(
                        f"class_weight names classes {unknown!r} that are not in y; "
                        f"the classes are {self.classes_.tolist()!r}"
                    )
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
        strategy = self._strategy()
        with strategy.scope() if strategy is not None else nullcontext():
            with dtype_policy(resolve_precision(self.precision)):
                network = build_network(
                    self.architecture,
                    (*self.image_shape_, 1),
                    len(self.classes_),
                    augment=self.augment,
                    seed=seed,
                )
            return self._compile(network)

    def _strategy(self):
        if self.distribution == "mirrored":
            import tensorflow as tf

            return tf.distribute.MirroredStrategy()
        return self.distribution

    def _compile(self, model):
        keras = import_keras()
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate_init),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing),
            metrics=["accuracy"],
            jit_compile=False,
        )
        return model

    # ---------------------------------------------------------- from_keras
    @classmethod
    def from_keras(
        cls,
        network,
        classes: ArrayLike,
        *,
        n_iter: int = 0,
        best_iteration: int | None = None,
        history: dict | None = None,
        **params,
    ) -> FERClassifier:
        """A fitted classifier around a trained Keras network.

        How the bundled model is loaded (``fercls.pretrained``), and how to
        give a network trained elsewhere the estimator API (predict, score,
        reports, export, :func:`fercls.save`).

        Parameters
        ----------
        network : keras.Model
            Takes ``(h, w, 1)`` images and ends in a softmax with one output
            per class, in the order of ``classes``. It is compiled here with
            the estimator's optimizer and loss, so a warm-started ``fit``
            continues training it.
        classes : array-like of shape (n_classes,)
            The label of each output, sorted (``classes_`` is sorted in every
            FERClassifier).
        n_iter, best_iteration, history
            What to report as ``n_iter_``, ``best_iteration_`` and ``history_``.
        **params
            FERClassifier parameters (validated).

        Returns
        -------
        FERClassifier
            Fitted: ``image_shape_`` and ``n_features_in_`` come from the
            network's input.

        Examples
        --------
        >>> import numpy as np
        >>> from fercls import FERClassifier
        >>> from fercls.architectures import build_network
        >>> network = build_network("simple", (12, 12, 1), 2, seed=0)
        >>> clf = FERClassifier.from_keras(network, ["happy", "sad"], architecture="simple")
        >>> clf.image_shape_, clf.predict(np.zeros((1, 144))).shape
        ((12, 12), (1,))
        """
        classifier = cls(**params)
        classifier._validate_params()
        classes = np.asarray(classes)
        if classes.ndim == 1 and not np.array_equal(np.sort(classes), classes):
            raise ValueError(f"classes must be sorted, as classes_ is; got {classes.tolist()!r}")
        input_shape = tuple(network.input_shape[1:])
        if len(input_shape) != 3 or input_shape[2] != 1 or None in input_shape:
            raise ValueError(
                f"the network takes inputs of shape {input_shape}; expected (h, w, 1) images"
            )
        classifier.classes_ = classes
        classifier.image_shape_ = tuple(int(v) for v in input_shape[:2])
        classifier.n_features_in_ = int(np.prod(classifier.image_shape_))
        classifier.n_iter_ = int(n_iter)
        classifier.best_iteration_ = None if best_iteration is None else int(best_iteration)
        classifier.history_ = {k: list(v) for k, v in (history or {}).items()}
        classifier.model_ = classifier._compile(network)
        classifier._check_loaded_state(None)
        return classifier

    # -------------------------------------------------------------- predict
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
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
        views = augmented_views(images, self.test_time_augmentation)
        # One forward pass over all views: a single small call costs less than two.
        outputs = self._forward(np.concatenate(views) if len(views) > 1 else views[0])
        probabilities = outputs.reshape(len(views), len(images), -1).sum(axis=0)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _forward(self, images):
        """Network outputs (float64) in batches of at most _PREDICT_BATCH images."""
        forward = traced_forward(self.model_)
        with expected_retracing():
            return self._batched(forward, images)

    @staticmethod
    def _batched(forward, images):
        return np.concatenate(
            [
                np.asarray(forward(images[i : i + _PREDICT_BATCH]))
                for i in range(0, len(images), _PREDICT_BATCH)
            ]
        ).astype(np.float64)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted labels, of the type given to ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        probabilities = self.predict_proba(X)  # checks fitted before classes_ is read
        return self.classes_[np.argmax(probabilities, axis=1)]

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Mean accuracy on (X, y); labels the model never saw are an error.

        Scoring ``"angry"`` against a model fitted without it would silently
        count those rows as mistakes, so such labels are refused instead.

        Returns
        -------
        float
        """
        check_is_fitted(self)
        y = column_or_1d(y, warn=True)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} that the model never saw in fit; "
                f"it predicts {self.classes_.tolist()}"
            )
        return super().score(X, y, sample_weight=sample_weight)

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _check_predict_data(self, X):
        check_is_fitted(self)
        X, images_shape = _flatten(X)
        self._check_image_shape(images_shape)
        X = validate_data(self, X, reset=False, dtype="numeric")
        _check_float32_range(X)
        return X

    def _to_images(self, X):
        return np.asarray(X, dtype=np.float32).reshape(-1, *self.image_shape_, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _check_loaded_state(self, where):
        """Refuse a fitted state that contradicts itself (read from a file, it is input).

        Checks that ``classes_`` are distinct labels, one per network output;
        that ``image_shape_`` and ``n_features_in_`` agree with each other and
        with the network's input; and that every weight is finite. ``where``
        (a file, or None) starts each message.
        """
        prefix = f"{where}: " if where else ""
        learned = [k for k in ("classes_", "image_shape_", "n_features_in_") if hasattr(self, k)]
        if not hasattr(self, "model_"):
            if learned:
                raise ValueError(f"{prefix}has {', '.join(learned)} but no network")
            return
        missing = sorted({"classes_", "image_shape_", "n_features_in_"} - set(learned))
        if missing:
            raise ValueError(f"{prefix}a network without {', '.join(missing)}")
        classes = np.asarray(self.classes_)
        if classes.ndim != 1 or len(classes) < 2 or len(np.unique(classes)) != len(classes):
            raise ValueError(
                f"{prefix}classes_ must be at least two distinct labels, got {classes.tolist()!r}"
            )
        outputs = self.model_.output_shape[-1]
        if outputs != len(classes):
            raise ValueError(
                f"{prefix}{len(classes)} classes_ but the network has {outputs} outputs"
            )
        shape = self.image_shape_
        if (
            not isinstance(shape, (tuple, list))
            or len(shape) != 2
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in shape)
        ):
            raise ValueError(f"{prefix}image_shape_ must be two positive ints, got {shape!r}")
        expected = (*tuple(int(v) for v in shape), 1)
        if tuple(self.model_.input_shape[1:]) != expected:
            raise ValueError(
                f"{prefix}image_shape_ {tuple(shape)} but the network takes inputs of shape "
                f"{tuple(self.model_.input_shape[1:])}"
            )
        if self.n_features_in_ != expected[0] * expected[1]:
            raise ValueError(
                f"{prefix}n_features_in_={self.n_features_in_!r} but image_shape_ "
                f"{tuple(shape)} has {expected[0] * expected[1]} pixels"
            )
        for weight in self.model_.weights:
            if not np.isfinite(np.asarray(weight.numpy(), dtype=np.float64)).all():
                raise ValueError(f"{prefix}the network's weight {weight.path!r} is not finite")


def final_classifier(estimator) -> FERClassifier | None:
    """The FERClassifier inside a pipeline (or the estimator itself), if any."""
    if isinstance(estimator, FERClassifier):
        return estimator
    steps = getattr(estimator, "steps", None)
    if steps:
        return final_classifier(steps[-1][1])
    return None


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_range(X):
    """The network computes in float32: larger values would become infinite."""
    if X.dtype.kind == "f" and X.dtype.itemsize > 4 and X.size:
        too_large = np.abs(X) > _FLOAT32_MAX
        if too_large.any():
            row, column = np.argwhere(too_large)[0]
            raise ValueError(
                f"X[{row}, {column}] = {X[row, column]!r} is beyond float32's range "
                f"(±{_FLOAT32_MAX:.3g}); normalise pixels first (fercls.PixelNormalizer)"
            )


def _flatten(X):
    """Images (n, h, w[, 1]) -> (flat rows, (h, w)); other input as it is, with None."""
    if not hasattr(X, "shape") or getattr(X, "ndim", 2) <= 2:
        return X, None
    X = np.asarray(X)
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim != 3:
        raise ValueError(f"expected images of shape (n, h, w) or (n, h, w, 1), got shape {X.shape}")
    return X.reshape(len(X), -1), X.shape[1:]


def _check_labels(y):
    """None among the labels gets a clear error rather than a TypeError from sorting."""
    if y is None:
        raise ValueError("FERClassifier requires y to be passed, but the target y is None")
    array = np.asarray(y, dtype=object) if not hasattr(y, "dtype") else np.asarray(y)
    if array.dtype == object:
        missing = [i for i, v in enumerate(array.ravel()) if v is None]
        if missing:
            raise ValueError(f"y[{missing[0]}] is None; every sample needs a label")
    return y


def _check_callbacks(callbacks):
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


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) != list(b)
    return a != b
