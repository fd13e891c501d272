"""The training scripts (training/: the accuracy run, its test-time augmentation and
ensemble figures, calibration and the model card generator) run end to end on
FER2013 (a seconds-long budget on 256 images), so the commands the model card
names cannot rot."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fercls.persistence import read_card

TRAINING = Path(__file__).resolve().parents[1] / "training"


def run_script(name, *args):
    result = subprocess.run(
        [sys.executable, str(TRAINING / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# Two of the four test-time augmentation settings: "ten_crop" alone would cost ten
# predictions of both test splits in each run (the views are tested in test_views.py,
# and the distilled run below averages its teacher over ten crops).
MEASURED = ("flip", "none")  # named out of order: the figures come in the order of SETTINGS


@pytest.fixture(scope="module")
def trained(fer_zip, tmp_path_factory):
    folder = tmp_path_factory.mktemp("benchmark") / "model"
    out = run_script(
        "fer2013_accuracy.py",
        *("--data", fer_zip, "--architecture", "simple", "--minutes", "0.02"),
        *("--train-limit", 256, "--verbose", 0, "--save", folder, "--measure-tta", *MEASURED),
    )
    (line,) = out.splitlines()  # stdout is the one JSON line; Keras logs go to stderr
    return folder, json.loads(line)


def test_accuracy_benchmark_reports_the_protocol_figures(trained):
    _, result = trained
    assert result["n_train"] == 256 and result["epochs"] >= 1
    assert result["private_unseen_n"] == 3301
    assert set(result["private_recall"]) == {
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"
    }  # fmt: skip
    settings = result["test_time_augmentation"]
    assert list(settings) == ["None", "flip"]
    assert settings["None"]["private_accuracy"] == result["private_accuracy"]
    assert settings["None"]["public_accuracy"] == result["public_accuracy"]
    assert settings["None"]["private_unseen_accuracy"] == result["private_unseen_accuracy"]


def test_tta_benchmark_updates_the_card_and_the_card_shows_it(trained, fer_zip):
    folder, result = trained
    options = ("--data", fer_zip, "--update-card", "--measure-tta", *MEASURED)
    out = json.loads(run_script("tta_accuracy.py", folder, *options))
    # Same weights, same data: the standalone measurement repeats the training run's.
    assert out["settings"] == result["test_time_augmentation"]
    card = read_card(folder)
    assert card["test_time_augmentation"] == out["settings"]
    markdown = run_script("model_card.py", folder)
    flip = out["settings"]["flip"]
    row = f'| `"flip"` | {flip["public_accuracy"]:.2%} | {flip["private_accuracy"]:.2%} |'
    assert row in markdown
    assert f"**{result['private_accuracy']:.2%}**" in markdown


def test_calibration_benchmark_writes_the_temperature_and_the_card_shows_it(trained, fer_zip):
    folder, result = trained
    out = json.loads(run_script("calibrate.py", folder, "--data", fer_zip, "--write"))
    assert out["after"]["public"]["nll"] <= out["before"]["public"]["nll"]
    assert out["after"]["private"]["accuracy"] == out["before"]["private"]["accuracy"]
    card = read_card(folder)
    assert card["calibration"]["temperature"] == out["temperature"]
    markdown = run_script("model_card.py", folder)
    assert f"A temperature of {out['temperature']:.3f}" in markdown
    assert f"**{out['after']['private']['ece']:.4f}**" in markdown


def test_an_ensemble_of_a_model_with_itself_measures_as_the_model(trained, fer_zip):
    folder, result = trained
    out = json.loads(run_script("ensemble_accuracy.py", folder, folder, "--data", fer_zip))
    first, second = out["members"]
    # A temperature (if the calibration test wrote one) never changes a prediction.
    assert first["public_accuracy"] == result["public_accuracy"]
    assert first["private_accuracy"] == result["private_accuracy"]
    assert first["private_unseen_accuracy"] == result["private_unseen_accuracy"]
    assert {k: v for k, v in first.items() if k != "model"} == out["ensemble"]
    assert second == first


@pytest.fixture(scope="module")
def student(trained, fer_zip, tmp_path_factory):
    """A mixed_bfloat16 run distilled from the trained model's ten crops: one run serves
    both tests. Its own figures are measured with one view only."""
    teacher, _ = trained
    folder = tmp_path_factory.mktemp("student") / "model"
    out = run_script(
        "fer2013_accuracy.py",
        *("--data", fer_zip, "--architecture", "simple", "--minutes", "0.02"),
        *("--train-limit", 256, "--verbose", 0, "--precision", "mixed_bfloat16"),
        *("--distill-from", teacher, "--teacher-tta", "ten_crop", "--save", folder),
        *("--measure-tta", "none"),
    )
    return folder, json.loads(out)


def test_a_bfloat16_run_is_measured_and_saved_as_the_float32_model_that_loads(student, fer_bunch):
    """The figures of a mixed_bfloat16 run are those of the weights as the package
    loads them (float32), so the card never quotes a network nobody gets."""
    from fercls.pretrained import load_pipeline

    folder, result = student
    model = load_pipeline(folder, with_parser=False)  # what a user of the folder gets
    assert model[-1].precision == "float32"
    assert read_card(folder)["stages"][-1]["precision"] == "mixed_bfloat16"
    # Every layer computes in float32 (in mixed precision only the softmax would).
    assert {layer.compute_dtype for layer in model[-1].model_.layers} == {"float32"}
    names = np.asarray(fer_bunch.target_names)[fer_bunch.target]
    for split, figure in [("PublicTest", "public_accuracy"), ("PrivateTest", "private_accuracy")]:
        rows = fer_bunch.usage == split
        # The benchmark rounds to 4 decimals (tta_accuracy.rounded).
        assert round(model.score(fer_bunch.data[rows], names[rows]), 4) == result[figure]


def test_soft_targets_mix_the_teachers_softened_probabilities_with_the_label(trained):
    sys.path.insert(0, str(TRAINING))
    from fer2013_accuracy import soft_targets

    from fercls.pretrained import load_pipeline

    folder, _ = trained
    pixels = np.random.default_rng(0).integers(0, 256, (5, 48 * 48), dtype=np.uint8)
    teacher = load_pipeline(folder, with_parser=False, test_time_augmentation="flip")
    classes, codes = np.asarray(teacher.classes_), np.array([0, 1, 2, 3, 6])

    def targets(weight, temperature):
        return soft_targets(
            [folder], pixels, codes, classes, weight=weight, temperature=temperature, views="flip"
        )

    np.testing.assert_allclose(targets(1.0, 1.0), teacher.predict_proba(pixels), atol=1e-6)
    np.testing.assert_array_equal(targets(0.0, 2.0), np.eye(7)[codes])
    softer = targets(1.0, 3.0)
    np.testing.assert_allclose(softer.sum(axis=1), 1, atol=1e-6)
    assert (softer.max(axis=1) < targets(1.0, 1.0).max(axis=1)).all()
    # Two copies of one teacher are that teacher.
    twice = soft_targets(
        [folder, folder], pixels, codes, classes, weight=0.5, temperature=2.0, views="flip"
    )
    np.testing.assert_allclose(twice, targets(0.5, 2.0), atol=1e-6)


def test_a_distilled_run_records_its_teachers_in_the_card(trained, student):
    teacher, _ = trained
    folder, _ = student
    card = read_card(folder)
    assert card["settings"]["distill_from"] == [str(teacher)]
    stage = card["stages"][-1]
    assert "--distill-from" in stage["command"]
    (record,) = stage["teachers"]
    teacher_card = read_card(teacher)
    assert record["model"] == str(teacher)
    assert record["commands"] == [s["command"] for s in teacher_card["stages"]]
    assert stage["distillation"] == {
        "distill_weight": 0.5, "distill_temperature": 2.0, "teacher_tta": "ten_crop"
    }  # fmt: skip
    markdown = run_script("model_card.py", folder)
    assert "learned soft targets: 0.5 × the mean probability" in markdown
    assert teacher_card["command"] in markdown


def test_a_first_layout_folder_is_upgraded_in_place_with_its_weights_file_unchanged(tmp_path):
    from helpers import make_faces, write_first_layout

    from fercls import FERClassifier

    images, labels = make_faces(n_per_class=6, size=48, n_classes=2)
    X = images.reshape(len(images), -1) / 255.0
    clf = FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, labels)
    folder = write_first_layout(clf, tmp_path / "model", card={"note": "kept"})
    weights = (folder / "model.weights.h5").read_bytes()
    (line,) = run_script("upgrade_model_folder.py", folder).splitlines()
    assert json.loads(line)["upgraded"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left beside it
    assert sorted(p.name for p in folder.iterdir()) == ["fercls.json", "network-0.weights.h5"]
    assert (folder / "network-0.weights.h5").read_bytes() == weights
    assert read_card(folder) == {"note": "kept"}
    (again,) = run_script("upgrade_model_folder.py", folder).splitlines()
    assert json.loads(again)["upgraded"] is False


def test_a_teacher_is_stored_in_float16_and_never_over_a_folder_that_is_not_a_model(
    trained, fer_zip, tmp_path
):
    import h5py

    folder, _ = trained
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    refused = subprocess.run(
        [sys.executable, str(TRAINING / "store_teacher.py"), folder, notes, "--data", fer_zip],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "keep.txt" in refused.stderr
    assert [p.name for p in notes.iterdir()] == ["keep.txt"]

    (line,) = run_script(
        "store_teacher.py", folder, tmp_path / "teacher", "--data", fer_zip
    ).splitlines()
    report = json.loads(line)
    assert report["checked_images"] == 500 and report["largest_probability_difference"] < 0.01
    with h5py.File(tmp_path / "teacher" / "network-0.weights.h5") as weights:
        kinds = set()
        weights.visititems(lambda _, item: kinds.add(getattr(item, "dtype", None)))
    assert np.dtype("float16") in kinds and np.dtype("float32") not in kinds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "teacher"]
