"""fercls._io: outputs refused before any work starts; JSON we read checked in one place."""

from pathlib import Path

import pytest

from fercls._io import check_output_path, parse_json


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
