"""The training loop behind ``FERClassifier.fit``: input batches and small Keras callbacks.

Each callback does one job, in the order Keras calls them at the end of an
epoch: :class:`ValidateAveraged` (with ``ema_momentum``: validation on the
averaged weights), :class:`RecordHistory` (``history_``, ``n_iter_``), :class:`TrackBest`
(best score, best weights, early stopping), :class:`HalveOnPlateau` (the
``"adaptive"`` schedule), :class:`Snapshot` (what an interruption rolls back
to) and :class:`Checkpoint` (the ``.fercls`` file a rerun resumes from).
:class:`CosineDecay` sets the rate at the start of each epoch. They share one
:class:`LoopState`, the part of the loop a checkpoint must carry. :class:`TrainingProgress`
reports on stderr when ``verbose`` asks for it.

This module imports Keras and TensorFlow; the classifier imports it only when
it trains, so ``import fercls`` stays light.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._multi_worker import across_workers, prepare_fit
from ._tracing import expected_retracing
from .architectures import import_keras

keras = import_keras()  # first: it sets what TensorFlow reads when it starts
import tensorflow as tf  # noqa: E402

Callback: Any = keras.callbacks.Callback


@dataclass
class LoopState:
    """Progress of one ``fit`` call: restored from a checkpoint to resume it exactly."""

    first_epoch: int
    epochs: int
    best: float = -math.inf
    best_epoch: int | None = None
    best_weights: list | None = None
    stale: int = 0  # epochs without improvement (early stopping)
    plateau: int = 0  # the same, reset when the adaptive schedule halves the rate
    stopped: bool = False

    def to_checkpoint(self, model) -> dict:
        return {
            "best": float(self.best),
            "best_epoch": self.best_epoch,
            "stale": self.stale,
            "plateau": self.plateau,
            "first_epoch": self.first_epoch,
            "epochs": self.epochs,
            "stopped": self.stopped,
            "best_weights": self.best_weights,
            "rng_states": rng_states(model),
        }

    @classmethod
    def from_checkpoint(cls, saved: dict, model) -> LoopState:
        set_rng_states(model, saved["rng_states"])
        fields = ("first_epoch", "epochs", "best", "best_epoch", "stale", "plateau", "stopped")
        return cls(**{k: saved[k] for k in fields}, best_weights=saved.get("best_weights"))


def learning_rate(model) -> float:
    return float(np.asarray(model.optimizer.learning_rate, dtype=np.float64))


class RecordHistory(Callback):
    """Appends each epoch's logs and learning rate to ``history_``; sets ``n_iter_``."""

    def __init__(self, estimator):
        super().__init__()
        self.estimator = estimator

    def on_epoch_end(self, epoch, logs=None):
        logs = {**(logs or {}), "learning_rate": learning_rate(self.model)}
        for key, value in logs.items():
            self.estimator.history_.setdefault(key, []).append(float(value))
        self.estimator.n_iter_ = epoch + 1


class CosineDecay(Callback):
    """Half a cosine from ``rate`` to zero over this call's ``epochs``: a
    warm-started fit decays afresh, and partial_fit (one epoch a call) keeps
    the initial rate."""

    def __init__(self, rate, state: LoopState):
        super().__init__()
        self.rate, self.state = rate, state

    def on_epoch_begin(self, epoch, logs=None):
        progress = min((epoch - self.state.first_epoch) / self.state.epochs, 1.0)
        self.model.optimizer.learning_rate = 0.5 * self.rate * (1 + math.cos(math.pi * progress))


class ValidateAveraged(Callback):
    """With an optimizer that averages the weights (``use_ema``): scores the
    averaged weights on the validation batches and logs them as ``val_*``, so
    the best epoch is chosen, and kept, on the weights that will be used.

    The network holds the raw weights again when this returns, so training,
    snapshots and checkpoints continue from them; :attr:`averaged` keeps the
    averaged ones for :class:`TrackBest`.
    """

    def __init__(self, validation):
        super().__init__()
        self.validation = validation
        self.averaged = None

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        raw = model.get_weights()
        model.optimizer.finalize_variable_values(model.trainable_variables)
        self.averaged = model.get_weights()
        scores = model.evaluate(self.validation, verbose=0, return_dict=True)
        model.set_weights(raw)
        if logs is not None:
            logs.update({f"val_{name}": value for name, value in scores.items()})


