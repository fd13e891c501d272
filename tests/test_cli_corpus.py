"""Every subcommand against a corpus of bad inputs, and the manifest fuzzed.

For each bad invocation: exit status 1 (2 for usage errors), exactly one
``fercls...: error:`` line on stderr, no traceback, nothing half-written beside
the outputs, and every input byte-identical afterwards.
"""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
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
