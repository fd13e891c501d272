"""fercls.photos: many photos in one prediction call, and faces drawn on a photo."""

import numpy as np
import pytest
from skimage import data as skdata

from fercls import load_pretrained
from fercls.photos import annotate, detect_emotions, detect_emotions_batch


class CountingModel:
    """The bundled model, counting its predict_proba calls and rows."""

    def __init__(self, model):
        self.model, self.classes_, self.calls = model, model.classes_, []

    def predict_proba(self, X):
        self.calls.append(len(X))
        return self.model.predict_proba(X)


@pytest.fixture(scope="module")
def model():
    return load_pretrained()


@pytest.fixture(scope="module")
def photos():
    astronaut = skdata.astronaut()  # one face, RGB
    return [astronaut, np.zeros((200, 200), np.uint8), np.full((48, 48), 90, np.uint8)]


def test_batch_equals_one_call_per_photo_and_predicts_once(model, photos):
    counting = CountingModel(model)
    batch = detect_emotions_batch(photos, counting)
    assert counting.calls == [2]  # the astronaut's face and the 48×48 crop, in one call
    one_by_one = [detect_emotions(photo, model) for photo in photos]
    assert [len(faces) for faces in batch] == [1, 0, 1]
    for got, expected in zip(batch, one_by_one, strict=True):
        assert [f["box"] for f in got] == [f["box"] for f in expected]
        assert [f["emotion"] for f in got] == [f["emotion"] for f in expected]
        for a, b in zip(got, expected, strict=True):
            assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)


def test_batch_without_faces_never_predicts(model):
    counting = CountingModel(model)
    assert detect_emotions_batch([np.zeros((100, 100), np.uint8)] * 2, counting) == [[], []]
    assert detect_emotions_batch([], counting) == []
    assert counting.calls == []


def test_annotate_draws_inside_the_box_and_leaves_the_input_alone():
    gray = np.full((96, 96), 60, np.uint8)
    face = {"box": [30, 40, 40, 40], "emotion": "happy", "probabilities": {"happy": 0.87}}
    before = gray.copy()
    drawn = annotate(gray, [face])
    np.testing.assert_array_equal(gray, before)
    assert drawn.shape == (96, 96, 3) and drawn.dtype == np.uint8
    changed = np.any(drawn != 60, axis=2)
    x, y, w, h = face["box"]
    assert changed[y : y + h + 1, x : x + w + 1].any()
    # Nothing is drawn left of the box or below it: the label sits above the box.
    assert not changed[:, : x - 2].any() and not changed[y + h + 2 :, :].any()


def test_annotate_without_faces_is_the_photo_as_rgb():
    rgb = skdata.astronaut()[:64, :64]
    np.testing.assert_array_equal(annotate(rgb, []), rgb)


def test_threads_asking_at_once_load_the_bundled_model_once(monkeypatch):
    import threading
    import time

    from fercls import photos

    loads = []

    def slow_load():
        loads.append(1)
        time.sleep(0.2)  # long enough for every thread to arrive while it loads
        return "model"

    monkeypatch.setattr("fercls.pretrained.load_pretrained", slow_load)
    photos._load_bundled_model.cache_clear()
    try:
        threads = [threading.Thread(target=photos._bundled_model) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(loads) == 1
    finally:
        photos._load_bundled_model.cache_clear()
