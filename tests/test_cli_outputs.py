"""What the CLI may do to a user's files.

The one rule for paths: no output may be an input, hold one, sit on a file
inside an input folder, replace a file or folder that is not an earlier output
of its own kind, or replace a device or FIFO. Every
subcommand and every output option is tried with a careless or hostile path;
each must exit with status 2 before doing any work and leave every file
exactly as it was. And a run stopped by SIGTERM or SIGHUP cleans up as one
stopped by Ctrl-C does.
"""

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import make_faces
from PIL import Image

import fercls
from fercls._io import write_atomic
from fercls.cli import Terminated, main, terminations_as_interrupts
from fercls.cli._shared import raise_if_terminated
from fercls.export import export
from fercls.labels import EMOTIONS
from fercls.pretrained import save_classifier


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def classifier():
    images, labels = make_faces(n_per_class=8, size=48, n_classes=2)
    names = np.asarray(EMOTIONS)[[3, 4]][labels]
    X = images.reshape(len(images), -1).astype(np.float32) / 255
    return fercls.FERClassifier("simple", max_iter=1, random_state=0).fit(X, names)


@pytest.fixture
def room(tmp_path, classifier, monkeypatch):
    """A user's working folder: a model file, a model folder, data, photos, a
    video and an unrelated note, all in one folder that is also the cwd."""
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    runs.mkdir()
    fercls.save(classifier, runs / "m.fercls")
    (runs / "notes.txt").write_text("my notes\n")
    save_classifier(classifier, tmp_path / "DIR")
    images, labels = make_faces(n_per_class=4, size=48, n_classes=2)
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            split = ("train", "Training") if i % 2 else ("test", "PublicTest")
            archive.writestr(f"{split[0]}/{EMOTIONS[3 + label]}/{split[1]}_{i}.png", png(image))
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(png(images[0]))
    (tmp_path / "clip.mp4").write_bytes(b"not really a video")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("<p>my page</p>")
    (tmp_path / "holiday.mov").write_text("my notes, in a file named like a video\n")
    return tmp_path


def status(argv):
    """``fercls ARGV``'s exit status (usage errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def snapshot(folder):
    """Every file under ``folder`` with the hash of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


CARELESS = {
    # Outputs that would replace an input, a folder or the working folder.
    "export replaces the folder holding its model": (
        "export --model runs/m.fercls --format saved_model --output runs",
        "holds the input runs/m.fercls",
    ),
    "export replaces the working folder": (
        "export --model runs/m.fercls --format saved_model --output .",
        "holds the input",
    ),
    "export replaces a folder of someone else's files": (
        "export --model runs/m.fercls --format saved_model --output mine",
        "holds files fercls did not write there (index.html)",
    ),
    "predict writes over its model": (
        "predict photos/a.png --model runs/m.fercls -o runs/m.fercls",
        "is also an input",
    ),
    "predict writes over a photo": ("predict photos --model DIR -o photos/a.png", "also an input"),
    "predict writes into its model folder": (
        "predict photos --model DIR -o DIR/fercls.json",
        "inside the input folder DIR",
    ),
    "export writes over its model folder's weights": (
        "export --model DIR --format h5 --output DIR/network-0.weights.h5",
        "inside the input folder DIR",
    ),
    "export's labels file lands on its model": (
        "export --model x.keras.labels.json --format keras --output x.keras",
        "labels file x.keras.labels.json is also an input",
    ),
    "evaluate writes over its model folder's card": (
        "evaluate data.zip --split PublicTest --model DIR -o DIR/fercls.json",
        "inside the input folder DIR",
    ),
    "evaluate writes over its data": (
        "evaluate data.zip --model DIR -o data.zip",
        "is also an input",
    ),
    "evaluate reports into its model folder": (
        "evaluate data.zip --model DIR --report DIR",
        "is also an input",
    ),
    "evaluate reports over someone's web page": (
        "evaluate data.zip --split PublicTest --model DIR --report mine",
        "holds files fercls did not write there",
    ),
    "info writes over its data": ("info data.zip -o data.zip", "is also an input"),
    "train saves over its data": ("train data.zip --output data.zip", "is also an input"),
    "train checkpoints over its output": (
        "train data.zip --output out.fercls --checkpoint out.fercls",
        "is also an input",
    ),
    "train reports over the folder of its data": (
        "train data.zip --output runs/new.fercls --report .",
        "holds the input",
    ),
    "video writes over its input": ("video clip.mp4 --output clip.mp4", "is also an input"),
    "video writes over its model": (
        "video clip.mp4 --model runs/m.fercls --output runs/m.fercls",
        "cannot write a video as .fercls",
    ),
    "video writes a text file": ("video clip.mp4 --output out.txt", "cannot write a video as .txt"),
    # Outputs that would replace a file of another kind that is not an input.
    "export writes over a photo": (
        "export --model runs/m.fercls --format tflite --output photos/a.png",
        "does not hold a TFLite model",
    ),
    "export writes over a model it does not read": (
        "export --model DIR --format tflite --output runs/m.fercls",
        "does not hold a TFLite model",
    ),
    "train saves over someone's notes": (
        "train data.zip --output runs/notes.txt",
        "does not hold a fercls model",
    ),
    "train checkpoints over a photo": (
        "train data.zip --output new.fercls --checkpoint photos/a.png",
        "does not hold a fercls model",
    ),
    "info writes over a model": ("info data.zip -o runs/m.fercls", "does not hold text"),
    "predict writes over a model it does not read": (
        "predict photos --model DIR -o runs/m.fercls",
        "does not hold text",
    ),
    "evaluate writes over a photo": (
        "evaluate data.zip --model DIR -o photos/a.png",
        "does not hold text",
    ),
    "video writes over a file that is not a video": (
        "video clip.mp4 --model DIR --output holiday.mov",
        "does not hold a video",
    ),
}


