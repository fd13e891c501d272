"""The ``fercls`` command: info, train, evaluate and predict.

Each subcommand has ``--help``. Failures print one line, ``fercls: error: …``,
to stderr and exit with status 1 (2 for bad command-line usage).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from ._io import write_atomic
from .classifier import TEST_TIME_AUGMENTATIONS
from .labels import EMOTIONS

SPLITS = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class CommandError(Exception):
    """An error to report as one line and exit status 1."""


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except (CommandError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"fercls: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fercls: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="fercls", description="Facial emotion recognition on FER2013-style data."
    )
    parser.add_argument("--version", action="version", version=f"fercls {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser(
        "info",
        help="counts, blank images and duplicates of a data set",
        description="Counts per split and class, blank images and "
        "duplicate groups of a FER2013 source (CSV, folder or zip).",
    )
    info.add_argument(
        "data", type=Path, help="fer2013.csv[.gz], the Kaggle image folder, or its zip"
    )
    info.add_argument("--format", choices=["table", "json"], default="table")
    info.set_defaults(run=run_info)

    train = commands.add_parser(
        "train",
        help="train a model on the Training split",
        description="Train on Training, validate on PublicTest (best "
        "epoch kept), save the fitted pipeline atomically.",
    )
    train.add_argument("data", type=Path)
    train.add_argument(
        "--architecture",
        default="vgg_small",
        help="vgg, vgg_small or simple (default: %(default)s)",
    )
    train.add_argument("--max-iter", type=int, default=30, help="epochs (default: %(default)s)")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate-init", type=float, default=1e-3)
    train.add_argument(
        "--oversample", action="store_true", help="RandomOverSampler inside the pipeline"
    )
    train.add_argument("--class-weight", choices=["balanced"], default=None)
    train.add_argument("--train-limit", type=int, help="train on the first N training images only")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--output",
        type=Path,
        default=Path("model.fercls"),
        help="where to save the fitted pipeline: .fercls (safe to share; default: "
        "%(default)s) or .joblib (pickle: runs code when loaded)",
    )
    train.add_argument(
        "--checkpoint",
        type=Path,
        help="save the classifier here after every epoch; rerunning the same command "
        "resumes from it",
    )
    train.add_argument(
        "--report", type=Path, help="also write an evaluation report on PublicTest here"
    )
    train.set_defaults(run=run_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a model on one split",
        description="Metrics of a model on one split; with --report, "
        "a folder of metrics, plots and index.html.",
    )
    evaluate.add_argument("data", type=Path)
    evaluate.add_argument(
        "--model",
        type=Path,
        help=".fercls file, saved model folder or joblib file (default: the bundled model)",
    )
    evaluate.add_argument("--split", choices=SPLITS, default="PrivateTest")
    evaluate.add_argument("--report", type=Path, help="write the report folder here")
    add_tta_option(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    predict = commands.add_parser(
        "predict",
        help="emotions of image files",
        description="Emotion and probabilities per image. 48x48 crops "
        "are used as they are; other images are converted to grayscale "
        "and resized to 48x48 (the whole image is taken as the face).",
    )
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_DIR")
    predict.add_argument(
        "--model",
        type=Path,
        help=".fercls file, saved model folder or joblib file (default: the bundled model)",
    )
    predict.add_argument("--format", choices=["table", "json", "csv"], default="table")
    add_tta_option(predict)
    predict.add_argument(
        "--detect-faces",
        action="store_true",
        help="find every face (OpenCV Haar cascade) and classify each",
    )
    predict.add_argument(
        "--annotate",
        type=Path,
        metavar="DIR",
        help="with --detect-faces: write copies with boxes and labels here",
    )
    predict.set_defaults(run=run_predict)

    video = commands.add_parser(
        "video",
        help="emotions in a video file or webcam stream",
        description="Detect and classify faces in every frame; write "
        "an annotated video and/or show a live window.",
    )
    source = video.add_mutually_exclusive_group(required=True)
    source.add_argument("input", nargs="?", type=Path, help="video file")
    source.add_argument("--webcam", type=int, metavar="INDEX", help="webcam index (e.g. 0)")
    video.add_argument("--output", type=Path, help="write the annotated video here (.mp4)")
    video.add_argument("--show", action="store_true", help="show a live window (needs a display)")
    video.add_argument(
        "--model",
        type=Path,
        help=".fercls file, saved model folder or joblib file (default: bundled)",
    )
    video.add_argument(
        "--smoothing", type=int, default=5, help="frames to average (default: %(default)s)"
    )
    video.add_argument("--max-frames", type=int, help="stop after this many frames")
    video.set_defaults(run=run_video)

    export = commands.add_parser(
        "export",
        help="export a model for serving or phones (Keras, HDF5, SavedModel, TFLite)",
        description="Write the model as a standalone network: raw grayscale "
        "pixels 0-255, float32 of shape (n, 48, 48, 1), in; the seven "
        "probabilities in fercls.EMOTIONS order out.",
    )
    export.add_argument(
        "--model",
        type=Path,
        help=".fercls file, saved model folder or joblib file (default: the bundled model)",
    )
    export.add_argument("--format", choices=["keras", "h5", "tflite", "saved_model"], required=True)
    export.add_argument(
        "--quantize", choices=["float16", "int8"], help="TFLite only: smaller, faster weights"
    )
    export.add_argument(
        "--data",
        type=Path,
        help="FER2013 source whose Training images calibrate --quantize int8",
    )
    export.add_argument("--output", type=Path, required=True)
    export.set_defaults(run=run_export)
    return parser


# --------------------------------------------------------------------- info
def run_info(args) -> int:
    from .datasets import duplicate_groups, load_fer2013, overlaps_training

    data = load_fer2013(args.data)
    usage = np.asarray(data.usage)
    splits = [s for s in (*SPLITS, "Test") if (usage == s).any()]
    counts = {
        s: {e: int(((usage == s) & (data.target == i)).sum()) for i, e in enumerate(EMOTIONS)}
        for s in splits
    }
    groups = duplicate_groups(data.data)
    sizes = np.bincount(groups)
    duplicated = sizes[groups] > 1
    spans = {}
    for g in np.unique(groups[duplicated]):
        spans.setdefault(tuple(sorted(set(usage[groups == g]))), []).append(int(g))
    cross = sum(len(v) for k, v in spans.items() if "Training" in k and len(k) > 1)
    blank = np.flatnonzero(data.data.max(axis=1) == data.data.min(axis=1))
    copies = overlaps_training(data)
    summary = {
        "source": str(args.data),
        "images": int(len(usage)),
        "counts": counts,
        "blank_images": int(len(blank)),
        "duplicate_groups": int((sizes > 1).sum()),
        "duplicated_images": int(duplicated.sum()),
        "duplicate_groups_spanning_training_and_test": int(cross),
        "duplicate_groups_with_conflicting_labels": int(
            sum(len(set(data.target[groups == g])) > 1 for g in np.flatnonzero(sizes > 1))
        ),
        "test_images_identical_to_training": {
            s: int(((usage == s) & copies).sum()) for s in splits if s != "Training"
        },
    }
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return 0
    width = max(len(e) for e in EMOTIONS)
    print(f"{args.data}: {summary['images']} images")
    print(f"{'':{width}} " + " ".join(f"{s:>11}" for s in splits))
    for e in EMOTIONS:
        print(f"{e:{width}} " + " ".join(f"{counts[s][e]:>11}" for s in splits))
    print(f"{'total':{width}} " + " ".join(f"{sum(counts[s].values()):>11}" for s in splits))
    print(f"blank (uniform) images: {summary['blank_images']}")
    print(
        f"duplicate groups: {summary['duplicate_groups']} ({summary['duplicated_images']} images), "
        f"{summary['duplicate_groups_spanning_training_and_test']} spanning Training and test, "
        f"{summary['duplicate_groups_with_conflicting_labels']} with conflicting labels"
    )
    for s, n in summary["test_images_identical_to_training"].items():
        print(f"{s} images identical to a Training image: {n}")
    return 0


# -------------------------------------------------------------------- train
def run_train(args) -> int:
    import joblib
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import make_pipeline

    from . import FERClassifier, PixelNormalizer, PixelStringParser
    from .datasets import load_fer2013

    data = load_fer2013(args.data)
    names = np.asarray(EMOTIONS)[data.target]
    train_rows = np.flatnonzero(np.asarray(data.usage) == "Training")[: args.train_limit]
    public = np.asarray(data.usage) == "PublicTest"
    if not len(train_rows):
        raise CommandError(f"{args.data}: no Training images")
    steps = [PixelStringParser()]
    if args.oversample:
        steps.append(RandomOverSampler(random_state=args.seed))
    steps += [
        PixelNormalizer(),
        FERClassifier(
            architecture=args.architecture,
            max_iter=args.max_iter,
            batch_size=args.batch_size,
            learning_rate_init=args.learning_rate_init,
            learning_rate="cosine",
            class_weight=args.class_weight,
            random_state=args.seed,
            verbose=1 if sys.stderr.isatty() else 2,
        ),
    ]
    pipeline = make_pipeline(*steps)
    fit_params = {}
    if public.any():
        validation = (PixelNormalizer().fit_transform(data.data[public]), names[public])
        fit_params["ferclassifier__validation_data"] = validation
    if args.checkpoint:
        fit_params["ferclassifier__checkpoint"] = args.checkpoint
    pipeline.fit(data.data[train_rows], names[train_rows], **fit_params)
    if args.output.suffix == ".joblib":
        write_atomic(args.output, lambda path: joblib.dump(pipeline, path))
    else:
        from .persistence import save

        save(pipeline, args.output)
    print(f"saved {args.output}")
    if args.report:
        if not public.any():
            raise CommandError(f"{args.data}: no PublicTest images to report on")
        from .evaluation import make_report

        metrics = make_report(
            pipeline,
            data.data[public],
            names[public],
            args.report,
            title=f"fercls train: PublicTest ({args.data.name})",
        )
        print(f"PublicTest accuracy {metrics['accuracy']:.4f}; report in {args.report}")
    return 0


# ----------------------------------------------------------------- evaluate
TTA_HELP = (
    "test-time augmentation: average the probabilities of two views of each image, "
    "the image and its mirror (flip) or an 11/12 central zoom and its mirror (zoom_flip); "
    "more accurate, twice the prediction time"
)


def add_tta_option(command):
    command.add_argument("--tta", choices=TEST_TIME_AUGMENTATIONS, help=TTA_HELP)


def load_model(path, *, tta=None):
    """A fitted model: the bundled one, a .fercls archive, a saved model folder,
    or a joblib file; with ``tta``, its classifiers predict with
    ``test_time_augmentation=tta``."""
    model = _read_model(path)
    if tta:
        _set_test_time_augmentation(model, path, tta)
    return model


def _set_test_time_augmentation(model, path, tta):
    from .classifier import FERClassifier

    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    classifiers = [step for step in steps if isinstance(step, FERClassifier)]
    if not classifiers:
        raise CommandError(
            f"--tta: {path or 'the model'} has no FERClassifier step "
            f"(found {', '.join(type(step).__name__ for step in steps)})"
        )
    for classifier in classifiers:
        classifier.set_params(test_time_augmentation=tta)


def _read_model(path):
    if path is None:
        from .pretrained import load_pretrained

        return load_pretrained()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir():
        from .pretrained import load_pipeline

        return load_pipeline(path)
    if zipfile.is_zipfile(path):
        from .persistence import load

        return load(path)
    import joblib

    try:
        return joblib.load(path)  # pickle: load only files you trust
    except Exception as exc:  # unpickling raises many types; all mean "not a model file"
        raise CommandError(
            f"{path}: not a joblib model file ({type(exc).__name__}: {exc})"
        ) from None


def run_evaluate(args) -> int:
    from .datasets import load_fer2013
    from .evaluation import evaluate, make_report

    data = load_fer2013(args.data)
    rows = np.asarray(data.usage) == args.split
    if not rows.any():
        raise CommandError(
            f"{args.data}: no {args.split} images (splits here: {sorted(set(data.usage))})"
        )
    model = load_model(args.model, tta=args.tta)
    X, y = data.data[rows], _labels_for(model, data.target[rows])
    if args.report:
        metrics = make_report(
            model, X, y, args.report, title=f"fercls evaluate: {args.split} ({args.data.name})"
        )
    else:
        metrics = evaluate(model, X, y)
    print(
        f"{args.split}: {metrics['n']} images, accuracy {metrics['accuracy']:.4f}, "
        f"macro-F1 {metrics['macro_f1']:.4f}, ECE {metrics['ece']:.4f}"
    )
    for label, m in metrics["per_class"].items():
        print(
            f"  {label:>9}: precision {m['precision']:.3f} recall {m['recall']:.3f} "
            f"f1 {m['f1']:.3f} (n={m['support']})"
        )
    if args.report:
        print(f"report: {args.report / 'index.html'}")
    return 0


def _labels_for(model, ids):
    """Ids 0..6 as the model's label type: names if it predicts names."""
    classes = np.asarray(model.classes_)
    return np.asarray(EMOTIONS)[ids] if classes.dtype.kind in "UO" else ids


