import numpy as np
import pytest

from fercls.architectures import ARCHITECTURES, augmentation, import_keras


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("input_shape", [(48, 48, 1), (20, 20, 1), (1, 7, 1), (1, 1, 1)])
def test_builders_adapt_to_any_input_size(name, input_shape):
    model = ARCHITECTURES[name](input_shape, 5, seed=0)
    assert model.output_shape == (None, 5)
    out = np.asarray(model(np.zeros((2, *input_shape), np.float32), training=False))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_parameter_counts_are_as_documented():
    counts = {
        name: build((48, 48, 1), 7, seed=0).count_params() for name, build in ARCHITECTURES.items()
    }
    assert 25_000 < counts["simple"] < 30_000
    assert 1_000_000 < counts["vgg_small"] < 1_500_000
    assert 4_500_000 < counts["vgg"] < 5_200_000


def test_same_seed_same_weights():
    first = ARCHITECTURES["vgg_small"]((48, 48, 1), 7, seed=3).get_weights()
    second = ARCHITECTURES["vgg_small"]((48, 48, 1), 7, seed=3).get_weights()
    other = ARCHITECTURES["vgg_small"]((48, 48, 1), 7, seed=4).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_augmentation_changes_images_only_while_training():
    keras = import_keras()
    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, augmentation(inputs, seed=0))
    images = np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(model(images, training=False)), images)
    assert not np.allclose(np.asarray(model(images, training=True)), images)


def test_small_inputs_are_not_augmented():
    model = ARCHITECTURES["simple"]((1, 7, 1), 3, augment=True, seed=0)
    assert not any("random" in layer.name for layer in model.layers)
    model = ARCHITECTURES["simple"]((48, 48, 1), 3, augment=True, seed=0)
    assert any("random_flip" in layer.name for layer in model.layers)


@pytest.fixture
def restore_op_determinism():
    """scikeras' seeded fit switches TensorFlow's op determinism on for the whole
    process (the reason fercls does not build on scikeras); undo it for later tests."""
    from tensorflow.python.framework import config

    was_enabled = config.is_op_determinism_enabled()
    yield
    if not was_enabled:
        config.disable_op_determinism()


def test_builders_work_as_scikeras_model_functions(restore_op_determinism):
    wrappers = pytest.importorskip("scikeras.wrappers", reason="scikeras is not installed")
    rng = np.random.default_rng(0)
    X = rng.random((40, 12, 12, 1), dtype=np.float32)
    y = np.repeat([0, 1], 20)
    X[y == 1, :, ::2] += 1.0  # vertical stripes for class 1
    clf = wrappers.KerasClassifier(
        model=ARCHITECTURES["simple"],
        model__input_shape=(12, 12, 1),
        model__n_classes=2,
        loss="sparse_categorical_crossentropy",
        optimizer="adam",
        epochs=2,
        verbose=0,
        random_state=0,
    )
    clf.fit(X, y)
    assert clf.predict_proba(X).shape == (40, 2)
