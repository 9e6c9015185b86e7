"""Training-state checkpoints: atomic writes, the last K kept, truncation detected.

A checkpoint is a plain dict of tensors, numbers, strings and lists, saved with ``torch.save``
and loaded with ``torch.load(weights_only=True)``: no pickled code. It holds the models, the
optimisers, the step, every RNG state, the resolved config and the vocabulary.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import Layout2ImError, join_problems, quote, short_path
from ..fsutil import atomic_write
from ..state_dicts import state_problems, tensor_problem
from ..torch_files import load_weights_only

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


class CheckpointError(Layout2ImError, RuntimeError):
    """A checkpoint is missing, truncated or of a different kind."""


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"ckpt-{step:08d}.pt"


def checkpoint_step(path: Path) -> int:
    """The step in a checkpoint's file name (``ckpt-00001000.pt`` -> 1000)."""
    match = _NAME.match(Path(path).name)
    if match is None:
        raise CheckpointError(
            f"{short_path(path)} is not named like a checkpoint (ckpt-NNNNNNNN.pt)"
        )
    return int(match.group(1))


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write ``state`` atomically (see :func:`~layout2im.fsutil.atomic_write`) and prune to
    ``keep`` files."""
    path = checkpoint_path(folder, step)
    with atomic_write(path) as tmp:
        torch.save(state, tmp)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint with ``weights_only=True`` and check its structure
    (:func:`check_training_state`); a clear error when it is unreadable."""
    state = load_weights_only(path, "checkpoint", CheckpointError, map_location)
    check_training_state(state, path)
    return state


NETWORKS = ("generator", "image_d", "object_d")


def check_training_state(state: Any, path: Path) -> None:
    """Refuse a loaded checkpoint that is not a training state: ``step`` an integer in
    [0, 2**63), ``models`` the three networks as dicts of tensors named by strings, each a finite
    floating-point tensor (BatchNorm's int64 ``num_batches_tracked`` counters excepted),
    ``optimizers``, ``rng`` and ``config`` of the right kinds and ``vocab`` a list of strings.
    Shapes are checked when the networks load the tensors."""
    where = f"checkpoint {short_path(path)}"
    if not isinstance(state, dict) or "step" not in state or "models" not in state:
        raise CheckpointError(f"{where} is not a layout2im training checkpoint")
    step = state["step"]
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 2**63:
        raise CheckpointError(f"{where}: 'step' must be an integer >= 0, got {quote(step)}")
    models = state["models"]
    if not isinstance(models, dict) or any(not isinstance(models.get(n), dict) for n in NETWORKS):
        raise CheckpointError(
            f"{where}: 'models' must map {', '.join(NETWORKS)} to their tensors, got "
            f"{quote(models)}"
        )
    problems = [
        f"models.{name}[{quote(key)}] {problem}"
        for name in NETWORKS
        for key, tensor in models[name].items()
        if (problem := _tensor_problem(key, tensor))
    ]
    if problems:
        raise CheckpointError(f"{where}: {join_problems(problems)}")
    kinds = {"optimizers": dict, "rng": list, "config": dict, "vocab": list}
    for key, kind in kinds.items():
        if key in state and not isinstance(state[key], kind):
            raise CheckpointError(
                f"{where}: {key!r} must be a {kind.__name__}, got {type(state[key]).__name__}"
            )
    # a row without a name is None (COCO ids never assigned, as the authors' vocabulary has them)
    if "vocab" in state and not all(n is None or isinstance(n, str) for n in state["vocab"]):
        raise CheckpointError(f"{where}: 'vocab' must be a list of category names (or null)")


def _tensor_problem(key: Any, tensor: Any) -> str | None:
    """The shared tensor rule (:func:`~layout2im.state_dicts.tensor_problem`) before the
    networks are built: BatchNorm's step counters are int64 scalars, every other tensor a
    weight (floating point, finite). Names and shapes are checked against the networks when
    they load the state (:func:`load_networks`)."""
    if not isinstance(key, str):
        return "is not named by a string"
    if key.endswith("num_batches_tracked"):
        return tensor_problem(tensor, torch.int64, ())
    return tensor_problem(tensor, torch.float32)


def load_networks(networks: Mapping[str, nn.Module], models: Mapping[str, Any], where: str) -> None:
    """Load a checkpoint's ``models`` into ``networks`` (name -> module) after checking every
    network's tensors against the module's own state dict (names, shapes, types, finite values;
    :func:`~layout2im.state_dicts.state_problems`). One :class:`CheckpointError` naming
    ``where`` and every problem otherwise; nothing is loaded then."""
    problems = []
    for name, module in networks.items():
        state = models.get(name)
        if not isinstance(state, Mapping):
            problems.append(f"models.{name} is missing")
            continue
        problems += [f"models.{name}: {p}" for p in state_problems(state, module.state_dict())]
    if problems:
        raise CheckpointError(
            f"{where} does not fit this run's networks: {join_problems(problems)}"
        )
    for name, module in networks.items():
        module.load_state_dict(models[name])


def load_latest_checkpoint(
    folder: Path, map_location="cpu", set_aside_unreadable: bool = False
) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint in ``folder``; unreadable newer ones are reported and
    skipped. ``None`` when the folder holds none; a :class:`CheckpointError` giving the newest
    one's problem when none of them can be read.

    ``set_aside_unreadable`` (for a run that will continue writing checkpoints) renames each
    skipped file to ``<name>.unreadable``: it stays for inspection, but is no longer counted
    among the checkpoints that pruning keeps."""
    candidates = list_checkpoints(folder)
    newest_problem = None
    for tried, path in enumerate(reversed(candidates), 1):
        try:
            return load_checkpoint(path, map_location), path
        except CheckpointError as exc:
            newest_problem = newest_problem or str(exc)
            if tried < len(candidates):
                log.warning("%s; falling back to the previous checkpoint", exc)
            elif tried > 1:
                log.warning("%s", exc)
            if set_aside_unreadable:
                aside = path.with_name(path.name + ".unreadable")
                os.replace(path, aside)
                log.warning("renamed the unreadable checkpoint to %s", aside.name)
    if candidates:
        tried = "" if len(candidates) == 1 else f" ({len(candidates)} tried); the newest"
        raise CheckpointError(
            f"no readable checkpoint in {short_path(folder)}{tried}: {newest_problem}"
        )
    return None
