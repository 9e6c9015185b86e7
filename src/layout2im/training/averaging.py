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
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError

from ..architectures import get_architecture
from ..config import ConfigError, config_from_dict
from ..errors import short_path
from ..fsutil import atomic_folder, check_output_folder
from ..model_folder import (
    ModelDestinationError,
    check_replaceable_model_folder,
    refuse_current_folder,
)
from ..pipeline import Layout2ImPipeline
from ..vocab import Vocabulary
from .checkpoint import (
    CheckpointError,
    checkpoint_step,
    list_checkpoints,
    load_checkpoint,
    load_networks,
)

log = logging.getLogger(__name__)


def select_checkpoints(
    run_dir: str | Path, from_step: int | None = None, last: int | None = None
) -> list[Path]:
    """The checkpoints of ``run_dir`` (``<run>/checkpoints/ckpt-*.pt``), oldest first, of step
    ``>= from_step`` and then only the newest ``last`` of them (None: no limit)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CheckpointError(f"run folder not found: {short_path(run_dir)}")
    if not run_dir.is_dir():
        raise CheckpointError(f"{short_path(run_dir)} is not a run folder (a file)")
    folder = run_dir / "checkpoints"
    found = list_checkpoints(folder)
    if not found:
        hint = (
            " (give the run folder, the one above checkpoints/)"
            if list_checkpoints(run_dir)
            else ""
        )
        raise CheckpointError(
            f"{short_path(run_dir)} holds no checkpoints (looked for "
            f"{short_path(folder)}/ckpt-*.pt){hint}"
        )
    if from_step is not None:
        found = [p for p in found if checkpoint_step(p) >= from_step]
        if not found:
            raise CheckpointError(
                f"{short_path(run_dir)} holds no checkpoint at or after step {from_step}"
            )
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
        weights = state["models"].get("generator") if isinstance(state["models"], dict) else None
        if not isinstance(weights, dict) or not weights:
            raise CheckpointError(
                f"{short_path(path)} holds no generator weights (models.generator)"
            )
        if not isinstance(state.get("vocab"), list) or not isinstance(state.get("config"), dict):
            raise CheckpointError(f"{short_path(path)} lacks the vocabulary or config of its run")
        if first is None:
            first = {"path": path, "vocab": state.get("vocab"), "weights": weights}
            total = {
                k: v.double() if v.is_floating_point() else v.clone() for k, v in weights.items()
            }
            continue
        if set(weights) != set(total) or state.get("vocab") != first["vocab"]:
            raise CheckpointError(
                f"{short_path(path)} is not a checkpoint of the same model as "
                f"{short_path(first['path'])} "
                "(different generator layers or vocabulary)"
            )
        for key, value in weights.items():
            if value.shape != total[key].shape:
                raise CheckpointError(
                    f"{short_path(path)}: generator weight {key} has shape {tuple(value.shape)}, "
                    f"{tuple(total[key].shape)} in {short_path(first['path'])}"
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


def check_model_destination(out: Path, run_dir: Path) -> None:
    """Refuse an ``--out`` that replacing would destroy something else: the run folder, a folder
    above it, its checkpoints or its exported ``model/``, the current folder, a file, a link,
    or a folder that is not a layout2im model folder (other files than config.json,
    model.safetensors and vocab.json, or a config.json of another format). A new folder inside
    the run (``RUN/model-averaged``) is fine. File-system errors become CheckpointError."""
    try:
        _check_model_destination(out, run_dir)
    except ModelDestinationError as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"--out {short_path(out)} cannot be checked: {exc}") from None
    check_output_folder(out.parent)  # writable (OutputError otherwise)


def _check_model_destination(out: Path, run_dir: Path) -> None:
    resolved, run = out.resolve(), run_dir.resolve()
    refuse_current_folder(out)
    protected = (run / "checkpoints", run / "model")
    if run.is_relative_to(resolved) or any(resolved.is_relative_to(p) for p in protected):
        raise CheckpointError(
            f"--out {short_path(out)} is the run folder {short_path(run_dir)}, a folder "
            "above it, its checkpoints or "
            "its exported model; write the averaged model somewhere else"
        )
    check_replaceable_model_folder(out)


def export_averaged_model(
    run_dir: str | Path,
    out: str | Path,
    from_step: int | None = None,
    last: int | None = None,
) -> tuple[Path, list[int]]:
    """Average the generator over the chosen checkpoints of ``run_dir`` and save it as a model
    folder at ``out``. The new folder is written beside ``out`` and renamed into place; an
    existing model folder there is first renamed aside (and put back if the swap fails), so
    ``out`` never holds a half-written model; anything else at ``out`` is refused (see
    :func:`check_model_destination`). Returns the folder and the averaged steps."""
    run_dir, out = Path(run_dir), Path(out)
    try:
        checkpoints = select_checkpoints(run_dir, from_step, last)
    except OSError as exc:
        raise CheckpointError(
            f"cannot list the checkpoints of {short_path(run_dir)}: {exc}"
        ) from None
    check_model_destination(out, run_dir)
    steps = [checkpoint_step(p) for p in checkpoints]
    log.info("averaging the generator over %d checkpoints (steps %s)", len(steps), steps)
    weights, newest = average_generator_state(checkpoints)
    try:
        config = config_from_dict(newest["config"])
        architecture = get_architecture(newest.get("architecture", "layout2im"))
        generator = architecture.build_generator(config.model)
        vocab = Vocabulary(newest["vocab"])
    except (ConfigError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{short_path(checkpoints[-1])}: its config and vocabulary are unusable ({exc})"
        ) from None
    load_networks({"generator": generator}, {"generator": weights}, short_path(checkpoints[-1]))
    generator.eval()
    pipe = Layout2ImPipeline.for_trained(generator, vocab, config, architecture)
    check_model_destination(out, run_dir)  # again: averaging can take a while
    try:
        with atomic_folder(out) as tmp:
            pipe.save_pretrained(tmp, provenance={"averaged_checkpoint_steps": steps})
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"could not write the model to {short_path(out)}: {exc}") from None
    return out, steps
