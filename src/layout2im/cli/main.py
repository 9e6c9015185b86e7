"""The ``layout2im`` parser, built from the command groups, and the entry point.

Every expected failure (bad layout, config, model folder, dataset) prints one ``error:`` line
and exits with status 2; nothing is written before the input has been validated.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..errors import Layout2ImError
from ..threads import use_threads
from . import convert, data, evaluate, generate, serve, train

EXIT_USAGE = 2

# in the order `layout2im --help` lists them
COMMAND_GROUPS = (train, generate, serve, evaluate, data, convert)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layout2im",
        description="Image generation from layout (Layout2Im, Zhao et al., CVPR 2019).",
    )
    parser.add_argument("--version", action="version", version=f"layout2im {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(evaluate.with_default_action(argv))
    args.argv = argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("layout2im").setLevel(logging.INFO)
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_USAGE
    try:
        if hasattr(args, "threads"):
            use_threads(args.threads)
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Layout2ImError as exc:
        print(f"error: {worker_message(str(exc))}", file=sys.stderr)
        return EXIT_USAGE


def worker_message(message: str) -> str:
    """The original message of an error re-raised from a DataLoader worker, whose text is
    "Caught X in DataLoader worker process N. Original Traceback ...: module.X: message"."""
    if message.startswith("Caught ") and "Original Traceback" in message:
        last = message.rstrip().splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return message
