"""What several commands share: the command-line error, ``--config``/``--set``/``--root`` and
the config they give."""

from __future__ import annotations

import argparse
import json

from ..config import Config, apply_overrides, load_config, preset_names
from ..errors import Layout2ImError
from ..threads import TRAIN


class CLIError(Layout2ImError):
    """A bad command-line value: printed as ``error: ...`` with exit status 2."""


def add_config_args(p: argparse.ArgumentParser, optional_help: str | None = None) -> None:
    """--config (required unless ``optional_help`` says what leaving it out means), --set,
    --root."""
    what = f"preset ({', '.join(preset_names())}) or YAML file"
    p.add_argument(
        "--config",
        required=optional_help is None,
        help=what if optional_help is None else f"{what} {optional_help}",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.add_argument("--root", help="the dataset folder (sets data.root)")


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The config ``--config`` names (or ``base``, when given) with ``--set``, ``--root`` and
    ``--steps`` applied."""
    overrides = list(args.set)
    if getattr(args, "root", None):
        overrides.append(f"data.root={json.dumps(args.root)}")
    if getattr(args, "steps", None) is not None:
        overrides.append(f"train.steps={args.steps}")
    if getattr(args, "threads", None) is not None:
        overrides.append(f"train.threads={args.threads}")
    return apply_overrides(base if base is not None else load_config(args.config), overrides)


def add_threads_arg(p: argparse.ArgumentParser, work: str = TRAIN) -> None:
    """--threads: torch's CPU threads for the command, whose default depends on the ``work``
    it does (see :func:`layout2im.threads.default_threads`; main applies it before the
    command)."""
    default = "one per core but one" if work == TRAIN else "one per core"
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help=f"CPU threads (default: OMP_NUM_THREADS when set, else {default}, which the "
        "benchmarks found fastest for this work on a busy machine; see docs/training.md)",
    )
    p.set_defaults(thread_work=work)
