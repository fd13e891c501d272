import json

import numpy as np
import pytest
from helpers import make_faces
from sklearn.pipeline import make_pipeline

from fercls import FERClassifier, PixelNormalizer, PixelStringParser
from fercls.evaluation import (
    evaluate,
    expected_calibration_error,
    final_classifier,
    make_report,
    plot_misclassified,
)
from fercls.labels import EMOTIONS


@pytest.fixture(scope="module")
def model_and_data():
    images, labels = make_faces(n_per_class=20, size=12, n_classes=3)
    X = images.reshape(len(images), -1)
    y = np.asarray(EMOTIONS)[[3, 4, 6]][labels]  # happy, sad, neutral
    pipe = make_pipeline(
        PixelStringParser(n_pixels=144),
        PixelNormalizer(),
        FERClassifier(
            "simple",
            max_iter=6,
            augment=False,
            batch_size=16,
            random_state=0,
            early_stopping=True,
            validation_fraction=0.25,
        ),
    ).fit(X, y)
    return pipe, X, y


def test_metrics_agree_with_predictions(model_and_data):
    pipe, X, y = model_and_data
    metrics = evaluate(pipe, X, y)
    assert metrics["n"] == len(y)
    assert metrics["accuracy"] == pytest.approx(np.mean(pipe.predict(X) == y))
    assert metrics["labels"] == ["happy", "neutral", "sad"]  # classes_ order, as predict_proba
    counts = np.asarray(metrics["confusion_matrix"])
    assert counts.sum() == len(y) and np.trace(counts) == round(metrics["accuracy"] * len(y))
    np.testing.assert_allclose(
        np.asarray(metrics["confusion_matrix_normalized"]).sum(1), 1, atol=1e-3
    )
    assert sum(m["support"] for m in metrics["per_class"].values()) == len(y)
    assert 0 <= metrics["ece"] <= 1


def test_expected_calibration_error_of_an_overconfident_model():
    # Always 90 % confident, right half of the time: ECE = 0.4.
    proba = np.tile([[0.9, 0.1]], (10, 1))
    y = np.array(["a"] * 5 + ["b"] * 5)
    assert expected_calibration_error(y, proba, ["a", "b"]) == pytest.approx(0.4)


def test_report_writes_every_file_and_an_index(model_and_data, tmp_path):
    pipe, X, y = model_and_data
    metrics = make_report(pipe, X, y, tmp_path / "report")
    files = {p.name for p in (tmp_path / "report").iterdir()}
    assert files == {
        "metrics.json",
        "classification_report.txt",
        "confusion_matrix.png",
        "per_class_f1.png",
        "misclassified.png",
        "learning_curves.png",
        "index.html",
    }
    assert json.loads((tmp_path / "report" / "metrics.json").read_text()) == metrics
    html = (tmp_path / "report" / "index.html").read_text()
    assert all(f'src="{name}"' in html for name in files if name.endswith(".png"))
    for png in (tmp_path / "report").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "precision" in (tmp_path / "report" / "classification_report.txt").read_text()


def test_report_without_history_or_pixel_images_skips_those_plots(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((30, 5)).astype(np.float32)
    y = np.repeat(["a", "b"], 15)
    clf = FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, y)
    clf.history_ = {}
    make_report(clf, X, y, tmp_path)
    assert not (tmp_path / "learning_curves.png").exists()


def test_misclassified_grid_shows_the_most_confident_mistakes_first():
    images = np.zeros((4, 8, 8), np.uint8)
    fig = plot_misclassified(
        images,
        np.array(["a", "a", "b", "b"]),
        np.array(["b", "a", "a", "b"]),
        np.array([0.6, 0.99, 0.9, 0.5]),
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["b → a\n(90%)", "a → b\n(60%)"]


def test_final_classifier_finds_the_network_in_a_pipeline(model_and_data):
    assert isinstance(final_classifier(model_and_data[0]), FERClassifier)
    assert final_classifier(PixelNormalizer()) is None