# ------------------------------------------------------------------ predict
def collect_images(paths) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise CommandError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    return files


def read_face(path: Path, size=(48, 48)) -> np.ndarray:
    """A grayscale uint8 image resized to ``size`` (taken as already cropped to the face)."""
    import cv2

    from .faces import read_image, to_gray

    gray = to_gray(read_image(path))
    if gray.shape != size:
        interpolation = cv2.INTER_AREA if gray.shape[0] > size[0] else cv2.INTER_LINEAR
        gray = cv2.resize(gray, size[::-1], interpolation=interpolation)
    return gray


def run_predict(args) -> int:
    if args.detect_faces:
        return run_predict_faces(args)
    if args.annotate:
        raise CommandError("--annotate needs --detect-faces")
    files = collect_images(args.images)
    pixels = np.stack([read_face(p).reshape(-1) for p in files])
    model = load_model(args.model, tta=args.tta)
    proba = model.predict_proba(pixels)
    classes = [
        str(c) if not isinstance(c, (int, np.integer)) else EMOTIONS[int(c)] for c in model.classes_
    ]
    rows = [
        {
            "file": str(f),
            "emotion": classes[int(p.argmax())],
            "probabilities": {c: round(float(v), 4) for c, v in zip(classes, p, strict=True)},
        }
        for f, p in zip(files, proba, strict=True)
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["file", "emotion", *classes])
        for r in rows:
            writer.writerow([r["file"], r["emotion"], *(r["probabilities"][c] for c in classes)])
        sys.stdout.write(out.getvalue())
    else:
        width = max(len(r["file"]) for r in rows)
        print(f"{'file':{width}}  {'emotion':9} " + " ".join(f"{c[:7]:>7}" for c in classes))
        for r in rows:
            print(
                f"{r['file']:{width}}  {r['emotion']:9} "
                + " ".join(f"{r['probabilities'][c]:7.3f}" for c in classes)
            )
    return 0


