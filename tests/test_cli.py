import io
import json
import zipfile

import joblib
import numpy as np
import pytest
from helpers import make_faces
from PIL import Image

import fercls
from fercls.cli import main
from fercls.labels import EMOTIONS

SPLIT_NAMES = [("train", "Training")] * 4 + [("test", "PublicTest"), ("test", "PrivateTest")]


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_zip(tmp_path_factory):
    """A Kaggle-layout zip of 48x48 synthetic faces: 3 emotions, all three splits."""
    images, labels = make_faces(n_per_class=24, size=48, n_classes=3)
    path = tmp_path_factory.mktemp("data") / "archive.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            folder, prefix = SPLIT_NAMES[i % len(SPLIT_NAMES)]
            archive.writestr(f"{folder}/{EMOTIONS[[3, 4, 6][label]]}/{prefix}_{i}.png", png(image))
        archive.writestr("train/happy/Training_dup.png", png(images[0]))  # a duplicate
    return path


@pytest.fixture(scope="module")
def trained(tiny_zip, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    code = main(
        [
            "train",
            str(tiny_zip),
            "--architecture",
            "simple",
            "--max-iter",
            "2",
            "--output",
            str(out / "model.fercls"),
            "--checkpoint",
            str(out / "checkpoint.fercls"),
            "--report",
            str(out / "report"),
        ]
    )
    assert code == 0
    return out


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "command", [[], ["info"], ["train"], ["evaluate"], ["predict"], ["video"], ["export"]]
)
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: fercls" in capsys.readouterr().out


def test_info_counts_splits_classes_and_duplicates(capsys, tiny_zip):
    code, out, _ = run(capsys, "info", tiny_zip, "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 73
    assert sum(summary["counts"]["Training"].values()) == 49
    assert summary["duplicate_groups"] == 1 and summary["duplicated_images"] == 2
    code, out, _ = run(capsys, "info", tiny_zip)
    assert "PrivateTest" in out and "duplicate groups: 1" in out


def test_train_saves_a_safe_archive_a_checkpoint_and_a_report(trained):
    model = fercls.load(trained / "model.fercls")
    assert set(model.classes_) == {"happy", "sad", "neutral"}
    assert fercls.load(trained / "checkpoint.fercls").n_iter_ == 2
    assert (trained / "report" / "index.html").exists()
    assert not list(trained.glob(".model.fercls*"))  # no temporary file left behind


def test_train_can_still_write_joblib(tiny_zip, tmp_path, capsys):
    argv = ["train", tiny_zip, "--architecture", "simple", "--max-iter", "1", "-q"]
    assert main([str(a) for a in [*argv, "--output", tmp_path / "m.joblib"]]) == 0
    assert set(joblib.load(tmp_path / "m.joblib").classes_) == {"happy", "sad", "neutral"}
    assert capsys.readouterr().err == ""  # -q: no progress


def test_train_starts_from_a_saved_model_and_never_overwrites_it(
    tiny_zip, trained, tmp_path, capsys
):
    source = trained / "model.fercls"
    argv = ["train", tiny_zip, "--architecture", "simple", "--max-iter", "1", "--init", source]
    code, out, _ = run(capsys, *argv, "-q", "--output", tmp_path / "m.fercls")
    assert code == 0 and out.startswith("saved ")
    before = source.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, *argv, "-q", "--output", source)
    assert exit_info.value.code == 2 and "is also an input" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_train_reports_progress_on_stderr_by_default(tiny_zip, tmp_path, capsys):
    argv = ["train", tiny_zip, "--architecture", "simple", "--max-iter", "2"]
    code, out, err = run(capsys, *argv, "--output", tmp_path / "m.fercls")
    saved, summary = out.splitlines()
    assert code == 0 and saved == f"saved {tmp_path / 'm.fercls'}"
    assert summary.startswith("PublicTest accuracy ") and summary.endswith(" of 2)")
    lines = err.splitlines()
    assert lines[0].startswith("fercls train: training on 49 images, 2 epochs")
    assert lines[1].startswith("fercls train: epoch 1/2, loss ")
    assert "PublicTest accuracy" in lines[1] and "left" in lines[1]
    assert lines[2].startswith("fercls train: epoch 2/2, loss ")
    assert "\x1b" not in err  # captured, so not a terminal: plain lines


