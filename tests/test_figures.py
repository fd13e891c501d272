"""Measured figures quoted in prose cannot drift from the measurements.

Every decimal figure in a checked passage (a README table row, a guide's
paragraph, a docstring) must be a value of the result files named for it,
as written there or scaled to a percentage, milliseconds or megabytes, at the
figure's own precision. A passage that quotes a figure no result file holds
fails here until the figure is measured (or the passage names the right file).
Pages generated from the same files (``docs/benchmarks.md``, the model card,
the tables the guides include) are not checked: they cannot drift.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ABLATIONS = ROOT / "training" / "results" / "ablations"  # the model card's 30-minute runs
CARD = ROOT / "src" / "fercls" / "models" / "fer2013_vgg_small" / "fercls.json"
# A figure matches a measured value as written, as a share (0.7024 -> 70.24 %),
# in milliseconds (s -> ms), megabytes (bytes -> MB) or thousands (MB -> GB, ms -> s);
# a signed change may be quoted by its size ("-27.1" -> "27 % faster").
SCALES = (1, 100, 1000, 1e-3, 1e-6)
# Figures with decimals, and whole percentages and multiples ("27 %", "2×").
FIGURE = re.compile(r"(?<![\w.,])(\d+(?:,\d{3})*\.\d+|\d+(?= ?%| ?×(?!\d)))")


def _values(node):
    """Every number anywhere in a JSON document."""
    if isinstance(node, bool):
        return
    if isinstance(node, (int, float)):
        yield float(node)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)


def _measured(*sources) -> set[str]:
    """The figures the sources support, as strings at 0 to 4 decimals."""
    found = set()
    for source in sources:
        path = {"model card": CARD, "ablations": ABLATIONS}.get(source, RESULTS / source)
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            for value in _values(json.loads(file.read_text())):
                for scale in SCALES:
                    for places in (0, 1, 2, 3, 4):
                        found.add(f"{abs(value) * scale:.{places}f}")
    return found


def _passage(file: str, start: str) -> str:
    """The line of ``file`` that starts with (or contains) ``start``."""
    lines = [line for line in (ROOT / file).read_text().splitlines() if start in line]
    assert len(lines) == 1, f"{file}: {len(lines)} lines hold {start!r}; expected one"
    return lines[0]


# (file, the passage's opening words, the result files that hold its figures)
PASSAGES = [
    ("README.md", "| `load_fer2013` of the Kaggle zip", ["load_data.json"]),
    ("README.md", "| `PixelStringParser` on all 35,887", ["parse_pixels.json"]),
    ("docs/guide/data.md", "file read the copy: ", ["load_data.json"]),
    ("docs/changelog.md", "same file, in any process, reads ", ["load_data.json"]),
    ("README.md", "| `FERClassifier.fit` vs plain `keras.Model.fit`", ["fit_overhead.json"]),
    ("README.md", "| a new network's first `fit`", ["fit_startup.json"]),
    ("README.md", "| single-image `predict_proba` of the bundled model", ["predict_latency.json"]),
    ("README.md", "| peak RSS fitting parser", ["fit_memory.json"]),
    ("README.md", "| TFLite int8 export of the bundled model", ["export_tflite.json"]),
    ("README.md", "| ONNX export of the bundled model", ["export_tflite.json"]),
    ("README.md", "| video, 640×480 frames with one face", ["video_fps.json"]),
    ("README.md", "| faces found in composed hard scenes", ["hard_faces.json"]),
    ("README.md", "| bundled model, FER2013 PrivateTest", ["model card"]),
    ("README.md", "| best PrivateTest accuracy from a 30-minute", ["ablations"]),
    ("README.md", "% with one view, ", ["model card"]),
    ("README.md", "It prints `PrivateTest accuracy:", ["model card"]),
    ("docs/guide/pretrained.md", "measures **", ["model card"]),
    ("docs/guide/pretrained.md", "| `None` (default) |", ["model card"]),
    ("docs/guide/pretrained.md", '| `"flip"` |', ["model card"]),
    ("docs/guide/pretrained.md", '| `"ten_crop"` |', ["model card"]),
    ("docs/guide/faces.md", "the median eye distance is", ["face_framing.json"]),
    ("docs/guide/faces.md", "frame's centre lies", ["face_framing.json"]),
    ("docs/guide/faces.md", "itself covers a median", ["face_framing_haar.json"]),
    ("docs/guide/faces.md", "640×480 frame took", ["video_fps.json"]),
    ("docs/guide/faces.md", "where the Haar cascade finds", ["hard_faces.json"]),
    ("docs/guide/faces.md", "little worse than Haar's (on 600", ["hard_faces.json"]),
    ("docs/guide/faces.md", "of MTCNN's against", ["hard_faces.json"]),
    ("docs/guide/faces.md", "classified right: ", ["hard_faces.json"]),
    ("docs/guide/faces.md", "after a 35° turn. Its price", ["hard_faces.json"]),
    ("docs/guide/faces.md", "the 600 faces turned by 35°", ["hard_faces.json"]),
    ("docs/guide/faces.md", "upright; on the composed scenes", ["hard_faces.json"]),
    ("docs/guide/faces.md", "of noise) ", ["hard_faces.json"]),
    ("docs/guide/distributed.md", "faster than one process with one thread", ["dask_predict.json"]),
    ("docs/guide/distributed.md", "1.39× faster than float32", ["precision_throughput.json"]),
    ("docs/guide/distributed.md", "two epochs of `vgg_small` on 4,096", ["multi_worker_fit.json"]),
    ("src/fercls/classifier.py", "bfloat16 trained ``vgg_small``", ["precision_throughput.json"]),
    ("src/fercls/_training.py", "a new network's fit of one epoch is", ["fit_startup.json"]),
    ("docs/changelog.md", "One epoch on 128 images: ", ["fit_startup.json"]),
    ("src/fercls/classifier.py", "runs it beat the warps on PrivateTest", ["ablations"]),
    ("src/fercls/classifier.py", "62.27 %, ``docs/model_card.md``", ["ablations"]),
]


@pytest.mark.parametrize(
    "file, start, sources", PASSAGES, ids=[f"{f}: {s[:40]}" for f, s, _ in PASSAGES]
)
def test_quoted_figures_are_measured_values(file, start, sources):
    passage = _passage(file, start)
    measured = _measured(*sources)
    figures = [f.replace(",", "") for f in FIGURE.findall(passage)]
    assert figures, f"{file}: no decimal figure in {passage!r}"
    unmeasured = [f for f in figures if f not in measured]
    assert not unmeasured, f"{file}: {unmeasured} are in no value of {sources}: {passage!r}"
