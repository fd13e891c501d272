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
        (b"\x89PNG not really", ValueError, r"^image bytes: not a readable image"),
    ],
)
def test_bad_images_are_rejected(source, error, message):
    with pytest.raises(error, match=message):
        read_image(source)


def test_unreadable_file_is_rejected(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image(tmp_path / "x.png")


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
