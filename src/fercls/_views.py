"""Test-time augmentation: the views of each image whose probabilities are averaged."""

from __future__ import annotations

import numpy as np

# The "zoom_flip" test-time view keeps the central 44 of 48 pixels (11/12 of each
# side) and enlarges it back. On four CPU-trained vgg_small models (the bundled
# one, two earlier stages of it, a 30-minute run), this view with its mirror beat
# "flip" by 0.8 to 1.8 points on PublicTest, the selection split
# (benchmarks/tta_accuracy.py). Crops shifted by 2-3 pixels, tried on the bundled
# model's previous weights, did not help.
ZOOM_CROP = 11 / 12
TEST_TIME_AUGMENTATIONS = ("flip", "zoom_flip")


def augmented_views(images, augmentation):
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


def zoom_in(images, fraction=ZOOM_CROP):
    """The central ``fraction`` of each (n, h, w, c) image, enlarged back to
    (h, w) by bilinear interpolation; float32."""
    import tensorflow as tf

    height, width = images.shape[1:3]
    crop_h, crop_w = round(height * fraction), round(width * fraction)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = images[:, top : top + crop_h, left : left + crop_w]
    return tf.image.resize(crop, (height, width), method="bilinear").numpy()
