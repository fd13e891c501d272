"""``fercls export``: the model as a standalone network for serving or phones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import TEXT_FILE
from ..export import FORMATS as EXPORT_FORMATS
from ._shared import (
    CommandError,
    UsageError,
    add_model_options,
    check_output,
    load_model,
    model_input,
)


def add_parser(commands, common) -> None:
    export = commands.add_parser(
        "export",
        parents=[common],
        help="export a model for serving or phones (Keras, HDF5, SavedModel, TFLite, ONNX)",
        description="Write the model as a standalone network: raw grayscale "
        "pixels 0-255, float32 of shape (n, 48, 48, 1), in; the seven "
        "probabilities out, in the model's classes_ order (its labels in OUTPUT.labels.json).",
    )
    add_model_options(export)
    export.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        required=True,
        help="onnx needs pip install 'fercls[onnx]'",
    )
    export.add_argument(
        "--quantize", choices=["float16", "int8"], help="TFLite only: smaller, faster weights"
    )
    export.add_argument(
        "--data",
        type=Path,
        help="FER2013 source whose Training images calibrate --quantize int8",
    )
    export.add_argument("--output", type=Path, required=True)
    export.set_defaults(run=run)


def run(args) -> int:
    from ..export import EXPORT_FILES, SAVED_MODEL_FOLDER, export, labels_path

    if args.quantize and args.format != "tflite":
        raise UsageError(f"--quantize applies to --format tflite, not {args.format}")
    inputs = [model_input(args.model), args.data]
    if args.format == "saved_model":
        check_output(args.output, "--output", folder=True, inputs=inputs, kind=SAVED_MODEL_FOLDER)
    else:
        check_output(args.output, "--output", inputs=inputs, kind=EXPORT_FILES[args.format])
        check_output(
            labels_path(args.output), "--output's labels file", inputs=inputs, kind=TEXT_FILE
        )
    representative = None
    if args.quantize == "int8":
        if args.data is None:
            raise CommandError("--quantize int8 needs --data: FER2013 images to calibrate on")
        from ..datasets import load_fer2013

        data = load_fer2013(args.data)
        representative = data.data[np.asarray(data.usage) == "Training"]
        if not len(representative):
            raise CommandError(f"{args.data}: no Training images to calibrate on")
    labels = export(
        load_model(args.model, allow_pickle=args.allow_pickle),
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
