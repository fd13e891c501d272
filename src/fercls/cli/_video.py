"""``fercls video``: emotions in a video file or webcam stream."""

from __future__ import annotations

from pathlib import Path

from ..faces import FaceCropper
from ..video import DETECT_EVERY
from ._shared import (
    CommandError,
    UsageError,
    add_detector_option,
    add_model_options,
    check_output,
    load_model,
    model_input,
    positive_int,
)


def add_parser(commands, common) -> None:
    video = commands.add_parser(
        "video",
        parents=[common],
        help="emotions in a video file or webcam stream",
        description="Find and classify faces in every frame; write "
        "an annotated video and/or show a live window. The face detector runs on "
        "every --detect-every frames and the faces are followed in between.",
    )
    source = video.add_mutually_exclusive_group(required=True)
    source.add_argument("input", nargs="?", type=Path, help="video file")
    source.add_argument("--webcam", type=int, metavar="INDEX", help="webcam index (e.g. 0)")
    video.add_argument("--output", type=Path, help="write the annotated video here (.mp4)")
    video.add_argument("--show", action="store_true", help="show a live window (needs a display)")
    add_model_options(video)
    video.add_argument(
        "--smoothing", type=positive_int, default=5, help="frames to average (default: %(default)s)"
    )
    video.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    add_detector_option(video)
    video.add_argument(
        "--detect-every",
        type=positive_int,
        default=DETECT_EVERY,
        metavar="N",
        help="run the face detector on every N-th frame and follow the faces in between; "
        "1 = every frame (default: %(default)s)",
    )
    video.set_defaults(run=run)


def run(args) -> int:
    from ..video import VIDEO_FILE, annotate_video, check_video_output

    if args.output is None and not args.show:
        raise CommandError("nothing to do: pass --output FILE and/or --show")
    if args.input is not None and not args.input.exists():
        raise FileNotFoundError(f"no such video: {args.input}")
    if args.output is not None:
        try:
            check_video_output(args.output)
        except ValueError as exc:
            raise UsageError(f"--output {exc}") from None
        inputs = [args.input, model_input(args.model)]
        check_output(args.output, "--output", inputs=inputs, kind=VIDEO_FILE)
    source = args.webcam if args.webcam is not None else args.input
    stats = annotate_video(
        source,
        load_model(args.model, allow_pickle=args.allow_pickle),
        output=args.output,
        show=args.show,
        smoothing=args.smoothing,
        max_frames=args.max_frames,
        cropper=FaceCropper(detector=args.detector),
        detect_every=args.detect_every,
    )
    print(
        f"{stats['frames']} frames, {stats['faces']} faces, {stats['fps']:.1f} frames/s "
        f"(detection {stats['detect_seconds']:.1f} s, "
        f"classification {stats['classify_seconds']:.1f} s)"
    )
    if args.output:
        print(f"saved {args.output}")
    return 0
