"""The ``layout2im`` parser, built from the command groups, and the entry point.

Every expected failure (bad layout, config, model folder, dataset) prints one ``error:`` line
and exits with status 2; nothing is written before the input has been validated: the path and
bounded options of the command (:mod:`.options`) are checked before it runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..errors import Layout2ImError
from ..threads import use_threads
from .options import check_args

EXIT_USAGE = 2

COMMAND_GROUPS = {
    "train": ("train", "average", "info"),
    "generate": ("generate", "demo"),
    "serve": ("serve",),
    "evaluate": ("evaluate",),
    "data": ("data",),
    "convert": ("convert-original",),
}
"""Each command group's module in ``layout2im.cli`` and the top-level commands it adds, in the
order ``layout2im --help`` lists them. A command loads only its own group's module: ``layout2im
generate`` imports the pipeline, not the data, training or evaluation code the other groups
need (tests/test_cli.py checks this table against what each module adds)."""


def group_of(command: str) -> str | None:
    """The command group that adds ``command``, or None for an unknown command."""
    for group, commands in COMMAND_GROUPS.items():
        if command in commands:
            return group
    return None


def load_group(group: str):
    """The module of one command group (``layout2im.cli.<group>``), imported on first use."""
    return importlib.import_module(f"{__package__}.{group}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of ``command``'s group when it names one (the
    others' modules are then not imported)."""
    parser = argparse.ArgumentParser(
        prog="layout2im",
        description="Image generation from layout (Layout2Im, Zhao et al., CVPR 2019).",
    )
    parser.add_argument("--version", action="version", version=f"layout2im {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    group = group_of(command) if command else None
    for name in [group] if group else COMMAND_GROUPS:
        load_group(name).add_parsers(sub)
    return parser


def requested_command(argv: list[str]) -> str | None:
    """The command ``argv`` asks for: its first word that is not an option (the top-level
    options, ``--help`` and ``--version``, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = requested_command(argv)
    parser = build_parser(command)
    # `layout2im evaluate --model X` means `layout2im evaluate run --model X`
    evaluate = command == "evaluate"
    args = parser.parse_args(load_group("evaluate").with_default_action(argv) if evaluate else argv)
    args.argv = argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("layout2im").setLevel(logging.INFO)
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_USAGE
    try:
        check_args(args)  # every path and bounded option, before the command does anything
        if hasattr(args, "threads"):
            use_threads(args.threads, args.thread_work)
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
