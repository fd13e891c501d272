"""The training loop's pieces, one callback at a time, on a tiny Keras model."""

import io
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from fercls._training import (
    CosineDecay,
    HalveOnPlateau,
    LoopState,
    TrackBest,
    TrainingLoop,
    TrainingProgress,
    ValidateAveraged,
    training_batches,
)


@pytest.fixture()
def model():
    inputs = keras.Input((2,))
    network = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    network.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    return network


def attached(callback, model):
    callback.set_model(model)
    return callback


def rate(model):
    return float(np.asarray(model.optimizer.learning_rate))


def test_track_best_keeps_the_best_epoch_and_stops_after_patience(model):
    state = LoopState(first_epoch=0, epochs=10)
    track = attached(TrackBest(state, has_validation=True, tol=0.01, patience=2), model)
    for epoch, accuracy in enumerate([0.5, 0.7, 0.705, 0.69]):
        track.on_epoch_end(epoch, {"val_accuracy": accuracy})
    assert state.best_epoch == 2 and state.best == pytest.approx(0.7)
    assert state.stale == 2 and state.stopped and model.stop_training
    assert state.best_weights is not None


def test_track_best_without_validation_follows_the_falling_loss(model):
    state = LoopState(first_epoch=0, epochs=10)
    track = attached(TrackBest(state, has_validation=False, tol=0.0, patience=5), model)
    for epoch, loss in enumerate([1.0, 0.8, 0.9]):
        track.on_epoch_end(epoch, {"loss": loss})
    assert state.best_epoch == 2 and state.best_weights is None and state.stale == 1


def test_halve_on_plateau_halves_after_patience_and_restarts_the_count(model):
    state = LoopState(first_epoch=0, epochs=10, plateau=3)
    attached(HalveOnPlateau(state, patience=3), model).on_epoch_end(0)
    assert rate(model) == pytest.approx(0.005) and state.plateau == 0
    attached(HalveOnPlateau(state, patience=3), model).on_epoch_end(1)
    assert rate(model) == pytest.approx(0.005), "no plateau, no change"


def test_cosine_decay_runs_half_a_cosine_over_this_calls_epochs(model):
    state = LoopState(first_epoch=4, epochs=4)
    decay = attached(CosineDecay(0.01, state), model)
    rates = []
    for epoch in range(4, 8):
        decay.on_epoch_begin(epoch)
        rates.append(rate(model))
    expected = [0.005 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_loop_state_survives_a_checkpoint_round_trip(model):
    state = LoopState(first_epoch=3, epochs=7, best=0.6, best_epoch=5, stale=1, plateau=1)
    saved = state.to_checkpoint(model)
    assert LoopState.from_checkpoint(saved, model) == state


def test_training_batches_visit_every_sample_once_per_epoch_in_a_seeded_order():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    labels = np.arange(10) % 2

    def epoch_orders(seed):
        data, steps = training_batches(
            images, labels, None, batch_size=4, n_classes=2, seed=seed, first_epoch=0, n_epochs=2
        )
        seen = [batch[0].numpy().ravel() for batch in data]
        assert steps == 3 and len(seen) == 6
        return np.concatenate(seen[:3]), np.concatenate(seen[3:])

    first, second = epoch_orders(seed=1)
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second), "each epoch has its own permutation"
    np.testing.assert_array_equal(epoch_orders(seed=1)[0], first)


def test_soft_targets_reach_the_network_as_they_are_with_their_samples():
    images = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1)
    targets = np.stack([np.arange(6) / 5, 1 - np.arange(6) / 5], axis=1)
    data, _ = training_batches(
        images, targets, None, batch_size=4, n_classes=2, seed=0, first_epoch=0, n_epochs=1
    )
    for batch_images, batch_targets in data:
        index = batch_images.numpy().ravel().astype(int)
        np.testing.assert_allclose(batch_targets.numpy(), targets[index], rtol=1e-6)


def test_the_loop_runs_its_callbacks_in_the_documented_order():
    from fercls import FERClassifier

    estimator = FERClassifier("simple", learning_rate="adaptive")
    estimator.n_iter_, estimator.history_, estimator.classes_ = 0, {}, np.array([0, 1])
    inputs = keras.Input((2,))
    estimator.model_ = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    estimator.model_.compile(optimizer="adam", loss="mse")
    loop = TrainingLoop(
        estimator, 5, continuing=False, has_validation=False, checkpoint="x.fercls", resume=None
    )
    names = [type(callback).__name__ for callback in loop.callbacks()]
    assert names == ["RecordHistory", "TrackBest", "HalveOnPlateau", "Snapshot", "Checkpoint"]
    averaging = ValidateAveraged(validation=None)
    assert loop.callbacks(averaging)[0] is averaging  # validation logs first, for the rest
    assert not loop.rollback(), "nothing to roll back to before the first epoch of a fresh fit"


