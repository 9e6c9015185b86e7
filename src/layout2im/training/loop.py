""":func:`train`: a run folder, the data stream, the trainer, logs, samples, checkpoints, export.

Works as one process or as one rank of a torchrun launch (see :mod:`.distributed`): rank 0
owns the run folder (config, log, stats, samples, checkpoints, exported model); every rank
trains on its share of each global batch.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import Config, ConfigError, config_from_yaml, read_config_text
from ..data import build_dataset, get_dataset
from ..data.collate import ResumableSampler, batch_layout, collate_layouts
from ..data.values import is_number
from ..errors import Layout2ImError, join_problems, quote, short_path
from ..evaluation import ScoringOptions, evaluate_generator
from ..fsutil import atomic_folder, atomic_write, write_text
from ..hardware import cpu_summary, resolve_amp
from ..layout import LayoutBatch
from ..pipeline import Layout2ImPipeline
from ..readers import InputError, check_path_text, parse_json, read_json, read_lines
from ..threads import describe as describe_threads
from ..threads import use_threads
from ..visualize import draw_layout, grid, to_pil
from ..vocab import Vocabulary
from . import distributed as dist_env
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_latest_checkpoint,
    save_checkpoint,
)
from .distributed import DistEnv, DistributedError
from .init_from import initialise_from
from .run_dir import latest_run_dir, missing_folders, new_run_dir, remove_run
from .trainer import Trainer

log = logging.getLogger(__name__)

SAMPLE_SEED = 1234


class RunError(Layout2ImError, RuntimeError):
    """A run folder cannot be created or resumed as asked."""


@dataclass
class TrainingRun:
    """What a finished training leaves: its run folder and (in this process) the trainer."""

    run_dir: Path
    trainer: Trainer


def train(
    config: Config,
    out_root: str | Path = "runs",
    resume: str | Path | bool | None = None,
    desc: str | None = None,
    progress: bool = True,
    init_from: str | Path | None = None,
) -> TrainingRun:
    """Train ``config`` in a new run folder under ``out_root`` (or continue one) and export the
    final generator to ``<run>/model``. ``resume``: a run folder, or ``True`` for the latest run
    of this config under ``out_root``. ``init_from``: a model folder whose networks a new run
    starts from (see :mod:`.init_from`). Returns the run folder (on every rank) and this
    process's trainer (models, optimisers, step)."""
    if resume and init_from is not None:
        raise RunError("--init-from starts a new run; it cannot be combined with --resume")
    if init_from is not None and not (Path(init_from) / "config.json").is_file():
        raise RunError(
            f"--init-from {short_path(init_from)} is not a model folder (no config.json)"
        )
    env = dist_env.setup(config.train.device)
    try:
        return _train_with_run_log(config, Path(out_root), resume, desc, progress, env, init_from)
    finally:
        dist_env.teardown()


