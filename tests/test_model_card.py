"""The model card's ablation table, from recorded runs (no training needed)."""

import importlib.util
import json
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[1] / "training"


def script(name):
    spec = importlib.util.spec_from_file_location(name, TRAINING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figures(public, private):
    return {
        "public_accuracy": public,
        "private_accuracy": private,
        "private_macro_f1": 0.5,
        "private_unseen_accuracy": private - 0.01,
    }


def fake_run(folder, command, **card):
    folder.mkdir()
    card = {
        "command": command,
        "epochs": 20,
        "train_images_per_second": 314.4,
        "public_accuracy": 0.6082,
        "private_accuracy": 0.625,
        "private_unseen_accuracy": 0.6138,
        "test_time_augmentation": {
            "None": figures(0.6082, 0.625),
            "flip": figures(0.6116, 0.6266),
            "zoom_flip": figures(0.6264, 0.6464),
        },
        "history": {"loss": [1.0]},
        **card,
    }
    manifest = {"format": "fercls", "format_version": 2, "object": {}, "card": card}
    (folder / "fercls.json").write_text(json.dumps(manifest))
    return folder


def test_a_recorded_run_keeps_its_figures_and_a_command_without_save(tmp_path):
    record = script("record_ablation")
    run = fake_run(
        tmp_path / "run",
        "python /somewhere/training/fer2013_accuracy.py --minutes 30 --save /tmp/x --ema 0.999",
    )
    path = record.record(run, "02_ema", "EMA 0.999", out=tmp_path / "ablations")
    row = json.loads(path.read_text())
    assert row["command"] == "python training/fer2013_accuracy.py --minutes 30 --ema 0.999"
    assert row["change"] == "EMA 0.999" and row["private_accuracy"] == 0.625
    assert "history" not in row


@pytest.mark.parametrize(
    "command",
    [
        "/venv/bin/python3 -u training/fer2013_accuracy.py --minutes 30 --ema 0.999",
        "fer2013_accuracy.py --minutes 30 --save 'my runs/x' --ema 0.999",
    ],
)
def test_a_recorded_command_runs_the_benchmark_with_python_whatever_launched_it(command):
    reproducible = script("record_ablation").reproducible_command(command)
    assert reproducible == "python training/fer2013_accuracy.py --minutes 30 --ema 0.999"


def test_a_command_that_is_not_the_benchmark_is_refused():
    with pytest.raises(ValueError, match="does not run fer2013_accuracy.py"):
        script("record_ablation").reproducible_command("python train.py --minutes 30")


def test_the_ablation_table_lists_runs_in_name_order_with_the_tta_best_on_publictest(tmp_path):
    record, card = script("record_ablation"), script("model_card")
    out = tmp_path / "ablations"
    command = "python training/fer2013_accuracy.py --minutes 30 --save /tmp/x"
    record.record(fake_run(tmp_path / "a", command), "01_base", "baseline", out=out)
    record.record(
        fake_run(tmp_path / "b", command + " --augment crop", private_accuracy=0.6),
        "02_crop",
        "crops",
        out=out,
    )
    section = card.ablation_section(out)
    assert section.index("| 1 | baseline |") < section.index("| 2 | crops |")
    assert '| **62.50%** | 61.38% | `"zoom_flip"`: 62.64% / 64.64% |' in section
    assert "2. `python training/fer2013_accuracy.py --minutes 30 --augment crop`" in section
    assert card.ablation_section(tmp_path / "none") == ""


def test_the_recipe_names_each_runs_augmentation_from_its_command():
    card = script("model_card")
    warp = {"command": "python training/fer2013_accuracy.py --minutes 55"}
    crop = {"command": "python training/fer2013_accuracy.py --minutes 45 --augment crop"}
    assert card.augmentations([warp, warp]) == card.AUGMENTATION_PHRASES["warp"]
    phrase = card.augmentations([warp, warp, crop])
    assert phrase.startswith("runs 1, 2: horizontal flip, ±10° rotation")
    assert "; run 3: random 44×44 crops" in phrase
