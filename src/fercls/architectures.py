"""Keras network builders, chosen by name, and the augmentation block.

Every builder has the signature ``builder(input_shape, n_classes, *, augment,
seed)`` and returns an uncompiled ``keras.Model`` that ends in a softmax. The
networks adapt to the input size: they pool only while the spatial size allows
and use global average pooling before the head, so 48×48 faces, other image
sizes and 1×n strips all work.

The builders also serve scikeras users::

    from scikeras.wrappers import KerasClassifier
    KerasClassifier(model=vgg, model__input_shape=(48, 48, 1), model__n_classes=7,
                    loss="sparse_categorical_crossentropy")
"""

from __future__ import annotations

import numpy as np

from ._precision import dtype_policy, resolve_precision
from ._startup import import_keras

__all__ = [
    "ARCHITECTURES",
    "build_network",
    "simple",
    "vgg",
    "vgg_small",
    "augmentation",
    "crop_augmentation",
    "AUGMENTATIONS",
    "import_keras",
]

# Smaller images are not pictures (scikit-learn's checks feed 1×n strips), so
# geometric augmentation is skipped below this size.
MIN_AUGMENT_SIZE = 8

#: Named training augmentations: ``"warp"`` (what ``augment=True`` means) and ``"crop"``.
AUGMENTATIONS = ("warp", "crop")

# The "crop" augmentation's window: the central 11/12 of each side (44 of 48
# pixels), the same window as the "zoom_flip" test-time view.
CROP_WINDOW = 11 / 12


class _Seeds:
    """A reproducible stream of integer seeds for layers and initialisers."""

    def __init__(self, seed):
        self._rng = None if seed is None else np.random.default_rng(seed)

    def next(self):
        return None if self._rng is None else int(self._rng.integers(2**31 - 1))


def augmentation(inputs, *, seed=None, flip=True, rotation=10.0, zoom=0.1, translation=0.1):
    """Random flips, rotations, zooms and shifts, active only while training.

    Keras preprocessing layers are identities at inference, so the augmented
    model predicts on clean images and exports unchanged.

    Parameters
    ----------
    inputs : KerasTensor
        Images of shape (h, w, channels).
    seed : int or None
        Seeds every random layer, for repeatable training.
    flip : bool
        Horizontal flips (faces are roughly symmetric; vertical flips are not used).
    rotation : float
        Maximum rotation in degrees.
    zoom, translation : float
        Maximum zoom and shift as fractions of the image size.
    """
    keras = import_keras()
    layers = keras.layers
    seeds = _Seeds(seed)
    x = inputs
    if flip:
        x = layers.RandomFlip("horizontal", seed=seeds.next())(x)
    if rotation:
        x = layers.RandomRotation(rotation / 360.0, fill_mode="nearest", seed=seeds.next())(x)
    if zoom:
        x = layers.RandomZoom(zoom, fill_mode="nearest", seed=seeds.next())(x)
    if translation:
        x = layers.RandomTranslation(
            translation, translation, fill_mode="nearest", seed=seeds.next()
        )(x)
    return x


def crop_augmentation(inputs, *, seed=None, window=CROP_WINDOW, erasing=0.5):
    """Random crops, flips and erasing while training; the central crop always.

    The published FER2013 VGG recipes train on random crops (e.g. 44 of 48
    pixels) and test on the centre. Here the network keeps its full-size input:
    a random shift of up to the crop margin (nearest pixel, so no
    interpolation) followed by the central crop *is* a random crop, and at
    prediction the shift is an identity, leaving the centre crop. Random
    erasing then blanks a rectangle (2-33 % of the area, filled with 0) in a
    share ``erasing`` of the training images. Every layer is a built-in Keras
    layer, so saved and exported networks load without fercls.

    Parameters
    ----------
    inputs : KerasTensor
        Images of shape (h, w, channels).
    seed : int or None
        Seeds every random layer, for repeatable training.
    window : float
        Side of the crop as a fraction of the image side.
    erasing : float
        Probability that a training image gets an erased rectangle; 0 turns
        erasing off.
    """
    keras = import_keras()
    layers = keras.layers
    seeds = _Seeds(seed)
    height, width = inputs.shape[1], inputs.shape[2]
    crop_h, crop_w = crop_size(height, width, window)
    x = layers.RandomFlip("horizontal", seed=seeds.next())(inputs)
    x = layers.RandomTranslation(
        (height - crop_h) / 2 / height,
        (width - crop_w) / 2 / width,
        fill_mode="nearest",
        interpolation="nearest",
        seed=seeds.next(),
    )(x)
    x = layers.CenterCrop(crop_h, crop_w)(x)
    if erasing:
        x = layers.RandomErasing(
            factor=(erasing, erasing),  # equal bounds: exactly this probability
            scale=(0.02, 0.33),
            fill_value=0.0,
            value_range=(0.0, 1.0),  # only bounds the fill value
            seed=seeds.next(),
        )(x)
    return x


def crop_size(height, width, window=CROP_WINDOW):
    """The (h, w) of the central crop: ``window`` of each side, with equal margins."""
    crop_h = height - 2 * round(height * (1 - window) / 2)
    crop_w = width - 2 * round(width * (1 - window) / 2)
    return crop_h, crop_w


def _input_block(input_shape, augment, seeds):
    keras = import_keras()
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = inputs
    if augment and min(input_shape[:2]) >= MIN_AUGMENT_SIZE:
        if augment == "crop":
            x = crop_augmentation(x, seed=seeds.next())
        else:
            x = augmentation(x, seed=seeds.next())
    return inputs, x


