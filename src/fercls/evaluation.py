"""Evaluation: metrics, calibration, plots and a report folder in one call.

Plots are drawn with matplotlib's object API (``Figure``), not pyplot, so
reports work headless, from threads, and leave no global figure state.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from ._io import OutputFolder, write_atomic
from .classifier import final_classifier
from .preprocessing import PixelStringParser

__all__ = [
    "evaluate",
    "make_report",
    "expected_calibration_error",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_per_class_f1",
    "plot_misclassified",
]


def expected_calibration_error(y_true, proba, classes, n_bins=15) -> float:
    """Expected calibration error of the top-class probability.

    Predictions are binned by confidence into ``n_bins`` equal-width bins; the
    ECE is the sample-weighted mean gap between each bin's accuracy and its mean
    confidence (0 is perfectly calibrated).

    Examples
    --------
    >>> expected_calibration_error(["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]]), ["a", "b"])
    0.0
    """
    proba = np.asarray(proba, dtype=float)
    confidence = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == np.asarray(y_true)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    gap = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        gap += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(gap)


def evaluate(estimator, X, y, *, proba=None) -> dict:
    """Metrics of a fitted classifier on (X, y), as a JSON-ready dict.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``weighted_f1``, ``ece``,
        ``per_class`` (precision, recall, F1 and support per label),
        ``labels``, ``confusion_matrix`` (counts, rows = true labels) and
        ``confusion_matrix_normalized`` (each row divided by its count).
    """
    y = np.asarray(y)
    if proba is None:
        proba = estimator.predict_proba(X)
    classes = np.asarray(estimator.classes_)
    predicted = classes[proba.argmax(axis=1)]
    labels = _label_order(classes, y)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=labels, zero_division=0
    )
    counts = confusion_matrix(y, predicted, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(
            f1_score(y, predicted, labels=labels, average="weighted", zero_division=0)
        ),
        "ece": expected_calibration_error(y, proba, classes),
        "labels": [_plain(v) for v in labels],
        "per_class": {
            str(_plain(label)): {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_normalized": np.round(normalized, 4).tolist(),
    }


def _label_order(classes, y):
    """The model's classes and y's labels, sorted: the order of ``classes_`` and
    ``predict_proba``, so every fercls output lists classes in one order."""
    return list(np.unique(np.concatenate([classes, np.unique(y)])))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


#: A model that gives one class to this share of the images (or more) has collapsed...
COLLAPSED_SHARE = 0.9


def collapse_warning(metrics: dict) -> str | None:
    """A sentence when the model answers one class for (nearly) every image
    (:data:`COLLAPSED_SHARE`) although the data are not (nearly) all that class:
    the sign of a model that has not learned, whatever its accuracy. None otherwise."""
    counts = np.asarray(metrics["confusion_matrix"])
    n = counts.sum()
    if n == 0:
        return None
    predicted, true = counts.sum(axis=0) / n, counts.sum(axis=1) / n
    top = int(predicted.argmax())
    if predicted[top] < COLLAPSED_SHARE or true[top] >= COLLAPSED_SHARE:
        return None
    return (
        f"the model predicts {metrics['labels'][top]!s} for {predicted[top]:.0%} of the "
        f"images, of which {true[top]:.0%} are {metrics['labels'][top]!s}: it has not learned "
        "to tell the classes apart (train longer, on more images, or check the labels)"
    )


# ------------------------------------------------------------------- plots
def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def plot_confusion_matrix(metrics: dict, *, normalized=True):
    """Confusion matrix with class names on both axes and values in the cells.

    Colours show the row-normalised share (recall per true class); each cell
    prints the share and, with ``normalized=True``, the count beneath it.
    """
    counts = np.asarray(metrics["confusion_matrix"])
    shares = np.asarray(metrics["confusion_matrix_normalized"])
    labels = [str(v) for v in metrics["labels"]]
    fig = _figure(1.1 * len(labels) + 2.5, 1.0 * len(labels) + 1.8)
    ax = fig.add_subplot()
    image = ax.imshow(shares if normalized else counts, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of true class" if normalized else "count")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (n={metrics['n']}, accuracy {metrics['accuracy']:.1%})")
    threshold = (shares if normalized else counts).max() / 2
    for i in range(len(labels)):
        for j in range(len(labels)):
            value = shares[i, j] if normalized else counts[i, j]
            text = f"{shares[i, j]:.0%}\n{counts[i, j]}" if normalized else f"{counts[i, j]}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=9,
                color="white" if value > threshold else "black",
            )
    return fig


def training_stages(history: dict) -> list[int]:
    """The epochs (1-based) where a new training stage began: a warm restart,
    seen as the learning rate jumping up by more than half between two epochs."""
    rates = np.asarray(history.get("learning_rate", []), dtype=float)
    if len(rates) < 2:
        return []
    return [int(i) + 2 for i in np.flatnonzero(rates[1:] > 1.5 * rates[:-1])]


def _monitored(history: dict) -> tuple[str, str]:
    """The history key the kept epoch was chosen on, and its name for people
    (as ``fercls._training.TrackBest`` chooses it)."""
    if "val_accuracy" in history:
        return "val_accuracy", "validation accuracy"
    return "loss", "training loss"


def plot_learning_curves(history: dict, best_epoch=None):
    """Loss and accuracy per epoch, training vs validation.

    The kept epoch is marked where it was chosen: on the validation accuracy
    (the training loss without validation data). Warm restarts of the learning
    rate (:func:`training_stages`) are dotted lines, so the rise in loss after
    each reads as the start of a stage, not a broken run.
    """
    from matplotlib.ticker import MaxNLocator

    fig = _figure(10, 4)
    axes = fig.subplots(1, 2)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    monitored, what = _monitored(history)
    restarts = training_stages(history)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        if metric in history:
            ax.plot(epochs, history[metric], label="training", color="tab:blue")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label="validation", color="tab:orange")
        for k, epoch in enumerate(restarts):
            label = f"new stage ({len(restarts)} restarts)" if k == 0 else None
            ax.axvline(epoch - 0.5, color="gray", linestyle=":", linewidth=1, label=label)
        if best_epoch and monitored.endswith(metric):
            ax.plot(
                best_epoch,
                history[monitored][best_epoch - 1],
                "o",
                color="black",
                label=f"kept: epoch {best_epoch} (best {what})",
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric.capitalize())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_per_class_f1(metrics: dict):
    """Horizontal bars of F1 per class, the macro-F1 as a reference line; the
    values sit in a column right of the plot, where no line can cross them."""
    per_class = metrics["per_class"]
    labels = list(per_class)
    f1 = [per_class[k]["f1"] for k in labels]
    fig = _figure(7, 0.45 * len(labels) + 1.5)
    ax = fig.add_subplot()
    ax.barh(labels, f1, color="tab:blue")
    for row, label in enumerate(labels):
        ax.annotate(
            f"{f1[row]:.2f}  (n={per_class[label]['support']})",
            xy=(1.0, row),
            xycoords=("axes fraction", "data"),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.axvline(metrics["macro_f1"], color="tab:red", linestyle="--")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("F1")
    ax.set_title(f"F1 per class (red dashes: macro-F1 {metrics['macro_f1']:.2f})")
    return fig


def plot_misclassified(images, y_true, y_pred, confidence, n=24, seed=0):
    """A grid of misclassified images titled 'true → predicted (confidence)'.

    Shows the most confident mistakes first: the ones most worth a look (they
    are often label noise in FER2013).
    """
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    chosen = wrong[np.argsort(-np.asarray(confidence)[wrong], kind="stable")][:n]
    columns = 6
    rows = max(1, int(np.ceil(len(chosen) / columns)))
    fig = _figure(columns * 1.7, rows * 1.95)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, chosen, strict=False):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{y_true[i]} → {y_pred[i]}\n({confidence[i]:.0%})", fontsize=8)
    fig.suptitle("Most confident mistakes (true → predicted)" if len(chosen) else "No mistakes")
    return fig


# ------------------------------------------------------------------ report
#: Every file :func:`make_report` may write (``metrics.json`` always): a
#: folder holding anything else is not a report, and the CLI writes none into it.
REPORT_FOLDER = OutputFolder(
    "metrics.json",
    frozenset(
        {
            "confusion_matrix.png",
            "per_class_f1.png",
            "misclassified.png",
            "learning_curves.png",
            "classification_report.txt",
            "index.html",
        }
    ),
)


CAPTIONS = {
    "confusion_matrix.png": "Confusion matrix: each row is a true class. A cell shows the share "
    "of that class's images predicted as the column's class, and their count; the diagonal is "
    "each class's recall.",
    "per_class_f1.png": "F1 score of each class, with its number of images. The red dashes are "
    "the macro-F1, the plain mean over classes.",
    "misclassified.png": "The mistakes the model made with the most confidence: true class → "
    "predicted class (confidence). In FER2013 many of them are label noise.",
}


def make_report(estimator, X, y, out_dir, *, title="fercls evaluation", proba=None) -> dict:
    """Evaluate and write a report folder.

    Writes ``metrics.json``, ``classification_report.txt``,
    ``confusion_matrix.png``, ``per_class_f1.png``, ``misclassified.png``,
    ``learning_curves.png`` (when the classifier has a training history) and
    ``index.html`` showing them together. Each file is written to a temporary
    name and renamed, so an interrupted run never leaves half a file.

    Parameters
    ----------
    estimator : fitted classifier or pipeline
    X : pixel strings or pixel arrays, as the estimator takes them
    y : array-like of labels
    out_dir : path-like
        Created if missing.

    Returns
    -------
    dict
        The metrics (as in :func:`evaluate`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y)
    if proba is None:
        proba = estimator.predict_proba(X)  # once: metrics and plots share it
    metrics = evaluate(estimator, X, y, proba=proba)
    classes = np.asarray(estimator.classes_)
    predicted = classes[proba.argmax(axis=1)]
    files = {
        "confusion_matrix.png": plot_confusion_matrix(metrics),
        "per_class_f1.png": plot_per_class_f1(metrics),
    }
    images = _display_images(estimator, X)
    if images is not None:
        files["misclassified.png"] = plot_misclassified(images, y, predicted, proba.max(axis=1))
    classifier = final_classifier(estimator)
    history = getattr(classifier, "history_", None)
    captions = dict(CAPTIONS)
    if classifier is not None and history and history.get("loss"):
        files["learning_curves.png"] = plot_learning_curves(history, classifier.best_iteration_)
        captions["learning_curves.png"] = _curves_caption(classifier)
    for name, fig in files.items():
        write_atomic(out_dir / name, lambda path, fig=fig: fig.savefig(path, format="png"))
    report = classification_report(
        y, predicted, labels=metrics["labels"], digits=3, zero_division=0
    )
    write_atomic(out_dir / "classification_report.txt", lambda p: Path(p).write_text(report))
    write_atomic(
        out_dir / "metrics.json", lambda p: Path(p).write_text(json.dumps(metrics, indent=2))
    )
    write_atomic(
        out_dir / "index.html",
        lambda p: Path(p).write_text(_html(title, metrics, report, files, captions)),
    )
    return metrics


def _display_images(estimator, X):
    """48×48-style uint8 images for the misclassified grid, or None if X is not pixels."""
    try:
        pixels = PixelStringParser(n_pixels=None).transform(X)
    except (ValueError, TypeError):
        return None
    classifier = final_classifier(estimator)
    shape = getattr(classifier, "image_shape_", None)
    if shape is None or int(np.prod(shape)) != pixels.shape[1]:
        return None
    return pixels.reshape(-1, *shape)


def _curves_caption(classifier) -> str:
    history, best = classifier.history_, getattr(classifier, "best_iteration_", None)
    _, monitored = _monitored(history)
    validated = "val_loss" in history
    text = (
        f"How this model was trained: loss and accuracy in each of its {len(history['loss'])} "
        "epochs, on its training data"
        + (" and (orange) on the validation data it was selected on" if validated else "")
        + ", not on the images evaluated above."
    )
    if best:
        text += f" The black dot is the epoch kept, the one with the best {monitored}."
    restarts = training_stages(history)
    if restarts:
        text += (
            f" It was trained in {len(restarts) + 1} stages. Each dotted line is a warm restart "
            "of the learning rate, after which the loss rises for a few epochs; where a stage "
            "changed the recipe (other augmentations, or a teacher's soft targets), the training "
            "loss and accuracy jump to another scale, while the validation curves stay comparable."
        )
    return text


EXPLANATIONS = """<dl>
<dt>accuracy</dt><dd>the share of images whose predicted class is the true one.</dd>
<dt>macro-F1</dt><dd>the F1 score (the harmonic mean of precision and recall) of each class,
averaged with equal weight per class, so a rare class such as disgust counts as much as happy;
weighted F1 weighs each class by its number of images instead.</dd>
<dt>ECE</dt><dd>expected calibration error: how far the model's confidence is from its accuracy,
averaged over 15 bins of confidence. At 0, answers given with 70 % confidence are right 70 % of
the time.</dd></dl>"""


def _html(title, metrics, report, files, captions) -> str:
    images = "\n".join(
        f'<figure><a href="{name}" title="open at full size"><img src="{name}" '
        f'alt="{html.escape(captions[name])}"></a>'
        f'<figcaption>{html.escape(captions[name])} <a href="{name}">Full size</a>.'
        "</figcaption></figure>"
        for name in files
    )
    warning = collapse_warning(metrics)
    alert = (
        f'<p class="warning"><strong>Warning:</strong> {html.escape(warning)}.</p>'
        if warning
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;
line-height:1.4}} figure{{margin:2em 0}} img{{max-width:100%;height:auto;border:1px solid #ddd}}
figcaption{{color:#333;max-width:70ch}} td,th{{padding:0 1em;text-align:right}}
dt{{font-weight:bold;margin-top:.5em}} dd{{margin-left:1.5em;max-width:70ch}}
.warning{{background:#fff3cd;border:2px solid #d39e00;padding:.8em;font-size:1.1em}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
{alert}
<table><tr><th>images</th><th>accuracy</th><th>macro-F1</th><th>weighted F1</th><th>ECE</th></tr>
<tr><td>{metrics["n"]}</td><td>{metrics["accuracy"]:.4f}</td><td>{metrics["macro_f1"]:.4f}</td>
<td>{metrics["weighted_f1"]:.4f}</td><td>{metrics["ece"]:.4f}</td></tr></table>
{EXPLANATIONS}
<h2>Classification report</h2><pre>{html.escape(report)}</pre>
<h2>Figures</h2>
{images}
</body></html>
"""
