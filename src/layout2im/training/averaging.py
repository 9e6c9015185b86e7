"""Checkpoint averaging: a model whose generator weights are the mean over a run's checkpoints.

Averaging a GAN generator's weights over the end of training (Polyak averaging; Yazici et al.,
"The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019) removes much of the
oscillation of adversarial training at no training cost. Here it is done after the fact on the
checkpoints a run kept (``train.checkpoint_every``, ``train.keep_checkpoints``):

- floating-point parameters and buffers (BatchNorm running means and variances included) are
  the arithmetic mean over the checkpoints, accumulated in float64;
- integer buffers (BatchNorm's ``num_batches_tracked``) are taken from the newest checkpoint.

The averaged BatchNorm statistics are the mean of each checkpoint's statistics, not statistics
re-measured for the averaged weights; for checkpoints of one run's late phase the two are close.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from ..config import Config, ConfigError, from_dict
from ..models import Layout2ImGenerator
from ..pipeline import Layout2ImPipeline
from ..vocab import Vocabulary
from .checkpoint import CheckpointError, checkpoint_step, list_checkpoints, load_checkpoint

log = logging.getLogger(__name__)


def select_checkpoints(
    run_dir: str | Path, from_step: int | None = None, last: int | None = None
) -> list[Path]:
    """The checkpoints of ``run_dir`` (``<run>/checkpoints/ckpt-*.pt``), oldest first, of step
    ``>= from_step`` and then only the newest ``last`` of them (None: no limit)."""
    folder = Path(run_dir) / "checkpoints"
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"run folder not found: {run_dir}")
    found = list_checkpoints(folder)
    if not found:
        raise CheckpointError(f"{run_dir} holds no checkpoints (looked for {folder}/ckpt-*.pt)")
    if from_step is not None:
        found = [p for p in found if checkpoint_step(p) >= from_step]
        if not found:
            raise CheckpointError(f"{run_dir} holds no checkpoint at or after step {from_step}")
    if last is not None:
        if last < 1:
            raise ValueError("last must be at least 1")
        found = found[-last:]
    return found


def average_generator_state(checkpoints: Sequence[Path]) -> tuple[dict[str, torch.Tensor], dict]:
    """The generator ``state_dict`` averaged over ``checkpoints`` (see the module) and the newest
    checkpoint's state (its config, vocabulary and step). Every checkpoint must come from the
    same model (same keys and shapes, same vocabulary)."""
    if not checkpoints:
        raise ValueError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    first: dict | None = None
    state: dict = {}
    for path in checkpoints:
        state = load_checkpoint(path)
        weights = state["models"]["generator"]
        if first is None:
            first = {"path": path, "vocab": state.get("vocab"), "weights": weights}
            total = {
                k: v.double() if v.is_floating_point() else v.clone() for k, v in weights.items()
            }
            continue
        if set(weights) != set(total) or state.get("vocab") != first["vocab"]:
            raise CheckpointError(
                f"{path} is not a checkpoint of the same model as {first['path']} "
                "(different generator layers or vocabulary)"
            )
        for key, value in weights.items():
            if value.shape != total[key].shape:
                raise CheckpointError(
                    f"{path}: generator weight {key} has shape {tuple(value.shape)}, "
                    f"{tuple(total[key].shape)} in {first['path']}"
                )
            if value.is_floating_point():
                total[key] += value.double()
            else:
                total[key] = value.clone()  # integer buffers: the newest checkpoint's
    assert first is not None
    n = len(checkpoints)
    averaged = {
        key: (value / n).to(first["weights"][key].dtype) if value.is_floating_point() else value
        for key, value in total.items()
    }
    return averaged, state


def export_averaged_model(
    run_dir: str | Path,
    out: str | Path,
    from_step: int | None = None,
    last: int | None = None,
) -> tuple[Path, list[int]]:
    """Average the generator over the chosen checkpoints of ``run_dir`` and save it as a model
    folder at ``out`` (written beside it first, then moved into place; an existing ``out`` is
    replaced). Returns the folder and the averaged steps."""
    checkpoints = select_checkpoints(run_dir, from_step, last)
    steps = [checkpoint_step(p) for p in checkpoints]
    log.info("averaging the generator over %d checkpoints (steps %s)", len(steps), steps)
    weights, newest = average_generator_state(checkpoints)
    try:
        config = from_dict(Config, newest["config"]).validate()
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{checkpoints[-1]}: its config is unusable ({exc})") from None
    generator = Layout2ImGenerator(config.model)
    generator.load_state_dict(weights)
    generator.eval()
    pipe = Layout2ImPipeline(
        generator, Vocabulary(newest["vocab"]), max_objects=config.data.max_objects
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        pipe.save_pretrained(tmp, provenance={"averaged_checkpoint_steps": steps})
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out, steps
