import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import make_faces

from fercls import FERClassifier
from fercls._views import corner_shifts, zoom_in
from fercls.labels import EMOTIONS


def small(**params):
    # No augmentation: rotating 12x12 stripe textures destroys them, and it is slower.
    defaults = dict(architecture="simple", max_iter=8, random_state=0, batch_size=16, augment=False)
    return FERClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def data():
    images, labels = make_faces(n_per_class=24, size=12, n_classes=3)
    X = images.reshape(len(images), -1).astype(np.float32) / 255
    return X, np.asarray(EMOTIONS)[labels], labels


@pytest.fixture(scope="module")
def fitted(data):
    X, names, _ = data
    return small(early_stopping=True, validation_fraction=0.25).fit(X, names)


def test_learns_and_predicts_label_names(fitted, data):
    X, names, _ = data
    assert fitted.classes_.tolist() == sorted(set(names))
    assert fitted.predict(X).dtype == names.dtype
    assert fitted.score(X, names) > 0.8
    assert fitted.image_shape_ == (12, 12) and fitted.n_features_in_ == 144


def test_probabilities_are_distributions_in_classes_order(fitted, data):
    X, names, _ = data
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(1)], fitted.predict(X))


def test_sample_order_changes_probabilities_only_within_float32_rounding(fitted, data):
    # scikit-learn checks this at float64 tolerance (expected failure there): the
    # network computes in float32 and some CPUs' kernels round a row by its place.
    X, _, _ = data
    order = np.random.default_rng(0).permutation(len(X))
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(fitted.predict_proba(X[order]), proba[order], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(fitted.predict(X[order]), fitted.predict(X)[order])


def test_early_stopping_holds_out_a_stratified_validation_split_and_restores_the_best(fitted):
    history = fitted.history_
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(history)
    assert len(history["loss"]) == fitted.n_iter_
    best = int(np.argmax(history["val_accuracy"]))
    # The restored epoch is the first best one (ties do not move it).
    assert fitted.best_iteration_ == best + 1


def test_integer_labels_come_back_as_integers(data):
    X, _, ids = data
    clf = small(max_iter=3).fit(X, ids)
    assert clf.predict(X).dtype.kind == "i"


@pytest.mark.parametrize("shape", [(12, 12), (12, 12, 1)])
def test_images_are_accepted_in_place_of_flat_rows(data, shape):
    X, names, _ = data
    images = X.reshape(len(X), *shape)
    clf = small(max_iter=2).fit(images, names)
    np.testing.assert_allclose(clf.predict_proba(images), clf.predict_proba(X), rtol=1e-6)
    with pytest.raises(ValueError, match=r"images of shape \(6, 24\).*fitted on images of shape"):
        clf.predict(X.reshape(len(X), 6, 24))


def test_non_square_feature_counts_become_strips_and_explicit_shapes_are_checked(data):
    X, names, _ = data
    assert small(max_iter=1).fit(X[:, :10], names).image_shape_ == (1, 10)
    assert small(max_iter=1, image_shape=(6, 24)).fit(X, names).image_shape_ == (6, 24)
    with pytest.raises(
        ValueError, match=r"image_shape=\(48, 48\) needs 2304 features per row, but X has 144"
    ):
        small(image_shape=(48, 48)).fit(X, names)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), y), "NaN"),
        (
            lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), y),
            "infinity",
        ),
        (
            lambda X, y: (X, np.full(len(y), "happy")),
            "at least two classes; got one class: 'happy'",
        ),
        (lambda X, y: (X[:0], y[:0]), "0 sample"),
        (lambda X, y: (X, y[:-1]), "inconsistent numbers of samples"),
    ],
    ids=["nan", "inf", "one-class", "empty", "length-mismatch"],
)
def test_bad_training_data_is_rejected_with_a_clear_error(data, mutate, message):
    X, names, _ = data
    with pytest.raises(ValueError, match=message):
        small().fit(*mutate(X, names))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"architecture": "resnet9000"}, "architecture"),
        ({"max_iter": 0}, "max_iter"),
        ({"learning_rate_init": -1.0}, "learning_rate_init"),
        ({"class_weight": "even"}, "class_weight"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
    ],
)
def test_bad_parameters_are_rejected_at_fit(data, params, message):
    X, names, _ = data
    with pytest.raises(ValueError, match=message):
        small(**params).fit(X, names)


