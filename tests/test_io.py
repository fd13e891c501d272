"""fercls._io: outputs refused before any work starts; JSON we read checked in one place."""

import os
import stat
import threading
import zipfile
from pathlib import Path

import pytest
from helpers import zip_with

import fercls
from fercls._io import (
    TEXT_FILE,
    OutputFile,
    OutputFolder,
    check_output_path,
    parse_json,
    write_atomic,
    write_folder_atomic,
    zip_holding,
)


def test_a_new_file_in_a_writable_folder_passes_and_nothing_is_created(tmp_path):
    assert check_output_path(tmp_path / "new" / "deeper" / "model.fercls", "--output") is None
    assert check_output_path(tmp_path / "report", "--report", folder=True) is None
    (tmp_path / "existing").mkdir()
    assert check_output_path(tmp_path / "existing", "--report", folder=True) is None
    assert [p.name for p in tmp_path.iterdir()] == ["existing"]  # a check, not a mkdir
    assert not any((tmp_path / "existing").iterdir())


def test_an_input_is_never_an_output(tmp_path):
    data = tmp_path / "fer2013.zip"
    data.write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"--output .*fer2013.zip is also an input"):
        check_output_path(data, "--output", inputs=[None, data])
    # The same file by another spelling of its path.
    other = tmp_path / "sub" / ".." / "fer2013.zip"
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="is also an input"):
        check_output_path(other, "--output", inputs=[data])


def test_a_folder_is_not_a_file_and_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a folder; expected a file path"):
        check_output_path(tmp_path / "folder", "-o/--output")
    with pytest.raises(ValueError, match="is a file; expected a folder"):
        check_output_path(tmp_path / "file", "--report", folder=True)
    with pytest.raises(ValueError, match=r"file is a file, not a folder"):
        check_output_path(tmp_path / "file" / "out.txt", "-o/--output")


PNG_FILE = OutputFile("a PNG image", lambda _, head: head.startswith(b"\x89PNG"))


@pytest.mark.parametrize(
    "content, kind, replaceable",
    [
        pytest.param(b"", PNG_FILE, True, id="an empty file"),
        pytest.param(b"\x89PNG\r\n\x1a\n...", PNG_FILE, True, id="an earlier output"),
        pytest.param(b"\xff\xd8\xff\xe0 a JPEG", PNG_FILE, False, id="another kind"),
        pytest.param('émotion,pixels\n3,"1 2"\n'.encode(), TEXT_FILE, True, id="UTF-8 text"),
        pytest.param(b"PK\x03\x04\x00\x00", TEXT_FILE, False, id="a zip is not text"),
        pytest.param(b"caf\xc3", TEXT_FILE, True, id="text cut inside a character"),
        pytest.param(b"caf\xe9 latin-1", TEXT_FILE, False, id="bytes that are not UTF-8"),
    ],
)
def test_an_existing_file_is_replaced_only_by_its_own_kind(tmp_path, content, kind, replaceable):
    path = tmp_path / "out"
    path.write_bytes(content)
    if replaceable:
        check_output_path(path, "-o/--output", kind=kind)
    else:
        with pytest.raises(ValueError, match=f"the file exists and does not hold {kind.name}"):
            check_output_path(path, "-o/--output", kind=kind)
    assert path.read_bytes() == content


def test_a_zip_kind_looks_inside_the_archive(tmp_path):
    kind = OutputFile("a model", zip_holding("fercls.json"))
    ours = zip_with(tmp_path / "ours.zip", {"fercls.json": "{}"})
    data = zip_with(tmp_path / "data.zip", {"train/happy/1.png": b"x"})
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK but not a zip")
    check_output_path(ours, "--output", kind=kind)
    for other in (data, fake):
        with pytest.raises(ValueError, match="does not hold a model"):
            check_output_path(other, "--output", kind=kind)


def test_a_fifo_is_never_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="-o/--output .*pipe: is not a regular file"):
        check_output_path(fifo, "-o/--output", kind=TEXT_FILE)
    with pytest.raises(ValueError, match="is not a regular file"):
        write_atomic(fifo, lambda temporary: Path(temporary).write_text("x"))
    assert fifo.is_fifo()
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_a_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    # Faked: the tests may run as root, who can write in a read-only folder.
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr("fercls._io.os.access", lambda path, mode: Path(path) != locked)
    with pytest.raises(ValueError, match=r"--output .*: cannot write in .*locked"):
        check_output_path(locked / "sub" / "model.fercls", "--output")
    check_output_path(tmp_path / "model.fercls", "--output")


@pytest.mark.parametrize(
    ("data", "expected", "message"),
    [
        (b"\xff{}", dict, "m.json: not valid JSON"),
        (b"{", dict, "m.json: not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, list, "m.json: JSON nested too deeply"),
        (b"[1]", dict, "m.json: expected a JSON object, found list"),
        (b'{"a": 1}', list, "m.json: expected a JSON list, found dict"),
    ],
    ids=["bad utf-8", "bad json", "deep nesting", "list for object", "object for list"],
)
def test_bad_json_is_one_value_error_naming_the_file(data, expected, message):
    with pytest.raises(ValueError, match=message):
        parse_json(data, "m.json", expected=expected)


def test_good_json_is_returned():
    assert parse_json(b'{"a": [1]}', "m.json") == {"a": [1]}
    assert parse_json(b'["happy"]', "m.json", expected=list) == ["happy"]


# Bad input: forged zip sizes, file modes, concurrent and leftover temporaries
def test_a_member_that_lies_about_its_size_is_read_with_a_cap(tmp_path):
    from fercls._io import read_zip_member

    path = zip_with(tmp_path / "a.zip", {"big": b"\0" * 100_000})
    with zipfile.ZipFile(path) as archive:
        archive.getinfo("big").file_size = 10  # what a forged directory would claim
        with pytest.raises(ValueError, match="big"):
            read_zip_member(archive, "big", path, max_bytes=1000)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_the_umask_and_keep_an_existing_mode(
    tmp_path, umask_022, tiny_model_file
):
    new = write_atomic(tmp_path / "new.txt", lambda p: Path(p).write_text("x"))
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    write_atomic(kept, lambda p: Path(p).write_text("new"))
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    saved = fercls.save(fercls.load(tiny_model_file), tmp_path / "m.fercls")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o644
    folder = write_folder_atomic(tmp_path / "f", lambda p: Path(p, "a").write_text("x"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


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
