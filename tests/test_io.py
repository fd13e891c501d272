"""fercls._io.check_output_path: outputs are refused before any work starts."""

from pathlib import Path

import pytest

from fercls._io import check_output_path


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
