import numpy as np
import pytest
from PIL import Image

from fercls import FaceCropper
from fercls.faces import read_image

skimage_data = pytest.importorskip(
    "skimage.data", reason="scikit-image (dev extra) is not installed"
)


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()  # a real photo with one smiling face


@pytest.fixture(scope="module")
def two_faces(astronaut):
    return np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)


def test_detects_the_one_face_in_a_real_photo(astronaut):
    boxes = FaceCropper().detect(astronaut)
    assert boxes.shape == (1, 4)
    x, y, w, h = boxes[0]
    assert 150 < x < 210 and 40 < y < 100 and 80 < w < 120  # the face, not the suit or flag


def test_finds_every_face_largest_first_and_none_in_a_blank_image(two_faces):
    cropper = FaceCropper()
    boxes = cropper.detect(two_faces)
    assert len(boxes) == 2
    assert boxes[0, 2] * boxes[0, 3] >= boxes[1, 2] * boxes[1, 3]
    assert cropper.detect(np.full((300, 300, 3), 128, np.uint8)).shape == (0, 4)


def test_crops_are_flat_48x48_uint8_rows_like_fer2013(astronaut, tmp_path):
    Image.fromarray(astronaut).save(tmp_path / "astronaut.jpg")
    out = FaceCropper().fit_transform([astronaut, tmp_path / "astronaut.jpg"])
    assert out.shape == (2, 2304) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - out[1]).mean() < 8  # JPEG re-encoding only


def test_crops_of_one_image_equal_its_crops_one_by_one(two_faces):
    cropper = FaceCropper()
    faces = cropper.locate(two_faces)
    together = cropper.crops(two_faces, faces)
    assert together.shape == (2, 48, 48) and together.dtype == np.uint8
    np.testing.assert_array_equal(together, [cropper.crop(two_faces, face) for face in faces])
    assert cropper.crops(two_faces, faces[:0]).shape == (0, 48, 48)


def test_margin_widens_the_crop(astronaut):
    box = FaceCropper().detect(astronaut)[0]
    tight = FaceCropper().crop(astronaut, box)
    wide = FaceCropper(margin=0.5).crop(astronaut, box)
    assert tight.shape == wide.shape == (48, 48)
    assert not np.array_equal(tight, wide)


def test_faces_at_the_border_are_padded_not_cut():
    image = np.zeros((100, 100), np.uint8)
    crop = FaceCropper(margin=0.25).crop(image, (80, 80, 40, 40))
    assert crop.shape == (48, 48)


def test_no_face_policy():
    blank = np.full((120, 120), 90, np.uint8)
    astronaut = skimage_data.astronaut()
    with pytest.raises(ValueError, match="image 1: no face found; pass on_missing='whole'"):
        FaceCropper().transform([astronaut, blank])
    whole = FaceCropper(on_missing="whole").transform([blank])
    assert whole.shape == (1, 2304) and np.all(whole == 90)


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        (np.zeros((4, 4, 2)), ValueError, r"expected an image of shape"),
        ("missing.png", FileNotFoundError, "no such image"),
        (".", IsADirectoryError, r"^\.: is a folder; expected an image file"),
        (b"\x89PNG not really", ValueError, r"^image bytes: not a readable image \(no image"),
        (b"", ValueError, r"^image bytes: empty; expected the bytes of an image file"),
    ],
)
def test_bad_images_are_rejected(source, error, message):
    with pytest.raises(error, match=message):
        read_image(source)