def _train_with_run_log(
    config, out_root: Path, resume, desc, progress, env: DistEnv, init_from=None
) -> TrainingRun:
    """Open the run folder (rank 0 resolves it, the others follow), log to its ``log.txt``
    while :func:`_build_and_run` trains, and record there why training stopped if it did."""
    if config.train.batch_size % env.world_size:
        raise ConfigError(
            f"train.batch_size={config.train.batch_size} (the global batch) is not divisible "
            f"by the {env.world_size} processes"
        )
    get_dataset(config.data.name)  # an unknown data.name stops here, before any run folder
    amp_note = resolve_training_amp(config, env.device)
    # rank 0 resolves the run folder; the others follow it, or fail with its message
    outcome: tuple[str, str | None, str | None] = ("", None, None)
    created = [] if resume else missing_folders(out_root)  # what a failed start removes
    if env.is_main:
        try:
            run_dir, ckpt = _open_run(config, out_root, resume, desc)
            outcome = ("ok", str(run_dir), str(ckpt) if ckpt else None)
        except (RunError, ConfigError, OSError) as exc:
            outcome = ("error", f"{type(exc).__name__}", str(exc))
            if not env.distributed:
                raise
    status, first, second = dist_env.broadcast_object(outcome, env)
    if status == "error":
        raise RunError(second)
    run_dir, ckpt_path = Path(first), second

    handler = None
    package_log = logging.getLogger("layout2im")
    saved_level = package_log.level
    if env.is_main:
        # log.txt gets INFO and above whatever the console shows
        handler = logging.FileHandler(run_dir / "log.txt")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.setLevel(logging.INFO)
        package_log.addHandler(handler)
        if package_log.getEffectiveLevel() > logging.INFO:
            package_log.setLevel(logging.INFO)
        if amp_note:
            log.info(amp_note)
    else:
        package_log.setLevel(logging.WARNING)
    discard_run = False
    try:
        state = load_checkpoint(Path(ckpt_path)) if ckpt_path else None
        return _build_and_run(config, run_dir, state, progress, env, init_from)
    except Exception as exc:
        # a new run whose --init-from does not fit has trained nothing: leave no folder
        discard_run = init_from is not None and not ckpt_path and isinstance(exc, CheckpointError)
        lost_peer = isinstance(exc, (RuntimeError, ConnectionError)) and _looks_like_lost_peer(exc)
        if env.distributed and lost_peer:
            exc = DistributedError(
                f"rank {env.rank}: lost contact with another process of this run (it "
                f"probably died; see its output above): {type(exc).__name__}: "
                f"{str(exc).splitlines()[0]}"
            )
        if handler is not None:
            _record_failure(handler, exc)
        if isinstance(exc, DistributedError):
            raise exc from None
        raise
    finally:
        package_log.setLevel(saved_level)
        if handler is not None:
            package_log.removeHandler(handler)
            handler.close()
        if discard_run and env.is_main:
            remove_run(run_dir, created)


def _record_failure(handler: logging.Handler, exc: Exception) -> None:
    """Write why training stopped into the run's log.txt only (the console gets the error from
    the caller); unexpected errors with their traceback."""
    expected = isinstance(exc, Layout2ImError)
    record = log.makeRecord(
        log.name,
        logging.ERROR,
        __file__,
        0,
        "training stopped: %s",
        (exc,),
        None if expected else (type(exc), exc, exc.__traceback__),
    )
    handler.handle(record)


def resolve_training_amp(config: Config, device: torch.device) -> str | None:
    """Turn ``train.amp=auto`` into ``bf16`` or ``off`` for ``device`` in place, so the run's
    config.yaml and checkpoints record what was used. Returns the line for the log (None when
    ``amp`` was not ``auto``)."""
    t = config.train
    if t.amp != "auto":
        return None
    t.amp = resolve_amp("auto", device)
    if device.type == "cpu":
        where = f"this CPU, {cpu_summary()}"
    elif device.type == "cuda":
        where = f"{device} ({torch.cuda.get_device_name(device)})"
    else:
        where = str(device)
    reason = "runs fast" if t.amp == "bf16" else "is not known to run faster"
    return f"train.amp=auto -> {t.amp}: bf16 autocast {reason} on {where}"