@pytest.mark.parametrize("command, message", CARELESS.values(), ids=CARELESS.keys())
def test_a_careless_output_is_refused_before_any_work_and_nothing_changes(
    room, capsys, command, message
):
    if "x.keras.labels.json" in command:
        (room / "x.keras.labels.json").write_bytes((room / "runs" / "m.fercls").read_bytes())
    before = snapshot(room)
    assert status(command.split()) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert snapshot(room) == before
    assert not [p for p in room.rglob("*") if p.name.startswith(".")], "a temporary was left"


def test_annotations_never_take_an_input_s_name(room, capsys):
    # The reproduction: ann/ holds a.jpg and an input called a.annotated.png.
    ann = room / "ann"
    ann.mkdir()
    (ann / "a.png").write_bytes((room / "photos" / "a.png").read_bytes())
    (ann / "a.annotated.png").write_bytes((room / "photos" / "a.png").read_bytes())
    before = snapshot(room)
    assert main(["predict", "ann", "--model", "DIR", "--annotate", "ann"]) == 0
    written = {k: v for k, v in snapshot(room).items() if k not in before}
    assert {k: v for k, v in snapshot(room).items() if k in before} == before
    assert sorted(written) == ["ann/a-2.annotated.png", "ann/a.annotated.annotated.png"]
    assert "ann/a.annotated.png: face at" in capsys.readouterr().out


def test_an_output_into_a_fifo_is_refused_and_the_fifo_stays(room, capsys):
    # As root, `-o /dev/null` would have replaced the device with a file.
    os.mkfifo(room / "pipe")
    assert status(["info", "data.zip", "-o", "pipe"]) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert (room / "pipe").is_fifo()


def test_a_previous_output_file_of_the_same_kind_is_replaced(room, capsys):
    export_tflite = ["export", "--model", "DIR", "--format", "tflite", "--output", "m.tflite"]
    assert main(export_tflite) == 0
    assert main(export_tflite) == 0  # an earlier TFLite export: replaced
    info = ["info", "data.zip", "-o", "summary.txt"]
    assert main(info) == 0
    assert main(info) == 0
    annotate = ["predict", "photos", "--model", "DIR", "--annotate", "ann"]
    assert main(annotate) == 0
    assert main(annotate) == 0
    assert sorted(p.name for p in (room / "ann").iterdir()) == ["a.annotated.png"]
    capsys.readouterr()


def test_a_previous_export_or_report_is_replaced(room, capsys):
    args = ["export", "--model", "DIR", "--format", "saved_model", "--output", "sm"]
    assert main(args) == 0
    assert main(args) == 0  # the folder holds exactly a SavedModel export: replaced
    assert (room / "sm" / "saved_model.pb").is_file()
    report = ["evaluate", "data.zip", "--split", "PublicTest", "--model", "DIR", "--report", "r"]
    assert main(report) == 0
    assert main(report) == 0
    assert (room / "r" / "index.html").is_file()
    capsys.readouterr()


