import numpy as np
import pytest

from fercls._follow import follow_faces

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip(
    "skimage.data", reason="scikit-image (dev extra) is not installed"
)


@pytest.fixture(scope="module")
def scene():
    gray = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2GRAY)
    frame = np.full((480, 640), 60, np.uint8)
    frame[100:340, 200:420] = gray[20:260, 120:340]
    return frame


def test_a_moved_face_is_followed_with_its_landmarks(scene):
    face = np.array([[250.0, 120, 110, 130, *np.arange(10.0)]])
    moved = np.roll(scene, (-4, 11), axis=(0, 1))  # 11 px right, 4 px up
    (followed,) = follow_faces(scene, moved, face)
    assert followed[:2] == pytest.approx(face[0, :2] + [11, -4], abs=1.5)
    assert followed[2:4] == pytest.approx(face[0, 2:4])
    assert followed[4::2] - face[0, 4::2] == pytest.approx(np.full(5, followed[0] - face[0, 0]))


def test_a_face_that_vanished_is_dropped(scene):
    face = np.array([[250.0, 120, 110, 130, *np.full(10, np.nan)]])
    assert follow_faces(scene, np.full_like(scene, 60), face).shape == (0, 14)
    noise = np.random.default_rng(0).integers(0, 256, scene.shape, dtype=np.uint8)
    assert follow_faces(scene, noise, face).shape == (0, 14)


def test_boxes_off_the_picture_are_dropped_not_an_error(scene):
    faces = np.array([[700.0, 500, 40, 40], [-60, -60, 50, 50]])
    assert follow_faces(scene, scene, faces).shape == (0, 4)
