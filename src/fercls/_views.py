"""Test-time augmentation: the views of each image whose probabilities are averaged."""

from __future__ import annotations

import numpy as np

from .architectures import CROP_WINDOW, crop_size

# The "zoom_flip" test-time view keeps the central 44 of 48 pixels (11/12 of each
# side) and enlarges it back. On four CPU-trained vgg_small models (the bundled
# one, two earlier stages of it, a 30-minute run), this view with its mirror beat
# "flip" by 0.8 to 1.8 points on PublicTest, the selection split
# (training/tta_accuracy.py). Crops shifted by 2-3 pixels, tried on the bundled
# model's previous weights, did not help.
ZOOM_CROP = CROP_WINDOW  # the window crop-trained networks see: one constant for both
TEST_TIME_AUGMENTATIONS = ("flip", "zoom_flip", "ten_crop")


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
    if augmentation == "ten_crop":
        views = corner_shifts(images)
    elif augmentation == "zoom_flip":
        views = [zoom_in(images)]
    else:
        views = [images]
    return [mirrored for view in views for mirrored in (view, mirror(view))]


def mirror(images):
    """Each (n, h, w, c) image flipped left to right."""
    return np.ascontiguousarray(images[:, :, ::-1])


def corner_shifts(images, window=ZOOM_CROP):
    """The images, and the images shifted so that their centre ``window`` crop
    shows each corner crop instead: the five crops of "ten crop" testing, for a
    network that crops its input's centre (``augment="crop"``).

    A shift moves the content by the crop margin, filling with the edge pixels;
    the network's central crop then never sees the filled border.
    """
    height, width = images.shape[1:3]
    crop_h, crop_w = crop_size(height, width, window)
    dy, dx = (height - crop_h) // 2, (width - crop_w) // 2
    rows, cols = np.arange(height), np.arange(width)
    views = [images]
    for sy, sx in ((dy, dx), (dy, -dx), (-dy, dx), (-dy, -dx)):
        # Output pixel (r, c) shows input pixel (r - sy, c - sx), clipped at the edge.
        shifted = images[:, np.clip(rows - sy, 0, height - 1)]
        views.append(np.ascontiguousarray(shifted[:, :, np.clip(cols - sx, 0, width - 1)]))
    return views


def zoom_in(images, fraction=ZOOM_CROP):
    """The central ``fraction`` of each (n, h, w, c) image, enlarged back to
    (h, w) by bilinear interpolation; float32."""
    import tensorflow as tf

    height, width = images.shape[1:3]
    crop_h, crop_w = round(height * fraction), round(width * fraction)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    crop = images[:, top : top + crop_h, left : left + crop_w]
    return tf.image.resize(crop, (height, width), method="bilinear").numpy()
