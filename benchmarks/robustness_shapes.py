"""A shapes model on layouts it never saw (protocol ``shapes32-ood``) beside the held-out
layouts of its own distribution (protocol ``shapes32``).

    python benchmarks/robustness_shapes.py                  # the shipped default model
    python benchmarks/robustness_shapes.py --model runs/00000-shapes32/model --layouts 100

For each skill split of ``shapes32-ood`` (number, position, size, shape: 300 layouts each,
see ``layout2im.data.shapes_skills``) and for the first ``--layouts`` held-out layouts of
``shapes32`` (the same count, so the FIDs carry the same small-sample bias), the harness
computes object accuracy and layout fidelity (the bundled shapes object classifier, on the
generated images and, as the ceiling, on the real images of the same layouts) and the shapes
FID (the bundled scene network, generated vs real images of the same layouts). Writes
``OUT.md`` (the table, how it was made), ``OUT.json`` (every harness result and setting) and
``OUT_<skill>.png`` (per skill, eight layouts: the boxes, the real image, the model's sample).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from layout2im.config import load_config
from layout2im.evaluation import (
    EvalFiles,
    ScoringOptions,
    evaluate_generator,
    get_protocol,
    weight_files,
)
from layout2im.evaluation.generation import generate_images, load_layouts
from layout2im.fsutil import atomic_write, write_text
from layout2im.pipeline import Layout2ImPipeline, default_model, resolve_model, shipped_models
from layout2im.visualize import draw_layout, grid

RESULTS = Path(__file__).parent / "results"
METRICS = ("object-accuracy", "layout-fidelity", "fid-shapes")
SAMPLES_PER_GRID = 8
SCALE = 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="shapes32-ood beside shapes32 for a shapes model")
    p.add_argument("--model", help="model folder or shipped model name (default: shipped)")
    p.add_argument("--config", default="shapes32", help="data config preset or YAML")
    p.add_argument(
        "--layouts",
        type=int,
        default=300,
        help="layouts per split (default 300: every layout of each skill split)",
    )
    p.add_argument("--out", default=str(RESULTS / "ood_shapes32"), help="output path stem")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cache-dir", help="real statistics cache (default ~/.cache/layout2im)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def model_name(model: str | None) -> str:
    """How the results name the model: a shipped model's name, else the folder's name (no
    machine paths in committed files)."""
    if model is None:
        return f"shipped model {default_model().name}"
    return f"shipped model {model}" if model in shipped_models() else Path(model).name


def sample_grid(pipe, protocol, layouts, count: int) -> Image.Image:
    """Per layout a column: its boxes, the real image, the model's sample 0 (the protocol's
    codes)."""
    size = pipe.config.image_size
    labels, boxes = layouts.labels[:count], layouts.boxes[:count]
    fake = generate_images(pipe.generator, labels, boxes, 1, protocol.seed, protocol.rescale)
    names = pipe.vocab.names
    rows: list[list[Image.Image]] = [[], [], []]
    for i in range(len(labels)):
        cats = [names[int(c)] for c in labels[i]]
        rows[0].append(draw_layout(boxes[i], labels[i].tolist(), cats, size, scale=SCALE))
        for row, pixels in ((rows[1], layouts.real[i]), (rows[2], fake[i, 0])):
            image = Image.fromarray(pixels.permute(1, 2, 0).numpy())
            row.append(image.resize((size * SCALE,) * 2, Image.Resampling.NEAREST))
    return grid(rows)


def pct(values: dict, key: str) -> str:
    return f"{100 * values[key]:.1f}%"


def table_rows(results: dict) -> list[str]:
    rows = []
    for title, part in results.items():
        m = {k: v.get("values", {}) for k, v in part["metrics"].items()}
        acc, fid_, fs = m["object-accuracy"], m["layout-fidelity"], m["fid-shapes"]
        rows.append(
            f"| {title} | {part['data']['layouts']} | {part['data']['objects']} | "
            f"{pct(acc, 'object_acc_generated')} | {pct(acc, 'object_acc_real')} | "
            f"{pct(fid_, 'layout_fidelity_generated')} | {pct(fid_, 'layout_fidelity_real')} | "
            f"{fs['fid_shapes']:.3g} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    pipe = Layout2ImPipeline.from_pretrained(args.model or default_model(), device=args.device)
    data = load_config(args.config).data
    files = EvalFiles(cache_dir=args.cache_dir)
    progress = not args.no_progress

    def run(protocol: str) -> dict:
        return evaluate_generator(
            pipe.generator,
            data,
            ScoringOptions(
                protocol,
                list(METRICS),
                device=args.device,
                num_images=args.layouts,
                files=files,
                batch_size=args.batch_size,
                progress=progress,
            ),
            vocab=pipe.vocab,
        )

    inside = run("shapes32")
    ood = run("shapes32-ood")
    results = {"shapes32 (held-out, trained distribution)": inside}
    results.update({f"shapes32-ood {split}": part for split, part in ood["splits"].items()})

    out = Path(args.out)
    grids = {}
    proto = get_protocol("shapes32-ood")
    for p in proto.splits():
        layouts = load_layouts(data, pipe.config.image_size, p, SAMPLES_PER_GRID)
        image = sample_grid(pipe, p, layouts, SAMPLES_PER_GRID)
        path = out.with_name(f"{out.name}_{p.split.removeprefix('ood-')}.png")
        with atomic_write(path) as tmp:
            image.save(tmp)
        grids[p.split] = path.name

    weights = resolve_model(args.model or default_model()) / "model.safetensors"
    command = "python benchmarks/robustness_shapes.py " + shlex.join(sys.argv[1:] or [])
    record = {
        "model": {
            "name": model_name(args.model),
            "weights_sha256": weight_files.sha256_of(weights),
            "trained_max_objects": pipe.max_objects,
        },
        "command": command.strip(),
        "protocols": {"in_distribution": inside["protocol"], "ood": ood["protocol"]},
        "networks": {
            role: {"file": Path(info["path"]).name, "sha256": info["sha256"]}
            for role, info in {**inside["networks"], **ood["networks"]}.items()
            if isinstance(info, dict) and "sha256" in info
        },
        "counts": {
            title: {"layouts": part["data"]["layouts"], "objects": part["data"]["objects"]}
            for title, part in results.items()
        },
        "results": {
            title: {
                "protocol": part["protocol"]["name"],
                "split": part["data"]["split"],
                "metrics": part["metrics"],
            }
            for title, part in results.items()
        },
        "grids": grids,
        "settings": inside["settings"],
        "seconds": round(time.perf_counter() - start, 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_text(out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    write_text(out.with_suffix(".md"), markdown(record, results))
    print(markdown(record, results))
    return 0


def markdown(record: dict, results: dict) -> str:
    nets = "\n".join(
        f"- {role}: `{n['file']}` sha256 `{n['sha256'][:16]}`"
        for role, n in record["networks"].items()
    )
    grids = ", ".join(f"[{split}]({name})" for split, name in record["grids"].items())
    settings = record["settings"]
    lines = [
        "# shapes32 on layouts it never saw (shapes32-ood) beside its own distribution",
        "",
        f"**Model:** {record['model']['name']}, `model.safetensors` sha256 "
        f"`{record['model']['weights_sha256']}` (trained with at most "
        f"{record['model']['trained_max_objects']} objects per image).",
        f"**Command:** `{record['command']}`",
        f"**When, where:** {record['created']}, device {settings['device']}, torch "
        f"{settings['torch']}, {record['seconds']} s.",
        "**Protocols:** `shapes32` (its held-out split `val`, the first layouts, as many as "
        "each skill split) and `shapes32-ood` (four skill splits, every layout); one image "
        "per layout, codes from protocol seed 0, clamped.",
        "",
        "| split | layouts | objects | object accuracy | (real images) | layout fidelity | "
        "(real images) | shapes FID |",
        "|---|---|---|---|---|---|---|---|",
        *table_rows(results),
        "",
        "Object accuracy and layout fidelity: the bundled shapes object classifier on the "
        "generated images, and in brackets on the real images of the same layouts (what the "
        "classifier can do there). Shapes FID: the bundled scene network's features of the "
        "generated against the real images of the same layouts; lower is better, and values "
        "of different splits compare only roughly (each split's real images differ).",
        "",
        f"Sample grids (rows: the layout's boxes, the real image, the model's sample): {grids}.",
        "",
        "Networks:",
        nets,
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