def run_predict_faces(args) -> int:
    from .faces import read_image
    from .video import draw_faces, faces_in_image

    files = collect_images(args.images)
    model = load_model(args.model, tta=args.tta)
    results = []
    for path in files:
        image = read_image(path)
        faces = faces_in_image(image, model)
        results.append({"file": str(path), "faces": [f.as_dict() for f in faces]})
        if args.annotate:
            _write_annotated(args.annotate / f"{path.stem}.annotated.png", image, faces, draw_faces)
    if args.format == "json":
        print(json.dumps(results, indent=2))
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["file", "x", "y", "width", "height", "emotion", *EMOTIONS])
        for r in results:
            for f in r["faces"]:
                writer.writerow(
                    [
                        r["file"],
                        *f["box"],
                        f["emotion"],
                        *(f["probabilities"].get(e, "") for e in EMOTIONS),
                    ]
                )
        sys.stdout.write(out.getvalue())
    else:
        for r in results:
            if not r["faces"]:
                print(f"{r['file']}: no face found")
            for f in r["faces"]:
                x, y, w, h = f["box"]
                print(
                    f"{r['file']}: face at x={x} y={y} {w}x{h}: {f['emotion']} "
                    f"({f['probabilities'][f['emotion']]:.0%})"
                )
    return 0


