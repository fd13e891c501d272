"""Synthetic data for tests (importable from test modules; pytest puts tests/ on sys.path)."""

import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def make_faces(n_per_class=20, size=12, n_classes=3, seed=0):
    """Noisy uint8 images whose class is a texture: horizontal stripes, vertical
    stripes, a checkerboard, or none.

    The class does not depend on position, so global-average-pooled CNNs learn it
    in a few epochs and classifier tests can assert accuracy.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((size, size))
    textures = [rows % 2, cols % 2, (rows + cols) % 2, np.zeros((size, size), int)]
    labels = np.repeat(np.arange(n_classes), n_per_class)
    noise = rng.integers(0, 80, (len(labels), size, size))
    images = noise + 120 * np.stack([textures[label % 4] for label in labels])
    order = rng.permutation(len(labels))
    return images[order].astype(np.uint8), labels[order]


# Files for bad-input tests: PNG bytes, zips, damaged zips, rewritten model archives,
# and running the command line.
def encode_png(array, mode=None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array), mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_with(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(capsys, *argv):
    from fercls.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli_usage(capsys, *argv):
    """A command expected to fail as bad usage: argparse exits with 2."""
    from fercls.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    return exit_info.value.code, capsys.readouterr().err


def _patch_central_directory(path: Path, member: str, *, flags=None, method=None):
    """Rewrite one member's flag bits or compression method in both headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    offsets = [info.header_offset + 6]  # local header: flags at 6, method at 8
    start = data.rfind(b"PK\x01\x02", 0)
    while start != -1:
        (name_length,) = struct.unpack("<H", data[start + 28 : start + 30])
        if data[start + 46 : start + 46 + name_length].decode() == member:
            offsets.append(start + 8)  # central header: flags at 8, method at 10
        start = data.rfind(b"PK\x01\x02", 0, start)
    for offset in offsets:
        if flags is not None:
            data[offset : offset + 2] = struct.pack("<H", flags)
        if method is not None:
            data[offset + 2 : offset + 4] = struct.pack("<H", method)
    path.write_bytes(bytes(data))


def damaged_zip(tmp_path, kind):
    member = "train/happy/Training_1.png"
    face = encode_png(np.full((48, 48), 90, np.uint8))
    path = tmp_path / f"{kind}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, face)
    if kind == "bad crc":
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
        data = bytearray(path.read_bytes())
        data[info.header_offset + 14] ^= 0xFF  # the local header's CRC
        start = data.rfind(b"PK\x01\x02")
        data[start + 16] ^= 0xFF  # and the central directory's
        path.write_bytes(bytes(data))
    elif kind == "encrypted":
        _patch_central_directory(path, member, flags=0x1)
    elif kind == "unknown compression":
        _patch_central_directory(path, member, method=99)
    elif kind == "corrupt deflate":
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
        data = bytearray(path.read_bytes())
        body = info.header_offset + 30 + len(member)
        data[body : body + 20] = b"\xff" * 20
        path.write_bytes(bytes(data))
    return path


DAMAGED_ZIPS = ["bad crc", "encrypted", "unknown compression", "corrupt deflate"]


def rewrite_archive(tiny_model_file, target, edit):
    with zipfile.ZipFile(tiny_model_file) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "fercls.json":
                manifest = json.loads(data)
                edited = edit(manifest)
                data = edited if isinstance(edited, bytes) else json.dumps(manifest).encode()
            new.writestr(item, data)
    return target


def _state(manifest):
    return dict(manifest["object"]["state"]["__dict__"])


def _set_state(manifest, key, value):
    pairs = manifest["object"]["state"]["__dict__"]
    for pair in pairs:
        if pair[0] == key:
            pair[1] = value


MALFORMED_ARCHIVES = {
    "deeply nested arrays": lambda m: (
        b'{"format": "fercls", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    ),
    "object is a list": lambda m: m.update(object=[1, 2]),
    "params is a string": lambda m: m["object"].update(params="abc"),
    "unknown parameter": lambda m: m["object"].update(
        params={"__dict__": [["architecture", "simple"], ["bogus", 1]]}
    ),
    "invalid parameter value": lambda m: m["object"].update(
        params={"__dict__": [["architecture", "simple"], ["max_iter", -5]]}
    ),
    "state pairs of three": lambda m: m["object"].update(state={"__dict__": [[1, 2, 3]]}),
    "bad dtype": lambda m: _set_state(m, "classes_", {"__ndarray__": ["a"], "dtype": "xx"}),
    "ragged array": lambda m: _set_state(
        m, "classes_", {"__ndarray__": [[1], [1, 2]], "dtype": "<i8"}
    ),
    "network name not a string": lambda m: m["object"].update(network=5),
    "three classes on two outputs": lambda m: _set_state(
        m, "classes_", {"__ndarray__": ["a", "b", "c"], "dtype": "<U1"}
    ),
    "ten classes": lambda m: _set_state(
        m, "classes_", {"__ndarray__": list("abcdefghij"), "dtype": "<U1"}
    ),
    "image shape disagrees": lambda m: _set_state(m, "image_shape_", {"__tuple__": [24, 96]}),
    "pipeline steps not pairs": lambda m: m.update(
        object={"class": "sklearn.pipeline.Pipeline", "params": {}, "steps": [["a"]]}
    ),
}


def write_first_layout(classifier, target: Path, *, normalization="scale", card=None) -> Path:
    """``classifier`` as fercls' first model-folder layout (model.json +
    model.weights.h5), which fercls still reads but no longer writes."""
    import tempfile

    import fercls

    saved = fercls.save(classifier, Path(tempfile.mkdtemp()) / "model", folder=True)
    target.mkdir()
    (saved / "network-0.weights.h5").rename(target / "model.weights.h5")
    params = {k: v for k, v in classifier.get_params().items() if k != "random_state"}
    metadata = {
        "format_version": 1,
        "params": params,
        "classes": classifier.classes_.tolist(),
        "image_shape": list(classifier.image_shape_),
        "normalization": normalization,
        "n_iter": int(classifier.n_iter_),
        "best_iteration": classifier.best_iteration_,
        "card": card or {},
    }
    (target / "model.json").write_text(json.dumps(metadata, indent=2))
    return target
