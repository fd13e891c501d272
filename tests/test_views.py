import numpy as np

from fercls._views import augmented_views, corner_shifts, zoom_in


def test_zoom_in_enlarges_the_central_eleven_twelfths():
    # A ramp along the width: bilinear enlargement of columns 2..45 of 48 maps
    # output column j (pixel centre j + 0.5) to input position 2 + (j + 0.5) * 44 / 48 - 0.5.
    ramp = np.tile(np.arange(48, dtype=np.float32), (2, 48, 1))[..., None]
    zoomed = zoom_in(ramp)
    assert zoomed.shape == ramp.shape and zoomed.dtype == np.float32
    expected = 2 + (np.arange(48) + 0.5) * 44 / 48 - 0.5
    np.testing.assert_allclose(zoomed[0, 10, 1:-1, 0], expected[1:-1], atol=1e-4)
    np.testing.assert_allclose(zoomed[1], zoomed[0])  # every row and image alike


def test_flip_views_are_the_image_and_its_mirror():
    images = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4, 1)
    plain, mirrored = augmented_views(images, "flip")
    np.testing.assert_array_equal(plain, images)
    np.testing.assert_array_equal(mirrored, images[:, :, ::-1])
    assert augmented_views(images, None) == [images]


def test_ten_crop_views_show_the_centre_and_corner_crops_under_the_central_crop():
    images = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    views = augmented_views(images, "ten_crop")
    assert len(views) == 10
    # A crop-trained network keeps the central 44 of 48 pixels (offset 2) of each view.
    centre = [view[:, 2:46, 2:46] for view in views]
    expected_windows = [(2, 2), (0, 0), (0, 4), (4, 0), (4, 4)]
    for k, (top, left) in enumerate(expected_windows):
        window = images[:, top : top + 44, left : left + 44]
        np.testing.assert_array_equal(centre[2 * k], window)
        np.testing.assert_array_equal(views[2 * k + 1], views[2 * k][:, :, ::-1])


def test_corner_shifts_fill_with_edge_pixels_and_keep_the_dtype():
    images = np.arange(8 * 8, dtype=np.uint8).reshape(1, 8, 8, 1)
    shifted = corner_shifts(images, window=0.75)[1]  # margin 1: content moves down-right
    assert shifted.dtype == np.uint8 and shifted.shape == images.shape
    np.testing.assert_array_equal(shifted[0, 1:, 1:], images[0, :-1, :-1])
    np.testing.assert_array_equal(shifted[0, 0, 1:], images[0, 0, :-1])  # top edge repeated
