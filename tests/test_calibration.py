import numpy as np
import pytest
from helpers import make_faces
from sklearn.metrics import log_loss

import fercls
from fercls import FERClassifier, calibrate_temperature
from fercls._calibration import fit_temperature


@pytest.fixture(scope="module")
def split():
    images, labels = make_faces(n_per_class=30, size=12, n_classes=3)
    X = images.reshape(len(images), -1).astype(np.float32) / 255
    y = np.asarray(["happy", "sad", "neutral"])[labels]
    return (X[:60], y[:60]), (X[60:], y[60:])


def test_temperature_keeps_predictions_and_lowers_held_out_nll(split, tmp_path):
    (X_train, y_train), (X_val, y_val) = split
    clf = FERClassifier("simple", max_iter=15, augment=False, random_state=0).fit(X_train, y_train)
    before_labels, before = clf.predict(X_val), clf.predict_proba(X_val)
    temperature = calibrate_temperature(clf, X_val, y_val)
    after = clf.predict_proba(X_val)
    assert temperature != pytest.approx(1.0)
    assert (clf.predict(X_val) == before_labels).all()
    assert log_loss(y_val, after, labels=clf.classes_) <= log_loss(
        y_val, before, labels=clf.classes_
    )
    # Baked into the weights: a saved and reloaded model gives the calibrated figures.
    path = fercls.save(clf, tmp_path / "calibrated.fercls")
    np.testing.assert_allclose(fercls.load(path).predict_proba(X_val), after, rtol=1e-6)


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 4)) * 3
    true = np.exp(logits / 2.0) / np.exp(logits / 2.0).sum(1, keepdims=True)
    y = np.asarray([rng.choice(4, p=p) for p in true])
    over_confident = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert fit_temperature(over_confident, y, [0, 1, 2, 3]) == pytest.approx(2.0, rel=0.1)


def test_bad_calibration_input_is_refused(split):
    (X, y), _ = split
    with pytest.raises(ValueError, match=r"labels \['x'\]"):
        fit_temperature(np.full((2, 2), 0.5), ["a", "x"], ["a", "b"])
    with pytest.raises(TypeError, match="no FERClassifier"):
        from sklearn.dummy import DummyClassifier

        calibrate_temperature(DummyClassifier().fit(X, y), X, y)


@pytest.mark.parametrize(
    "y, message",
    [
        (None, "needs the held-out labels y, got None"),
        ("2d", "one label per sample"),
        ("one class", "at least two classes"),
    ],
)
def test_calibration_refuses_labels_that_cannot_fit_a_temperature(y, message):
    import fercls

    X = np.random.default_rng(0).random((20, 16), dtype=np.float32)
    labels = np.repeat(["a", "b"], 10)
    clf = fercls.FERClassifier("simple", max_iter=1, random_state=0).fit(X, labels)
    y = {"2d": labels[:, None], "one class": np.repeat("a", 20)}.get(y, y)
    with pytest.raises(ValueError, match=message):
        fercls.calibrate_temperature(clf, X, y)
