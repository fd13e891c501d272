"""The ``fercls`` command: info, train, evaluate, predict, video and export.

Each subcommand has ``--help`` and its own module (its options and what it
runs); ``_shared`` holds what they share. Failures print one line,
``fercls: error: …``, to stderr and exit with status 1 (2 for bad
command-line usage).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback

from .._io import short_reason
from . import _evaluate, _export, _info, _predict, _train, _video
from ._shared import (
    CommandError,
    Progress,
    Terminated,
    UsageError,
    one_line,
    terminations_as_interrupts,
)

__all__ = [
    "main",
    "build_parser",
    "reference_markdown",
]

#: The subcommands, in the order ``fercls --help`` lists them.
_COMMANDS = (_info, _train, _evaluate, _predict, _video, _export)
_NEEDS_TENSORFLOW = {"train", "evaluate", "predict", "video", "export"}


def main(argv=None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # The subcommand's own usage, not the top level's, and the option meant.
        command = args.command_parsers.get(getattr(args, "command", None), parser)
        command.error(_unrecognized(unknown, command))
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    with terminations_as_interrupts():
        return _run(parser, args)


def _run(parser: argparse.ArgumentParser, args) -> int:
    Progress.enabled = not args.quiet
    try:
        if not args.verbose and args.command in _NEEDS_TENSORFLOW:
            _quiet_tensorflow()
        if not args.verbose and args.command == "video":
            # OpenCV's FFmpeg backend prints its own lines ("[mov,mp4,… @ 0x…] moov atom
            # not found") beside fercls' one-line error; -8 is FFmpeg's AV_LOG_QUIET.
            # Read when a capture opens; a level the user set is kept.
            os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
        return args.run(args) or 0
    except UsageError as exc:
        parser.exit(2, f"fercls {args.command}: error: {exc}\n")
    except (CommandError, ValueError, FileNotFoundError, OSError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"fercls: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except Terminated as exc:
        print(f"fercls: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("fercls: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours or a library's: still one line, details on -v
        if args.verbose:
            traceback.print_exc()
        print(
            f"fercls: error: unexpected {short_reason(exc)} (rerun with -v for the traceback)",
            file=sys.stderr,
        )
        return 1


def _quiet_tensorflow() -> None:
    """Start TensorFlow without its start-up lines, and keep its later logging
    (C++ and Python) to errors that matter, unless the user chose its log level."""
    from .._startup import start_tensorflow

    start_tensorflow(log_level="3")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl ships with TensorFlow
        pass


def _unrecognized(unknown: list[str], command: argparse.ArgumentParser) -> str:
    """'unrecognized arguments: --formt (did you mean --format?)'."""
    import difflib

    # The options as the help lists them (argparse has no public list of them).
    known = sorted(set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", command.format_help())))
    hints = []
    for word in unknown:
        option = word.split("=", 1)[0]
        close = difflib.get_close_matches(option, known, n=1) if option.startswith("-") else []
        hints.append(f"{word} (did you mean {close[0]}?)" if close else word)
    return f"unrecognized arguments: {' '.join(hints)}"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose "invalid choice" errors suggest the closest
    choice (Python 3.14's suggest_on_error, for the versions we support)."""

    def error(self, message):  # type: ignore[override]
        import difflib

        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            close = difflib.get_close_matches(found.group(1), choices, n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``fercls`` parser: one subcommand per module in ``_COMMANDS``."""
    from .._version import __version__

    parser = _Parser(prog="fercls", description="Facial emotion recognition on FER2013-style data.")
    parser.add_argument("--version", action="version", version=f"fercls {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(verbose=False, quiet=False, command_parsers=commands.choices)
    common = _Parser(add_help=False)  # options every subcommand has
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's own messages and, on failure, the traceback",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress on stderr (errors are still shown)",
    )
    for command in _COMMANDS:
        command.add_parser(commands, common)
    return parser


def reference_markdown() -> str:
    """The CLI reference page (``docs/cli.md``), generated from the parser itself,
    so every option the code accepts is documented and nothing else is."""
    # argparse wraps usage at the terminal's width; the page must not depend on it.
    width, os.environ["COLUMNS"] = os.environ.get("COLUMNS"), "100"
    try:
        parser = build_parser()
        return _reference(parser)
    finally:
        if width is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = width


def _reference(parser) -> str:
    commands = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )  # argparse has no public accessor for subcommands
    helps = {c.dest: c.help for c in commands._choices_actions}
    lines = [
        "# Command line",
        "",
        "*Generated from the argument parser by `fercls.cli.reference_markdown()`; "
        "`tests/test_cli_reference.py` fails if this page and the code disagree.*",
        "",
        "`fercls` has one subcommand per job; each has `--help`. A failure prints one",
        "`fercls: error: …` line on stderr and exits with status 1; a usage error",
        "exits with status 2. TensorFlow's start-up messages are hidden unless `-v`.",
        "",
    ]
    for name, sub in commands.choices.items():
        lines += [f"## `fercls {name}`", "", f"{helps.get(name, '')}.", ""]
        if sub.description:
            lines += [sub.description, ""]
        lines += ["```text", sub.format_usage().strip(), "```", ""]
        lines += ["| option | meaning |", "|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
            text = (action.help or "") % {"default": action.default} if action.help else ""
            if action.choices:
                text += f" Choices: {', '.join(f'`{c}`' for c in action.choices)}."
            text = text.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {names} | {text.strip()} |")
        lines.append("")
    return "\n".join(lines)
