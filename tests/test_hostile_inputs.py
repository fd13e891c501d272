"""Issue 16's reproductions, one test each: hostile files, careless commands and
silent corruption. Every one of these failed before the fix."""

import hashlib
import io
import json
import os
import pickle
import stat
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fercls
from fercls import FERClassifier, PixelStringParser, load_fer2013
from fercls._io import OutputFolder, write_atomic, write_folder_atomic
from fercls.cli import main
from fercls.preprocessing import parse_pixel_strings


def png(array, mode=None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array), mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def face_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_usage(capsys, *argv):
    """A command expected to fail as bad usage: argparse exits with 2."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    return exit_info.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny fitted 48x48 classifier saved as .fercls."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (16, 2304)).astype(np.float32) / 255
    y = np.repeat(["happy", "sad"], 8)
    clf = FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.fercls"
    fercls.save(clf, path)
    return path


@pytest.fixture(scope="module")
def data_zip(tmp_path_factory):
    rng = np.random.default_rng(1)
    members = {}
    for i in range(8):
        folder, prefix = ("train", "Training") if i < 6 else ("test", "PublicTest")
        emotion = ("happy", "sad")[i % 2]
        image = rng.integers(0, 255, (48, 48)).astype(np.uint8)
        members[f"{folder}/{emotion}/{prefix}_{i}.png"] = png(image)
    return face_zip(tmp_path_factory.mktemp("data") / "data.zip", members)


# ------------------------------------------------------------- 1. unpickling
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
    image.write_bytes(png(np.zeros((48, 48), np.uint8)))
    argv = {
        "predict": ["predict", image],
        "evaluate": ["evaluate", image],
        "export": ["export", "--format", "keras", "--output", tmp_path / "out.keras"],
        "video": ["video", image, "--output", tmp_path / "out.mp4"],
    }[command]
    code, _, err = run(capsys, *argv, "--model", model)
    assert code == 1 and not marker.exists()
    assert err.count("\n") == 1 and "Traceback" not in err


def test_allow_pickle_reads_only_joblib_and_pkl_names(capsys, tmp_path):
    marker = tmp_path / "marker"
    model = tmp_path / "evil.fercls"
    model.write_bytes(pickle.dumps(_Payload(marker)))
    image = tmp_path / "face.png"
    image.write_bytes(png(np.zeros((48, 48), np.uint8)))
    code, _, err = run(capsys, "predict", image, "--model", model, "--allow-pickle")
    assert code == 1 and not marker.exists() and "not a .fercls archive" in err


# ---------------------------------------------------- 2. train destroys data
def test_train_refuses_to_overwrite_its_input(capsys, data_zip, monkeypatch):
    before = digest(data_zip)
    code, err = run_usage(capsys, "train", data_zip, "--output", data_zip)
    assert code == 2 and "is also an input" in err and digest(data_zip) == before


@pytest.mark.parametrize("kind", ["existing folder", "under a file", "checkpoint is input"])
def test_train_checks_outputs_before_any_work(capsys, data_zip, tmp_path, monkeypatch, kind):
    import fercls.datasets

    def no_loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the output was checked")

    monkeypatch.setattr(fercls.datasets, "load_fer2013", no_loading)
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.zip").write_bytes(b"x")
    extra = {
        "existing folder": ["--output", tmp_path / "folder"],
        "under a file": ["--output", tmp_path / "file.zip" / "model.fercls"],
        "checkpoint is input": ["--checkpoint", data_zip],
    }[kind]
    code, err = run_usage(capsys, "train", data_zip, *extra)
    assert code == 2 and err.count("\n") == 1


# ------------------------------------------------------ 3. zip bomb manifest
def test_a_huge_manifest_is_refused_before_it_is_inflated(model_file, tmp_path):
    bomb = tmp_path / "bomb.fercls"
    with zipfile.ZipFile(model_file) as old, zipfile.ZipFile(bomb, "w") as new:
        for item in old.infolist():
            if item.filename != "fercls.json":
                new.writestr(item, old.read(item))
        new.writestr("fercls.json", b" " * (40 * 1024**2), compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2 * 1024**2
    with pytest.raises(ValueError, match="fercls.json claims .* bytes uncompressed"):
        fercls.load(bomb)


def test_a_member_that_lies_about_its_size_is_read_with_a_cap(tmp_path):
    from fercls._io import read_zip_member

    path = face_zip(tmp_path / "a.zip", {"big": b"\0" * 100_000})
    with zipfile.ZipFile(path) as archive:
        archive.getinfo("big").file_size = 10  # what a forged directory would claim
        with pytest.raises(ValueError, match="big"):
            read_zip_member(archive, "big", path, max_bytes=1000)


# ---------------------------------------------------------- 4. hostile data
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


def _hostile_zip(tmp_path, kind):
    member = "train/happy/Training_1.png"
    face = png(np.full((48, 48), 90, np.uint8))
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


HOSTILE_ZIPS = ["bad crc", "encrypted", "unknown compression", "corrupt deflate"]


@pytest.mark.parametrize("kind", HOSTILE_ZIPS)
def test_damaged_zip_members_are_value_errors_naming_the_member(tmp_path, kind):
    path = _hostile_zip(tmp_path, kind)
    with pytest.raises(ValueError, match="Training_1.png"):
        load_fer2013(path)


@pytest.mark.parametrize("kind", HOSTILE_ZIPS)
def test_fercls_info_reports_damaged_zips_in_one_line(capsys, tmp_path, kind):
    code, _, err = run(capsys, "info", _hostile_zip(tmp_path, kind))
    assert code == 1 and err.count("\n") == 1 and "Training_1.png" in err


def test_a_decompression_bomb_image_is_a_value_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 48x48 is then a "bomb"
    path = face_zip(
        tmp_path / "d.zip", {"train/happy/Training_1.png": png(np.zeros((48, 48), np.uint8))}
    )
    with pytest.raises(ValueError, match="Training_1.png.*not a readable image"):
        load_fer2013(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need POSIX")
def test_a_fifo_in_an_image_folder_is_refused_without_blocking(tmp_path):
    folder = tmp_path / "train" / "happy"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "x.png")
    with pytest.raises(ValueError, match="x.png: not a regular file"):
        load_fer2013(tmp_path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_symlink_to_a_device_is_not_read(tmp_path):
    folder = tmp_path / "train" / "happy"
    folder.mkdir(parents=True)
    (folder / "x.png").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="x.png: not a regular file"):
        load_fer2013(tmp_path)


# ------------------------------------------------- 5./6. malformed archives
def _rewrite(model_file, target, edit):
    with zipfile.ZipFile(model_file) as old, zipfile.ZipFile(target, "w") as new:
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


MALFORMED = {
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


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_archives_are_one_value_error(model_file, tmp_path, kind):
    target = _rewrite(model_file, tmp_path / "m.fercls", MALFORMED[kind])
    with pytest.raises(ValueError, match=str(target)):
        fercls.load(target)


@pytest.mark.parametrize("kind", ["ten classes", "deeply nested arrays", "bad dtype"])
def test_malformed_archives_are_one_cli_line(capsys, model_file, tmp_path, kind):
    target = _rewrite(model_file, tmp_path / "m.fercls", MALFORMED[kind])
    image = tmp_path / "face.png"
    image.write_bytes(png(np.zeros((48, 48), np.uint8)))
    code, _, err = run(capsys, "predict", image, "--model", target)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


def test_non_finite_weights_are_refused_on_load(model_file, tmp_path):
    model = fercls.load(model_file)
    weights = model.model_.get_weights()
    weights[0][...] = np.nan
    model.model_.set_weights(weights)
    fercls.save(model, tmp_path / "nan.fercls")
    with pytest.raises(ValueError, match="not finite"):
        fercls.load(tmp_path / "nan.fercls")


def test_a_model_folder_with_contradicting_classes_is_refused(tmp_path):
    from fercls.pretrained import PRETRAINED_DIR, load_classifier

    source = Path(fercls.__file__).parent / PRETRAINED_DIR
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.weights.h5").write_bytes((source / "model.weights.h5").read_bytes())
    metadata = json.loads((source / "model.json").read_text())
    metadata["classes"] = metadata["classes"][:3]
    (folder / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="model.weights.h5: cannot load the weights"):
        load_classifier(folder)
    metadata["classes"] = "angry"
    (folder / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="classes must be a list"):
        load_classifier(folder)


# ------------------------------------------------------------- 7. parser
def test_a_row_with_a_line_break_cannot_shift_the_next_rows():
    with pytest.raises(ValueError, match="row 0: .*line break"):
        parse_pixel_strings(["1 2\n3 4", ""], 2)
    with pytest.raises(ValueError, match="row 0"):
        parse_pixel_strings(["1 2\n3 4", "5 6"], 2)
    assert parse_pixel_strings([" 1 2\n"], 2).tolist() == [[1, 2]]  # edges may be ragged


def test_a_csv_field_holding_two_images_names_its_row(tmp_path):
    row = " ".join(["7"] * 2304)
    path = tmp_path / "fer.csv"
    path.write_text(f'emotion,pixels,Usage\n3,"{row}\n{row}",Training\n4,,Training\n')
    with pytest.raises(ValueError, match="row 0"):
        load_fer2013(path)


# ----------------------------------------------------- 8. deep images
def test_16_bit_pngs_are_scaled_not_clipped(tmp_path):
    grey16 = np.full((48, 48), 30000, np.uint16)
    path = face_zip(tmp_path / "d.zip", {"train/happy/Training_1.png": png(grey16)})
    assert load_fer2013(path).data.max() == round(30000 / 65535 * 255)


def test_float_tiffs_are_scaled_by_their_range(tmp_path):
    from fercls.faces import read_image

    path = tmp_path / "half.tif"
    Image.fromarray(np.full((48, 48), 0.5, np.float32), mode="F").save(path)
    assert read_image(path).max() == 128


def test_predict_gives_a_16_bit_grey_the_probabilities_of_its_8_bit_twin(capsys, tmp_path):
    Image.fromarray(np.full((48, 48), 30000, np.uint16)).save(tmp_path / "a16.png")
    Image.fromarray(np.full((48, 48), 117, np.uint8)).save(tmp_path / "b8.png")
    code, out, _ = run(
        capsys, "predict", tmp_path / "a16.png", tmp_path / "b8.png", "--format", "json"
    )
    rows = json.loads(out)
    assert code == 0
    assert rows[0]["faces"][0]["probabilities"] == rows[1]["faces"][0]["probabilities"]


# ------------------------------------------------------------- 9. modes
@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_the_umask_and_keep_an_existing_mode(tmp_path, umask_022, model_file):
    new = write_atomic(tmp_path / "new.txt", lambda p: Path(p).write_text("x"))
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_atomic(kept, lambda p: Path(p).write_text("new"))
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    saved = fercls.save(fercls.load(model_file), tmp_path / "m.fercls")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o644
    folder = write_folder_atomic(tmp_path / "f", lambda p: Path(p, "a").write_text("x"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


# ------------------------------------------------------- 10. pipeline memory
def test_a_pipeline_cache_folder_from_an_archive_is_refused(model_file, tmp_path):
    from sklearn.pipeline import Pipeline

    pipe = Pipeline([("clf", fercls.load(model_file))])
    fercls.save(pipe, tmp_path / "p.fercls")

    def add_memory(manifest):
        manifest["object"]["params"] = {"__dict__": [["memory", str(tmp_path / "cache")]]}

    target = _rewrite(tmp_path / "p.fercls", tmp_path / "evil.fercls", add_memory)
    with pytest.raises(ValueError, match="memory="):
        fercls.load(target)


# ---------------------------------------------------------- 11. estimator
@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    return rng.random((12, 16), dtype=np.float32), np.repeat(["happy", "sad"], 6)


def test_class_weight_naming_an_unknown_class_is_an_error(tiny):
    X, y = tiny
    clf = FERClassifier("simple", max_iter=1, class_weight={"hapy": 100})
    with pytest.raises(ValueError, match=r"class_weight names classes \['hapy'\]"):
        clf.fit(X, y)


def test_partial_fit_classes_must_cover_y(tiny):
    X, y = tiny
    with pytest.raises(ValueError, match=r"not in classes=\['a', 'b'\]"):
        FERClassifier("simple").partial_fit(X, y, classes=["a", "b"])
    clf = FERClassifier("simple", augment=False).partial_fit(X, y, classes=["happy", "sad", "x"])
    assert clf.classes_.tolist() == ["happy", "sad", "x"]


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda X, y: (X.astype(np.float64) * 1e39, y), "beyond float32"),
        (lambda X, y: (X, np.array([None, *y[1:]], dtype=object)), r"y\[0\] is None"),
        (lambda X, y: (X, None), "the target y is None"),
    ],
    ids=["1e39", "None label", "y None"],
)
def test_bad_fit_data_is_a_clear_value_error(tiny, mutate, pattern):
    X, y = mutate(*tiny)
    with pytest.raises(ValueError, match=pattern):
        FERClassifier("simple", max_iter=1).fit(X, y)


def test_callbacks_must_be_keras_callbacks(tiny):
    with pytest.raises(ValueError, match="callbacks must be a list"):
        FERClassifier("simple", max_iter=1).fit(*tiny, callbacks="abc")


def test_the_parser_refuses_none_clearly():
    with pytest.raises(ValueError, match="got NoneType"):
        PixelStringParser().transform(None)


# ---------------------------------------------------- 12. temporary names
def test_concurrent_writers_to_one_path_never_share_a_temporary(tmp_path):
    target = tmp_path / "out.bin"
    errors = []

    def writer(byte):
        try:
            for _ in range(20):
                write_atomic(target, lambda p: Path(p).write_bytes(bytes([byte]) * 100_000))
        except Exception as exc:  # noqa: BLE001 - any failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    content = target.read_bytes()
    assert not errors and len(set(content)) == 1 and len(content) == 100_000
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_leftover_old_folder_does_not_block_a_folder_write(tmp_path):
    (tmp_path / ".NAME.old").mkdir()
    (tmp_path / ".NAME.old" / "junk").write_text("x")
    for content in ("first", "second"):
        write_folder_atomic(
            tmp_path / "NAME",
            lambda p, c=content: Path(p, "f").write_text(c),
            kind=OutputFolder("f"),
        )
    assert (tmp_path / "NAME" / "f").read_text() == "second"


def test_two_video_writers_get_distinct_temporaries(tmp_path):
    from fercls._io import unique_sibling

    a, b = unique_sibling(tmp_path / "v.mp4", suffix=".mp4"), unique_sibling(tmp_path / "v.mp4")
    assert a != b and a.exists() and b.exists()


# ------------------------------------------------------- 13. smaller gaps
def test_annotations_of_same_named_images_do_not_overwrite_each_other(capsys, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((48, 48), 100, np.uint8)).save(tmp_path / folder / "x.png")
    out = tmp_path / "annotated"
    code, stdout, _ = run(
        capsys, "predict", tmp_path / "a", tmp_path / "b", "--annotate", out, "--format", "json"
    )
    assert code == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["x-2.annotated.png", "x.annotated.png"]
    assert [r["annotated"] for r in json.loads(stdout)] == [str(out / n) for n in written[::-1]]


def test_a_negative_train_limit_is_usage_error(capsys, data_zip):
    code, err = run_usage(capsys, "train", data_zip, "--train-limit", "-290")
    assert code == 2 and "positive integer" in err


def test_info_on_a_header_only_csv_says_so(capsys, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("emotion,pixels,Usage\n")
    code, _, err = run(capsys, "info", path)
    assert code == 1 and "no data rows" in err and err.count("\n") == 1


def test_archives_name_public_classes_and_files_with_the_former_private_names_load(
    model_file, tmp_path
):
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import Pipeline

    pipe = Pipeline(
        [("sampler", RandomOverSampler(random_state=0)), ("clf", fercls.load(model_file))]
    )
    fercls.save(pipe, tmp_path / "p.fercls")
    with zipfile.ZipFile(tmp_path / "p.fercls") as archive:
        text = archive.read("fercls.json").decode()
    assert '"imblearn.over_sampling.RandomOverSampler"' in text and '"fercls.FERClassifier"' in text

    def former(manifest):
        return (
            json.dumps(manifest)
            .replace(
                '"imblearn.over_sampling.RandomOverSampler"',
                '"imblearn.over_sampling._random_over_sampler.RandomOverSampler"',
            )
            .replace('"fercls.FERClassifier"', '"fercls.classifier.FERClassifier"')
            .encode()
        )

    old = _rewrite(tmp_path / "p.fercls", tmp_path / "old.fercls", former)
    loaded = fercls.load(old)
    assert isinstance(loaded.steps[0][1], RandomOverSampler)
    X = np.zeros((2, 2304), np.float32)
    np.testing.assert_allclose(loaded.predict_proba(X), pipe.predict_proba(X))
