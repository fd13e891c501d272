"""The Python API against a corpus of malformed inputs (the command line's
corpus is ``test_cli_corpus.py``; both read the ``malformed_files`` fixture).

Each must be refused with a ValueError/TypeError whose message names what was
wrong; none may be accepted, and none may surface as an error from deep inside
TensorFlow.
"""

import io

import numpy as np
import pytest
from PIL import Image

import fercls
from fercls import FaceCropper, FERClassifier, PixelNormalizer, PixelStringParser, load_fer2013

FER_ROW = " ".join(["128"] * 2304)


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def fitted():
    """A tiny fitted classifier on 4×4 images of two classes."""
    rng = np.random.default_rng(0)
    X = rng.random((20, 16), dtype=np.float32)
    y = np.repeat(["happy", "sad"], 10)
    return FERClassifier("simple", max_iter=1, augment=False, random_state=0).fit(X, y)


# (name, call, exception, message pattern). The call receives (fitted, files).
API_CASES = [
    # --- pixel strings
    (
        "parser: wrong length",
        lambda m, f: PixelStringParser().transform(["1 2 3"]),
        ValueError,
        r"row 0.*2304",
    ),
    (
        "parser: non-numeric",
        lambda m, f: PixelStringParser(n_pixels=3).transform(["1 x 3"]),
        ValueError,
        r"row 0",
    ),
    (
        "parser: out of range",
        lambda m, f: PixelStringParser(n_pixels=3).transform(["1 2 256"]),
        ValueError,
        r"row 0.*0\.\.255|255",
    ),
    (
        "parser: negative",
        lambda m, f: PixelStringParser(n_pixels=3).transform(["1 -2 3"]),
        ValueError,
        r"row 0",
    ),
    (
        "parser: missing (None)",
        lambda m, f: PixelStringParser(n_pixels=3).transform(["1 2 3", None]),
        ValueError,
        r"row 1",
    ),
    (
        "parser: missing (NaN)",
        lambda m, f: PixelStringParser(n_pixels=3).transform(["1 2 3", np.nan]),
        ValueError,
        r"row 1",
    ),
    (
        "parser: empty string",
        lambda m, f: PixelStringParser(n_pixels=3).transform([""]),
        ValueError,
        r"row 0",
    ),
    ("parser: empty input", lambda m, f: PixelStringParser().transform([]), ValueError, r"empty"),
    (
        "parser: a single string",
        lambda m, f: PixelStringParser().transform(FER_ROW),
        ValueError,
        r"single string",
    ),
    (
        "parser: float pixels out of range",
        lambda m, f: PixelStringParser(n_pixels=2).transform(np.array([[0.0, 300.0]])),
        ValueError,
        r"0\.\.255|255",
    ),
    (
        "parser: bad n_pixels",
        lambda m, f: PixelStringParser(n_pixels=0).fit(["1"]),
        ValueError,
        r"n_pixels",
    ),
    # --- normaliser
    ("normalizer: NaN", lambda m, f: PixelNormalizer().fit([[0.0, np.nan]]), ValueError, r"NaN"),
    (
        "normalizer: inf",
        lambda m, f: PixelNormalizer().fit([[0.0, np.inf]]),
        ValueError,
        r"infinity",
    ),
    (
        "normalizer: empty",
        lambda m, f: PixelNormalizer().fit(np.empty((0, 4))),
        ValueError,
        r"0 sample",
    ),
    (
        "normalizer: strings",
        lambda m, f: PixelNormalizer().fit([["a", "b"]]),
        ValueError,
        r"string|float|numeric",
    ),
    (
        "normalizer: bad method",
        lambda m, f: PixelNormalizer(method="zscore").fit([[0, 1]]),
        ValueError,
        r"method",
    ),
    (
        "normalizer: wrong width",
        lambda m, f: PixelNormalizer().fit([[0, 1]]).transform([[0, 1, 2]]),
        ValueError,
        r"3 features.*expect.*2",
    ),
    # --- classifier fit
    (
        "fit: empty X",
        lambda m, f: FERClassifier().fit(np.empty((0, 16)), []),
        ValueError,
        r"0 sample",
    ),
    (
        "fit: NaN",
        lambda m, f: FERClassifier().fit([[np.nan] * 4, [0.0] * 4], [0, 1]),
        ValueError,
        r"NaN",
    ),
    (
        "fit: inf",
        lambda m, f: FERClassifier().fit([[np.inf] * 4, [0.0] * 4], [0, 1]),
        ValueError,
        r"infinity",
    ),
    (
        "fit: one class",
        lambda m, f: FERClassifier().fit(np.zeros((4, 4)), [1, 1, 1, 1]),
        ValueError,
        r"at least two classes",
    ),
    (
        "fit: length mismatch",
        lambda m, f: FERClassifier().fit(np.zeros((4, 4)), [0, 1]),
        ValueError,
        r"inconsistent numbers of samples",
    ),
    (
        "fit: continuous y",
        lambda m, f: FERClassifier().fit(np.zeros((4, 4)), [0.1, 0.2, 0.3, 0.4]),
        ValueError,
        r"Unknown label type|continuous",
    ),
    (
        "fit: image_shape mismatch",
        lambda m, f: FERClassifier(image_shape=(5, 5)).fit(np.zeros((4, 16)), [0, 1, 0, 1]),
        ValueError,
        r"image_shape=\(5, 5\) needs 25 features.*16",
    ),
    (
        "fit: 5-D input",
        lambda m, f: FERClassifier().fit(np.zeros((4, 2, 2, 2, 1)), [0, 1, 0, 1]),
        ValueError,
        r"shape",
    ),
    (
        "fit: unknown architecture",
        lambda m, f: FERClassifier("resnet9000").fit(np.zeros((4, 4)), [0, 1, 0, 1]),
        ValueError,
        r"architecture.*resnet9000",
    ),
    (
        "fit: max_iter=0",
        lambda m, f: FERClassifier(max_iter=0).fit(np.zeros((4, 4)), [0, 1, 0, 1]),
        ValueError,
        r"max_iter",
    ),
    (
        "fit: negative batch",
        lambda m, f: FERClassifier(batch_size=-1).fit(np.zeros((4, 4)), [0, 1, 0, 1]),
        ValueError,
        r"batch_size",
    ),
    (
        "fit: bad schedule",
        lambda m, f: FERClassifier(learning_rate="fast").fit(np.zeros((4, 4)), [0, 1, 0, 1]),
        ValueError,
        r"learning_rate",
    ),
    (
        "fit: label_smoothing>1",
        lambda m, f: FERClassifier(label_smoothing=2.0).fit(np.zeros((4, 4)), [0, 1, 0, 1]),
        ValueError,
        r"label_smoothing",
    ),
    (
        "fit: bad sample_weight",
        lambda m, f: FERClassifier().fit(np.zeros((4, 4)), [0, 1, 0, 1], sample_weight=[1, 2]),
        ValueError,
        r"sample_weight",
    ),
    # --- fitted classifier
    (
        "predict: wrong feature count",
        lambda m, f: m.predict(np.zeros((2, 9))),
        ValueError,
        r"9 features.*expect.*16",
    ),
    (
        "predict: wrong image shape",
        lambda m, f: m.predict(np.zeros((2, 3, 3))),
        ValueError,
        r"images of shape \(3, 3\).*\(4, 4\)",
    ),
    ("predict: NaN", lambda m, f: m.predict(np.full((1, 16), np.nan)), ValueError, r"NaN"),
    ("predict: empty", lambda m, f: m.predict(np.empty((0, 16))), ValueError, r"0 sample"),
    (
        "score: unseen labels",
        lambda m, f: m.score(np.zeros((2, 16)), ["happy", "angry"]),
        ValueError,
        r"\['angry'\] that the model never saw",
    ),
    (
        "partial_fit: unseen labels",
        lambda m, f: m.partial_fit(np.zeros((2, 16)), ["happy", "angry"]),
        ValueError,
        r"\['angry'\] were not seen",
    ),
    (
        "unfitted predict",
        lambda m, f: FERClassifier().predict(np.zeros((1, 4))),
        ValueError,
        r"not fitted",
    ),
    # --- loaders
    (
        "load_fer2013: missing file",
        lambda m, f: load_fer2013("nowhere.csv"),
        FileNotFoundError,
        r"nowhere\.csv",
    ),
    (
        "load_fer2013: CSV without columns",
        lambda m, f: load_fer2013(f["no_columns.csv"]),
        ValueError,
        r"missing column.*emotion.*pixels",
    ),
    (
        "load_fer2013: emotion id",
        lambda m, f: load_fer2013(f["bad_emotion.csv"]),
        ValueError,
        r"row 0: emotion 9",
    ),
    (
        "load_fer2013: short pixel row",
        lambda m, f: load_fer2013(f["short_row.csv"]),
        ValueError,
        r"row 0",
    ),
    (
        "load_fer2013: unknown Usage",
        lambda m, f: load_fer2013(f["bad_usage.csv"]),
        ValueError,
        r"Validation",
    ),
    (
        "load_fer2013: binary CSV",
        lambda m, f: load_fer2013(f["binary.csv"]),
        ValueError,
        r"binary\.csv",
    ),
    (
        "load_fer2013: truncated gzip",
        lambda m, f: load_fer2013(f["truncated.csv.gz"]),
        ValueError,
        r"truncated\.csv\.gz",
    ),
    (
        "load_fer2013: unknown format",
        lambda m, f: load_fer2013(f["notes.txt"]),
        ValueError,
        r"expected the challenge CSV",
    ),
    (
        "load_fer2013: zip layout",
        lambda m, f: load_fer2013(f["layout.zip"]),
        ValueError,
        r"no images in the Kaggle layout",
    ),
    (
        "load_fer2013: zip traversal",
        lambda m, f: load_fer2013(f["traversal.zip"]),
        ValueError,
        r"unsafe entry name '\.\./train",
    ),
    (
        "load_fer2013: zip absolute path",
        lambda m, f: load_fer2013(f["absolute.zip"]),
        ValueError,
        r"unsafe entry name '/train",
    ),
    (
        "load_fer2013: unknown emotion folder",
        lambda m, f: load_fer2013(f["emotion_folder.zip"]),
        ValueError,
        r"joyful",
    ),
    (
        "load_fer2013: truncated image",
        lambda m, f: load_fer2013(f["truncated_image.zip"]),
        ValueError,
        r"Training_1\.png: not a readable image",
    ),
    (
        "load_fer2013: wrong image size",
        lambda m, f: load_fer2013(f["wrong_size.zip"]),
        ValueError,
        r"64x64, expected 48x48",
    ),
    (
        "load_fer2013: text as image",
        lambda m, f: load_fer2013(f["text_image.zip"]),
        ValueError,
        r"not a readable image",
    ),
    (
        "load_fer2013: decompression bomb",
        lambda m, f: load_fer2013(f["bomb.zip"]),
        ValueError,
        r"12000x12000, expected 48x48",
    ),
    # --- photos and faces
    (
        "read_image: corrupt",
        lambda m, f: FaceCropper().transform([f["corrupt.png"]]),
        ValueError,
        r"corrupt\.png",
    ),
    (
        "read_image: not an image",
        lambda m, f: FaceCropper().transform([f["not_an_image.jpg"]]),
        ValueError,
        r"not_an_image\.jpg",
    ),
    (
        "read_image: empty file",
        lambda m, f: FaceCropper().transform([f["empty.png"]]),
        ValueError,
        r"empty\.png",
    ),
    (
        "read_image: bomb",
        lambda m, f: FaceCropper().transform([f["bomb.png"]]),
        ValueError,
        r"144,000,000 pixels|too large",
    ),
    (
        "read_image: missing",
        lambda m, f: FaceCropper().transform(["nowhere.png"]),
        FileNotFoundError,
        r"nowhere\.png",
    ),
    (
        "FaceCropper: bad array",
        lambda m, f: FaceCropper().transform([np.zeros((5, 5, 7))]),
        ValueError,
        r"shape",
    ),
    ("FaceCropper: bad margin", lambda m, f: FaceCropper(margin=-1).fit(), ValueError, r"margin"),
    # --- saved models
    (
        "fercls.load: missing",
        lambda m, f: fercls.load("nowhere.fercls"),
        FileNotFoundError,
        r"nowhere\.fercls",
    ),
    (
        "fercls.load: not an archive",
        lambda m, f: fercls.load(f["notes.txt"]),
        ValueError,
        r"not a fercls archive",
    ),
    (
        "fercls.load: a data zip",
        lambda m, f: fercls.load(f["layout.zip"]),
        ValueError,
        r"no fercls\.json",
    ),
]


@pytest.mark.parametrize(
    "call, exception, pattern",
    [pytest.param(c, e, p, id=name) for name, c, e, p in API_CASES],
)
def test_api_refuses_malformed_input(fitted, malformed_files, call, exception, pattern):
    with pytest.raises(exception, match=pattern):
        call(fitted, malformed_files)
