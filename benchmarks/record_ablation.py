"""Record one recipe-ablation run for the model card's ablation table.

    python benchmarks/record_ablation.py RUN_FOLDER NAME "what this run changes"

RUN_FOLDER is the ``--save`` folder of a ``fer2013_accuracy.py --minutes 30`` run.
The card's figures (PublicTest, PrivateTest, de-duplicated PrivateTest, every
test-time augmentation setting, epochs and throughput) and the run's command,
without its ``--save`` argument, go to ``benchmarks/results/ablations/NAME.json``;
files are listed in name order (prefix them 01_, 02_, ...). The training history
stays with the run.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

ABLATIONS = Path(__file__).resolve().parent / "results" / "ablations"
KEPT = (
    "architecture",
    "parameters",
    "epochs",
    "best_epoch",
    "budget_minutes",
    "train_seconds",
    "train_images_per_second",
    "public_accuracy",
    "private_accuracy",
    "private_macro_f1",
    "private_unseen_accuracy",
    "private_unseen_n",
    "test_time_augmentation",
    "settings",
    "device",
    "tensorflow",
)


def reproducible_command(command):
    """The run's command from the repository root, without ``--save FOLDER``."""
    words = shlex.split(command)
    if "--save" in words:
        at = words.index("--save")
        del words[at : at + 2]
    if words[:2] != ["python", "benchmarks/fer2013_accuracy.py"]:
        words[1] = "benchmarks/fer2013_accuracy.py"
    return shlex.join(words)


def record(run_folder, name, change, out=ABLATIONS):
    card = json.loads((Path(run_folder) / "model.json").read_text())["card"]
    row = {"name": name, "change": change, "command": reproducible_command(card["command"])}
    row.update({key: card[key] for key in KEPT if key in card})
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(row, indent=2, ensure_ascii=False) + "\n")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(record(*sys.argv[1:]))