def test_evaluate_a_saved_model_with_report(capsys, tiny_zip, trained, tmp_path):
    code, out, _ = run(
        capsys,
        "evaluate",
        tiny_zip,
        "--model",
        trained / "model.fercls",
        "--split",
        "PrivateTest",
        "--report",
        tmp_path / "r",
    )
    assert code == 0 and "PrivateTest: 12 images, accuracy" in out
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["n"] == 12
    assert (tmp_path / "r" / "confusion_matrix.png").exists()
    assert (tmp_path / "r" / "learning_curves.png").exists()


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_predict_on_files_and_folders(capsys, trained, tmp_path, fmt):
    faces, _ = make_faces(n_per_class=1, size=48, n_classes=2)
    Image.fromarray(faces[0]).save(tmp_path / "crop.png")
    Image.fromarray(np.stack([np.kron(faces[1], np.ones((4, 4), np.uint8))] * 3, -1)).save(
        tmp_path / "photo.jpg"
    )
    code, out, _ = run(
        capsys,
        "predict",
        "--model",
        trained / "model.fercls",
        "--whole-image",
        "--format",
        fmt,
        tmp_path,
    )
    assert code == 0
    if fmt == "json":
        rows = json.loads(out)
        assert [r["file"].rsplit("/", 1)[1] for r in rows] == ["crop.png", "photo.jpg"]
        (face,) = rows[0]["faces"]
        assert face["box"] == [0, 0, 48, 48] and rows[1]["faces"][0]["box"] == [0, 0, 192, 192]
        assert set(face["probabilities"]) == {"happy", "sad", "neutral"}
        assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    elif fmt == "csv":
        assert out.splitlines()[0] == "file,x,y,width,height,emotion,happy,neutral,sad,error"
        assert len(out.splitlines()) == 3
    else:
        assert "crop.png" in out and "photo.jpg" in out


def test_predict_with_tta_flip_averages_the_image_and_its_mirror(capsys, trained, tmp_path):
    face = make_faces(n_per_class=1, size=48, n_classes=1)[0][0]
    Image.fromarray(face).save(tmp_path / "a_face.png")
    Image.fromarray(face[:, ::-1]).save(tmp_path / "b_mirror.png")
    model = trained / "model.fercls"

    def probabilities(*extra):
        code, out, _ = run(capsys, "predict", "--model", model, "--format", "json", *extra)
        assert code == 0
        return [row["faces"][0]["probabilities"] for row in json.loads(out)]

    plain, mirrored = probabilities(tmp_path / "a_face.png", tmp_path / "b_mirror.png")
    (averaged,) = probabilities("--tta", "flip", tmp_path / "a_face.png")
    for label, value in averaged.items():
        # the JSON rounds to 4 decimals
        assert value == pytest.approx((plain[label] + mirrored[label]) / 2, abs=1.5e-4)
    assert plain != mirrored  # the network is not mirror-symmetric, so the test means something


def test_tta_needs_a_fercls_classifier(capsys, tiny_zip, tmp_path):
    from sklearn.dummy import DummyClassifier

    joblib.dump(
        DummyClassifier().fit(np.zeros((3, 2304)), ["happy", "sad", "sad"]), tmp_path / "d.joblib"
    )
    code, _, err = run(
        capsys,
        "evaluate",
        tiny_zip,
        "--model",
        tmp_path / "d.joblib",
        "--allow-pickle",
        "--tta",
        "flip",
    )
    assert code == 1
    assert "--tta" in err and "no FERClassifier step (found DummyClassifier)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "missing.zip"], "not found"),
        (["evaluate", "{zip}", "--model", "missing.joblib"], "model not found"),
        (["evaluate", "{zip}", "--model", "{notamodel}"], "a pickle file, which runs code"),
        (
            ["evaluate", "{zip}", "--model", "{notamodel}", "--allow-pickle"],
            "not a joblib model file",
        ),
        (["predict", "--model", "{model}", "missing.png"], "no such image or folder"),
        (["predict", "--model", "{model}", "{notanimage}"], "not a readable image"),
        (["predict", "--model", "{model}", "{emptydir}"], "no image files"),
        (["info", "{notanimage}"], "expected the challenge CSV"),
    ],
)
def test_failures_exit_non_zero_with_one_line(capsys, tmp_path, tiny_zip, trained, argv, message):
    (tmp_path / "bad.png").write_text("this is text")
    (tmp_path / "bad.joblib").write_text("not a pickle")
    (tmp_path / "empty").mkdir()
    values = {
        "{zip}": tiny_zip,
        "{model}": trained / "model.fercls",
        "{notanimage}": tmp_path / "bad.png",
        "{notamodel}": tmp_path / "bad.joblib",
        "{emptydir}": tmp_path / "empty",
    }
    code, out, err = run(capsys, *[values.get(a, a) for a in argv])
    assert code == 1
    assert err.startswith("fercls: error:") and message in err and err.count("\n") == 1


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate"])
    assert exit_info.value.code == 2


def test_evaluate_the_bundled_model_on_real_private_test(capsys, fer_zip, tmp_path):
    code, out, _ = run(capsys, "evaluate", fer_zip, "--split", "PrivateTest", "--report", tmp_path)
    assert code == 0 and "PrivateTest: 3589 images" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n"] == 3589 and metrics["labels"] == list(fercls.PROBABILITY_ORDER)
    assert (tmp_path / "confusion_matrix.png").exists() and (
        tmp_path / "learning_curves.png"
    ).exists()