def test_wrong_feature_count_at_predict(fitted, data):
    with pytest.raises(ValueError, match="X has 100 features, but FERClassifier is expecting 144"):
        fitted.predict(np.zeros((1, 100)))


def test_architecture_callable_with_wrong_output_size_is_rejected(data):
    X, names, _ = data
    from fercls.architectures import simple

    def four_outputs(input_shape, n_classes):
        return simple(input_shape, 4)

    with pytest.raises(ValueError, match="4 outputs; expected 3"):
        small(architecture=four_outputs).fit(X, names)


def test_callable_architecture_receives_seed_and_augment(data):
    X, names, _ = data
    seen = {}

    def builder(input_shape, n_classes, *, seed, augment):
        from fercls.architectures import simple

        seen.update(input_shape=input_shape, seed=seed, augment=augment)
        return simple(input_shape, n_classes, seed=seed)

    small(architecture=builder, max_iter=1, augment=False).fit(X, names)
    assert seen["input_shape"] == (12, 12, 1) and seen["augment"] is False
    assert isinstance(seen["seed"], int)


def test_partial_fit_runs_one_epoch_per_call_and_needs_classes_up_front(data):
    X, names, _ = data
    clf = small()
    clf.partial_fit(X[:20], names[:20], classes=np.unique(names))
    clf.partial_fit(X[20:], names[20:])
    assert clf.n_iter_ == 2 and len(clf.history_["loss"]) == 2
    with pytest.raises(ValueError, match=r"labels \['joy'\] were not seen"):
        clf.partial_fit(X[:2], np.array(["joy", "joy"]))


def test_warm_start_continues_training(data):
    X, names, _ = data
    clf = small(max_iter=2, warm_start=True).fit(X, names)
    weights = clf.model_.get_weights()[0].copy()
    model = clf.model_
    clf.fit(X, names)
    assert clf.model_ is model and clf.n_iter_ == 4
    assert not np.array_equal(weights, clf.model_.get_weights()[0])
    cold = small(max_iter=2).fit(X, names)
    cold.fit(X, names)
    assert cold.n_iter_ == 2


def test_class_weight_shifts_predictions_towards_the_heavy_class(data):
    X, names, _ = data
    noisy = X + np.random.default_rng(0).normal(0, 0.6, X.shape).astype(np.float32)
    plain = small(max_iter=4).fit(noisy, names)
    heavy = small(max_iter=4, class_weight={"angry": 50.0}).fit(noisy, names)
    assert np.mean(heavy.predict(noisy) == "angry") >= np.mean(plain.predict(noisy) == "angry")
    assert np.mean(heavy.predict(noisy) == "angry") > 0.5
    balanced = small(max_iter=2, class_weight="balanced").fit(X, names)
    assert balanced.n_iter_ == 2


def one_hot(codes, n_classes=3):
    return np.eye(n_classes)[codes]


def test_one_hot_soft_targets_train_exactly_as_the_labels_do(data):
    X, names, _ = data
    codes = np.searchsorted(np.unique(names), names)
    plain = small(max_iter=2).fit(X, names)
    soft = small(max_iter=2).fit(X, names, soft_targets=one_hot(codes))
    np.testing.assert_allclose(soft.predict_proba(X), plain.predict_proba(X), atol=1e-6)


def test_the_network_learns_the_soft_targets_not_the_labels(data):
    X, names, _ = data
    codes = np.searchsorted(np.unique(names), names)
    teacher = one_hot((codes + 1) % 3)  # a teacher that calls each class the next one
    clf = small(max_iter=15).fit(X, names, soft_targets=teacher)
    assert list(clf.classes_) == sorted(set(names)), "y still names the classes"
    assert np.mean(clf.predict(X) == clf.classes_[(codes + 1) % 3]) > 0.9


