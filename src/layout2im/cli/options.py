"""What several commands share: the command-line error, the checked path and number options,
``--config``/``--set``/``--root`` and the config they give.

Every option that takes a path or a bounded integer is added with :func:`add_path` or
:func:`add_int`: the option records its rule (a :class:`PathRule` or :class:`IntRule`) on its
parser, and :func:`check_args`, which :func:`layout2im.cli.main.main` calls before the command
runs, applies the rules of the command given. A bad value is thus one error naming the option
before any file is read, any folder made or anything allocated, whatever the command.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, apply_overrides, load_config, preset_names
from ..errors import Layout2ImError, quote
from ..fsutil import check_output_file, check_output_folder
from ..model_folder import shipped_models
from ..readers import check_path, check_path_text
from ..threads import TRAIN
from . import limits

INPUT_KINDS = ("file", "folder")
"""Inputs: must exist and be a regular file or a folder (FIFOs, sockets, devices refused)."""
OUTPUT_KINDS = ("output file", "output folder")
"""Outputs: may be missing; checked by :func:`layout2im.fsutil.check_output_file` /
:func:`~layout2im.fsutil.check_output_folder` (writable, nothing left behind)."""


class CLIError(Layout2ImError):
    """A bad command-line value: printed as ``error: ...`` with exit status 2."""


@dataclass(frozen=True)
class PathRule:
    """How the path option ``dest`` (shown as ``option``) is checked: ``kind`` is one of
    :data:`INPUT_KINDS` or :data:`OUTPUT_KINDS`. ``names``: the names the option also takes
    instead of a path (presets, shipped models; ``noun`` says what they are), accepted when no
    such path exists. ``files``: the paths one value stands for (a network named without its
    suffix is two files), each checked as ``kind``. ``only_with``: the rule applies only when
    that other option is set. ``hint``: what to add to the error about a missing input (where
    to find such a file), from the parsed arguments. A list value (``nargs``) has each item
    checked."""

    dest: str
    option: str
    kind: str
    names: Callable[[], Sequence[str]] | None = None
    noun: str = ""
    files: Callable[[str], Sequence[Path]] | None = None
    only_with: str | None = None
    hint: Callable[[argparse.Namespace], str | None] | None = None

    def check(self, args: argparse.Namespace) -> None:
        if self.only_with is not None and not getattr(args, self.only_with, None):
            return
        value = getattr(args, self.dest, None)
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str):  # None (left out) or a const such as --resume's
                continue
            try:
                self._check_one(item)
            except CLIError as exc:
                hint = self.hint(args) if self.hint is not None else None
                if hint is None or os.path.lexists(item):
                    raise
                raise CLIError(f"{exc}; {hint}") from None

    def _check_one(self, value: str) -> None:
        check_path_text(value, self.option, CLIError)
        if self.names is not None and not os.path.lexists(value):
            if value in self.names():
                return
            if os.sep not in value and (os.altsep is None or os.altsep not in value):
                known = ", ".join(self.names()) or "none"
                raise CLIError(
                    f"{self.option} {quote(value)} is neither an existing {self.kind} nor a "
                    f"{self.noun} ({self.noun}s: {known})"
                )
        try:
            paths = self.files(value) if self.files is not None else [value]
        except Layout2ImError as exc:  # the value names no such files at all
            raise CLIError(f"{self.option} {exc}") from None
        for path in paths:
            if self.kind == "output folder":
                check_output_folder(path, self.option)
            elif self.kind == "output file":
                check_output_file(path, self.option)
            else:
                check_path(path, self.option, self.kind, CLIError)


@dataclass(frozen=True)
class IntRule:
    """The integer option ``dest`` (shown as ``option``) must lie within ``bound`` (see
    :mod:`.limits`)."""

    dest: str
    option: str
    bound: limits.Bound

    def check(self, args: argparse.Namespace) -> None:
        value = getattr(args, self.dest, None)
        if value is None:
            return
        low, high = self.bound
        if value < low or (high is not None and value > high):
            raise CLIError(f"{self.option} must be {limits.describe(self.bound)}, got {value}")


def _add_rule(p: argparse.ArgumentParser, rule: PathRule | IntRule) -> None:
    p.set_defaults(option_rules=(*(p.get_default("option_rules") or ()), rule))


def _shown(action: argparse.Action) -> str:
    """How an option is named in messages: its long flag, or a positional's metavar."""
    if action.option_strings:
        return max(action.option_strings, key=len)
    return action.metavar if isinstance(action.metavar, str) else action.dest


