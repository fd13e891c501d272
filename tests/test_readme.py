"""The README's quickstart blocks run as written (on the real FER2013 zip)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- tested: tests/test_readme.py runs this block -->"


def readme_blocks():
    text = README.read_text()
    return re.findall(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, flags=re.S)


def test_readme_has_readme_blocks():
    assert len(readme_blocks()) == 2


@pytest.mark.parametrize("index", [0, 1])
def test_readme_block_runs(index, fer_zip, tmp_path, monkeypatch, capsys):
    code = readme_blocks()[index].replace("../shared/data/fer2013.zip", str(fer_zip))
    monkeypatch.chdir(tmp_path)  # the block writes fer.fercls into the working folder
    exec(compile(code, f"README block {index}", "exec"), {})
    out = capsys.readouterr().out
    if index == 0:
        accuracy = float(re.search(r"PrivateTest accuracy: ([0-9.]+)", out).group(1))
        assert accuracy > 0.5
    else:
        assert (tmp_path / "fer.fercls").exists()