def test_soft_targets_follow_their_samples_into_the_hold_out_split(data):
    from fercls._inputs import split_validation

    X, names, _ = data
    codes = np.searchsorted(np.unique(names), names)
    index = np.arange(len(X), dtype=np.float32)[:, None]  # which sample a row came from
    targets = one_hot((codes + 1) % 3)
    X_train, X_val, y_train, y_val, _, t_train = split_validation(
        index, codes, None, 0.25, 0, targets
    )
    rows = X_train[:, 0].astype(int)
    np.testing.assert_array_equal(t_train, targets[rows])
    np.testing.assert_array_equal(y_train, codes[rows])
    assert len(X_val) == 18 and len(set(rows) | set(X_val[:, 0].astype(int))) == len(X)
    # End to end: fit holds out a quarter and scores the true labels there.
    clf = small(max_iter=3, early_stopping=True, validation_fraction=0.25)
    clf.fit(X, names, soft_targets=targets)
    assert len(clf.history_["val_accuracy"]) == 3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t[:-1], r"soft_targets has shape \(71, 3\); expected \(72, 3\)"),
        (lambda t: t[:, :2], r"one column per class, in the order \['angry', 'disgust', 'fear'\]"),
        (
            lambda t: np.where(np.arange(t.size).reshape(t.shape) == 4, np.nan, t),
            r"\[1, 1\] = nan is not finite",
        ),
        (lambda t: t * np.array([-1, 1, 1]), r"soft_targets\[\d+, 0\] = -1.0 is negative"),
        (lambda t: t * 2, "soft_targets row 0 sums to 2; each row must be class probabilities"),
    ],
    ids=["rows", "columns", "nan", "negative", "not-summing-to-one"],
)
def test_bad_soft_targets_are_rejected_naming_the_entry(data, mutate, message):
    X, names, _ = data
    targets = one_hot(np.searchsorted(np.unique(names), names))
    with pytest.raises(ValueError, match=message):
        small(max_iter=1).fit(X, names, soft_targets=mutate(targets))


def test_partial_fit_takes_soft_targets_in_the_order_of_classes(data):
    X, names, _ = data
    codes = np.searchsorted(np.unique(names), names)
    clf = small()
    for _ in range(15):
        clf.partial_fit(X, names, classes=np.unique(names), soft_targets=one_hot((codes + 1) % 3))
    assert np.mean(clf.predict(X) == clf.classes_[(codes + 1) % 3]) > 0.9


def test_explicit_validation_data_is_used_and_never_trained_on(data):
    X, names, _ = data
    clf = small(max_iter=3).fit(X[:48], names[:48], validation_data=(X[48:], names[48:]))
    assert len(clf.history_["val_accuracy"]) == 3
    best = clf.history_["val_accuracy"][clf.best_iteration_ - 1]
    assert best == pytest.approx(clf.score(X[48:], names[48:]), abs=1e-6)


def test_adaptive_schedule_halves_the_rate_on_a_plateau(data):
    X, names, _ = data
    # n_iter_no_change=6: the rate halves after max(2, 6 // 3) = 2 epochs without
    # improvement, and training would stop after 6; max_iter=8 ends it first.
    clf = small(
        max_iter=8,
        learning_rate="adaptive",
        n_iter_no_change=6,
        early_stopping=True,
        validation_fraction=0.25,
    ).fit(X, names)
    rates = np.asarray(clf.history_["learning_rate"])
    assert max(clf.history_["val_accuracy"]) == 1.0  # so a plateau must follow
    assert rates[0] == pytest.approx(1e-3) and rates[-1] < rates[0]
    assert np.all(np.diff(rates) <= 0)
    assert np.allclose(np.log2(rates[0] / rates), np.round(np.log2(rates[0] / rates)))  # halvings


def test_cosine_schedule_decays_the_learning_rate(data):
    X, names, _ = data
    clf = small(max_iter=4, learning_rate="cosine", learning_rate_init=1e-2).fit(X, names)
    rates = clf.history_["learning_rate"]
    assert rates[0] == pytest.approx(1e-2) and all(
        a > b for a, b in zip(rates, rates[1:], strict=False)
    )


