"""Record one recipe-ablation run for the model card's ablation table.

    python training/record_ablation.py RUN_FOLDER NAME "what this run changes"

RUN_FOLDER is the ``--save`` folder of a ``fer2013_accuracy.py --minutes 30`` run.
The card's figures (PublicTest, PrivateTest, de-duplicated PrivateTest, every
test-time augmentation setting, epochs and throughput) and the run's command,
without its ``--save`` argument, go to ``training/results/ablations/NAME.json``;
files are listed in name order (prefix them 01_, 02_, ...). The training history
stays with the run.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from fercls.persistence import read_card

ABLATIONS = Path(__file__).resolve().parent / "results" / "ablations"
SCRIPT = Path("training/fer2013_accuracy.py")  # the benchmark a row reruns
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
    """The run's command from the repository root, without ``--save FOLDER``.

    Whatever ran the script (``python``, ``/venv/bin/python3 -u``, ...) becomes
    ``python``, and the script's own path becomes the repository-relative one.
    """
    words = shlex.split(command)
    scripts = [at for at, word in enumerate(words) if Path(word).name == SCRIPT.name]
    if not scripts:
        raise ValueError(f"{command!r} does not run {SCRIPT.name}")
    words = ["python", str(SCRIPT), *words[scripts[0] + 1 :]]
    if "--save" in words:
        at = words.index("--save")
        del words[at : at + 2]
    return shlex.join(words)


def record(run_folder, name, change, out=ABLATIONS):
    card = read_card(run_folder)
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