def _pool(x):
    """2×2 max pooling along each spatial axis that is still at least 2 wide."""
    keras = import_keras()
    height, width = x.shape[1], x.shape[2]
    pool = (2 if height >= 2 else 1, 2 if width >= 2 else 1)
    if pool == (1, 1):
        return x
    return keras.layers.MaxPooling2D(pool)(x)


def _conv(x, filters, seeds, *, batch_norm):
    keras = import_keras()
    layers = keras.layers
    x = layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=not batch_norm,
        kernel_initializer=keras.initializers.HeNormal(seed=seeds.next()),
        activation=None if batch_norm else "relu",
    )(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    return x


def _head(x, n_classes, seeds, *, dense, dropout, batch_norm):
    keras = import_keras()
    layers = keras.layers
    x = layers.GlobalAveragePooling2D()(x)
    if dense:
        x = layers.Dense(
            dense,
            use_bias=not batch_norm,
            kernel_initializer=keras.initializers.HeNormal(seed=seeds.next()),
        )(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Dropout(dropout, seed=seeds.next())(x)
    return layers.Dense(
        n_classes,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seeds.next()),
        name="probabilities",
        dtype="float32",  # stays float32 under mixed precision: a stable softmax and loss
    )(x)


def simple(input_shape=(48, 48, 1), n_classes=7, *, augment=False, seed=None):
    """The classic small CNN of the FER tutorials: a baseline.

    Two convolution blocks (32 and 64 filters, ReLU, max pooling, dropout 0.25),
    global average pooling, Dense(128) with dropout 0.5, softmax. About 28k
    parameters; no batch normalisation.

    Examples
    --------
    >>> model = simple((48, 48, 1), 7, seed=0)  # doctest: +SKIP
    >>> model.output_shape  # doctest: +SKIP
    (None, 7)
    """
    keras = import_keras()
    seeds = _Seeds(seed)
    inputs, x = _input_block(input_shape, augment, seeds)
    for filters in (32, 64):
        x = _conv(x, filters, seeds, batch_norm=False)
        x = _pool(x)
        x = keras.layers.Dropout(0.25, seed=seeds.next())(x)
    outputs = _head(x, n_classes, seeds, dense=128, dropout=0.5, batch_norm=False)
    return keras.Model(inputs, outputs, name="simple")


def vgg(
    input_shape=(48, 48, 1),
    n_classes=7,
    *,
    augment=True,
    seed=None,
    widths=(64, 128, 256, 512),
    convs_per_block=2,
    dense=256,
    name="vgg",
):
    """VGG-style network with batch normalisation: the strong default.

    Four blocks of ``convs_per_block`` 3×3 convolutions (BatchNorm, ReLU) with
    ``widths`` filters, each followed by 2×2 max pooling and dropout 0.25; then
    global average pooling, Dense(``dense``) with BatchNorm and dropout 0.5, and
    softmax. With the defaults, about 4.8M parameters.

    Examples
    --------
    >>> model = vgg((48, 48, 1), 7, seed=0)  # doctest: +SKIP
    """
    keras = import_keras()
    seeds = _Seeds(seed)
    inputs, x = _input_block(input_shape, augment, seeds)
    for filters in widths:
        for _ in range(convs_per_block):
            x = _conv(x, filters, seeds, batch_norm=True)
        x = _pool(x)
        x = keras.layers.Dropout(0.25, seed=seeds.next())(x)
    outputs = _head(x, n_classes, seeds, dense=dense, dropout=0.5, batch_norm=True)
    return keras.Model(inputs, outputs, name=name)


def vgg_small(input_shape=(48, 48, 1), n_classes=7, *, augment=True, seed=None):
    """The VGG network at half width (32–256 filters, ~1.2M parameters): for CPUs."""
    return vgg(
        input_shape,
        n_classes,
        augment=augment,
        seed=seed,
        widths=(32, 64, 128, 256),
        dense=128,
        name="vgg_small",
    )


#: Built-in builders by name, for ``FERClassifier(architecture=...)``.
ARCHITECTURES = {"simple": simple, "vgg": vgg, "vgg_small": vgg_small}


def build_network(
    architecture, input_shape, n_classes, *, augment=True, seed=None, precision="float32"
):
    """The uncompiled network ``architecture`` (a name in :data:`ARCHITECTURES` or a
    builder) for images of ``input_shape`` ``(h, w, 1)`` and ``n_classes`` outputs.

    A callable gets ``augment=`` and ``seed=`` only if it accepts them. The
    layers are built under the Keras dtype policy ``precision`` (e.g.
    ``"mixed_bfloat16"``; ``"auto"`` as in ``FERClassifier``), and the global
    policy is restored afterwards. Raises ``ValueError`` when the network does
    not have one output per class.
    """
    import inspect

    if not isinstance(augment, (bool, np.bool_)) and augment not in AUGMENTATIONS:
        raise ValueError(
            f"augment={augment!r}; expected True, False or one of {list(AUGMENTATIONS)}"
        )
    builder = ARCHITECTURES[architecture] if isinstance(architecture, str) else architecture
    accepted = inspect.signature(builder).parameters
    extra = {k: v for k, v in (("augment", augment), ("seed", seed)) if k in accepted}
    with dtype_policy(resolve_precision(precision)):
        model = builder(tuple(input_shape), n_classes, **extra)
    if model.output_shape[-1] != n_classes:
        raise ValueError(
            f"architecture returned a model with {model.output_shape[-1]} outputs; "
            f"expected {n_classes} (one per class)"
        )
    return model