@pytest.mark.slow  # starts Python processes that import TensorFlow
def test_same_seed_gives_identical_predictions_in_two_processes(tmp_path, data):
    X, names, _ = data
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", names)
    script = textwrap.dedent(
        f"""
        import json, numpy as np
        from fercls import FERClassifier
        X = np.load({str(tmp_path / "X.npy")!r}); y = np.load({str(tmp_path / "y.npy")!r})
        clf = FERClassifier(architecture="vgg_small", max_iter=2, batch_size=16,
                            early_stopping=True, random_state=7).fit(X, y)
        print(json.dumps(clf.predict_proba(X).tolist()))
        """
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, second = (np.asarray(json.loads(r.stdout.strip().splitlines()[-1])) for r in runs)
    np.testing.assert_array_equal(first, second)


def test_fit_does_not_switch_on_op_determinism(data):
    from tensorflow.python.framework import config  # the getter is not public API

    X, names, _ = data
    config.disable_op_determinism()  # whatever earlier code in this process did
    small(max_iter=1).fit(X, names)
    assert not config.is_op_determinism_enabled()
    # An unseeded fit with Dropout must still work afterwards (scikeras' bug).
    FERClassifier(architecture="simple", max_iter=1).fit(X, names)


def mirror(X, size=12):
    return X.reshape(-1, size, size)[:, :, ::-1].reshape(len(X), -1)


def test_flip_tta_averages_the_image_and_its_mirror(fitted, data):
    X, _, _ = data
    expected = (fitted.predict_proba(X) + fitted.predict_proba(mirror(X))) / 2
    flipping = clone_fitted(fitted, test_time_augmentation="flip")
    np.testing.assert_allclose(flipping.predict_proba(X), expected, rtol=1e-6)


def test_zoom_flip_tta_averages_the_zoomed_image_and_its_mirror(fitted, data):
    X, _, _ = data
    zoomed = zoom_in(X.reshape(-1, 12, 12, 1).astype(np.float32)).reshape(len(X), -1)
    expected = (fitted.predict_proba(zoomed) + fitted.predict_proba(mirror(zoomed))) / 2
    zooming = clone_fitted(fitted, test_time_augmentation="zoom_flip")
    np.testing.assert_allclose(zooming.predict_proba(X), expected, rtol=1e-5)
    assert not np.allclose(expected, fitted.predict_proba(X), atol=1e-3)


def test_ten_crop_tta_averages_the_five_shifted_views_and_their_mirrors(fitted, data):
    X, _, _ = data
    views = corner_shifts(X.reshape(-1, 12, 12, 1))
    flat = [view.reshape(len(X), -1) for view in views]
    expected = sum(fitted.predict_proba(v) + fitted.predict_proba(mirror(v)) for v in flat) / 10
    cropping = clone_fitted(fitted, test_time_augmentation="ten_crop")
    np.testing.assert_allclose(cropping.predict_proba(X), expected, rtol=1e-5)


def test_views_are_averaged_block_by_block_with_the_same_result(fitted, data, monkeypatch):
    import fercls.classifier

    X, _, _ = data
    cropping = clone_fitted(fitted, test_time_augmentation="ten_crop")
    whole = cropping.predict_proba(X)
    monkeypatch.setattr(fercls.classifier, "_VIEWS_BLOCK", 7)  # 72 images: 11 blocks
    np.testing.assert_allclose(cropping.predict_proba(X), whole, rtol=1e-6)


def test_crop_augmentation_trains_predicts_on_the_centre_and_saves(data, tmp_path):
    import fercls

    X, names, _ = data
    clf = small(augment="crop", max_iter=2).fit(X, names)
    assert any("center_crop" in layer.name for layer in clf.model_.layers)
    path = fercls.save(clf, tmp_path / "crop.fercls")
    np.testing.assert_array_equal(fercls.load(path).predict_proba(X), clf.predict_proba(X))


def test_unknown_augment_name_is_refused_by_fit(data):
    X, names, _ = data
    with pytest.raises(ValueError, match=r"'augment' parameter .*'crop'.*Got 'rotate'"):
        small(augment="rotate").fit(X, names)


def test_unknown_tta_set_after_fit_is_refused_by_name(fitted, data):
    with pytest.raises(ValueError, match=r"test_time_augmentation='crops'.*'zoom_flip'"):
        clone_fitted(fitted, test_time_augmentation="crops").predict_proba(data[0][:2])


def clone_fitted(estimator, **params):
    """A fitted copy with prediction-time parameters changed (no refit needed)."""
    import copy

    twin = copy.copy(estimator)
    twin.set_params(**params)
    return twin


def test_concurrent_predictions_match_serial_ones(fitted, data):
    from concurrent.futures import ThreadPoolExecutor

    X, _, _ = data
    chunks = [X[i : i + 7] for i in range(0, len(X), 7)] * 4
    serial = [fitted.predict_proba(c) for c in chunks]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(fitted.predict_proba, chunks))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------- interruption and checkpoints