def test_an_empty_working_folder_is_not_swapped_out(tmp_path, monkeypatch, capsys, classifier):
    fercls.save(classifier, tmp_path / "m.fercls")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    args = ["export", "--model", "../m.fercls", "--format", "saved_model", "--output", "."]
    assert status(args) == 2
    assert "is the working folder" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["empty", "m.fercls"]


def test_the_library_never_replaces_a_folder_it_did_not_write(room, classifier):
    with pytest.raises(
        ValueError, match=r"holds files fercls did not write there \(m.fercls, notes.txt\)"
    ):
        save_classifier(classifier, room / "runs")
    with pytest.raises(ValueError, match="holds files fercls did not write there"):
        export(classifier, room / "mine", format="saved_model")
    assert (room / "runs" / "notes.txt").read_text() == "my notes\n"
    save_classifier(classifier, room / "DIR")  # its own previous save: replaced
    assert sorted(os.listdir(room / "DIR")) == ["fercls.json", "network-0.weights.h5"]


# ----------------------------------------------- SIGTERM and SIGHUP clean up
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_termination_mid_write_leaves_nothing_half_written(tmp_path, name):
    signum = getattr(signal, name)

    def write(temporary):
        Path(temporary).write_text("half")
        os.kill(os.getpid(), signum)  # delivered here, mid-write
        Path(temporary).write_text("half and the rest")

    before = signal.getsignal(signum)
    with pytest.raises(Terminated, match=name), terminations_as_interrupts():
        write_atomic(tmp_path / "out.fercls", write)
    assert os.listdir(tmp_path) == []
    assert signal.getsignal(signum) is before  # the caller's handler is back


def test_a_termination_that_library_code_swallowed_is_raised_again():
    with terminations_as_interrupts():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except BaseException:  # as a bare `except:` in a library would
            pass
        with pytest.raises(Terminated, match="SIGTERM"):
            raise_if_terminated()
    raise_if_terminated()  # outside the block, nothing is pending


@pytest.mark.slow  # starts TensorFlow in another process
def test_sigterm_during_train_exits_143_and_leaves_no_temporaries(room):
    scratch = room / "tmp"
    scratch.mkdir()
    command = [sys.executable, "-m", "fercls.cli", "train", "data.zip", "--architecture"]
    command += [
        "simple",
        "--max-iter",
        "500",
        "--output",
        "out.fercls",
        "--checkpoint",
        "ck.fercls",
    ]
    env = {**os.environ, "TMPDIR": str(scratch)}
    process = subprocess.Popen(command, cwd=room, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (room / "ck.fercls").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the first checkpoint: saves now run every epoch
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "fercls: stopped by SIGTERM" in err
    assert not (room / "out.fercls").exists()
    assert [p.name for p in room.iterdir() if p.name.startswith(".")] == []
    assert list(scratch.iterdir()) == []


# ------------------------------------------------------ bounded memory
def test_predict_decodes_a_folder_a_batch_at_a_time(room, capsys, monkeypatch):
    """With a budget of one photo's pixels, each prediction call sees one photo:
    the folder is never decoded whole (ten 6000x6000 PNGs once took 2.2 GB)."""
    from fercls import photos
    from fercls.cli import _predict

    for i in range(3):
        (room / "photos" / f"b{i}.png").write_bytes((room / "photos" / "a.png").read_bytes())
    (room / "photos" / "broken.png").write_bytes(b"not a png")
    seen = []
    batches = photos.detect_emotions_batch

    def counting(images, *args, **kwargs):
        images = list(images)
        seen.append(len(images))
        return batches(images, *args, **kwargs)

    monkeypatch.setattr(photos, "detect_emotions_batch", counting)
    monkeypatch.setattr(_predict, "BATCH_PIXELS", 48 * 48)
    assert status(["predict", "photos", "--model", "DIR", "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert seen == [1, 1, 1, 1]
    assert err.count("\n") == 1 and "broken.png: not a readable image" in err
    results = json.loads(out)
    assert [r["file"].split("/")[-1] for r in results] == [
        "a.png",
        "b0.png",
        "b1.png",
        "b2.png",
        "broken.png",
    ]
    assert "error" in results[-1]


def test_a_train_limit_that_misses_a_class_says_what_to_do(room, capsys):
    assert status(["train", "data.zip", "--train-limit", "1", "--output", "m.fercls"]) == 1
    err = capsys.readouterr().err
    assert "the first 1 Training images hold no" in err and "raise --train-limit" in err
    assert not (room / "m.fercls").exists()
