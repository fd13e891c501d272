"""``fercls predict``: emotions of the faces in image files."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from .._images import files_in
from .._io import TEXT_FILE, OutputFile, write_atomic
from ..faces import FaceCropper
from ._shared import (
    CommandError,
    Progress,
    UsageError,
    add_detector_option,
    add_format_option,
    add_model_options,
    add_stdout_option,
    add_tta_option,
    check_output,
    load_model,
    model_input,
    one_line,
)

STDIN = "-"


MAX_STDIN_BYTES = 256 * 1024**2


#: Decoded pixels (all channels) a batch of photos may hold before it is
#: predicted and released: about 150 MB as uint8.
BATCH_PIXELS = 150_000_000
#: An annotated image (always PNG): an existing file of that name is replaced
#: only if it is a PNG.
_ANNOTATED_IMAGE = OutputFile("a PNG image", lambda _, head: head.startswith(b"\x89PNG\r\n\x1a\n"))


def add_parser(commands, common) -> None:
    predict = commands.add_parser(
        "predict",
        parents=[common],
        help="emotions of the faces in image files",
        description="Emotion and probabilities of every face in each image. A 48x48 "
        "image is taken as a face crop (FER2013's form); in any other image the faces "
        "are found with the face detector (--detector). A file that cannot be read is reported and "
        "the others are still predicted; the exit status is then 1.",
    )
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE_OR_DIR",
        help="image files, folders of them, or - for one image on stdin",
    )
    add_model_options(predict)
    add_format_option(predict, ["text", "json", "csv"])
    add_stdout_option(predict, "results")
    add_tta_option(predict)
    faces = predict.add_mutually_exclusive_group()
    faces.add_argument(
        "--detect-faces",
        action="store_true",
        help="run the face detector on every image, 48x48 crops included",
    )
    faces.add_argument(
        "--whole-image",
        action="store_true",
        help="take each whole image as the face (grayscale, resized to 48x48); no detection",
    )
    add_detector_option(predict)
    predict.add_argument(
        "--annotate",
        type=Path,
        metavar="DIR",
        help="write a copy of each image with boxes and labels here (NAME.annotated.png)",
    )
    predict.set_defaults(run=run)


def _collect_images(paths) -> list:
    """Image files from paths and folders (``-``: an image on stdin), in order.

    Files in a folder that are not images by their suffix are skipped, and
    a line on stderr says how many and which kinds."""
    files: list[Path | str] = []
    skipped: list[Path] = []
    for path in paths:
        if str(path) == STDIN:
            files.append(STDIN)
            continue
        path = Path(path)
        if path.is_dir():
            images, others = files_in(path)
            files.extend(images)
            skipped.extend(others)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    if files.count(STDIN) > 1:
        raise UsageError("'-' (stdin) can be given only once")
    if skipped and Progress.enabled:
        kinds = sorted({p.suffix.lower() or p.name for p in skipped})
        shown = ", ".join(kinds[:6]) + (", …" if len(kinds) > 6 else "")
        s = "s" * (len(skipped) != 1)
        print(
            f"fercls: skipped {len(skipped)} file{s} that are not images ({shown})", file=sys.stderr
        )
    return files


def _read_input_image(source):
    """The image at a path, or the image piped to stdin for ``-``."""
    from ..faces import read_image

    if source != STDIN:
        return read_image(source)
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise ValueError(f"stdin: more than {MAX_STDIN_BYTES:,} bytes; not an image")
    return read_image(data, name="stdin")


def _annotation_names(files, folder: Path, inputs=()) -> dict:
    """One annotated file per input, never two inputs onto one name, and never
    the name of an input (or of another output) in ``inputs``."""
    taken = {Path(os.path.abspath(p)) for p in inputs}
    names: dict = {}
    for source in files:
        stem = "stdin" if source == STDIN else Path(source).stem
        name, n = folder / f"{stem}.annotated.png", 1
        while Path(os.path.abspath(name)) in taken:
            n += 1
            name = folder / f"{stem}-{n}.annotated.png"
        taken.add(Path(os.path.abspath(name)))
        names[source] = name
    return names


def run(args) -> int:
    from ..photos import class_names, detect_emotions_batch

    if args.annotate and args.whole_image:
        raise UsageError("--annotate draws detected faces; it cannot be used with --whole-image")
    files = _collect_images(args.images)
    inputs = [f for f in files if f != STDIN] + [model_input(args.model)]
    if args.output:
        check_output(args.output, "-o/--output", inputs=inputs, kind=TEXT_FILE)
    annotated = {}
    if args.annotate:
        check_output(args.annotate, "--annotate", folder=True, kind=None)  # written into
        annotated = _annotation_names(files, args.annotate, [*inputs, args.output or ""])
        for name in annotated.values():
            check_output(name, "--annotate", inputs=inputs, kind=_ANNOTATED_IMAGE)
    mode = "whole" if args.whole_image else "detect" if args.detect_faces else "auto"
    model = load_model(args.model, tta=args.tta, allow_pickle=args.allow_pickle)
    cropper = FaceCropper(detector=args.detector)
    results: list[dict] = []
    errors = 0
    # Photos are decoded a batch at a time and dropped once predicted (and
    # annotated): a folder of large photos never sits in memory whole.
    for batch in _decoded_batches(files):
        images = {source: item for source, item in batch if isinstance(item, np.ndarray)}
        faces = detect_emotions_batch(images.values(), model, faces=mode, cropper=cropper)
        found = dict(zip(images, faces, strict=True))
        for source, item in batch:
            name = STDIN if source == STDIN else str(source)
            if not isinstance(item, np.ndarray):
                errors += 1
                results.append({"file": name, "error": item})
                continue
            result: dict = {"file": name, "faces": found[source]}
            if args.annotate:
                _write_annotated(annotated[source], item, found[source])
                result["annotated"] = str(annotated[source])
            results.append(result)
    text = _format_predictions(results, args.format, class_names(model))
    if args.output:
        write_atomic(args.output, lambda path: Path(path).write_text(text))
        print(f"fercls: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    _list_written([r["annotated"] for r in results if "annotated" in r], args.annotate)
    return 1 if errors else 0


def _list_written(paths, folder, most: int = 5) -> None:
    """Where the annotated images went, on stderr: each path, or a count beyond ``most``."""
    if len(paths) > most:
        print(f"fercls: wrote {len(paths)} annotated images in {folder}", file=sys.stderr)
        return
    for path in paths:
        print(f"fercls: wrote {path}", file=sys.stderr)


def _decoded_batches(files, budget: int | None = None):
    """``(source, image)`` pairs in batches of at most ``budget`` pixels (one
    larger photo makes a batch of its own); a file that cannot be read is
    reported on stderr and comes as ``(source, message)``, and the others go on."""
    budget = BATCH_PIXELS if budget is None else budget
    batch: list = []
    pixels = 0
    for source in files:
        try:
            image = _read_input_image(source)
        except (ValueError, OSError) as exc:
            from ..video import VIDEO_SUFFIXES

            message = one_line(exc)
            if source != STDIN and Path(source).suffix.lower() in VIDEO_SUFFIXES:
                message = (
                    f"{source}: a video, not an image; for videos use "
                    f"`fercls video {source} --output annotated.mp4`"
                )
            print(f"fercls: error: {message}", file=sys.stderr)
            batch.append((source, message))
            continue
        if batch and pixels + image.size > budget:
            yield batch
            batch, pixels = [], 0
        batch.append((source, image))
        pixels += image.size
    if batch:
        yield batch


def _format_predictions(results, form: str, names) -> str:
    if form == "json":
        # Strict JSON: a NaN would make the file unreadable to other parsers
        # (models whose probabilities are not finite are refused at load).
        return json.dumps(results, indent=2, allow_nan=False) + "\n"
    out = io.StringIO()
    if form == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["file", "x", "y", "width", "height", "emotion", *names, "error"])
        for r in results:
            if "error" in r:
                writer.writerow([r["file"], *[""] * (5 + len(names)), r["error"]])
            elif not r["faces"]:
                writer.writerow([r["file"], *[""] * (5 + len(names)), "no face found"])
            for f in r.get("faces", []):
                probabilities = [f["probabilities"][n] for n in names]
                writer.writerow([r["file"], *f["box"], f["emotion"], *probabilities, ""])
        return out.getvalue()
    for r in results:
        if "error" in r:
            continue  # reported once, on stderr, when the file was read
        if not r["faces"]:
            out.write(f"{r['file']}: no face found\n")
        for f in r.get("faces", []):
            x, y, w, h = f["box"]
            top = ", ".join(
                f"{n} {p:.0%}"
                for n, p in sorted(f["probabilities"].items(), key=lambda kv: -kv[1])[:3]
            )
            out.write(f"{r['file']}: face at x={x} y={y} {w}x{h}: {f['emotion']} ({top})\n")
    return out.getvalue()


def _write_annotated(path: Path, image, faces) -> None:
    import cv2

    from ..photos import annotate

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(annotate(image, faces), cv2.COLOR_RGB2BGR))
    if not ok:
        raise CommandError(f"could not encode {path}")
    write_atomic(path, lambda temporary: Path(temporary).write_bytes(encoded.tobytes()))
