import numpy as np

from fercls._views import augmented_views, zoom_in


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
