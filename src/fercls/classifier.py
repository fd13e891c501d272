"""FERClassifier: a scikit-learn classifier that drives a Keras 3 CNN directly."""

from __future__ import annotations

import contextvars
import inspect
import logging
import math
from contextlib import contextmanager, nullcontext
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .architectures import ARCHITECTURES, import_keras

# Images per forward pass at prediction: large enough for throughput, small
# enough that activations of the default network stay well under 1 GB.
_PREDICT_BATCH = 256

# The "zoom_flip" test-time view keeps the central 44 of 48 pixels (11/12 of each
# side) and enlarges it back. On four CPU-trained vgg_small models (the bundled
# one, two earlier stages of it, a 30-minute run), this view with its mirror beat
# "flip" by 0.8 to 1.8 points on PublicTest, the selection split
# (benchmarks/tta_accuracy.py). Crops shifted by 2-3 pixels, tried on the bundled
# model's previous weights, did not help.
_ZOOM_CROP = 11 / 12
TEST_TIME_AUGMENTATIONS = ("flip", "zoom_flip")


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
    def fit(
        self, X, y, sample_weight=None, *, validation_data=None, callbacks=None, checkpoint=None
    ):
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
        self._validate_params()
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
            validation_data,
            self.max_iter,
            continuing,
            callbacks=callbacks,
            checkpoint=checkpoint,
            resume=resume,
        )

    def _restore_checkpoint(self, checkpoint):
        """Adopt the fitted state of a checkpoint written by this estimator's twin."""
        from .persistence import _load_with_resume

        saved, resume = _load_with_resume(checkpoint)
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

    def _fit(self, X, y, sample_weight, validation_data, epochs, continuing, **options):
        try:
            self._train(X, y, sample_weight, validation_data, epochs, continuing, **options)
        except BaseException:
            # Ctrl-C or a failing callback: never leave a half-trained epoch behind.
            monitor = self.__dict__.pop("_monitor", None)
            restored = monitor is not None and monitor.rollback()
            if not restored and not continuing:
                self._forget_fit()
            raise
        self.__dict__.pop("_monitor", None)
        return self

    def _forget_fit(self):
        """Back to unfitted: drop every learned attribute."""
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, key)

    def _train(
        self,
        X,
        y,
        sample_weight,
        validation_data,
        epochs,
        continuing,
        use_validation=True,
        callbacks=None,
        checkpoint=None,
        resume=None,
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
        monitor = _Monitor(
            self,
            epochs,
            has_validation=X_val is not None,
            checkpoint=checkpoint,
            resume=resume,
            previous=continuing,
        )
        self._monitor = monitor  # lets _fit roll back if interrupted before fit returns
        remaining = monitor.first_epoch + monitor.epochs - self.n_iter_
        if remaining > 0 and not monitor.stopped:
            train, steps = self._training_batches(
                self._to_images(X),
                y_encoded,
                weights,
                seed=seed,
                first_epoch=self.n_iter_,
                n_epochs=remaining,
            )
            val = None if X_val is None else self._dataset(X_val, y_val, None)
            # Each new network traces Keras's train step once: expected, not a problem.
            with _expected_retracing():
                self.model_.fit(
                    train,
                    steps_per_epoch=steps,
                    validation_data=val,
                    initial_epoch=self.n_iter_,
                    epochs=self.n_iter_ + remaining,
                    callbacks=[monitor, *(callbacks or [])],
                    shuffle=False,  # the dataset is already shuffled, with our seed
                    verbose=self.verbose,
                )
        monitor.finish()
        return monitor

    def _check_fit_data(self, X, y, *, reset):
        X = self._flatten(X, reset=reset)
        y = _check_labels(y)
        X, y = validate_data(self, X, y, reset=reset, dtype="numeric", ensure_min_samples=1)
        _check_float32_range(X)
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
            with _dtype_policy(resolve_precision(self.precision)):
                network = self._new_network(seed)
            return self._compile(network)

    def _strategy(self):
        if self.distribution == "mirrored":
            import tensorflow as tf

            return tf.distribute.MirroredStrategy()
        return self.distribution

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

    def _dataset(self, images, y_encoded, weights):
        """Validation batches: one-hot labels, in order, prefetched."""
        import tensorflow as tf

        targets = np.eye(len(self.classes_), dtype=np.float32)[y_encoded]
        tensors = (images, targets) if weights is None else (images, targets, weights)
        data = tf.data.Dataset.from_tensor_slices(tensors)
        return data.batch(self.batch_size).prefetch(tf.data.AUTOTUNE)

    def _training_batches(self, images, y_encoded, weights, *, seed, first_epoch, n_epochs):
        """Shuffled training batches for epochs ``first_epoch .. first_epoch + n_epochs - 1``.

        Epoch ``e`` visits the samples in a stateless permutation keyed on
        ``(seed, e)``, so a run resumed from a checkpoint sees exactly the
        batches the uninterrupted run would have. Batches are gathered by index
        from the NumPy arrays themselves: TensorFlow never holds a copy of the
        whole data set (a ``tf.constant`` of it measured twice its size in
        RSS), and there is no shuffle buffer.
        """
        import tensorflow as tf

        n = len(images)
        steps = math.ceil(n / self.batch_size)
        labels = y_encoded.astype(np.int64)
        n_classes = len(self.classes_)
        arrays = [images] if weights is None else [images, np.asarray(weights, np.float32)]
        batch_size = self.batch_size

        def gather(index):
            return [a[index] for a in arrays] + [labels[index]]

        def to_batch(index):
            parts = tf.numpy_function(
                gather, [index], [tf.float32] * len(arrays) + [tf.int64], stateful=False
            )
            batch = [tf.ensure_shape(parts[0], [None, *images.shape[1:]])]
            batch.append(tf.one_hot(tf.ensure_shape(parts[-1], [None]), n_classes))
            if weights is not None:
                batch.append(tf.ensure_shape(parts[1], [None]))
            return tuple(batch)

        def epoch_batches(epoch):
            key = tf.stack([tf.constant(seed, tf.int64), epoch])
            order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), key)
            return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

        epochs = tf.data.Dataset.range(first_epoch, first_epoch + n_epochs)
        data = epochs.flat_map(epoch_batches).map(
            to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        return data.prefetch(tf.data.AUTOTUNE), steps

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
        views = _test_time_views(images, self.test_time_augmentation)
        # One forward pass over all views: a single small call costs less than two.
        outputs = self._forward(np.concatenate(views) if len(views) > 1 else views[0])
        probabilities = outputs.reshape(len(views), len(images), -1).sum(axis=0)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _forward(self, images):
        """Network outputs (float64) in batches of at most _PREDICT_BATCH images."""
        forward = _traced_forward(self.model_)
        with _expected_retracing():
            return self._batched(forward, images)

    @staticmethod
    def _batched(forward, images):
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

    def score(self, X, y, sample_weight=None):
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

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _check_predict_data(self, X):
        check_is_fitted(self)
        X = self._flatten(X, reset=False)
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
        with the network's input; and that every weight is finite.
        """
        learned = [k for k in ("classes_", "image_shape_", "n_features_in_") if hasattr(self, k)]
        if not hasattr(self, "model_"):
            if learned:
                raise ValueError(f"{where}: has {', '.join(learned)} but no network")
            return
        missing = sorted({"classes_", "image_shape_", "n_features_in_"} - set(learned))
        if missing:
            raise ValueError(f"{where}: a network without {', '.join(missing)}")
        classes = np.asarray(self.classes_)
        if classes.ndim != 1 or len(classes) < 2 or len(np.unique(classes)) != len(classes):
            raise ValueError(
                f"{where}: classes_ must be at least two distinct labels, got {classes.tolist()!r}"
            )
        outputs = self.model_.output_shape[-1]
        if outputs != len(classes):
            raise ValueError(
                f"{where}: {len(classes)} classes_ but the network has {outputs} outputs"
            )
        shape = self.image_shape_
        if (
            not isinstance(shape, (tuple, list))
            or len(shape) != 2
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in shape)
        ):
            raise ValueError(f"{where}: image_shape_ must be two positive ints, got {shape!r}")
        expected = (*tuple(int(v) for v in shape), 1)
        if tuple(self.model_.input_shape[1:]) != expected:
            raise ValueError(
                f"{where}: image_shape_ {tuple(shape)} but the network takes inputs of shape "
                f"{tuple(self.model_.input_shape[1:])}"
            )
        if self.n_features_in_ != expected[0] * expected[1]:
            raise ValueError(
                f"{where}: n_features_in_={self.n_features_in_!r} but image_shape_ "
                f"{tuple(shape)} has {expected[0] * expected[1]} pixels"
            )
        for weight in self.model_.weights:
            if not np.isfinite(np.asarray(weight.numpy(), dtype=np.float64)).all():
                raise ValueError(f"{where}: the network's weight {weight.path!r} is not finite")


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


def _test_time_views(images, augmentation):
    """The views of (n, h, w, 1) images whose probabilities are averaged."""
    if augmentation is None:
        return [images]
    if augmentation not in TEST_TIME_AUGMENTATIONS:
        # Checked here too: it is usually set after fit, which validates the rest.
        raise ValueError(
            f"test_time_augmentation={augmentation!r}; expected one of "
            f"{list(TEST_TIME_AUGMENTATIONS)} or None"
        )
    if augmentation == "zoom_flip":
        images = zoom_in(images)
    return [images, np.ascontiguousarray(images[:, :, ::-1])]


def zoom_in(images, fraction=_ZOOM_CROP):
    """The central ``fraction`` of each (n, h, w, c) image, enlarged back to
    (h, w) by bilinear interpolation; float32."""
    import tensorflow as tf

    height, width = images.shape[1:3]
    crop_h, crop_w = round(height * fraction), round(width * fraction)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = images[:, top : top + crop_h, left : left + crop_w]
    return tf.image.resize(crop, (height, width), method="bilinear").numpy()


_RETRACING_EXPECTED = contextvars.ContextVar("fercls_retracing_expected", default=False)


class _ExpectedRetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning while fercls
    itself is training or predicting: every new network (each fold of a grid
    search) traces its own functions once, which is what the warning counts.
    The same warning from the user's own code still shows."""

    def filter(self, record):
        return not (_RETRACING_EXPECTED.get() and "tf.function retracing" in record.getMessage())


_RETRACING_FILTER = _ExpectedRetracingFilter()


@contextmanager
def _expected_retracing():
    logger = logging.getLogger("tensorflow")
    if _RETRACING_FILTER not in logger.filters:
        logger.addFilter(_RETRACING_FILTER)
    token = _RETRACING_EXPECTED.set(True)
    try:
        yield
    finally:
        _RETRACING_EXPECTED.reset(token)


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


def resolve_precision(precision: str) -> str:
    """``"auto"``: ``"mixed_bfloat16"`` where the CPU computes bfloat16 natively
    (``avx512_bf16`` or ``amx_bf16``) and no GPU is visible, else ``"float32"``.
    Any other value is returned as it is."""
    if precision != "auto":
        return precision
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "float32"
    return "mixed_bfloat16" if _cpu_flags() & {"avx512_bf16", "amx_bf16"} else "float32"


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@contextmanager
def _dtype_policy(name):
    """Build layers under Keras's global dtype policy ``name``, then restore it."""
    keras = import_keras()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _seed_states(model):
    """The state variables of the model's seed generators (dropout, augmentation).

    Keras saves weights and optimizer variables but not these counters; a
    resumed run needs them to draw the same dropout masks and augmentations.
    """
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _rng_states(model):
    return [np.asarray(v).tolist() for v in _seed_states(model)]


def _set_rng_states(model, states):
    variables = _seed_states(model)
    if len(variables) != len(states):
        raise ValueError(
            f"checkpoint holds {len(states)} random-generator states; the network has "
            f"{len(variables)}"
        )
    for variable, value in zip(variables, states, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) != list(b)
    return a != b


def _Monitor(estimator, epochs, *, has_validation, checkpoint=None, resume=None, previous=False):
    """Build the Keras callback that records history, schedules the learning
    rate, stops early, restores the best weights, writes checkpoints and keeps
    the last completed epoch for rollback (created lazily so Keras is imported
    only when training)."""
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
            self.epochs = epochs
            self.stopped = False
            if resume is not None:
                for key in ("best", "best_epoch", "stale", "plateau", "first_epoch", "epochs"):
                    setattr(self, key, resume[key])
                self.stopped = resume["stopped"]
                self.best_weights = resume.get("best_weights")
                _set_rng_states(estimator.model_, resume["rng_states"])
            # What an interruption restores: set at each completed epoch, and
            # before training when the estimator was already fitted.
            self.snapshot = self._take_snapshot() if previous else None

        def _take_snapshot(self):
            model = estimator.model_
            optimizer = [v.numpy() for v in model.optimizer.variables]
            history = {k: list(v) for k, v in estimator.history_.items()}
            rng = _rng_states(model)
            return model.get_weights(), optimizer, history, estimator.n_iter_, rng

        def rollback(self):
            """Put the estimator back at the snapshot; False when there is none."""
            if self.snapshot is None:
                return False
            weights, optimizer, history, n_iter, rng = self.snapshot
            model = estimator.model_
            model.set_weights(weights)
            _set_rng_states(model, rng)
            if len(optimizer) == len(model.optimizer.variables):
                for variable, value in zip(model.optimizer.variables, optimizer, strict=True):
                    variable.assign(value)
            estimator.history_, estimator.n_iter_ = history, n_iter
            return True

        def state(self):
            return {
                "best": float(self.best),
                "best_epoch": self.best_epoch,
                "stale": self.stale,
                "plateau": self.plateau,
                "first_epoch": self.first_epoch,
                "epochs": self.epochs,
                "stopped": self.stopped,
                "best_weights": self.best_weights,
                "rng_states": _rng_states(estimator.model_),
            }

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
                self.stopped = True
            self.snapshot = self._take_snapshot()
            if checkpoint is not None:
                from .persistence import save_checkpoint

                save_checkpoint(estimator, checkpoint, self.state())

        def finish(self):
            if self.best_weights is not None:
                estimator.model_.set_weights(self.best_weights)
                estimator.best_iteration_ = self.best_epoch

    return Monitor()
