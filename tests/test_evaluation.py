import json

import numpy as np
import pytest
from helpers import make_faces
from sklearn.pipeline import make_pipeline

from fercls import FERClassifier, PixelNormalizer, PixelStringParser
from fercls.evaluation import (
    collapse_warning,
    evaluate,
    expected_calibration_error,
    final_classifier,
    make_report,
    plot_learning_curves,
    plot_misclassified,
    training_stages,
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
    for name in (n for n in files if n.endswith(".png")):
        assert f'<a href="{name}" title="open at full size"><img src="{name}"' in html
        assert f'<img src="{name}" alt="{name}"' not in html  # a sentence, not a file name
    assert "<dt>ECE</dt><dd>expected calibration error" in html and "<dt>macro-F1</dt>" in html
    assert "the one with the best validation accuracy" in html
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


def metrics_of(true, predicted):
    labels = sorted(set(true) | set(predicted))
    counts = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(true, predicted, strict=True):
        counts[labels.index(t), labels.index(p)] += 1
    return {"labels": labels, "confusion_matrix": counts.tolist()}


def test_a_model_answering_one_class_for_everything_is_named():
    true = ["happy"] * 25 + ["sad"] * 40 + ["angry"] * 35
    warning = collapse_warning(metrics_of(true, ["happy"] * 100))
    assert warning.startswith("the model predicts happy for 100% of the images, of which 25%")
    nearly = ["happy"] * 91 + ["sad"] * 9
    assert collapse_warning(metrics_of(true, nearly)).startswith("the model predicts happy for 91%")


def test_no_collapse_warning_for_a_spread_or_a_faithful_answer():
    true = ["happy"] * 25 + ["sad"] * 40 + ["angry"] * 35
    assert collapse_warning(metrics_of(true, ["happy"] * 89 + ["sad"] * 11)) is None
    # The data are themselves 95 % one class: answering it is not a collapse.
    assert collapse_warning(metrics_of(["a"] * 95 + ["b"] * 5, ["a"] * 100)) is None


def test_collapsed_report_shows_the_warning(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 5)).astype(np.float32), np.repeat(["a", "b"], 15)
    clf = FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, y)
    proba = np.tile([[0.8, 0.2]], (30, 1))  # "a" for everything
    make_report(clf, X, y, tmp_path, proba=proba)
    html = (tmp_path / "index.html").read_text()
    assert '<p class="warning"><strong>Warning:</strong> the model predicts a for 100%' in html


def test_stages_are_found_where_the_learning_rate_restarts():
    rates = [1e-3, 5e-4, 1e-4, 3e-4, 1e-4, 1e-5, 3e-4, 2e-4]
    assert training_stages({"learning_rate": rates}) == [4, 7]
    assert training_stages({"learning_rate": [1e-3, 1e-3, 1e-3]}) == []
    assert training_stages({}) == []


def test_learning_curves_mark_the_kept_epoch_on_the_monitored_curve_with_integer_ticks():
    history = {
        "loss": [2.0, 1.9, 1.8],
        "val_loss": [1.9, 1.85, 1.8],  # still falling: not what picks the epoch
        "accuracy": [0.2, 0.24, 0.25],
        "val_accuracy": [0.25, 0.25, 0.25],
        "learning_rate": [1e-3, 5e-4, 1e-4],
    }
    fig = plot_learning_curves(history, best_epoch=1)
    loss_ax, accuracy_ax = fig.axes
    kept = [line for line in accuracy_ax.lines if line.get_label().startswith("kept")]
    assert [line.get_label() for line in kept] == ["kept: epoch 1 (best validation accuracy)"]
    assert list(kept[0].get_xdata()) == [1] and list(kept[0].get_ydata()) == [0.25]
    assert not [line for line in loss_ax.lines if line.get_label().startswith("kept")]
    fig.canvas.draw()
    ticks = [t for t in accuracy_ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