def _looks_like_lost_peer(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    keys = ("connection", "peer", "gloo", "nccl", "timed out", "timeout", "broken pipe", "closed")
    return any(k in text for k in keys)


def _open_run(config: Config, out_root: Path, resume, desc) -> tuple[Path, Path | None]:
    """The run folder and the checkpoint to continue from (None for a new run)."""
    if not resume:
        run_dir = new_run_dir(out_root, config.name, desc)
        write_run_config(run_dir, config)
        return run_dir, None
    if resume is True:
        run_dir = latest_run_dir(out_root, config.name)
        if run_dir is None:
            raise RunError(
                f"nothing to resume: no run folder of {quote(config.name)} under "
                f"{short_path(out_root)}"
            )
    else:
        run_dir = check_path_text(resume, "--resume", RunError)
        if not run_dir.is_dir():
            what = "is not a folder" if run_dir.exists() else "does not exist"
            raise RunError(f"nothing to resume: the run folder {short_path(run_dir)} {what}")
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise RunError(f"{short_path(run_dir)} is not a run folder (config.yaml is missing)")
    try:
        saved_config = config_from_yaml(read_config_text(config_file), str(config_file))
    except ConfigError as exc:
        raise RunError(f"cannot resume {short_path(run_dir)}: {exc}") from None
    mine, theirs = config.model_dump(), saved_config.model_dump()
    mine["train"].pop("steps"), theirs["train"].pop("steps")
    if mine != theirs:
        diff = _first_difference(theirs, mine)
        raise RunError(
            f"{short_path(run_dir)} belongs to a different config ({diff}); start a new run instead"
        )
    found = load_latest_checkpoint(run_dir / "checkpoints", set_aside_unreadable=True)
    if found is None:
        raise RunError(f"{short_path(run_dir)} has no checkpoint to resume from")
    state, path = found
    log.info("resuming %s from %s (step %d)", run_dir, path.name, state["step"])
    _read_best(run_dir)  # a damaged best record stops here, before anything is rewritten
    _truncate_stats(run_dir / "stats.jsonl", int(state["step"]))
    return run_dir, path


MAX_STATS_LINE_BYTES = 64 * 1024
"""A ``stats.jsonl`` line longer than this is damaged: training writes a few hundred bytes (the
step, each loss term and two speeds)."""

MAX_BEST_BYTES = 64 * 1024
"""``model-best/best.json`` larger than this is refused: training writes about 100 bytes."""


def _truncate_stats(path: Path, step: int) -> None:
    """Keep the stats lines up to the checkpoint being resumed: lines of later steps (a killed
    run's tail) are dropped, and so is a damaged line (torn by a crash, not UTF-8, over
    :data:`MAX_STATS_LINE_BYTES`, not a JSON record with a numeric ``step``), with a warning
    naming the file and the line. The file is read one bounded line at a time and rewritten
    atomically."""
    if not path.exists() and not path.is_symlink():
        return
    damaged = []
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for number, line, problem in read_lines(path, MAX_STATS_LINE_BYTES, "stats file", RunError):
            if line is not None and not line.strip():
                continue
            if line is not None:
                found, problem = _stats_step(line)
                if found is not None:
                    if found <= step:
                        out.write(line + "\n")
                    continue
            damaged.append(f"line {number} ({problem})")
    if damaged:
        log.warning(
            "%s: dropped %d damaged line(s): %s",
            short_path(path), len(damaged), join_problems(damaged),
        )  # fmt: skip


def _stats_step(line: str) -> tuple[float | None, str]:
    """The step of a stats.jsonl line, or None and why the line is damaged."""
    try:
        record = parse_json(line, "the line", InputError)
    except InputError as exc:
        return None, str(exc).removeprefix("the line: ")
    found = record.get("step") if isinstance(record, dict) else None
    if not is_number(found):  # parse_json has refused NaN already
        return None, "not a record with a numeric 'step'"
    return float(found), ""


def write_run_config(run_dir: Path, config: Config) -> None:
    """The run's resolved config, ``config.yaml`` (what ``--resume`` compares against)."""
    write_text(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(), sort_keys=False))


def _first_difference(a: dict, b: dict, prefix: str = "") -> str:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            found = _first_difference(va, vb, f"{prefix}{key}.")
            if found:
                return found
        elif va != vb:
            return f"{prefix}{key}: run has {quote(va)}, asked {quote(vb)}"
    return ""