def test_validate_averaged_scores_the_averaged_weights_and_gives_back_the_raw_ones():
    inputs = keras.Input((2,))
    network = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.1, use_ema=True, ema_momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    network.fit(x, y, epochs=1, batch_size=8, verbose=0)
    network.set_weights([w + 1.0 for w in network.get_weights()])  # raw now far from average
    raw = network.get_weights()
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    callback = attached(ValidateAveraged(validation=batches), network)
    logs = {"loss": 0.5}
    callback.on_epoch_end(0, logs)
    assert all(np.array_equal(a, b) for a, b in zip(network.get_weights(), raw, strict=True))
    assert not np.allclose(callback.averaged[0], raw[0])
    network.set_weights(callback.averaged)
    expected = network.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == 0.5 and logs["val_loss"] == pytest.approx(expected["loss"])
    assert logs["val_accuracy"] == pytest.approx(expected["accuracy"])


class Terminal(io.StringIO):
    def isatty(self):
        return True


def planned(stream):
    progress = TrainingProgress(prefix="fercls train", validation="PublicTest", stream=stream)
    progress.plan(first_epoch=0, last_epoch=10, n_images=28709, steps=449)
    return progress


def test_progress_prints_a_start_line_and_one_line_per_epoch(monkeypatch):
    clock = iter([0.0, 120.0, 240.0])  # two epochs of two minutes each
    monkeypatch.setattr("fercls._training.time.perf_counter", lambda: next(clock))
    stream = io.StringIO()
    progress = planned(stream)
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    progress.on_train_batch_end(0, {"loss": 2.0})  # not a terminal: no bar
    progress.on_epoch_end(0, {"loss": 1.5, "accuracy": 0.4, "val_accuracy": 0.51234})
    progress.on_epoch_begin(1)
    progress.on_epoch_end(1, {"loss": 1.25})
    assert stream.getvalue().splitlines() == [
        "fercls train: training on 28,709 images, 10 epochs of 449 batches",
        "fercls train: epoch 1/10, loss 1.5000, accuracy 0.4000, PublicTest accuracy 0.5123, "
        "2 min elapsed, about 18 min left",
        "fercls train: epoch 2/10, loss 1.2500, 4 min elapsed, about 16 min left",
    ]


def test_progress_draws_a_live_bar_only_on_a_terminal(monkeypatch):
    clock = iter([0.0, 30.0, 60.0])
    monkeypatch.setattr("fercls._training.time.perf_counter", lambda: next(clock))
    stream = Terminal()
    progress = planned(stream)
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    progress.on_train_batch_end(224, {"loss": 1.75})
    progress.on_epoch_end(0, {"loss": 1.5})
    assert stream.getvalue().split("\n") == [
        "\r\x1b[Kfercls train: training on 28,709 images, 10 epochs of 449 batches",
        "\rfercls train: epoch 1/10 [############............] 225/449 loss 1.750\x1b[K"
        "\r\x1b[Kfercls train: epoch 1/10, loss 1.5000, 1 min elapsed, about 9 min left",
        "",
    ]


@pytest.mark.parametrize("verbose", [0, 1])
def test_fit_talks_on_stderr_when_verbose(verbose, capsys):
    from fercls import FERClassifier

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 16)).astype(np.float32), np.arange(40) % 2
    FERClassifier(
        architecture="simple", max_iter=2, batch_size=20, verbose=verbose, random_state=0
    ).fit(X, y)
    out, err = capsys.readouterr()
    assert out == ""
    if verbose:
        lines = err.splitlines()
        assert lines[0] == "FERClassifier: training on 40 images, 2 epochs of 2 batches"
        assert [line.split(",")[0] for line in lines[1:]] == [
            "FERClassifier: epoch 1/2",
            "FERClassifier: epoch 2/2",
        ]
        assert "\x1b" not in err and "\r" not in err  # captured: not a terminal
    else:
        assert err == ""