class TrackBest(Callback):
    """Keeps the best epoch (its weights too, with a validation set) and stops
    after ``patience`` epochs without an improvement of more than ``tol``.

    ``weights`` gives the weights to keep (by default the network's own).
    """

    def __init__(self, state: LoopState, *, has_validation, tol, patience, weights=None):
        super().__init__()
        self.state, self.tol, self.patience = state, tol, patience
        self.has_validation = has_validation
        self.weights = weights
        # Validation accuracy rises; training loss falls: compare sign * value.
        self.metric, self.sign = ("val_accuracy", 1.0) if has_validation else ("loss", -1.0)

    def on_epoch_end(self, epoch, logs=None):
        state = self.state
        score = self.sign * (logs or {}).get(self.metric, np.nan)
        if score > state.best + self.tol:
            state.best, state.best_epoch, state.stale, state.plateau = score, epoch + 1, 0, 0
            if self.has_validation:
                state.best_weights = self.weights() if self.weights else self.model.get_weights()
        else:
            state.stale += 1
            state.plateau += 1
        if state.stale >= self.patience:
            self.model.stop_training = True
            state.stopped = True


class HalveOnPlateau(Callback):
    """The ``"adaptive"`` schedule: halve the rate after ``patience`` epochs without
    improvement (counted by :class:`TrackBest`, which must run first)."""

    def __init__(self, state: LoopState, patience):
        super().__init__()
        self.state, self.patience = state, patience

    def on_epoch_end(self, epoch, logs=None):
        if self.state.plateau >= self.patience:
            self.model.optimizer.learning_rate = learning_rate(self.model) * 0.5
            self.state.plateau = 0


class Snapshot(Callback):
    """The estimator as of the last completed epoch, for :meth:`rollback`."""

    def __init__(self, estimator, *, take_now):
        super().__init__()
        self.estimator = estimator
        self.saved = self._take() if take_now else None

    def on_epoch_end(self, epoch, logs=None):
        self.saved = self._take()

    def _take(self):
        estimator = self.estimator
        model = estimator.model_
        history = {k: list(v) for k, v in estimator.history_.items()}
        optimizer = [v.numpy() for v in model.optimizer.variables]
        return model.get_weights(), optimizer, history, estimator.n_iter_, rng_states(model)

    def rollback(self) -> bool:
        """Put the estimator back at the snapshot; False when there is none."""
        if self.saved is None:
            return False
        weights, optimizer, history, n_iter, rng = self.saved
        model = self.estimator.model_
        model.set_weights(weights)
        set_rng_states(model, rng)
        if len(optimizer) == len(model.optimizer.variables):
            for variable, value in zip(model.optimizer.variables, optimizer, strict=True):
                variable.assign(value)
        self.estimator.history_, self.estimator.n_iter_ = history, n_iter
        return True


class Checkpoint(Callback):
    """Writes the estimator and the loop state to a ``.fercls`` file after every epoch."""

    def __init__(self, estimator, path, state: LoopState):
        super().__init__()
        self.estimator, self.path, self.state = estimator, path, state

    def on_epoch_end(self, epoch, logs=None):
        from .persistence import save_checkpoint

        save_checkpoint(self.estimator, self.path, self.state.to_checkpoint(self.estimator.model_))


