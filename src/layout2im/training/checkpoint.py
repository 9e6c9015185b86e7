"""Training-state checkpoints: atomic writes, the last K kept, truncation detected.

A checkpoint is a plain dict of tensors, numbers, strings and lists, saved with ``torch.save``
and loaded with ``torch.load(weights_only=True)``: no pickled code. It holds the models, the
optimisers, the step, every RNG state, the resolved config and the vocabulary.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import Layout2ImError
from ..fsutil import atomic_write

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
        raise CheckpointError(f"{path} is not named like a checkpoint (ckpt-NNNNNNNN.pt)")
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
    """Load one checkpoint with ``weights_only=True``; a clear error when it is unreadable."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # truncated zip, wrong format, pickled code...
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(state, dict) or "step" not in state or "models" not in state:
        raise CheckpointError(f"{path} is not a layout2im training checkpoint")
    return state


def load_latest_checkpoint(
    folder: Path, map_location="cpu", set_aside_unreadable: bool = False
) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint in ``folder``; unreadable newer ones are reported and
    skipped. ``None`` when the folder holds none.

    ``set_aside_unreadable`` (for a run that will continue writing checkpoints) renames each
    skipped file to ``<name>.unreadable``: it stays for inspection, but is no longer counted
    among the checkpoints that pruning keeps."""
    candidates = list_checkpoints(folder)
    for path in reversed(candidates):
        try:
            return load_checkpoint(path, map_location), path
        except CheckpointError as exc:
            log.warning("%s; falling back to the previous checkpoint", exc)
            if set_aside_unreadable:
                aside = path.with_name(path.name + ".unreadable")
                os.replace(path, aside)
                log.warning("renamed the unreadable checkpoint to %s", aside.name)
    if candidates:
        raise CheckpointError(f"no readable checkpoint in {folder}")
    return None
