"""``fercls info``: counts, blank images and duplicates of a data set."""

from __future__ import annotations

import json
from pathlib import Path

from .._io import TEXT_FILE
from ..labels import EMOTIONS
from ._shared import (
    Progress,
    add_format_option,
    add_stdout_option,
    check_output,
    emit,
)


def add_parser(commands, common) -> None:
    info = commands.add_parser(
        "info",
        parents=[common],
        help="counts, blank images and duplicates of a data set",
        description="Counts per split and class, blank images and "
        "duplicate groups of a FER2013 source (CSV, folder or zip).",
    )
    info.add_argument(
        "data", type=Path, help="fer2013.csv[.gz], the Kaggle image folder, or its zip"
    )
    add_format_option(info, ["text", "json"])
    add_stdout_option(info, "summary")
    info.set_defaults(run=run)


def run(args) -> int:
    from ..datasets import load_fer2013, summarize

    if args.output:
        check_output(args.output, "-o/--output", inputs=[args.data], kind=TEXT_FILE)
    with Progress("loading the data"):
        summary = {"source": str(args.data), **summarize(load_fer2013(args.data))}
    if args.format == "json":
        emit(args, json.dumps(summary, indent=2) + "\n")
        return 0
    counts = summary["counts"]
    splits = list(counts)
    width = max(len(e) for e in EMOTIONS)
    lines = [f"{args.data}: {summary['images']} images"]
    lines.append(f"{'':{width}} " + " ".join(f"{s:>11}" for s in splits))
    for e in EMOTIONS:
        lines.append(f"{e:{width}} " + " ".join(f"{counts[s][e]:>11}" for s in splits))
    lines.append(f"{'total':{width}} " + " ".join(f"{sum(counts[s].values()):>11}" for s in splits))
    lines.append(f"blank (uniform) images: {summary['blank_images']}")
    lines.append(
        f"duplicate groups: {summary['duplicate_groups']} ({summary['duplicated_images']} images), "
        f"{summary['duplicate_groups_spanning_training_and_test']} spanning Training and test, "
        f"{summary['duplicate_groups_with_conflicting_labels']} with conflicting labels"
    )
    for s, n in summary["test_images_identical_to_training"].items():
        lines.append(f"{s} images identical to a Training image: {n}")
    emit(args, "\n".join(lines) + "\n")
    return 0