def _build_and_run(
    config: Config,
    run_dir: Path,
    state: dict | None,
    progress: bool,
    env: DistEnv,
    init_from: str | Path | None = None,
) -> TrainingRun:
    """Build the data stream and the trainer (from ``state``, ``init_from`` or new), run the
    steps with their logs, samples, evaluations and checkpoints, and export the model."""
    use_threads(config.train.threads)
    log.info("%s (train.threads: %s)", describe_threads(), config.train.threads or "default")
    dataset, vocab = build_dataset(config.data, config.model.image_size, split="train")
    if len(vocab) != config.model.num_classes:
        said = config.model.num_classes
        if state is not None:
            raise RunError(
                f"{short_path(run_dir)}: the run's model has {config.model.num_classes} "
                "category rows but "
                f"the {config.data.name} data has {len(vocab)}; a model cannot continue on a "
                "different vocabulary (start a new run)"
            )
        if said is None:
            log.info(
                "model.num_classes set to %d, the size of the %s vocabulary (read from the data)",
                len(vocab), config.data.name,
            )  # fmt: skip
        else:
            log.warning(
                "model.num_classes set to %d, the size of the %s vocabulary (the config said %d; "
                "model.num_classes: null reads it from the data)",
                len(vocab), config.data.name, said,
            )  # fmt: skip
        config = copy.deepcopy(config)
        config.model.num_classes = len(vocab)
        config.validate()
        if env.is_main:
            write_run_config(run_dir, config)
    trainer = Trainer(config, vocab, env=env)
    if state is not None:
        if state.get("vocab") != vocab.names:
            raise RunError(
                f"{short_path(run_dir)}: the checkpoint's vocabulary differs from the dataset's"
            )
        where = f"{short_path(run_dir)}: its newest checkpoint"
        try:
            trainer.load_state_dict(state, where)
        except CheckpointError:
            raise  # already one sentence naming the checkpoint and every problem
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
            raise CheckpointError(f"{where} does not fit this run: {first}") from None
    elif init_from is not None:
        initialise_from(trainer, init_from)  # every rank: the same weights everywhere
    t = config.train
    per_rank = t.batch_size // env.world_size
    sampler = ResumableSampler(
        len(dataset),
        seed=t.seed,
        start=trainer.step * t.batch_size,
        rank=env.rank,
        world_size=env.world_size,
    )
    loader = DataLoader(
        dataset,
        batch_size=per_rank,
        sampler=sampler,
        collate_fn=collate_layouts,
        num_workers=config.data.num_workers,
        drop_last=True,
    )
    log.info(
        "training %s on %s: %d images, %d categories, steps %d -> %d",
        config.name, config.data.name, len(dataset), len(vocab.categories), trainer.step, t.steps,
    )  # fmt: skip
    log.info(
        "global batch %d = %d process(es) x %d on %s; lr %g (rule %s, base batch %d, "
        "configured %g); amp %s; sync batchnorm %s",
        t.batch_size, env.world_size, per_rank, env.device, t.effective_lr(), t.lr_rule,
        t.lr_base_batch, t.lr, t.amp, t.sync_batchnorm and env.distributed,
    )  # fmt: skip
    best = _read_best(run_dir) if env.is_main else None
    samples = _fixed_samples(config, vocab) if env.is_main else None
    writer = _tensorboard(run_dir) if env.is_main and t.tensorboard else None
    stats_file = open(run_dir / "stats.jsonl", "a") if env.is_main else None  # noqa: SIM115
    bar = tqdm(
        total=t.steps,
        initial=trainer.step,
        disable=not (progress and env.is_main),
        unit="it",
        dynamic_ncols=True,
    )
    data_iter = iter(loader)
    tick, tick_step = time.perf_counter(), trainer.step
    try:
        while trainer.step < t.steps:
            batch = next(data_iter)
            result = trainer.train_step(batch["images"], batch_layout(batch))
            step = trainer.step
            bar.update(1)
            if step % t.checkpoint_every == 0 or step == t.steps:
                for module in (trainer.generator, trainer.image_d, trainer.object_d):
                    dist_env.broadcast_buffers(module, env)
                rng_states = dist_env.gather_objects(trainer.rng_state(), env)
                if env.is_main:
                    save_checkpoint(
                        trainer.state_dict(rng_states),
                        run_dir / "checkpoints",
                        step,
                        t.keep_checkpoints,
                    )
            if not env.is_main:
                continue
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
                if writer is not None:
                    for key, value in record.items():
                        if key != "step":
                            writer.add_scalar(key, value, step)
                bar.set_postfix(
                    D=f"{result.losses['D/total']:.3f}", G=f"{result.losses['G/total']:.3f}"
                )
            if step % t.sample_every == 0 or step == t.steps:
                save_sample_grid(trainer, samples, run_dir / "samples" / f"step-{step:08d}.png")
            if t.eval_every and (step % t.eval_every == 0 or step == t.steps):
                best = evaluate_during_training(trainer, config, run_dir, step, best)
    finally:
        bar.close()
        if stats_file is not None:
            stats_file.close()
        if writer is not None:
            writer.close()
    if env.is_main:
        pipe = Layout2ImPipeline.for_trained(trainer.generator, vocab, config, device=env.device)
        with atomic_folder(run_dir / "model") as tmp:
            pipe.save_pretrained(tmp)
        trainer.generator.train()
        log.info("exported the generator to %s", run_dir / "model")
    dist_env.barrier(env)
    return TrainingRun(run_dir, trainer)