def _write_annotated(path: Path, image, faces, draw) -> None:
    import cv2

    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.ndim == 3 else cv2.COLOR_GRAY2BGR)
    draw(bgr, faces)
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise CommandError(f"could not encode {path}")
    write_atomic(path, lambda temporary: Path(temporary).write_bytes(encoded.tobytes()))


def run_video(args) -> int:
    from .video import annotate_video

    if args.output is None and not args.show:
        raise CommandError("nothing to do: pass --output FILE and/or --show")
    if args.input is not None and not args.input.exists():
        raise FileNotFoundError(f"no such video: {args.input}")
    source = args.webcam if args.webcam is not None else args.input
    stats = annotate_video(
        source,
        load_model(args.model),
        output=args.output,
        show=args.show,
        smoothing=args.smoothing,
        max_frames=args.max_frames,
    )
    print(
        f"{stats['frames']} frames, {stats['faces']} faces, {stats['fps']:.1f} frames/s "
        f"(detection {stats['detect_seconds']:.1f} s, "
        f"classification {stats['classify_seconds']:.1f} s)"
    )
    if args.output:
        print(f"saved {args.output}")
    return 0


# ------------------------------------------------------------------- export
def run_export(args) -> int:
    from .export import export

    if args.quantize and args.format != "tflite":
        raise CommandError(f"--quantize applies to --format tflite, not {args.format}")
    representative = None
    if args.quantize == "int8":
        if args.data is None:
            raise CommandError("--quantize int8 needs --data: FER2013 images to calibrate on")
        from .datasets import load_fer2013

        data = load_fer2013(args.data)
        representative = data.data[np.asarray(data.usage) == "Training"]
        if not len(representative):
            raise CommandError(f"{args.data}: no Training images to calibrate on")
    labels = export(
        load_model(args.model),
        args.output,
        format=args.format,
        quantize=args.quantize,
        representative_data=representative,
    )
    size = sum(f.stat().st_size for f in _files(args.output))
    print(f"saved {args.output} ({size / 1e6:.1f} MB); outputs: {', '.join(map(str, labels))}")
    return 0


def _files(path: Path):
    return [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
