"""Shared fixtures: tiny configs and models that run in milliseconds on a CPU."""

from __future__ import annotations

import pytest
import torch

from layout2im.config import Config, DataConfig, ModelConfig, TrainConfig
from layout2im.data.shapes import SHAPE_CATEGORIES
from layout2im.layout import LayoutBatch
from layout2im.vocab import Vocabulary

torch.set_num_threads(1)


def tiny_model_config(**overrides) -> ModelConfig:
    """16x16 images, 8x8 crops, a few channels per layer: the whole architecture, tiny."""
    values = dict(
        image_size=16,
        crop_size=8,
        z_dim=4,
        embedding_dim=4,
        num_classes=len(SHAPE_CATEGORIES),
        crop_encoder_channels=[4, 8, 8],
        object_encoder_channels=[4, 8, 8],
        fuser_hidden=[8, 4],
        fuser_kernel=3,
        decoder_res_blocks=1,
        decoder_channels=[8, 8, 4],
        image_disc_channels=[4, 8],
        object_disc_channels=[4, 8],
    )
    values.update(overrides)
    return ModelConfig(**values)


def tiny_config(**train) -> Config:
    t = dict(
        batch_size=4, steps=4, log_every=1, sample_every=2, checkpoint_every=2, num_sample_layouts=2
    )
    t.update(train)
    return Config(
        name="tiny",
        model=tiny_model_config(),
        data=DataConfig(name="shapes", num_images=32, min_objects=2, max_objects=4),
        train=TrainConfig(**t),
    ).validate()


@pytest.fixture
def vocab() -> Vocabulary:
    return Vocabulary(SHAPE_CATEGORIES)


@pytest.fixture
def layout_batch() -> LayoutBatch:
    """Two layouts: three objects and one object (padding in row 1)."""
    labels = [torch.tensor([0, 3, 5]), torch.tensor([2])]
    boxes = [
        torch.tensor([[0.1, 0.1, 0.5, 0.6], [0.4, 0.3, 0.9, 0.9], [0.0, 0.0, 1.0, 1.0]]),
        torch.tensor([[0.2, 0.25, 0.7, 0.8]]),
    ]
    return LayoutBatch.from_lists(labels, boxes)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny model trained for a few steps (so BN statistics are real), saved with
    save_pretrained."""
    return train_tiny_model(tiny_config(), 24, tmp_path_factory.mktemp("model"))


def train_tiny_model(config: Config, steps: int, folder):
    """Train ``config`` for ``steps`` batches of 4 and save the generator to ``folder``."""
    from layout2im.data import build_dataset
    from layout2im.data.collate import batch_layout, collate_layouts
    from layout2im.pipeline import Layout2ImPipeline
    from layout2im.training.trainer import Trainer

    dataset, vocab = build_dataset(config.data, config.model.image_size)
    trainer = Trainer(config, vocab)
    for k in range(steps):
        batch = collate_layouts([dataset[(4 * k + i) % len(dataset)] for i in range(4)])
        trainer.train_step(batch["images"], batch_layout(batch))
    Layout2ImPipeline(trainer.generator, vocab, max_objects=8).save_pretrained(folder)
    return folder


def run_with_checkpoints(run_dir, steps=(2, 4, 6), **model) -> list[dict]:
    """A run folder whose checkpoints hold a tiny trainer after 2, 4, 6 steps (one train step
    between each). Returns the generator state of each, in order."""
    from layout2im.data import build_dataset
    from layout2im.data.collate import batch_layout, collate_layouts
    from layout2im.training.checkpoint import save_checkpoint
    from layout2im.training.trainer import Trainer

    config = tiny_config()
    if model:
        config.model = tiny_model_config(**model)
    dataset, vocab = build_dataset(config.data, config.model.image_size)
    trainer = Trainer(config, vocab)
    states = []
    for k, step in enumerate(steps):
        batch = collate_layouts([dataset[4 * k + i] for i in range(4)])
        trainer.train_step(batch["images"], batch_layout(batch))
        trainer.step = step
        save_checkpoint(trainer.state_dict(), run_dir / "checkpoints", step, keep=10)
        states.append({name: v.clone() for name, v in trainer.generator.state_dict().items()})
    return states


def load_script(path, name: str):
    """Import a script (e.g. a benchmark) as module ``name``; registered in sys.modules, since
    dataclasses look their module up."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
