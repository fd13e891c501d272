"""The command line's bad-input corpus: every subcommand against bad files,
careless outputs, pickles, damaged data and models, and the manifest fuzzed.

For each bad invocation: exit status 1 (2 for usage errors), exactly one
``fercls...: error:`` line on stderr, no traceback, nothing half-written beside
the outputs, and every input byte-identical afterwards. The Python API's corpus
is ``test_api_corpus.py``.
"""

import hashlib
import io
import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    DAMAGED_ZIPS,
    MALFORMED_ARCHIVES,
    damaged_zip,
    encode_png,
    rewrite_archive,
    run_cli,
    run_cli_usage,
    sha256_of,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import fercls
from fercls import FERClassifier
from fercls.cli import main


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    good = png(np.full((48, 48), 100))
    files = {
        "text.png": b"just text",
        "empty.png": b"",
        "truncated.png": good[:50],
        "text.zip": b"PK\x03\x04 not really a zip",
        "notes.txt": b"hello",
        "header_only.csv": b"emotion,pixels,Usage\n",
        "bad_row.csv": b"emotion,pixels,Usage\n3,1 2 3,Training\n",
        "model.joblib": b"not a pickle",
        "model.fercls": b"not a zip",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    with zipfile.ZipFile(root / "truncated.zip", "w") as archive:
        archive.writestr("train/happy/Training_1.png", good)
    (root / "truncated.zip").write_bytes((root / "truncated.zip").read_bytes()[:-30])
    with zipfile.ZipFile(root / "traversal.zip", "w") as archive:
        archive.writestr("../train/happy/Training_1.png", good)
    with zipfile.ZipFile(root / "no_manifest.fercls", "w") as archive:
        archive.writestr("network-0.keras", b"x")
    with zipfile.ZipFile(root / "crafted.fercls", "w") as archive:
        archive.writestr(
            "fercls.json",
            json.dumps({"format": "fercls", "format_version": 1, "object": {"class": "os.system"}}),
        )
    (root / "folder").mkdir()
    (root / "folder" / "x.png").write_bytes(good)
    (root / "a_file").write_bytes(b"x")
    return root


def _snapshot(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


C = "{corpus}"
CASES = [
    # (argv, expected exit status)
    (["info", f"{C}/text.png"], 1),
    (["info", f"{C}/text.zip"], 1),
    (["info", f"{C}/truncated.zip"], 1),
    (["info", f"{C}/traversal.zip"], 1),
    (["info", f"{C}/header_only.csv"], 1),
    (["info", f"{C}/bad_row.csv"], 1),
    (["info", f"{C}/missing.csv"], 1),
    (["train", f"{C}/bad_row.csv", "--output", "{out}/m.fercls"], 1),
    (["train", f"{C}/text.zip", "--output", "{out}/m.fercls"], 1),
    (["train", f"{C}/traversal.zip", "--output", f"{C}/traversal.zip"], 2),
    (["train", f"{C}/bad_row.csv", "--output", f"{C}/folder"], 2),
    (["train", f"{C}/bad_row.csv", "--output", f"{C}/a_file/m.fercls"], 2),
    (["train", f"{C}/bad_row.csv", "--max-iter", "0"], 2),
    (["evaluate", f"{C}/truncated.zip"], 1),
    (["evaluate", f"{C}/folder", "--model", f"{C}/model.fercls"], 1),
    (["evaluate", f"{C}/folder", "--model", f"{C}/no_manifest.fercls"], 1),
    (["evaluate", f"{C}/folder", "--model", f"{C}/crafted.fercls"], 1),
    (["evaluate", f"{C}/folder", "--model", f"{C}/model.joblib"], 1),
    (["evaluate", f"{C}/folder", "--model", f"{C}/model.joblib", "--allow-pickle"], 1),
    (["predict", f"{C}/text.png"], 1),
    (["predict", f"{C}/empty.png"], 1),
    (["predict", f"{C}/truncated.png"], 1),
    (["predict", f"{C}/missing.png"], 1),
    (["predict", f"{C}/folder", "--model", f"{C}/crafted.fercls"], 1),
    (["predict", f"{C}/folder", "-o", f"{C}/folder/x.png"], 2),
    (["predict", f"{C}/folder", "-o", f"{C}/folder"], 2),
    (["predict", f"{C}/folder", "--annotate", f"{C}/a_file"], 2),
    (["predict", f"{C}/folder", "--whole-image", "--annotate", "{out}/a"], 2),
    (["video", f"{C}/text.png", "--output", "{out}/v.mp4"], 1),
    (["video", f"{C}/missing.mp4", "--output", "{out}/v.mp4"], 1),
    (["video", f"{C}/text.png"], 1),
    (["video", f"{C}/text.png", "--output", f"{C}/text.png"], 2),
    (["export", "--format", "tflite", "--output", f"{C}/folder"], 2),
    (["export", "--format", "keras", "--model", f"{C}/model.fercls", "--output", "{out}/m"], 1),
    (["export", "--format", "keras", "--quantize", "int8", "--output", "{out}/m"], 2),
    (["export", "--format", "tflite", "--quantize", "int8", "--output", "{out}/m"], 1),
    (
        [
            "export",
            "--format",
            "tflite",
            "--quantize",
            "int8",
            "--data",
            f"{C}/traversal.zip",
            "--output",
            "{out}/m",
        ],
        1,
    ),
]


@pytest.mark.parametrize(("argv", "status"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_every_subcommand_fails_cleanly_on_bad_input(capsys, corpus, tmp_path, argv, status):
    before = _snapshot(corpus)
    argv = [a.replace(C, str(corpus)).replace("{out}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == status, err
    # Usage errors also print argparse's usage block; the error itself is one line.
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("fercls"), err
    if status == 1:
        assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert _snapshot(corpus) == before, "an input was changed"
    leftovers = [p.name for p in tmp_path.rglob(".*")]
    assert not leftovers, f"half-written files left behind: {leftovers}"


# ------------------------------------------------------- manifest fuzzing
@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.random((12, 16), dtype=np.float32)
    y = np.repeat(["happy", "sad"], 6)
    clf = FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("fuzz") / "m.fercls"
    fercls.save(clf, path)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    return members, X, clf.predict_proba(X)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON document."""
    yield prefix, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(document, path, new):
    if not path:
        return new
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return document


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_mutated_manifest_loads_to_a_working_model_or_is_a_value_error(archive, tmp_path, data):
    members, X, expected = archive
    manifest = json.loads(members["fercls.json"])
    paths = [p for p, _ in _paths(manifest)]
    path = data.draw(st.sampled_from(paths), label="path")
    if data.draw(st.booleans(), label="replace (else raw bytes)"):
        manifest = _replace(manifest, path, data.draw(JSON_VALUES, label="value"))
        text = json.dumps(manifest).encode()
    else:
        raw = bytearray(members["fercls.json"])
        position = data.draw(st.integers(0, len(raw) - 1), label="byte")
        raw[position] = data.draw(st.integers(0, 255), label="new byte")
        text = bytes(raw)
    target = tmp_path / "mutated.fercls"
    with zipfile.ZipFile(target, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, text if name == "fercls.json" else content)
    try:
        model = fercls.load(target)
    except ValueError:
        return
    proba = model.predict_proba(X)  # loaded: it must work like a model
    assert proba.shape == expected.shape and np.isfinite(proba).all()


# Bad input: pickles, careless outputs, damaged data and models, on the command line
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


@pytest.mark.parametrize("name", ["evil.fercls", "evil.joblib", "evil.pkl", "evil.model"])
@pytest.mark.parametrize("command", ["predict", "evaluate", "export", "video"])
def test_the_cli_never_unpickles_without_allow_pickle(capsys, tmp_path, name, command):
    marker = tmp_path / "marker"
    model = tmp_path / name
    model.write_bytes(pickle.dumps(_Payload(marker)))
    image = tmp_path / "face.png"
    image.write_bytes(encode_png(np.zeros((48, 48), np.uint8)))
    argv = {
        "predict": ["predict", image],
        "evaluate": ["evaluate", image],
        "export": ["export", "--format", "keras", "--output", tmp_path / "out.keras"],
        "video": ["video", image, "--output", tmp_path / "out.mp4"],
    }[command]
    code, _, err = run_cli(capsys, *argv, "--model", model)
    assert code == 1 and not marker.exists()
    assert err.count("\n") == 1 and "Traceback" not in err


def test_allow_pickle_reads_only_joblib_and_pkl_names(capsys, tmp_path):
    marker = tmp_path / "marker"
    model = tmp_path / "evil.fercls"
    model.write_bytes(pickle.dumps(_Payload(marker)))
    image = tmp_path / "face.png"
    image.write_bytes(encode_png(np.zeros((48, 48), np.uint8)))
    code, _, err = run_cli(capsys, "predict", image, "--model", model, "--allow-pickle")
    assert code == 1 and not marker.exists() and "not a .fercls archive" in err


def test_train_refuses_to_overwrite_its_input(capsys, tiny_data_zip, monkeypatch):
    before = sha256_of(tiny_data_zip)
    code, err = run_cli_usage(capsys, "train", tiny_data_zip, "--output", tiny_data_zip)
    assert code == 2 and "is also an input" in err and sha256_of(tiny_data_zip) == before


@pytest.mark.parametrize("kind", ["existing folder", "under a file", "checkpoint is input"])
def test_train_checks_outputs_before_any_work(capsys, tiny_data_zip, tmp_path, monkeypatch, kind):
    import fercls.datasets

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the output was checked")

    monkeypatch.setattr(fercls.datasets, "load_fer2013", no_loading)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.zip").write_bytes(b"x")
    extra = {
        "existing folder": ["--output", tmp_path / "folder"],
        "under a file": ["--output", tmp_path / "file.zip" / "model.fercls"],
        "checkpoint is input": ["--checkpoint", tiny_data_zip],
    }[kind]
    code, err = run_cli_usage(capsys, "train", tiny_data_zip, *extra)
    assert code == 2 and err.count("\n") == 1


@pytest.mark.parametrize("kind", DAMAGED_ZIPS)
def test_fercls_info_reports_damaged_zips_in_one_line(capsys, tmp_path, kind):
    code, _, err = run_cli(capsys, "info", damaged_zip(tmp_path, kind))
    assert code == 1 and err.count("\n") == 1 and "Training_1.png" in err


@pytest.mark.parametrize("kind", ["ten classes", "deeply nested arrays", "bad dtype"])
def test_malformed_archives_are_one_cli_line(capsys, tiny_model_file, tmp_path, kind):
    target = rewrite_archive(tiny_model_file, tmp_path / "m.fercls", MALFORMED_ARCHIVES[kind])
    image = tmp_path / "face.png"
    image.write_bytes(encode_png(np.zeros((48, 48), np.uint8)))
    code, _, err = run_cli(capsys, "predict", image, "--model", target)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


def test_predict_gives_a_16_bit_grey_the_probabilities_of_its_8_bit_twin(capsys, tmp_path):
    Image.fromarray(np.full((48, 48), 30000, np.uint16)).save(tmp_path / "a16.png")
    Image.fromarray(np.full((48, 48), 117, np.uint8)).save(tmp_path / "b8.png")
    code, out, _ = run_cli(
        capsys, "predict", tmp_path / "a16.png", tmp_path / "b8.png", "--format", "json"
    )
    rows = json.loads(out)
    assert code == 0
    assert rows[0]["faces"][0]["probabilities"] == rows[1]["faces"][0]["probabilities"]


def test_annotations_of_same_named_images_do_not_overwrite_each_other(capsys, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((48, 48), 100, np.uint8)).save(tmp_path / folder / "x.png")
    out = tmp_path / "annotated"
    code, stdout, _ = run_cli(
        capsys, "predict", tmp_path / "a", tmp_path / "b", "--annotate", out, "--format", "json"
    )
    assert code == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["x-2.annotated.png", "x.annotated.png"]
    assert [r["annotated"] for r in json.loads(stdout)] == [str(out / n) for n in written[::-1]]


def test_a_negative_train_limit_is_usage_error(capsys, tiny_data_zip):
    code, err = run_cli_usage(capsys, "train", tiny_data_zip, "--train-limit", "-290")
    assert code == 2 and "positive integer" in err


def test_info_on_a_header_only_csv_says_so(capsys, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("emotion,pixels,Usage\n")
    code, _, err = run_cli(capsys, "info", path)
    assert code == 1 and "no data rows" in err and err.count("\n") == 1


# Malformed data, models, images and videos (the malformed_files fixture): one line each
CLI_CASES = [
    ("info: missing data", ["info", "nowhere.zip"], r"nowhere\.zip"),
    ("info: data of the wrong layout", ["info", "{layout.zip}"], r"no images in the Kaggle layout"),
    ("info: traversal", ["info", "{traversal.zip}"], r"unsafe entry name"),
    ("train: CSV without columns", ["train", "{no_columns.csv}"], r"missing column"),
    (
        "evaluate: not a model",
        ["evaluate", "{good.csv}", "--model", "{notes.txt}"],
        r"not a .fercls archive or a saved model folder",
    ),
    (
        "evaluate: data zip as model",
        ["evaluate", "{good.csv}", "--model", "{layout.zip}"],
        r"not a fercls archive",
    ),
    ("predict: corrupt image", ["predict", "{corrupt.png}"], r"corrupt\.png"),
    ("predict: text as image", ["predict", "{not_an_image.jpg}"], r"not_an_image\.jpg"),
    ("predict: bomb", ["predict", "{bomb.png}"], r"too large|pixels"),
    ("predict: missing image", ["predict", "nowhere.png"], r"nowhere\.png"),
    (
        "predict --detect-faces: corrupt",
        ["predict", "--detect-faces", "{corrupt.png}"],
        r"corrupt\.png",
    ),
    ("video: missing file", ["video", "nowhere.mp4", "--output", "out.mp4"], r"nowhere\.mp4"),
    ("video: not a video", ["video", "{notes.txt}", "--output", "{out}"], r"notes\.txt"),
]


@pytest.mark.parametrize("argv, pattern", [pytest.param(a, p, id=name) for name, a, p in CLI_CASES])
def test_cli_refuses_malformed_input_with_one_line(
    capsys, malformed_files, tmp_path, argv, pattern
):
    names = {f"{{{name}}}": str(path) for name, path in malformed_files.items()}
    names["{out}"] = str(tmp_path / "out.mp4")
    code = main([names.get(a, a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("fercls: error: "), err
    assert re.search(pattern, err[0]), err[0]
    assert not (tmp_path / "out.mp4").exists(), "a failed command must not leave output"
