"""benchmarks/ and training/ say what each of their scripts is for."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _report():
    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_is_run_by_the_report_or_says_why_not():
    report = _report()
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    assert set(report.SCRIPTS) | set(report.NOT_RUN) == scripts
    assert not set(report.SCRIPTS) & set(report.NOT_RUN)
    assert all(len(reason) > 20 for reason in report.NOT_RUN.values())


@pytest.mark.parametrize("folder", ["benchmarks", "training"])
def test_every_script_is_listed_in_its_folders_readme(folder):
    readme = (ROOT / folder / "README.md").read_text()
    scripts = [p.name for p in (ROOT / folder).iterdir() if p.suffix in (".py", ".sh")]
    assert scripts
    assert [s for s in scripts if f"`{s}`" not in readme] == []
