"""The demo's own model: the ``shapes32`` preset trained briefly on the built-in shapes
dataset (``layout2im demo --train``)."""

from __future__ import annotations

from pathlib import Path

from ..config import apply_overrides, load_config
from .loop import train

DEMO_PRESET = "shapes32"
DEMO_STEPS = 1500


def train_demo_model(
    out_root: str | Path, steps: int = DEMO_STEPS, threads: int | None = None
) -> Path:
    """Train :data:`DEMO_PRESET` for ``steps`` steps (with training samples at each third) in
    a new run folder under ``out_root``, named ``...-demo``, with ``threads`` CPU threads
    (``train.threads``); returns the run folder, whose ``model/`` is the exported model."""
    overrides = [f"train.steps={steps}", f"train.sample_every={max(1, steps // 3)}"]
    if threads is not None:
        overrides.append(f"train.threads={threads}")
    config = apply_overrides(load_config(DEMO_PRESET), overrides)
    return train(config, out_root=out_root, desc="demo").run_dir
