import numpy as np
import pytest

from fercls.architectures import (
    ARCHITECTURES,
    augmentation,
    build_network,
    crop_augmentation,
    crop_size,
    import_keras,
)


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


def _window_of(crop, image, size):
    """The (top, left, mirrored) of the ``size`` window of ``image`` equal to ``crop``."""
    for mirrored, source in ((False, image), (True, image[:, ::-1])):
        for top in range(image.shape[0] - size + 1):
            for left in range(image.shape[1] - size + 1):
                if np.array_equal(crop, source[top : top + size, left : left + size]):
                    return top, left, mirrored
    return None


def test_crop_augmentation_takes_random_windows_while_training_and_the_centre_after():
    keras = import_keras()
    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, crop_augmentation(inputs, seed=0, erasing=0.0))
    images = np.random.default_rng(0).random((32, 48, 48, 1), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(model(images, training=False)), images[:, 2:46, 2:46])
    crops = np.asarray(model(images, training=True))
    assert crops.shape == (32, 44, 44, 1)
    windows = [_window_of(crop, image, 44) for crop, image in zip(crops, images, strict=True)]
    assert None not in windows  # every crop is a true window: no interpolation, no fill
    assert len({w[:2] for w in windows}) > 3  # per image, not one offset per batch
    assert {w[2] for w in windows} == {False, True}


def test_random_erasing_blanks_a_rectangle_in_about_half_the_training_images():
    keras = import_keras()
    inputs = keras.Input((48, 48, 1))
    model = keras.Model(inputs, crop_augmentation(inputs, seed=0))
    erased = np.asarray(model(np.ones((400, 48, 48, 1), np.float32), training=True)) == 0
    hit = erased.any(axis=(1, 2, 3))
    assert 0.4 < hit.mean() < 0.6
    area = erased[hit].mean(axis=(1, 2, 3))
    assert 0.01 < area.min() and area.max() < 0.4


def test_crop_size_keeps_equal_margins():
    assert crop_size(48, 48) == (44, 44)
    assert crop_size(16, 24, window=0.75) == (12, 18)


def test_augment_names_choose_the_input_block():
    crop = build_network("vgg_small", (48, 48, 1), 7, augment="crop", seed=0)
    warp = build_network("vgg_small", (48, 48, 1), 7, augment="warp", seed=0)
    default = build_network("vgg_small", (48, 48, 1), 7, augment=True, seed=0)
    assert any("center_crop" in layer.name for layer in crop.layers)
    assert any("random_erasing" in layer.name for layer in crop.layers)
    assert not any("random_rotation" in layer.name for layer in crop.layers)
    assert [type(layer) for layer in warp.layers] == [type(layer) for layer in default.layers]
    assert all(
        np.array_equal(a, b) for a, b in zip(warp.get_weights(), default.get_weights(), strict=True)
    )
    with pytest.raises(ValueError, match=r"augment='rotate'; expected True, False or one of"):
        build_network("vgg_small", (48, 48, 1), 7, augment="rotate")


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