def _interrupt_at(epoch, *, batch=None):
    """A callback raising KeyboardInterrupt at the start of ``epoch`` (0-based),
    or after batch ``batch`` of it."""
    import keras

    class Interrupt(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = None

        def on_epoch_begin(self, e, logs=None):
            self.epoch = e
            if e == epoch and batch is None:
                raise KeyboardInterrupt

        def on_train_batch_end(self, b, logs=None):
            if self.epoch == epoch and b == batch:
                raise KeyboardInterrupt

    return Interrupt()


def test_interrupted_fit_is_left_at_its_last_completed_epoch(data):
    X, names, _ = data
    one_epoch = small(max_iter=1).fit(X, names)
    clf = small(max_iter=4)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, names, callbacks=[_interrupt_at(1, batch=2)])  # mid-way through epoch 2
    assert clf.n_iter_ == 1 and len(clf.history_["loss"]) == 1
    # Same seed, same first epoch: the half-done second epoch left no trace.
    np.testing.assert_array_equal(clf.predict_proba(X), one_epoch.predict_proba(X))


def test_fit_interrupted_in_its_first_epoch_leaves_the_estimator_unfitted(data):
    from sklearn.exceptions import NotFittedError

    X, names, _ = data
    clf = small(max_iter=4)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, names, callbacks=[_interrupt_at(0, batch=1)])
    assert not [k for k in vars(clf) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_interrupted_warm_start_keeps_the_previous_fit(data):
    X, names, _ = data
    clf = small(max_iter=2, warm_start=True).fit(X, names)
    before = clf.predict_proba(X)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, names, callbacks=[_interrupt_at(2, batch=1)])
    assert clf.n_iter_ == 2
    np.testing.assert_array_equal(clf.predict_proba(X), before)


@pytest.mark.parametrize(
    "recipe",
    [
        {"learning_rate": "cosine"},
        {"learning_rate": "adaptive"},
        # The optimizer's averaged weights travel in the checkpoint with its other slots.
        {"learning_rate": "cosine", "ema_momentum": 0.9},
    ],
    ids=["cosine", "adaptive", "cosine-ema"],
)
def test_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run(data, tmp_path, recipe):
    X, names, _ = data
    params = dict(max_iter=5, augment=True, early_stopping=True, **recipe)
    uninterrupted = small(**params).fit(X, names)
    checkpoint = tmp_path / "run.fercls"
    with pytest.raises(KeyboardInterrupt):
        small(**params).fit(X, names, checkpoint=checkpoint, callbacks=[_interrupt_at(3)])
    assert fercls_load(checkpoint).n_iter_ == 3
    resumed = small(**params).fit(X, names, checkpoint=checkpoint)
    assert resumed.history_ == uninterrupted.history_
    assert resumed.best_iteration_ == uninterrupted.best_iteration_
    np.testing.assert_array_equal(resumed.predict_proba(X), uninterrupted.predict_proba(X))
    # A finished run's checkpoint just loads.
    again = small(**params).fit(X, names, checkpoint=checkpoint)
    np.testing.assert_array_equal(again.predict_proba(X), uninterrupted.predict_proba(X))