def test_unreadable_file_is_rejected(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image") as raised:
        read_image(tmp_path / "x.png")
    assert "object at 0x" not in str(raised.value)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png: empty file; expected an image"):
        read_image(tmp_path / "empty.png")


def test_float_and_rgba_arrays_are_accepted(astronaut):
    rgba = np.concatenate([astronaut, np.full(astronaut.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert read_image(rgba).shape == astronaut.shape
    assert read_image(astronaut / 255.0).dtype == np.uint8


def test_pipeline_with_the_pretrained_model_reads_the_astronaut_as_happy(astronaut):
    from sklearn.pipeline import make_pipeline

    from fercls import load_pretrained

    model = make_pipeline(
        FaceCropper(), *[step for _, step in load_pretrained(with_parser=False).steps]
    )
    assert model.predict([astronaut]).tolist() == ["happy"]


def test_encoded_image_bytes_read_like_the_file(tmp_path):
    import io

    from PIL import Image

    from fercls.faces import read_image

    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    (tmp_path / "x.png").write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(read_image(buffer.getvalue()), read_image(tmp_path / "x.png"))
    np.testing.assert_array_equal(read_image(buffer.getvalue()), rgb)


def test_oversized_image_bytes_are_refused_before_decoding(monkeypatch):
    import io

    from PIL import Image

    import fercls.faces as faces

    buffer = io.BytesIO()
    Image.new("L", (100, 100)).save(buffer, format="PNG")
    monkeypatch.setattr(faces, "MAX_IMAGE_PIXELS", 5000)
    with pytest.raises(ValueError, match=r"stdin: 100x100 is too large \(limit 5,000 pixels\)"):
        faces.read_image(buffer.getvalue(), name="stdin")


def test_read_image_sees_a_file_change(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((8, 8), 10, np.uint8)).save(path)
    assert (read_image(path) == 10).all()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(path)
    assert (read_image(path) == 200).all()


def test_exif_orientation_turns_a_phone_photo_upright(astronaut, tmp_path):
    # Phones store the sensor's pixels and say "rotate 90 degrees clockwise to view"
    # (Orientation 6): the stored pixels are the upright photo turned anticlockwise.
    sideways = Image.fromarray(np.rot90(astronaut, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "phone.jpg")
    assert upright.shape == astronaut.shape
    assert np.abs(upright.astype(int) - astronaut).mean() < 4  # JPEG's loss only
    assert FaceCropper().detect(upright).shape == (1, 4)


@pytest.mark.parametrize("size", [(0, 0), (-5, -5), (48.5, 48), (True, True), (48,), (5000, 48)])
def test_a_bad_crop_size_is_a_value_error_naming_the_parameter(size):
    with pytest.raises(ValueError, match="'size' parameter of FaceCropper must be two ints"):
        FaceCropper(size=size).fit([])


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 40), (40, 0, 3)])
def test_an_empty_image_array_is_a_value_error(shape):
    from fercls import detect_emotions

    with pytest.raises(ValueError, match="at least 1x1 pixels"):
        read_image(np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match="at least 1x1 pixels"):
        detect_emotions(np.zeros(shape, np.uint8), faces="whole")


def _turn(image, degrees):
    """``image`` rotated anticlockwise about its centre, edges replicated."""
    import cv2

    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def test_locate_gives_landmarks_for_mtcnn_and_nan_for_haar(astronaut):
    (face,) = FaceCropper().locate(astronaut)
    x, y, w, h = face[:4]
    eyes, mouth = face[4:8].reshape(2, 2), face[10:14].reshape(2, 2)
    assert np.isfinite(face).all() and eyes[0, 0] < eyes[1, 0]  # image-left eye first
    assert (x < eyes[:, 0]).all() and (eyes[:, 0] < x + w).all()
    assert (eyes[:, 1] < mouth[:, 1]).all() and (mouth[:, 1] < y + h).all()
    haar = FaceCropper(detector="haar").locate(astronaut)
    assert haar.shape == (1, 14) and np.isnan(haar[:, 4:]).all()


@pytest.mark.parametrize("degrees", [20, 35])
def test_mtcnn_finds_a_tilted_head_that_haar_loses_at_35_degrees(astronaut, degrees):
    tilted = _turn(astronaut, degrees)
    assert len(FaceCropper().locate(tilted)) == 1
    if degrees == 35:
        assert len(FaceCropper(detector="haar").locate(tilted)) == 0


def test_aligned_crop_of_a_tilted_face_matches_the_upright_one(astronaut):
    cropper = FaceCropper()
    upright = cropper.crop(astronaut, cropper.locate(astronaut)[0]).astype(float)
    tilted = _turn(astronaut, 30)
    face = cropper.locate(tilted)[0]
    aligned = cropper.crop(tilted, face).astype(float)
    boxed = FaceCropper(align=False).crop(tilted, face).astype(float)

    def similarity(a):
        return np.corrcoef(a.ravel(), upright.ravel())[0, 1]

    # The level crop looks like the upright face; the tilted box crop does not.
    assert similarity(aligned) > 0.9 > similarity(boxed) + 0.1


def test_a_large_smallest_face_still_finds_the_face(astronaut):
    # mtcnn 1.0.0 returns nothing when its min_face_size exceeds ~20 pixels;
    # FaceCropper shrinks the image instead (fercls._mtcnn).
    # MTCNN's box of the astronaut's face is about 84 px wide: 0.16 of the photo.
    found = FaceCropper(min_face=0.14).locate(astronaut)
    assert len(found) == 1 and found[0, 2] >= 0.14 * 512
    assert len(FaceCropper(min_face=0.25).locate(astronaut)) == 0


def test_mtcnn_weights_come_from_the_package_not_the_working_directory(
    astronaut, tmp_path, monkeypatch
):
    # mtcnn 1.0.0 unpickles pnet.lz4 & co from the current directory first: a
    # planted file there must never be read (a pickle runs code).
    import joblib

    from fercls import _mtcnn

    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return (marker.write_text, ("pickle code ran",))

    for name in ("pnet.lz4", "rnet.lz4", "onet.lz4"):
        joblib.dump(Planted(), tmp_path / name)
    monkeypatch.chdir(tmp_path)
    _mtcnn._detector.cache_clear()
    try:
        assert len(FaceCropper().locate(astronaut)) == 1
    finally:
        _mtcnn._detector.cache_clear()
    assert not marker.exists()


def test_an_unknown_detector_is_refused_naming_the_choices():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'detector' parameter.*haar"):
        FaceCropper(detector="yunet").fit()


def test_the_tilt_search_finds_a_head_upright_mtcnn_misses(astronaut):
    tilted = _turn(astronaut, 60)
    assert len(FaceCropper(tilts=()).locate(tilted)) == 0
    (face,) = FaceCropper().locate(tilted)  # searched turned by -40 and 40 degrees too
    eyes = face[6:8] - face[4:6]
    assert np.degrees(np.arctan2(eyes[1], eyes[0])) == pytest.approx(-60, abs=10)


@pytest.mark.parametrize("tilts", [(100,), ("40",), (True,), (np.nan,)])
def test_bad_tilts_are_a_value_error_naming_the_parameter(tilts):
    with pytest.raises(ValueError, match="'tilts' parameter of FaceCropper must be angles"):
        FaceCropper(tilts=tilts).fit()


# Bad input: images that are not 8-bit
def test_float_tiffs_are_scaled_by_their_range(tmp_path):
    from fercls.faces import read_image

    path = tmp_path / "half.tif"
    Image.fromarray(np.full((48, 48), 0.5, np.float32), mode="F").save(path)
    assert read_image(path).max() == 128
