"""Where the shapes object classifier errs on real held-out crops, and how box misalignment hurts.

    python benchmarks/shapes_classifier_diagnosis.py                       # the bundled classifier
    python benchmarks/shapes_classifier_diagnosis.py --classifier PATH --num-images 1000

On the first ``--num-images`` scenes of the held-out shapes split (dataset seed + 1) at 32x32:
accuracy per category with the top confusions; by object size (square root of the box area in
pixels) crossed with the visible fraction of the object (occlusion by later objects, measured
on the renderer's supersampling grid); by texture; and with every box moved or resized by one
or two pixels, the accuracy a generated object drawn slightly off its box would get. Writes
``OUT.md`` and ``OUT.json`` (default ``benchmarks/results/shapes_classifier_diagnosis``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from layout2im.config import DataConfig
from layout2im.data import shapes_render as S
from layout2im.evaluation.classifier import load_network
from layout2im.evaluation.dataset_networks import bundled_network
from layout2im.evaluation.weight_files import sha256_of
from layout2im.fsutil import write_text
from layout2im.models.layers import crop_boxes
from layout2im.visualize import normalize

RESULTS = Path(__file__).parent / "results"
SIZE_BINS = ((0, 8), (8, 10), (10, 12), (12, 33))
VISIBLE_BINS = ((0.0, 0.9), (0.9, 0.99), (0.99, 1.01))
MISALIGNMENTS = {  # pixels added to (x0, y0, x1, y1)
    "exact": (0, 0, 0, 0),
    "moved 1 px right": (1, 0, 1, 0),
    "moved 1 px down": (0, 1, 0, 1),
    "moved 1 px right and down": (1, 1, 1, 1),
    "moved 2 px right and down": (2, 2, 2, 2),
    "1 px larger on every side": (-1, -1, 1, 1),
    "1 px smaller on every side": (1, 1, -1, -1),
}


def held_out_objects(num_images: int, size: int = 32, progress: bool = True) -> dict:
    """Every object of the first ``num_images`` held-out scenes: image (uint8 (3, H, W)) index,
    label, box, visible fraction, texture kind."""
    data = DataConfig(name="shapes")
    seed = data.seed + 1  # the held-out split of build_dataset
    images, labels, boxes, owner, visible, textures = [], [], [], [], [], []
    n = size * S.supersampling(size)
    for i in tqdm(range(num_images), desc="render", disable=not progress):
        scene_seed = S.scene_seed(seed, i)
        scene = S.render_scene(scene_seed, size, data.min_objects, data.max_objects)
        _, objects = S.sample_scene(scene_seed, data.min_objects, data.max_objects)
        _, sample_owner = S.draw_samples(objects, n)
        for k, obj in enumerate(objects):
            _, inside, _, _ = S.rasterise(obj.category, obj.placement, n)
            visible.append((sample_owner == k + 1).sum() / max(1, inside.sum()))
            textures.append(obj.texture.kind)
        images.append(torch.from_numpy(scene.image).permute(2, 0, 1))
        labels.append(torch.from_numpy(scene.labels))
        boxes.append(torch.from_numpy(scene.boxes))
        owner.append(torch.full((len(scene.labels),), i))
    return {
        "images": torch.stack(images),
        "labels": torch.cat(labels),
        "boxes": torch.cat(boxes),
        "obj_to_img": torch.cat(owner),
        "visible": np.array(visible),
        "texture": np.array(textures),
    }


@torch.no_grad()
def predict(net, objects: dict, shift_px=(0, 0, 0, 0)) -> np.ndarray:
    size = objects["images"].shape[-1]
    boxes = objects["boxes"] + torch.tensor(shift_px, dtype=torch.float32) / size
    preds = []
    for s in range(0, len(boxes), 512):
        sl = slice(s, s + 512)
        owner = objects["obj_to_img"][sl]
        x = normalize(objects["images"][owner].float() / 255.0)
        crops = crop_boxes(x, boxes[sl], torch.arange(len(owner)), net.config.input_size)
        preds.append(net(crops).argmax(1))
    return torch.cat(preds).numpy()


def diagnose(net, objects: dict, names: list[str]) -> dict:
    y = objects["labels"].numpy()
    p = predict(net, objects)
    px = objects["boxes"].numpy() * objects["images"].shape[-1]
    size = np.sqrt((px[:, 2] - px[:, 0]) * (px[:, 3] - px[:, 1]))
    vis, tex = objects["visible"], objects["texture"]

    def acc(mask):
        right = float((p[mask] == y[mask]).mean()) if mask.any() else None
        return {"accuracy": right, "objects": int(mask.sum())}

    confusion = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(confusion, (y, p), 1)
    per_category = {}
    for c, name in enumerate(names):
        row = confusion[c]
        top = [j for j in np.argsort(-row) if j != c and row[j] > 0][:3]
        per_category[name] = {
            "accuracy": float(row[c] / row.sum()) if row.sum() else None,
            "objects": int(row.sum()),
            "confused_with": {names[j]: int(row[j]) for j in top},
        }
    by_size_visible = {
        f"{lo}-{hi} px": {
            f"visible {vlo:.2f}-{min(vhi, 1.0):.2f}": acc(
                (size >= lo) & (size < hi) & (vis >= vlo) & (vis < vhi)
            )
            for vlo, vhi in VISIBLE_BINS
        }
        for lo, hi in SIZE_BINS
    }
    unoccluded = vis >= 0.99
    return {
        "overall": acc(np.ones_like(y, dtype=bool)),
        "per_category": per_category,
        "by_size": {f"{lo}-{hi} px": acc((size >= lo) & (size < hi)) for lo, hi in SIZE_BINS},
        "by_size_and_visible_fraction": by_size_visible,
        "by_texture": {k: acc(tex == k) for k in sorted(set(tex))},
        "by_texture_unoccluded": {k: acc((tex == k) & unoccluded) for k in sorted(set(tex))},
        "misaligned_boxes": {
            name: float((predict(net, objects, shift) == y).mean())
            for name, shift in MISALIGNMENTS.items()
        },
    }


def markdown(report: dict) -> str:
    r = report["results"]
    pct = lambda v: "—" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    lines = [
        "# Shapes object classifier: where it errs on real held-out crops",
        "",
        f"Classifier `{report['classifier']}` (sha256 `{report['sha256'][:16]}`, input "
        f"{report['input_size']}x{report['input_size']}); the first {report['num_images']} "
        f"held-out scenes (32x32), {r['overall']['objects']} objects. Command: "
        f"`{report['command']}`.",
        "",
        f"**Overall accuracy: {pct(r['overall']['accuracy'])}.**",
        "",
        "| category | accuracy | objects | most often taken for |",
        "|---|---|---|---|",
    ]
    for name, c in r["per_category"].items():
        conf = ", ".join(f"{k} {v}" for k, v in c["confused_with"].items())
        lines.append(f"| {name} | {pct(c['accuracy'])} | {c['objects']} | {conf} |")
    cols = list(next(iter(r["by_size_and_visible_fraction"].values())))
    lines += [
        "",
        "Accuracy by object size (square root of the box area) and visible fraction "
        "(objects: count):",
        "",
        "| size | all | " + " | ".join(cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for size, cells in r["by_size_and_visible_fraction"].items():
        all_ = r["by_size"][size]
        row = " | ".join(f"{pct(c['accuracy'])} ({c['objects']})" for c in cells.values())
        lines.append(f"| {size} | {pct(all_['accuracy'])} ({all_['objects']}) | {row} |")
    lines += ["", "| texture | accuracy | unoccluded only |", "|---|---|---|"]
    for k, c in r["by_texture"].items():
        u = r["by_texture_unoccluded"][k]
        lines.append(f"| {k} | {pct(c['accuracy'])} ({c['objects']}) | {pct(u['accuracy'])} |")
    lines += [
        "",
        "Boxes misaligned with the real objects:",
        "",
        "| boxes | accuracy |",
        "|---|---|",
    ]
    lines += [f"| {k} | {pct(v)} |" for k, v in r["misaligned_boxes"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", help="object classifier (default: the bundled shapes one)")
    p.add_argument("--num-images", type=int, default=1000, help="held-out scenes (default 1000)")
    p.add_argument("--out", default=str(RESULTS / "shapes_classifier_diagnosis"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not 1 <= args.num_images <= 2000:
        print(f"error: --num-images must be in 1..2000, got {args.num_images}", file=sys.stderr)
        return 2
    path = Path(args.classifier) if args.classifier else bundled_network("shapes", "objects")
    net, info = load_network(path)
    weights = path.with_suffix(".safetensors")
    objects = held_out_objects(args.num_images, progress=not args.no_progress)
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    report = {
        "classifier": weights.name,
        "sha256": sha256_of(weights),
        "input_size": net.config.input_size,
        "num_images": args.num_images,
        "command": f"python benchmarks/shapes_classifier_diagnosis.py {argv_text}".strip(),
        "torch": torch.__version__,
        "results": diagnose(net, objects, info["vocab"]),
    }
    out = Path(args.out)
    text = markdown(report)
    write_text(out.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    write_text(out.with_suffix(".md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
