"""FERClassifier: a scikit-learn classifier that drives a Keras 3 CNN directly.

The estimator API lives here; the training loop is in ``fercls._training``,
test-time views in ``fercls._views``, traced inference in ``fercls._tracing``.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._initial_weights import start_from_saved
from ._inputs import (
    check_callbacks,
    check_float32_range,
    check_labels,
    check_soft_targets,
    encode_labels,
    fit_classes,
    flatten,
    resolve_image_shape,
    sample_weights,
    split_validation,
)
from ._model_files import UNUSED_OPTIMIZER_WARNING, check_fitted_state
from ._precision import resolve_precision
from ._signals import signals_deferred
from ._tracing import expected_retracing, traced_forward
from ._views import TEST_TIME_AUGMENTATIONS, augmented_views
from .architectures import ARCHITECTURES, AUGMENTATIONS, build_network, import_keras

__all__ = [
    "FERClassifier",
    "TEST_TIME_AUGMENTATIONS",
    "final_classifier",
    "rebuild_in_precision",
    "resolve_precision",
]

# Images per forward pass at prediction: large enough for throughput, small
# enough that activations of the default network stay well under 1 GB.
_PREDICT_BATCH = 256
# Images whose test-time views are built at once: bounds the views' memory
# ("ten_crop" makes ten copies) while small calls still take one forward pass.
_VIEWS_BLOCK = 1024


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
        Initial learning rate of the optimiser.
    learning_rate : {"constant", "adaptive", "cosine"}, default="adaptive"
        Schedule. ``"adaptive"`` halves the rate each time the monitored score
        (validation accuracy with a validation set, else training loss) has
        not improved for ``max(2, n_iter_no_change // 3)`` epochs.
        ``"cosine"`` decays it to zero over ``max_iter`` epochs: the schedule
        behind the bundled model (decayed over a time budget there), best
        for long runs; over a handful of epochs it decays too early and
        underfits, which is why it is not the default.
    optimizer : {"adam", "sgd"}, default="adam"
        ``"adam"``: Adam. ``"sgd"``: SGD with Nesterov momentum 0.9, the
        optimiser of the published FER2013 VGG recipes (which pair it with
        ``learning_rate_init=0.01`` and hundreds of epochs).
    weight_decay : float, default=0.0
        Decoupled weight decay (Keras's ``weight_decay``; with Adam this is
        AdamW): each step also scales the weights by ``1 - rate *
        weight_decay``, where ``rate`` is the current learning rate. 0 turns it
        off.
    ema_momentum : float or None, default=None
        Keep an exponential moving average of the weights (Keras's
        ``use_ema``): after each step, ``average = ema_momentum * average +
        (1 - ema_momentum) * weights``. The averaged weights are the ones
        validated each epoch (so the best epoch is chosen on them), restored
        as the best epoch's, and the network's weights when ``fit`` returns;
        training itself continues on the raw weights. ``0.999`` averages over
        about a thousand steps. None turns it off.
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
    augment : bool or {"warp", "crop"}, default="crop"
        Training augmentation, built from Keras preprocessing layers inside
        the model. ``"crop"``: the published FER2013 recipe's random crops of
        11/12 of each side (44 of 48 pixels), flips and random erasing (half
        the images, 2-33 % of the area); the network then always sees the
        central crop, also at prediction (see
        ``test_time_augmentation="ten_crop"``). In equal 30-minute bfloat16
        runs it beat the warps on PrivateTest accuracy (67.71 % against
        62.27 %, ``docs/model_card.md``), and the bundled model is
        trained with it. ``True`` or ``"warp"``: random flips, rotations
        (±10°), zooms and shifts (±10 %), inactive at prediction (the earlier
        default). ``False``: none. Skipped for inputs smaller than 8×8, which
        are not pictures. A callable ``architecture`` receives the value as
        given.
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
        Progress of ``fit`` on stderr, as in scikit-learn: 0 silent; 1 (or more)
        a line when training starts and one per epoch (loss, accuracy,
        validation accuracy, elapsed time and time left), with a live bar
        between them when stderr is a terminal. Files and pipes get plain
        lines, never control codes.
    warm_start : bool, default=False
        Continue training the fitted network on the next ``fit``.
    distribution : {"mirrored"}, tf.distribute.Strategy or None, default=None
        Train on several devices. ``"mirrored"`` creates a
        ``tf.distribute.MirroredStrategy`` over all local GPUs (the CPU when
        there are none); a strategy object is used as given, a
        ``tf.distribute.MultiWorkerMirroredStrategy`` across worker processes
        or hosts (each runs the same ``fit`` with its own ``TF_CONFIG``; see
        the distributed-training guide) included. ``batch_size`` is the global
        batch, split across replicas. A strategy object cannot be cloned or
        saved with :func:`fercls.save`; the string can.
    precision : {"float32", "mixed_float16", "mixed_bfloat16", "auto"}, default="float32"
        Layer compute precision. ``"mixed_float16"`` (GPUs; with loss scaling)
        and ``"mixed_bfloat16"`` (recent GPUs and CPUs with AMX/AVX-512 BF16)
        compute in 16 bits and keep float32 weights; the softmax stays float32.
        ``"auto"``: bfloat16 where the CPU has native BF16 instructions and no
        GPU is visible, float32 elsewhere. On a 2-core CPU with AMX,
        bfloat16 trained ``vgg_small`` 1.39× faster
        (``benchmarks/results/precision_throughput.json``) and as accurately
        (``docs/model_card.md``); it stays
        opt-in because a seed then gives different models on different CPUs.
    test_time_augmentation : {"flip", "zoom_flip", "ten_crop"} or None, default=None
        Average the probabilities of several views of each image at
        prediction. ``"flip"``: the image and its left-right mirror (twice the
        compute). ``"zoom_flip"``: the central 11/12 of the image enlarged
        back to full size (bilinear), and its mirror (twice). ``"ten_crop"``:
        the centre and the four corner crops of 11/12 of each side, each with
        its mirror (ten times), for networks trained with ``augment="crop"``;
        the crops are made by shifting the image under the network's central
        crop. Can be set after ``fit``.
        ``docs/model_card.md`` gives the measured effect of each on the bundled
        model.
    init : "pretrained", path-like or None, default=None
        Weights to start training from, instead of a random initialisation:
        ``"pretrained"`` for the bundled FER2013 model (a ``"vgg_small"``
        with ``augment="crop"`` on 48×48 images, whose inputs are pixels
        scaled to [0, 1] by :class:`PixelNormalizer`), or the path of a model
        folder saved by :func:`fercls.pretrained.save_classifier` or a
        ``.fercls`` archive. ``architecture`` and ``augment`` must build the
        same network and the images must have its size. The output keeps the
        saved unit of every class the saved model also predicts (equal
        labels, or a challenge id 0-6 for the emotion name it stands for);
        new classes start fresh. Unlike ``warm_start``, this survives
        ``clone``, so each fit of a grid search or cross-validation
        fine-tunes the same saved weights (see the README's example). Read at
        every fresh ``fit``; ignored when training continues.

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
        "optimizer": [StrOptions({"adam", "sgd"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "ema_momentum": [Interval(Real, 0, 1, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "augment": ["boolean", StrOptions(set(AUGMENTATIONS))],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "distribution": [StrOptions({"mirrored"}), HasMethods(["scope"]), None],
        "precision": [StrOptions({"float32", "mixed_float16", "mixed_bfloat16", "auto"})],
        "test_time_augmentation": [StrOptions(set(TEST_TIME_AUGMENTATIONS)), None],
        "init": [str, os.PathLike, None],
    }

    def __init__(
        self,
        architecture="vgg",
        *,
        max_iter=30,
        batch_size=64,
        learning_rate_init=1e-3,
        learning_rate="adaptive",
        optimizer="adam",
        weight_decay=0.0,
        ema_momentum=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        label_smoothing=0.0,
        augment="crop",
        class_weight=None,
        image_shape=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        distribution=None,
        precision="float32",
        test_time_augmentation=None,
        init=None,
    ):
        self.architecture = architecture
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.ema_momentum = ema_momentum
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
        self.init = init

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        soft_targets: ArrayLike | None = None,
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
        soft_targets : array-like of shape (n_samples, n_classes), default=None
            Class probabilities to train towards instead of the one-hot labels
            of ``y``, columns in the order of ``classes_`` (the sorted labels
            of ``y``); each row sums to 1. This is knowledge distillation: pass
            a teacher's ``predict_proba(X)``, or a mixture of it with the
            one-hot labels. ``y`` still fixes ``classes_``, ``class_weight``
            and the stratified hold-out, and validation always scores the
            true labels. A sampler in a pipeline does not resample them.
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
        callbacks = check_callbacks(callbacks)
        continuing = self.warm_start and hasattr(self, "model_")
        resume = None
        if checkpoint is not None and not continuing and Path(checkpoint).exists():
            resume = self._restore_checkpoint(checkpoint)
            continuing = True
        return self._fit(
            X,
            y,
            sample_weight,
            soft_targets=soft_targets,
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
        *,
        soft_targets: ArrayLike | None = None,
    ) -> FERClassifier:
        """Train for one epoch on (X, y), creating the network on the first call.

        Parameters
        ----------
        X, y, sample_weight, soft_targets
            As in :meth:`fit`; the columns of ``soft_targets`` follow
            ``classes`` on the first call.
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
            soft_targets=soft_targets,
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
        soft_targets=None,
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
            images, targets, weights, validation, seed = self._training_data(
                X, y, sample_weight, soft_targets, validation_data, continuing, classes, hold_out
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
            loop.run(images, targets, weights, validation, seed=seed, extra_callbacks=callbacks)
        except BaseException:
            # Ctrl-C or a failing callback: never leave a half-trained epoch behind.
            restored = loop is not None and loop.rollback()
            if not restored and not continuing:
                self._forget_fit()
            raise
        return self

    def _training_data(
        self, X, y, sample_weight, soft_targets, validation_data, continuing, classes, hold_out
    ):
        """Checked training arrays: images, targets, weights, validation, seed.

        ``targets`` are the encoded labels, or the checked ``soft_targets``.
        ``validation`` is ``(images, labels)``: the given ``validation_data``, or
        with ``early_stopping`` (and ``hold_out``) a stratified share of X.
        """
        X, y = self._check_fit_data(X, y, reset=not continuing)
        if not continuing:
            self.classes_ = fit_classes(y, classes, type(self).__name__)
        labels = encode_labels(y, self.classes_)
        if soft_targets is not None:
            soft_targets = check_soft_targets(soft_targets, len(labels), self.classes_)
        weights = sample_weights(y, sample_weight, X, self.class_weight, self.classes_)
        seed = self._seed(continuing)
        validation = None
        if validation_data is not None:
            X_val = self._to_images(self._check_predict_data(validation_data[0]))
            y_val = encode_labels(column_or_1d(validation_data[1]), self.classes_)
            validation = (X_val, y_val)
        elif self.early_stopping and hold_out:
            X, X_val, labels, y_val, weights, soft_targets = split_validation(
                X, labels, weights, self.validation_fraction, seed, soft_targets
            )
            validation = (self._to_images(X_val), y_val)
        targets = labels if soft_targets is None else soft_targets
        return self._to_images(X), targets, weights, validation, seed

    def _start_network(self, seed):
        self.model_ = self._build_model(seed)
        if self.init is not None:
            start_from_saved(self, self.model_)
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
        X, images_shape = flatten(X)
        if not reset:
            self._check_image_shape(images_shape)
        y = check_labels(y)
        X, y = validate_data(self, X, y, reset=reset, dtype="numeric", ensure_min_samples=1)
        check_float32_range(X)
        check_classification_targets(y)
        if reset:
            self.image_shape_ = resolve_image_shape(self.image_shape, X.shape[1], images_shape)
        return X, y

    def _check_image_shape(self, images_shape):
        if images_shape is not None and tuple(images_shape) != tuple(self.image_shape_):
            raise ValueError(
                f"X has images of shape {tuple(images_shape)}, but {type(self).__name__} was "
                f"fitted on images of shape {tuple(self.image_shape_)}"
            )

    def _seed(self, continuing):
        if continuing and hasattr(self, "_seed_"):
            return self._seed_
        self._seed_ = int(check_random_state(self.random_state).randint(2**31 - 1))
        return self._seed_

    def _build_model(self, seed):
        strategy = self._strategy()
        with strategy.scope() if strategy is not None else nullcontext():
            network = build_network(
                self.architecture,
                (*self.image_shape_, 1),
                len(self.classes_),
                augment=self.augment,
                seed=seed,
                precision=self.precision,
            )
            return self._compile(network)

    def _strategy(self):
        if self.distribution == "mirrored":
            import tensorflow as tf

            return tf.distribute.MirroredStrategy()
        return self.distribution

    def _compile(self, model):
        keras = import_keras()
        options = {"learning_rate": self.learning_rate_init}
        if self.weight_decay:
            options["weight_decay"] = self.weight_decay
        if self.ema_momentum is not None:
            options.update(use_ema=True, ema_momentum=self.ema_momentum)
        if self.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(momentum=0.9, nesterov=True, **options)
        else:
            optimizer = keras.optimizers.Adam(**options)
        model.compile(
            optimizer=optimizer,
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
        check_fitted_state(classifier, None)
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
        if self.test_time_augmentation is None:
            return self._normalized(self._forward(images))
        blocks = range(0, len(images), _VIEWS_BLOCK)
        return np.concatenate([self._view_average(images[i : i + _VIEWS_BLOCK]) for i in blocks])

    def _view_average(self, images):
        views = augmented_views(images, self.test_time_augmentation)
        # One forward pass over all views: a single small call costs less than several.
        outputs = self._forward(np.concatenate(views))
        return self._normalized(outputs.reshape(len(views), len(images), -1).sum(axis=0))

    @staticmethod
    def _normalized(probabilities):
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
        X, images_shape = flatten(X)
        self._check_image_shape(images_shape)
        X = validate_data(self, X, reset=False, dtype="numeric")
        check_float32_range(X)
        return X

    def _to_images(self, X):
        return np.asarray(X, dtype=np.float32).reshape(-1, *self.image_shape_, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object's own may be __dict__ itself
        if "model_" in state:
            state["model_"] = _PickledNetwork(state["model_"])
        return state

    def __setstate__(self, state):
        # copy.copy passes __getstate__'s dict back as it is: unwrap the network.
        if isinstance(state.get("model_"), _PickledNetwork):
            state = {**state, "model_": state["model_"].network}
        super().__setstate__(state)


class _PickledNetwork:
    """A Keras network inside a pickle, unpickled without Keras's warning
    about optimizer state that never existed (see
    :data:`fercls._model_files.UNUSED_OPTIMIZER_WARNING`)."""

    def __init__(self, network):
        self.network = network

    def __reduce__(self):
        import pickle

        with signals_deferred():  # Keras pickles through a temporary folder
            return (_unpickle_network, (pickle.dumps(self.network),))


def _unpickle_network(data):
    import pickle
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=UNUSED_OPTIMIZER_WARNING)
        with signals_deferred():
            return pickle.loads(data)


def rebuild_in_precision(classifier: FERClassifier, precision: str) -> FERClassifier:
    """A fitted copy of ``classifier`` whose network is built under the Keras dtype
    policy ``precision``, with the same weights and fitted state: a bfloat16 model
    exported (or measured) as the float32 it ships as, or a float32 model warm-started
    in bfloat16."""
    network = build_network(
        classifier.architecture,
        (*classifier.image_shape_, 1),
        len(classifier.classes_),
        augment=classifier.augment,
        seed=0,
        precision=precision,
    )
    network.set_weights(classifier.model_.get_weights())
    return FERClassifier.from_keras(
        network,
        classifier.classes_,
        n_iter=classifier.n_iter_,
        best_iteration=classifier.best_iteration_,
        history=classifier.history_,
        **{**classifier.get_params(), "precision": precision},
    )


def final_classifier(estimator) -> FERClassifier | None:
    """The FERClassifier inside a pipeline (or the estimator itself), if any."""
    if isinstance(estimator, FERClassifier):
        return estimator
    steps = getattr(estimator, "steps", None)
    if steps:
        return final_classifier(steps[-1][1])
    return None


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) != list(b)
    return a != b
