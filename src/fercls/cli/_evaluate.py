"""``fercls evaluate``: a model's metrics (and report) on one split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._io import TEXT_FILE
from ..labels import emotion_names
from ._shared import (
    CommandError,
    Progress,
    add_format_option,
    add_model_options,
    add_stdout_option,
    add_tta_option,
    check_output,
    emit,
    load_model,
    model_input,
    predict_with_progress,
    warn_if_collapsed,
)

SPLITS = ("Training", "PublicTest", "PrivateTest")


def add_parser(commands, common) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        parents=[common],
        help="evaluate a model on one split",
        description="Metrics of a model on one split; with --report, "
        "a folder of metrics, plots and index.html.",
    )
    evaluate.add_argument("data", type=Path)
    add_model_options(evaluate)
    evaluate.add_argument("--split", choices=SPLITS, default="PrivateTest")
    evaluate.add_argument("--report", type=Path, help="write the report folder here")
    add_format_option(evaluate, ["text", "json"])
    add_stdout_option(evaluate, "metrics")
    add_tta_option(evaluate)
    evaluate.set_defaults(run=run)


def run(args) -> int:
    from ..datasets import load_fer2013
    from ..evaluation import REPORT_FOLDER, evaluate, make_report

    model_path = model_input(args.model)
    if args.output:
        check_output(args.output, "-o/--output", inputs=[args.data, model_path], kind=TEXT_FILE)
    if args.report:
        check_output(
            args.report,
            "--report",
            folder=True,
            inputs=[args.data, model_path, args.output],
            kind=REPORT_FOLDER,
        )
    with Progress("loading the data"):
        data = load_fer2013(args.data)
    rows = np.asarray(data.usage) == args.split
    if not rows.any():
        raise CommandError(
            f"{args.data}: no {args.split} images (splits here: {sorted(set(data.usage))})"
        )
    model = load_model(args.model, tta=args.tta, allow_pickle=args.allow_pickle)
    X, y = data.data[rows], _labels_for(model, data.target[rows])
    proba = predict_with_progress(model, X, f"{args.split}")
    if args.report:
        title = f"fercls evaluate: {args.split} ({args.data.name})"
        metrics = make_report(model, X, y, args.report, title=title, proba=proba)
    else:
        metrics = evaluate(model, X, y, proba=proba)
    warn_if_collapsed(metrics)
    if args.format == "json":
        emit(args, json.dumps({"split": args.split, **metrics}, indent=2) + "\n")
        return 0
    lines = [
        f"{args.split}: {metrics['n']} images, accuracy {metrics['accuracy']:.4f}, "
        f"macro-F1 {metrics['macro_f1']:.4f}, ECE {metrics['ece']:.4f}"
    ]
    for label, m in metrics["per_class"].items():
        lines.append(
            f"  {label:>9}: precision {m['precision']:.3f} recall {m['recall']:.3f} "
            f"f1 {m['f1']:.3f} (n={m['support']})"
        )
    if args.report:
        lines.append(f"report: {args.report / 'index.html'}")
    emit(args, "\n".join(lines) + "\n")
    return 0


def _labels_for(model, ids):
    """Ids 0..6 as the model's label type: names if it predicts names."""
    classes = np.asarray(model.classes_)
    return emotion_names(ids).astype(str) if classes.dtype.kind in "UO" else ids