def _read_best(run_dir: Path) -> dict | None:
    """The run's best-model record (``model-best/best.json``: step, metric, value), or None
    when there is none yet. A damaged one stops the run with a :class:`RunError` naming it:
    continuing would compare new results with an unknown best."""
    path = run_dir / "model-best" / "best.json"
    if not path.exists() and not path.is_symlink():
        return None
    record = read_json(path, MAX_BEST_BYTES, "best-model record", RunError)
    value = record.get("value") if isinstance(record, dict) else None
    if not is_number(value):  # read_json has refused NaN already
        raise RunError(
            f"best-model record {short_path(path)}: must be an object with a numeric "
            f"'value', got {quote(record)}; delete model-best/ to start the best model afresh"
        )
    return record


def evaluate_during_training(
    trainer: Trainer, config: Config, run_dir: Path, step: int, best: dict | None
) -> dict | None:
    """Evaluate the generator through the metric registry, append the numbers to
    ``eval.jsonl`` and keep the best model by ``train.best_metric`` in ``model-best/``.
    Returns the (possibly new) best record."""
    t = config.train
    options = ScoringOptions(
        protocol=t.eval_protocol,
        metrics=t.eval_metrics or None,
        num_images=t.eval_num_images,
        device=trainer.device,
    )
    results = evaluate_generator(trainer.generator, config.data, options)
    trainer.generator.train()
    values = {
        f"{name}.{key}": value
        for name, entry in results["metrics"].items()
        if entry.get("status") == "ok"
        for key, value in entry["values"].items()
    }
    skipped = {n: e["reason"] for n, e in results["metrics"].items() if e.get("status") != "ok"}
    record = {"step": step, "protocol": results["protocol"]["name"], **values}
    if skipped:
        record["skipped"] = skipped
    with open(run_dir / "eval.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    log.info("step %d evaluation: %s", step, ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
    if t.best_metric is None:
        return best
    if t.best_metric not in values:
        log.warning(
            "train.best_metric %s is not among the results (%s)", t.best_metric, ", ".join(values)
        )
        return best
    value = values[t.best_metric]
    if not math.isfinite(value):  # NaN compares as neither better nor worse
        log.warning("train.best_metric %s is %s at step %d: not a best model", t.best_metric,
                    value, step)  # fmt: skip
        return best
    better = best is None or (
        value < best["value"] if t.best_mode == "min" else value > best["value"]
    )
    if not better:
        return best
    best = {"step": step, "metric": t.best_metric, "value": value}
    folder = run_dir / "model-best"
    pipe = Layout2ImPipeline.for_trained(
        trainer.generator, trainer.vocab, config, device=trainer.device
    )
    with atomic_folder(folder) as tmp:
        pipe.save_pretrained(tmp)
        write_text(tmp / "best.json", json.dumps(best, indent=2))
    trainer.generator.train()
    log.info("new best model (%s %.4g at step %d) in %s", t.best_metric, value, step, folder)
    return best


def _tensorboard(run_dir: Path):
    """A TensorBoard writer when the optional ``tensorboard`` package is installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


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
    with atomic_write(path) as tmp:
        grid(rows).save(tmp, format="PNG")
    return path
