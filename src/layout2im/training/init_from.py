"""Starting a new run from trained networks (``layout2im train --init-from DIR``).

``DIR`` is a model folder. When it holds a training checkpoint (``DIR/checkpoints/ckpt-*.pt``:
what ``layout2im convert-original --discriminators`` writes for the authors' networks, or a run
folder's checkpoints), the generator and both discriminators start from its newest one;
otherwise only the generator starts from ``model.safetensors`` and the discriminators are new.
Either way the optimisers start fresh (Adam's moments at zero: the authors' training script does
not save them) and the new run counts its steps from 0. The model's architecture and
vocabulary must equal the run's.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import ConfigError, config_from_dict
from ..errors import quote, short_path
from ..pipeline import Layout2ImPipeline, ModelLoadError
from .checkpoint import CheckpointError, load_latest_checkpoint, load_networks
from .trainer import Trainer

log = logging.getLogger(__name__)


def initialise_from(trainer: Trainer, folder: str | Path) -> list[str]:
    """Load the networks found in ``folder`` into ``trainer`` (see the module). Returns the
    names of the networks loaded. Raises :class:`CheckpointError` when they do not fit."""
    folder = Path(folder)
    try:
        pipe = Layout2ImPipeline.from_pretrained(folder)
    except ModelLoadError as exc:
        raise CheckpointError(f"--init-from {short_path(folder)}: {exc}") from None
    if not pipe.architecture.capabilities.trainable:
        raise CheckpointError(
            f"--init-from {short_path(folder)}: its architecture, {pipe.architecture.name}, "
            "cannot be "
            "trained in this library (it generates, scores and serves only)"
        )
    _check_same_model(trainer, pipe, folder)
    found = load_latest_checkpoint(folder / "checkpoints")
    if found is None:
        trainer.generator.load_state_dict(pipe.generator.state_dict())
        loaded = ["generator"]
        log.warning(
            "--init-from %s holds no training checkpoint: the generator starts from its "
            "model.safetensors, the discriminators are new",
            folder,
        )
    else:
        state, path = found
        saved = state.get("config", {})
        try:
            saved_model = config_from_dict(saved).model
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{short_path(path)}: its config is unusable ({exc})") from None
        if saved_model != trainer.config.model:
            raise CheckpointError(
                f"{short_path(path)} holds networks of another architecture than this run"
            )
        if state.get("vocab") != trainer.vocab.names:
            raise CheckpointError(
                f"{short_path(path)}: its vocabulary differs from this run's data"
            )
        load_networks(trainer.networks(), state["models"], short_path(path))
        loaded = ["generator", "image discriminator", "object discriminator"]
        log.info("networks from %s", path)
    log.info(
        "initialised the %s from %s; the optimisers start fresh (Adam moments at zero) and "
        "this run counts steps from 0",
        ", ".join(loaded),
        folder,
    )
    return loaded


def _check_same_model(trainer: Trainer, pipe: Layout2ImPipeline, folder: Path) -> None:
    mine, theirs = trainer.config.model.model_dump(), pipe.config.model_dump()
    if mine != theirs:
        key = next(k for k in mine if mine[k] != theirs.get(k))
        raise CheckpointError(
            f"--init-from {short_path(folder)}: its model differs from this run's config "
            f"(model.{key}: "
            f"{quote(theirs.get(key))} there, {quote(mine[key])} here); train with the "
            "config it was "
            "made with (e.g. --config paper-coco64 for a converted COCO model)"
        )
    if pipe.vocab.names != trainer.vocab.names:
        raise CheckpointError(
            f"--init-from {short_path(folder)}: its vocabulary ({len(pipe.vocab)} rows) "
            "differs from this "
            f"run's data ({len(trainer.vocab)} rows)"
        )