class TrainingLoop:
    """Runs ``estimator.model_`` for up to ``epochs`` epochs with the callbacks above.

    ``resume`` is the loop state of a checkpoint; ``continuing`` says the
    estimator was fitted before this call (so an interruption before the first
    epoch still has something to roll back to).
    """

    def __init__(self, estimator, epochs, *, continuing, has_validation, checkpoint, resume):
        self.estimator = estimator
        model = estimator.model_
        if resume is not None:
            self.state = LoopState.from_checkpoint(resume, model)
        else:
            self.state = LoopState(first_epoch=estimator.n_iter_, epochs=epochs)
        self.snapshot = Snapshot(estimator, take_now=continuing)
        self.has_validation, self.checkpoint = has_validation, checkpoint

    def callbacks(self, averaging=None):
        """The loop's callbacks, in order; ``averaging`` is a :class:`ValidateAveraged`."""
        estimator, state = self.estimator, self.state
        callbacks = [] if averaging is None else [averaging]
        callbacks.append(RecordHistory(estimator))
        if estimator.learning_rate == "cosine":
            callbacks.append(CosineDecay(estimator.learning_rate_init, state))
        callbacks.append(
            TrackBest(
                state,
                has_validation=self.has_validation,
                tol=estimator.tol,
                patience=estimator.n_iter_no_change,
                weights=None if averaging is None else lambda: averaging.averaged,
            )
        )
        if estimator.learning_rate == "adaptive":
            callbacks.append(HalveOnPlateau(state, max(2, estimator.n_iter_no_change // 3)))
        callbacks.append(self.snapshot)
        if self.checkpoint is not None:
            callbacks.append(Checkpoint(estimator, self.checkpoint, state))
        return callbacks

    def run(self, images, targets, weights, validation, *, seed, extra_callbacks=()):
        """Train on (n, h, w, 1) ``images``; then keep the best epoch.

        ``targets`` are integer labels or (n, n_classes) class probabilities.

        ``validation`` is ``(images, labels)`` or None.
        """
        estimator, state = self.estimator, self.state
        remaining = state.first_epoch + state.epochs - estimator.n_iter_
        if remaining > 0 and not state.stopped:
            n_classes = len(estimator.classes_)
            train, steps = training_batches(
                images,
                targets,
                weights,
                batch_size=estimator.batch_size,
                n_classes=n_classes,
                seed=seed,
                first_epoch=estimator.n_iter_,
                n_epochs=remaining,
            )
            val = averaging = None
            if validation is not None:
                val = validation_batches(*validation, estimator.batch_size, n_classes)
                if estimator.ema_momentum is not None:
                    # Validate the averaged weights ourselves, not the raw ones in fit.
                    val, averaging = None, ValidateAveraged(val)
            callbacks = [*self.callbacks(averaging), *extra_callbacks]
            if estimator.verbose and not any(isinstance(c, TrainingProgress) for c in callbacks):
                callbacks.append(TrainingProgress(prefix=type(estimator).__name__))
            for progress in (c for c in callbacks if isinstance(c, TrainingProgress)):
                progress.plan(
                    first_epoch=estimator.n_iter_,
                    last_epoch=estimator.n_iter_ + remaining,
                    n_images=len(images),
                    steps=steps,
                )
            sample = _sample_batch(images, targets, weights, n_classes)
            if across_workers(estimator.model_.distribute_strategy):
                prepare_fit(estimator.model_, sample)
            else:
                build_training_state(estimator.model_, sample)
            # Each new network traces Keras's train step once: expected, not a problem.
            with expected_retracing():
                estimator.model_.fit(
                    train,
                    steps_per_epoch=steps,
                    validation_data=val,
                    initial_epoch=estimator.n_iter_,
                    epochs=estimator.n_iter_ + remaining,
                    callbacks=callbacks,
                    shuffle=False,  # the batches are already shuffled, with our seed
                    verbose=0,  # TrainingProgress talks instead: no control codes in files
                )
        if state.best_weights is not None:
            estimator.model_.set_weights(state.best_weights)
            estimator.best_iteration_ = state.best_epoch

    def rollback(self) -> bool:
        return self.snapshot.rollback()


def build_training_state(model, sample_batch) -> None:
    """Create the optimizer's, the loss's and the metrics' variables before ``fit``.

    Without a distribution strategy Keras creates them while it traces the train
    step, and TensorFlow traces a function that created variables a second time.
    Built first, a new network's fit of one epoch is 1.33× ("simple") and 1.79×
    ("vgg_small") faster on 128 images (``benchmarks/results/fit_startup.json``).
    A no-op once built, and where Keras no longer has the (private) method.
    """
    symbolic_build = getattr(model, "_symbolic_build", None)
    if symbolic_build is not None:
        with model.distribute_strategy.scope():  # as Keras builds under a strategy
            symbolic_build(data_batch=sample_batch)


def _sample_batch(images, targets, weights, n_classes):
    """Two samples shaped as a training batch (see :func:`training_batches`)."""
    soft = np.ndim(targets) == 2
    y = (
        np.asarray(targets[:2], np.float32)
        if soft
        else np.eye(n_classes, dtype=np.float32)[targets[:2]]
    )
    batch = (np.asarray(images[:2], np.float32), y)
    return batch if weights is None else (*batch, np.asarray(weights[:2], np.float32))


def validation_batches(images, labels, batch_size, n_classes):
    """Validation batches: one-hot labels, in order, prefetched."""
    targets = np.eye(n_classes, dtype=np.float32)[labels]
    data = tf.data.Dataset.from_tensor_slices((images, targets))
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def training_batches(
    images, targets, weights, *, batch_size, n_classes, seed, first_epoch, n_epochs
):
    """Shuffled training batches for epochs ``first_epoch .. first_epoch + n_epochs - 1``.

    ``targets`` are integer labels (sent one-hot) or, for distillation, rows of
    class probabilities (sent as they are). Epoch ``e`` visits the samples in a
    stateless permutation keyed on ``(seed, e)``, so a run resumed from a
    checkpoint sees exactly the batches the uninterrupted run would have.
    Batches are gathered by index from the NumPy arrays themselves: TensorFlow
    never holds a copy of the whole data set (a ``tf.constant`` of it measured
    twice its size in RSS), and there is no shuffle buffer.
    """
    n = len(images)
    steps = math.ceil(n / batch_size)
    soft = np.ndim(targets) == 2
    targets = np.asarray(targets, np.float32 if soft else np.int64)
    arrays = [images] if weights is None else [images, np.asarray(weights, np.float32)]

    def gather(index):
        return [a[index] for a in arrays] + [targets[index]]

    def to_batch(index):
        kinds = [tf.float32] * len(arrays) + [tf.float32 if soft else tf.int64]
        parts = tf.numpy_function(gather, [index], kinds, stateful=False)
        batch = [tf.ensure_shape(parts[0], [None, *images.shape[1:]])]
        if soft:
            batch.append(tf.ensure_shape(parts[-1], [None, n_classes]))
        else:
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


def _seed_variables(model):
    """The state variables of the model's seed generators (dropout, augmentation).

    Keras saves weights and optimizer variables but not these counters; a
    resumed run needs them to draw the same dropout masks and augmentations.
    """
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def rng_states(model):
    return [np.asarray(v).tolist() for v in _seed_variables(model)]


def set_rng_states(model, states):
    variables = _seed_variables(model)
    if len(variables) != len(states):
        raise ValueError(
            f"checkpoint holds {len(states)} random-generator states; the network has "
            f"{len(variables)}"
        )
    for variable, value in zip(variables, states, strict=True):
        variable.assign(np.asarray(value, dtype=variable.dtype))


class TrainingProgress(Callback):
    """Training that talks (``verbose >= 1``): one stderr line when training
    starts and one per epoch (loss, accuracy, validation accuracy, elapsed time,
    time left at the pace so far). On a terminal a live bar follows the batches
    in between; in a file or a pipe there are no control codes, only the lines.

    ``prefix`` starts each line (``"FERClassifier"``, ``"fercls train"``);
    ``validation`` names the validation data (``"PublicTest"`` in the CLI).
    The loop tells it the plan (:meth:`plan`) before training starts.
    """

    BAR_WIDTH = 24

    def __init__(self, *, prefix, validation="validation", stream=None):
        super().__init__()
        self.prefix, self.validation, self._stream = prefix, validation, stream

    def plan(self, *, first_epoch, last_epoch, n_images, steps):
        self.first_epoch, self.last_epoch = first_epoch, last_epoch
        self.n_images, self.steps = n_images, steps

    @property
    def stream(self):
        return self._stream or sys.stderr  # looked up late: pytest and users swap it

    def on_train_begin(self, logs=None):
        self.start, self.done = time.perf_counter(), 0
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        epochs = self.last_epoch - self.first_epoch
        resumed = f", from epoch {self.first_epoch + 1}" if self.first_epoch else ""
        self._line(
            f"training on {self.n_images:,} images, {epochs} epoch{'s' * (epochs != 1)} "
            f"of {self.steps} batches{resumed}"
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.drawn = epoch + 1, -math.inf

    def on_train_batch_end(self, batch, logs=None):
        if not self.live:
            return
        now = time.perf_counter()
        if now - self.drawn < 0.1:  # ten redraws a second at most
            return
        self.drawn = now
        filled = round(self.BAR_WIDTH * (batch + 1) / self.steps)
        bar = "#" * filled + "." * (self.BAR_WIDTH - filled)
        loss = (logs or {}).get("loss")
        shown = "" if loss is None else f" loss {float(loss):.3f}"
        self.stream.write(
            f"\r{self.prefix}: epoch {self.epoch}/{self.last_epoch} [{bar}] "
            f"{batch + 1}/{self.steps}{shown}\x1b[K"
        )
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        self.done += 1
        logs = logs or {}
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * max(self.last_epoch - (epoch + 1), 0)
        parts = [f"epoch {epoch + 1}/{self.last_epoch}"]
        parts += [f"{key} {float(logs[key]):.4f}" for key in ("loss", "accuracy") if key in logs]
        if "val_accuracy" in logs:
            parts.append(f"{self.validation} accuracy {float(logs['val_accuracy']):.4f}")
        parts.append(f"{_duration(elapsed)} elapsed")
        if left:
            parts.append(f"about {_duration(left)} left")
        self._line(", ".join(parts))

    def _line(self, text):
        clear = "\r\x1b[K" if self.live else ""
        self.stream.write(f"{clear}{self.prefix}: {text}\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    """'45 s', '12 min', '2 h 05 min': as precise as a person reading a log wants."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