def test_info_on_the_real_zip_matches_the_data_readme(capsys, fer_zip):
    code, out, _ = run(capsys, "info", fer_zip, "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 35887
    assert summary["duplicate_groups"] == 1516 and summary["duplicated_images"] == 3369
    assert summary["duplicate_groups_with_conflicting_labels"] == 57
    assert summary["duplicate_groups_spanning_training_and_test"] == 531
    assert summary["test_images_identical_to_training"]["PrivateTest"] == 288


class _Stdin:
    """Stands in for sys.stdin: what ``fercls predict -`` reads is ``.buffer``."""

    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)


def test_predict_reads_an_image_from_stdin(capsys, trained, tmp_path, monkeypatch):
    faces, _ = make_faces(n_per_class=1, size=48, n_classes=2)
    Image.fromarray(faces[0]).save(tmp_path / "crop.png")
    expected = json.loads(
        run(capsys, "predict", "--model", trained / "model.fercls", "--format", "json",
            tmp_path / "crop.png")[1]
    )[0]["faces"]  # fmt: skip
    monkeypatch.setattr("sys.stdin", _Stdin(png(faces[0])))
    code, out, _ = run(
        capsys, "predict", "--model", trained / "model.fercls", "--format", "json", "-"
    )
    assert code == 0
    (row,) = json.loads(out)
    assert row["file"] == "-" and row["faces"] == expected


def test_predict_reports_unreadable_stdin_in_one_line(capsys, trained, monkeypatch):
    monkeypatch.setattr("sys.stdin", _Stdin(b"not an image"))
    code, out, err = run(
        capsys, "predict", "--model", trained / "model.fercls", "--format", "json", "-"
    )
    assert code == 1
    assert err.startswith("fercls: error: stdin: not a readable image")
    assert len(err.splitlines()) == 1
    assert json.loads(out)[0]["error"].startswith("stdin: not a readable image")


def test_a_mistyped_option_shows_the_subcommands_usage_and_a_hint(capsys, trained):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--formt", "json", str(trained / "x.png")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("usage: fercls predict")
    assert "unrecognized arguments: --formt (did you mean --format?)" in err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["predct", "x.png"], "did you mean 'predict'?"),
        (["predict", "--format", "jsn", "x.png"], "did you mean 'json'?"),
        (["video", "x.mp4", "--detector", "mtcn"], "did you mean 'mtcnn'?"),
    ],
)
def test_a_mistyped_choice_gets_the_closest_one_as_a_hint(capsys, argv, hint):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.rstrip().endswith(hint)


def test_predict_reports_each_unreadable_file_once_and_the_skipped_ones(capsys, trained, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(make_faces(n_per_class=1, size=48, n_classes=1)[0][0]).save(folder / "a.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    (folder / "clip.mp4").write_bytes(b"\0" * 100)
    (folder / "notes.txt").write_text("hi")
    model = ("--model", trained / "model.fercls")
    code, out, err = run(capsys, "predict", folder, *model, "--format", "text")
    assert code == 1
    assert "broken.jpg" not in out and err.count("fercls: error:") == 1
    assert "fercls: skipped 2 files that are not images (.mp4, .txt)" in err
    code, out, err = run(capsys, "predict", folder / "clip.mp4", *model)
    assert code == 1 and out == ""
    assert f"use `fercls video {folder / 'clip.mp4'} --output annotated.mp4`" in err


def test_predict_says_where_it_wrote(capsys, trained, tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(make_faces(n_per_class=1, size=48, n_classes=1)[0][0]).save(image)
    argv = ["--model", trained / "model.fercls", "--annotate", tmp_path / "ann"]
    code, out, err = run(
        capsys, "predict", image, *argv, "-o", tmp_path / "r.json", "--format", "table"
    )
    assert code == 0 and out == ""
    assert err.splitlines() == [
        f"fercls: wrote {tmp_path / 'r.json'}",
        f"fercls: wrote {tmp_path / 'ann' / 'a.annotated.png'}",
    ]


@pytest.mark.slow  # starts TensorFlow in another process
def test_an_unreadable_video_is_one_line_on_stderr_without_ffmpeg_s_own(tmp_path):
    # FFmpeg writes to the process's stderr itself, so only another process shows it.
    import os
    import subprocess
    import sys

    (tmp_path / "fake.mp4").write_text("not a video")
    # As a user runs it: no log levels chosen (the suite sets TensorFlow's).
    chosen = {"OPENCV_FFMPEG_LOGLEVEL", "TF_CPP_MIN_LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in chosen}
    command = [sys.executable, "-m", "fercls.cli", "video", "fake.mp4", "--output", "o.mp4"]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert result.stderr == "fercls: error: could not open video file fake.mp4\n"
