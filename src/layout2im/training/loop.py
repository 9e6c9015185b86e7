"""``train()``: a run folder, the data stream, the trainer, logs, samples, checkpoints, export."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import Config, ConfigError, from_dict
from ..data import build_dataset
from ..data.collate import ResumableSampler, batch_layout, collate_layouts
from ..layout import LayoutBatch
from ..pipeline import Layout2ImPipeline
from ..visualize import draw_layout, grid, to_pil
from ..vocab import Vocabulary
from .checkpoint import load_latest_checkpoint, save_checkpoint
from .run_dir import latest_run_dir, new_run_dir
from .trainer import Trainer, resolve_device

log = logging.getLogger(__name__)

SAMPLE_SEED = 1234


class RunError(RuntimeError):
    """A run folder cannot be created or resumed as asked."""


def train(
    config: Config,
    out_root: str | Path = "runs",
    resume: str | Path | bool | None = None,
    desc: str | None = None,
    progress: bool = True,
) -> Path:
    """Train ``config`` in a new run folder under ``out_root`` (or continue one) and export the
    final generator to ``<run>/model``. ``resume``: a run folder, or ``True`` for the latest run
    of this config under ``out_root``. Returns the run folder."""
    out_root = Path(out_root)
    run_dir, state = _open_run(config, out_root, resume, desc)
    file_handler = logging.FileHandler(run_dir / "log.txt")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("layout2im").addHandler(file_handler)
    try:
        return _train_in(config, run_dir, state, progress)
    finally:
        logging.getLogger("layout2im").removeHandler(file_handler)
        file_handler.close()


def _open_run(config: Config, out_root: Path, resume, desc):
    if not resume:
        run_dir = new_run_dir(out_root, config.name, desc)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        return run_dir, None
    run_dir = latest_run_dir(out_root, config.name) if resume is True else Path(resume)
    if run_dir is None or not run_dir.is_dir():
        raise RunError(f"nothing to resume: no run folder of {config.name!r} under {out_root}")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    saved_config = from_dict(Config, saved).validate()
    mine, theirs = config.to_dict(), saved_config.to_dict()
    mine["train"].pop("steps"), theirs["train"].pop("steps")
    if mine != theirs:
        diff = _first_difference(theirs, mine)
        raise RunError(f"{run_dir} belongs to a different config ({diff}); start a new run instead")
    found = load_latest_checkpoint(run_dir / "checkpoints")
    if found is None:
        raise RunError(f"{run_dir} has no checkpoint to resume from")
    state, path = found
    log.info("resuming %s from %s (step %d)", run_dir, path.name, state["step"])
    return run_dir, state


def _first_difference(a: dict, b: dict, prefix: str = "") -> str:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            found = _first_difference(va, vb, f"{prefix}{key}.")
            if found:
                return found
        elif va != vb:
            return f"{prefix}{key}: run has {va!r}, asked {vb!r}"
    return ""


def _train_in(config: Config, run_dir: Path, state: dict | None, progress: bool) -> Path:
    device = resolve_device(config.train.device)
    dataset, vocab = build_dataset(config.data, config.model.image_size, split="train")
    if len(vocab) != config.model.num_classes:
        raise ConfigError(
            f"model.num_classes is {config.model.num_classes} but the {config.data.name} "
            f"vocabulary has {len(vocab)} rows; set --set model.num_classes={len(vocab)}"
        )
    trainer = Trainer(config, vocab, device)
    if state is not None:
        if state.get("vocab") != vocab.names:
            raise RunError(f"{run_dir}: the checkpoint's vocabulary differs from the dataset's")
        trainer.load_state_dict(state)
    samples = _fixed_samples(config, vocab)
    t = config.train
    sampler = ResumableSampler(len(dataset), seed=t.seed, start=trainer.step * t.batch_size)
    loader = DataLoader(
        dataset,
        batch_size=t.batch_size,
        sampler=sampler,
        collate_fn=collate_layouts,
        num_workers=config.data.num_workers,
        drop_last=True,
    )
    log.info(
        "training %s on %s: %d images, %d categories, device %s, batch %d, steps %d -> %d",
        config.name, config.data.name, len(dataset), len(vocab.categories), device,
        t.batch_size, trainer.step, t.steps,
    )  # fmt: skip
    stats_file = open(run_dir / "stats.jsonl", "a")  # noqa: SIM115 (closed in finally)
    bar = tqdm(
        total=t.steps, initial=trainer.step, disable=not progress, unit="it", dynamic_ncols=True
    )
    data_iter = iter(loader)
    tick, tick_step = time.perf_counter(), trainer.step
    try:
        while trainer.step < t.steps:
            batch = next(data_iter)
            result = trainer.train_step(batch["images"], batch_layout(batch))
            step = trainer.step
            bar.update(1)
            if step % t.log_every == 0 or step == t.steps:
                now = time.perf_counter()
                its = (step - tick_step) / max(now - tick, 1e-9)
                tick, tick_step = now, step
                record = {
                    "step": step,
                    **result.losses,
                    "it_per_s": its,
                    "img_per_s": its * t.batch_size,
                }
                stats_file.write(json.dumps(record) + "\n")
                stats_file.flush()
                bar.set_postfix(
                    D=f"{result.losses['D/total']:.3f}", G=f"{result.losses['G/total']:.3f}"
                )
            if step % t.sample_every == 0 or step == t.steps:
                save_sample_grid(trainer, samples, run_dir / "samples" / f"step-{step:08d}.png")
            if step % t.checkpoint_every == 0 or step == t.steps:
                save_checkpoint(
                    trainer.state_dict(), run_dir / "checkpoints", step, t.keep_checkpoints
                )
    finally:
        bar.close()
        stats_file.close()
    pipe = Layout2ImPipeline(
        trainer.generator, vocab, max_objects=config.data.max_objects, device=device
    )
    pipe.save_pretrained(run_dir / "model")
    trainer.generator.train()
    log.info("exported the generator to %s", run_dir / "model")
    return run_dir


def _fixed_samples(config: Config, vocab: Vocabulary) -> dict:
    """Layouts, real images and codes for sample grids: the same at every step of a run."""
    dataset, _ = build_dataset(config.data, config.model.image_size, split="samples")
    n = min(config.train.num_sample_layouts, len(dataset))
    batch = collate_layouts([dataset[i] for i in range(n)])
    layout = batch_layout(batch)
    g = torch.Generator().manual_seed(SAMPLE_SEED)
    z = torch.randn(3, layout.num_objects, config.model.z_dim, generator=g)
    return {"images": batch["images"], "layout": layout, "z": z, "names": vocab.names}


@torch.no_grad()
def save_sample_grid(trainer: Trainer, samples: dict, path: Path) -> Path:
    """One row per fixed layout: the layout, the real image, its reconstruction from the
    posterior mean, and three samples from fixed prior codes; boxes drawn on the real image."""
    g = trainer.generator
    was_training = g.training
    g.eval()
    device = trainer.device
    layout: LayoutBatch = samples["layout"].to(device)
    images = samples["images"].to(device)
    _, mu, _ = g.encode_objects(images, layout)
    columns = [to_pil(images), to_pil(g.decode(layout, mu))]
    columns += [to_pil(g.decode(layout, z.to(device))) for z in samples["z"]]
    g.train(was_training)
    scale = max(1, 128 // images.shape[-1])
    rows = []
    for i in range(layout.batch_size):
        m = layout.mask[i].cpu()
        boxes, labels = layout.boxes[i].cpu()[m], layout.labels[i].cpu()[m].tolist()
        names = [samples["names"][k] for k in labels]
        row = [draw_layout(boxes, labels, names, images.shape[-1], scale=scale)]
        row.append(
            draw_layout(
                boxes, labels, names, images.shape[-1], background=columns[0][i], scale=scale
            )
        )
        row += [col[i].resize((row[0].width, row[0].height)) for col in columns[1:]]
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid(rows).save(path)
    return path