def add_path(
    p: argparse.ArgumentParser,
    *flags: str,
    kind: str,
    names: Callable[[], Sequence[str]] | None = None,
    noun: str = "",
    files: Callable[[str], Sequence[Path]] | None = None,
    only_with: str | None = None,
    hint: Callable[[argparse.Namespace], str | None] | None = None,
    **kwargs,
) -> argparse.Action:
    """``p.add_argument(*flags, **kwargs)`` for a path, with its :class:`PathRule`."""
    if kind not in INPUT_KINDS + OUTPUT_KINDS:
        raise ValueError(f"kind must be one of {INPUT_KINDS + OUTPUT_KINDS}, got {kind!r}")
    action = p.add_argument(*flags, **kwargs)
    rule = PathRule(action.dest, _shown(action), kind, names, noun, files, only_with, hint)
    _add_rule(p, rule)
    return action


def add_int(
    p: argparse.ArgumentParser, *flags: str, bound: limits.Bound, **kwargs
) -> argparse.Action:
    """``p.add_argument(*flags, type=int, **kwargs)`` with its :class:`IntRule`."""
    action = p.add_argument(*flags, type=int, **kwargs)
    _add_rule(p, IntRule(action.dest, _shown(action), bound))
    return action


def option_rules(args: argparse.Namespace) -> tuple[PathRule | IntRule, ...]:
    """The rules of the command ``args`` was parsed for, in the order its options were added."""
    return tuple(getattr(args, "option_rules", ()))


def check_args(args: argparse.Namespace) -> None:
    """Apply every rule of the command ``args`` was parsed for; the first broken one raises a
    :class:`~layout2im.errors.Layout2ImError` naming its option."""
    for rule in option_rules(args):
        rule.check(args)


def add_model_arg(p: argparse.ArgumentParser, help: str, **kwargs) -> None:
    """--model: a model folder, or the name of a shipped model (see
    :func:`layout2im.model_folder.resolve_model`)."""
    add_path(
        p, "--model", kind="folder", names=shipped_models, noun="shipped model", help=help, **kwargs
    )


def add_config_arg(p: argparse.ArgumentParser, **kwargs) -> None:
    """--config: a preset's name or a YAML file (see :func:`layout2im.config.load_config`)."""
    add_path(p, "--config", kind="file", names=preset_names, noun="preset", **kwargs)


def add_config_args(p: argparse.ArgumentParser, optional_help: str | None = None) -> None:
    """--config (required unless ``optional_help`` says what leaving it out means), --set,
    --root."""
    what = f"preset ({', '.join(preset_names())}) or YAML file"
    add_config_arg(
        p,
        required=optional_help is None,
        help=what if optional_help is None else f"{what} {optional_help}",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    add_path(p, "--root", kind="folder", help="the dataset folder (sets data.root)")


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


def add_device_arg(p: argparse.ArgumentParser) -> None:
    """--device: where the command's networks run (checked by
    :func:`layout2im.devices.parse_device` when the command uses it)."""
    p.add_argument(
        "--device", default="cpu", help="where the model runs: cpu, cuda, cuda:1, ... (default cpu)"
    )


def add_threads_arg(p: argparse.ArgumentParser, work: str = TRAIN) -> None:
    """--threads: torch's CPU threads for the command, whose default depends on the ``work``
    it does (see :func:`layout2im.threads.default_threads`; main applies it before the
    command; :func:`layout2im.threads.use_threads` bounds it)."""
    default = "one per core but one" if work == TRAIN else "one per core"
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help=f"CPU threads (default: OMP_NUM_THREADS when set, else {default}, which the "
        "benchmarks found fastest for this work on a busy machine; see docs/training.md)",
    )
    p.set_defaults(thread_work=work)