def test_checkpoint_of_other_parameters_is_refused(data, tmp_path):
    X, names, _ = data
    checkpoint = tmp_path / "run.fercls"
    small(max_iter=1).fit(X, names, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"other parameters: batch_size=16 \(now 8\)"):
        small(max_iter=1, batch_size=8).fit(X, names, checkpoint=checkpoint)


def fercls_load(path):
    import fercls

    return fercls.load(path)


# ------------------------------------------------ devices and precision
MIRRORED_ON_TWO_CPUS = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {tests!r})
from helpers import make_faces
from fercls import FERClassifier

images, labels = make_faces(n_per_class=24, size=12, n_classes=3)
X = images.reshape(len(images), -1).astype(np.float32) / 255
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
clf = FERClassifier("simple", max_iter=8, batch_size=16, augment=False, random_state=0,
                    distribution=strategy).fit(X, labels)
kernel = clf.model_.get_layer("probabilities").kernel
print(json.dumps({{"replicas": strategy.num_replicas_in_sync,
                  "mirrored": type(kernel.value).__name__,
                  "score": clf.score(X, labels)}}))
"""


@pytest.mark.slow  # starts Python processes that import TensorFlow
def test_mirrored_strategy_trains_on_two_logical_cpus():
    """The multi-GPU path, on two logical CPU devices (they must be set before
    TensorFlow starts, hence a fresh process)."""
    from pathlib import Path

    script = MIRRORED_ON_TWO_CPUS.format(tests=str(Path(__file__).parent))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert "Mirrored" in result["mirrored"]
    assert result["score"] > 0.8


def test_mirrored_by_name_is_cloneable_and_trains(data):
    from sklearn.base import clone

    X, names, _ = data
    clf = clone(small(distribution="mirrored")).fit(X, names)
    kernel = clf.model_.get_layer("probabilities").kernel
    assert "Mirrored" in type(kernel.value).__name__, "built inside the strategy's scope"
    assert clf.score(X, names) > 0.8


def test_mixed_precision_computes_in_16_bits_with_a_float32_softmax(data):
    X, names, _ = data
    import keras

    before = keras.config.dtype_policy().name
    clf = small(precision="mixed_bfloat16").fit(X, names)
    assert keras.config.dtype_policy().name == before, "the global policy is restored"
    conv = next(layer for layer in clf.model_.layers if "conv" in layer.name)
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
    assert clf.model_.get_layer("probabilities").compute_dtype == "float32"
    assert clf.predict_proba(X).dtype == np.float64 and clf.score(X, names) > 0.8


def test_fit_honours_sklearns_skip_parameter_validation(data, monkeypatch):
    """fit and partial_fit validate through @_fit_context, so the global switch works."""
    import sklearn

    X, names, _ = data

    def refuse(self):
        raise AssertionError("parameters were validated")

    monkeypatch.setattr(FERClassifier, "_validate_params", refuse)
    with sklearn.config_context(skip_parameter_validation=True):
        small(max_iter=1).fit(X, names)
        small().partial_fit(X, names)
    with pytest.raises(AssertionError, match="validated"):
        small(max_iter=1).fit(X, names)


def test_sgd_with_nesterov_momentum_and_weight_decay_is_built_as_asked(data):
    X, names, _ = data
    clf = small(optimizer="sgd", learning_rate_init=0.05, weight_decay=1e-4).fit(X, names)
    optimizer = clf.model_.optimizer
    assert type(optimizer).__name__ == "SGD" and optimizer.nesterov
    assert optimizer.momentum == pytest.approx(0.9)
    assert optimizer.weight_decay == pytest.approx(1e-4)
    assert clf.score(X, names) > 0.8


def test_weight_decay_shrinks_the_weights(data):
    X, names, _ = data

    def kernel_norm(**params):
        clf = small(max_iter=3, **params).fit(X, names)
        return float(np.linalg.norm(clf.model_.get_layer("probabilities").kernel.numpy()))

    # Decoupled: each of the 15 steps scales the weights by 1 - 1e-3 * 30 = 0.97.
    assert kernel_norm(weight_decay=30.0) < 0.8 * kernel_norm()


def test_ema_weights_are_the_ones_validated_and_kept(data):
    X, names, _ = data
    clf = small(ema_momentum=0.9, max_iter=4, learning_rate_init=0.01)
    clf.fit(X[::2], names[::2], validation_data=(X[1::2], names[1::2]))
    assert clf.model_.optimizer.use_ema and clf.model_.optimizer.ema_momentum == 0.9
    best = clf.best_iteration_
    # The restored weights score on the validation set what the best epoch logged.
    assert clf.score(X[1::2], names[1::2]) == pytest.approx(clf.history_["val_accuracy"][best - 1])


def test_without_validation_ema_leaves_the_averaged_weights_in_the_network(data):
    X, names, _ = data
    clf = small(ema_momentum=0.9, max_iter=2).fit(X, names)
    optimizer = clf.model_.optimizer
    averages = optimizer._model_variables_moving_average  # Keras keeps no public handle
    for variable, average in zip(clf.model_.trainable_variables, averages, strict=True):
        np.testing.assert_array_equal(np.asarray(variable), np.asarray(average))


@pytest.mark.parametrize(
    "fit_kwargs, init, message",
    [
        ({}, {"class_weight": {"happy": float("nan")}}, r"class_weight\['happy'\] = nan"),
        ({}, {"class_weight": {"happy": -1.0}}, r"class_weight\['happy'\] = -1.0"),
        ({"sample_weight": "negative"}, {}, r"sample_weight\[0\] = -1.0"),
        ({"sample_weight": "nan"}, {}, r"sample_weight contains NaN"),
    ],
    ids=[
        "nan class weight",
        "negative class weight",
        "negative sample weight",
        "nan sample weight",
    ],
)
def test_weights_must_be_finite_and_non_negative(fit_kwargs, init, message):
    X = np.random.default_rng(0).random((8, 16), dtype=np.float32)
    y = np.repeat(["happy", "sad"], 4)
    weights = {"negative": -np.ones(8), "nan": np.full(8, np.nan)}
    if "sample_weight" in fit_kwargs:
        fit_kwargs = {"sample_weight": weights[fit_kwargs["sample_weight"]]}
    clf = FERClassifier("simple", max_iter=1, random_state=0, **init)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y, **fit_kwargs)


# Bad input: class weights, classes and fit data that cannot be right
@pytest.fixture(scope="module")
def tiny_xy():
    rng = np.random.default_rng(0)
    return rng.random((12, 16), dtype=np.float32), np.repeat(["happy", "sad"], 6)


def test_class_weight_naming_an_unknown_class_is_an_error(tiny_xy):
    X, y = tiny_xy
    clf = FERClassifier("simple", max_iter=1, class_weight={"hapy": 100})
    with pytest.raises(ValueError, match=r"class_weight names classes \['hapy'\]"):
        clf.fit(X, y)


def test_partial_fit_classes_must_cover_y(tiny_xy):
    X, y = tiny_xy
    with pytest.raises(ValueError, match=r"not in classes=\['a', 'b'\]"):
        FERClassifier("simple").partial_fit(X, y, classes=["a", "b"])
    clf = FERClassifier("simple", augment=False).partial_fit(X, y, classes=["happy", "sad", "x"])
    assert clf.classes_.tolist() == ["happy", "sad", "x"]


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda X, y: (X.astype(np.float64) * 1e39, y), "beyond float32"),
        (lambda X, y: (X, np.array([None, *y[1:]], dtype=object)), r"y\[0\] is None"),
        (lambda X, y: (X, None), "the target y is None"),
    ],
    ids=["1e39", "None label", "y None"],
)
def test_bad_fit_data_is_a_clear_value_error(tiny_xy, mutate, pattern):
    X, y = mutate(*tiny_xy)
    with pytest.raises(ValueError, match=pattern):
        FERClassifier("simple", max_iter=1).fit(X, y)


def test_callbacks_must_be_keras_callbacks(tiny_xy):
    with pytest.raises(ValueError, match="callbacks must be a list"):
        FERClassifier("simple", max_iter=1).fit(*tiny_xy, callbacks="abc")
