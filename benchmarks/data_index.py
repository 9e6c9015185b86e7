"""Dataset index at COCO train2017 scale: build time, peak memory, cached load time.

Writes a synthetic COCO-format instances JSON the size of COCO's ``instances_train2017.json``
(118,287 images, 860,001 boxes, polygon segmentations, 1% crowd RLE masks: about 450 MB) in a
temporary folder, then measures, each in a fresh Python process:

- ``build``: the first ``build_dataset`` (parse, filter, write the cached index);
- ``load``: a later ``build_dataset`` that reads the cached index (median of 3 processes);
- ``json.load``: reading the same file with ``json.load``, for reference (``--no-json-load``
  skips it);
- ``items``: dataset items per second in one process (decode a 640x480 JPEG, resize to 64,
  normalise), over 200 synthetic photos.

Peak memory is the process's peak resident set size (``getrusage`` ``ru_maxrss``) minus the
resident size after its imports, i.e. what the measured step added. Results go to
``benchmarks/results/data_index.json`` and ``.md`` and are printed as a table.

    python benchmarks/data_index.py                  # full size (a few minutes)
    python benchmarks/data_index.py --images 5000 --boxes 36000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from layout2im.fsutil import portable_paths, write_text

COCO_THING_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
SIZES = [(640, 480), (480, 640), (640, 427), (427, 640), (500, 375), (640, 424), (612, 612)]


def write_synthetic_coco(path: Path, num_images: int, num_boxes: int, points: int, seed: int):
    """A COCO-format instances JSON with realistic field sets and sizes, written in pieces."""
    rnd = random.Random(seed)
    ids = rnd.sample(range(1, 600_000), num_images)
    sizes = [rnd.choice(SIZES) for _ in ids]
    polygons = []
    for _ in range(4000):
        n = max(3, int(rnd.gauss(points, points / 3)))
        coords = ",".join(f"{rnd.uniform(0, 640):.2f}" for _ in range(2 * n))
        polygons.append(f"[[{coords}]]")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"info": {"description": "synthetic COCO-size benchmark", "year": 2017}, ')
        f.write('"licenses": [{"url": "http://example.org", "id": 1, "name": "CC"}], "images": [')
        for k, (image_id, (w, h)) in enumerate(zip(ids, sizes)):
            f.write(
                ("," if k else "")
                + json.dumps(
                    {
                        "license": 1 + k % 8,
                        "file_name": f"{image_id:012d}.jpg",
                        "coco_url": f"http://images.cocodataset.org/train2017/{image_id:012d}.jpg",
                        "height": h,
                        "width": w,
                        "date_captured": "2013-11-14 16:28:13",
                        "flickr_url": f"http://farm4.staticflickr.com/1/{image_id}_z.jpg",
                        "id": image_id,
                    }
                )
            )
        f.write('], "annotations": [')
        for k in range(num_boxes):
            i = rnd.randrange(num_images)
            W, H = sizes[i]
            frac = 10 ** rnd.uniform(-4, -0.1)  # box area / image area, log-uniform
            aspect = 2 ** rnd.uniform(-1.5, 1.5)
            w = min(W, (frac * W * H * aspect) ** 0.5)
            h = min(H, (frac * W * H / aspect) ** 0.5)
            x, y = rnd.uniform(0, W - w), rnd.uniform(0, H - h)
            crowd = rnd.random() < 0.01
            if crowd:
                counts = ",".join(str(rnd.randrange(1, 400)) for _ in range(60))
                seg = f'{{"counts": [{counts}], "size": [{H}, {W}]}}'
            else:
                seg = polygons[rnd.randrange(len(polygons))]
            f.write(
                ("," if k else "") + f'{{"segmentation": {seg}, "area": {w * h * 0.6:.4f}, '
                f'"iscrowd": {int(crowd)}, "image_id": {ids[i]}, '
                f'"bbox": [{x:.2f},{y:.2f},{w:.2f},{h:.2f}], '
                f'"category_id": {rnd.choice(COCO_THING_IDS)}, "id": {k + 1}}}'
            )
        f.write('], "categories": [')
        f.write(
            ",".join(
                json.dumps({"supercategory": "thing", "id": c, "name": f"thing {c}"})
                for c in COCO_THING_IDS
            )
        )
        f.write("]}")


def write_photos(folder: Path, count: int, seed: int) -> list[dict]:
    """``count`` 640x480 JPEG photos (smooth colour fields plus grain) and their entries."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    images = []
    for k in range(count):
        base = rng.uniform(0, 255, (3, 1, 1)).astype(np.float32)
        slope = rng.uniform(-0.3, 0.3, (3, 2, 1, 1)).astype(np.float32)
        pixels = base + slope[:, 0] * xx + slope[:, 1] * yy + rng.normal(0, 12, (3, 480, 640))
        image = np.clip(pixels, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        name = f"{k + 1:012d}.jpg"
        Image.fromarray(image).save(folder / name, quality=90)
        images.append({"id": k + 1, "file_name": name, "width": 640, "height": 480})
    return images


# ----------------------------------------------------------------------------- measuring


CHILD_PRELUDE = """
import json, resource, sys, time
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

CHILD_DATASET = (
    CHILD_PRELUDE
    + """
from layout2im.config import DataConfig
from layout2im.data import build_dataset
cfg = DataConfig(**json.loads(sys.argv[1]))
before = rss_mb()
start = time.perf_counter()
dataset, vocab = build_dataset(cfg, 64, "train")
seconds = time.perf_counter() - start
index = dataset.index
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb() - before, "rss_before_mb": before,
                  "images": len(dataset), "objects": int(index.num_objects),
                  "report": index.meta["report"]["train"]}))
"""
)

CHILD_JSON_LOAD = (
    CHILD_PRELUDE
    + """
before = rss_mb()
start = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as f:
    data = json.load(f)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb() - before, "rss_before_mb": before,
                  "annotations": len(data["annotations"])}))
"""
)

CHILD_ITEMS = (
    CHILD_PRELUDE
    + """
import torch
torch.set_num_threads(1)
from layout2im.config import DataConfig
from layout2im.data import build_dataset
cfg = DataConfig(**json.loads(sys.argv[1]))
dataset, _ = build_dataset(cfg, 64, "train")
dataset[0]
start = time.perf_counter()
for i in range(len(dataset)):
    dataset[i]
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "items": len(dataset)}))
"""
)


def run_child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=118_287)
    parser.add_argument("--boxes", type=int, default=860_001)
    parser.add_argument("--polygon-points", type=int, default=26, help="mean polygon vertices")
    parser.add_argument("--photos", type=int, default=200, help="JPEGs for the items/s step")
    parser.add_argument("--no-json-load", action="store_true", help="skip the json.load step")
    parser.add_argument("--workdir", help="folder for the synthetic data (default: a temp dir)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="layout2im-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_start": os.getloadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "2 CPU cores shared with other engineers' jobs: timings are noisy",
        },
        "data": {"images": args.images, "boxes": args.boxes},
    }
    try:
        ann = work / "annotations" / "instances_train2017.json"
        ann.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing a synthetic COCO JSON ({args.images:,} images, {args.boxes:,} boxes)...")
        start = time.perf_counter()
        write_synthetic_coco(ann, args.images, args.boxes, args.polygon_points, args.seed)
        results["data"]["json_mb"] = ann.stat().st_size / 1e6
        results["data"]["write_seconds"] = time.perf_counter() - start
        cfg = {
            "name": "coco-format",
            "root": str(work),
            "coco": {"instances_json": "annotations/instances_train2017.json"},
            "image_dir": "train2017",
            "cache_dir": str(work / "cache"),
        }
        print("build (first start: parse, filter, write the index)...")
        results["build"] = run_child(CHILD_DATASET, json.dumps(cfg))
        results["index_mb"] = sum(p.stat().st_size for p in (work / "cache").glob("*.npz")) / 1e6
        print("load (later starts: read the cached index), 3 processes...")
        loads = [run_child(CHILD_DATASET, json.dumps(cfg)) for _ in range(3)]
        results["load"] = {
            "seconds": statistics.median(r["seconds"] for r in loads),
            "seconds_all": [r["seconds"] for r in loads],
            "peak_mb": max(r["peak_mb"] for r in loads),
        }
        if not args.no_json_load:
            print("json.load of the same file, for reference...")
            results["json_load"] = run_child(CHILD_JSON_LOAD, str(ann))
        print(f"items per second over {args.photos} synthetic 640x480 JPEGs...")
        photos = work / "photos"
        entries = write_photos(photos / "images", args.photos, args.seed)
        small = {
            "images": entries,
            "annotations": [
                {
                    "id": 10 * e["id"] + j,
                    "image_id": e["id"],
                    "category_id": 1 + j,
                    "bbox": [40.0 * j, 30.0 * j, 200.0, 150.0],
                    "iscrowd": 0,
                }
                for e in entries
                for j in range(4)
            ],
            "categories": [{"id": c, "name": f"c{c}"} for c in range(1, 5)],
        }
        (photos / "instances.json").write_text(json.dumps(small))
        item_cfg = {**cfg, "root": str(photos), "coco": {"instances_json": "instances.json"}}
        item_cfg["image_dir"] = "images"
        items = run_child(CHILD_ITEMS, json.dumps(item_cfg))
        results["items"] = {**items, "per_second": items["items"] / items["seconds"]}
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    results = portable_paths(results, {str(work): "<workdir>"})
    table = format_table(results)
    print()
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "data_index.json", json.dumps(results, indent=2))
    write_text(out / "data_index.md", table + "\n")
    print(f"\nwrote {out / 'data_index.json'} and {out / 'data_index.md'}")
    return 0


def format_table(r: dict) -> str:
    build, load = r["build"], r["load"]
    rows = [
        ("index build (first start)", f"{build['seconds']:.1f} s", f"{build['peak_mb']:.0f} MB"),
        (
            "cached index load (median of 3)",
            f"{load['seconds'] * 1000:.0f} ms",
            f"{load['peak_mb']:.0f} MB",
        ),
    ]
    if "json_load" in r:
        j = r["json_load"]
        rows.append(("`json.load` of the file (reference)", f"{j['seconds']:.1f} s",
                     f"{j['peak_mb']:.0f} MB"))  # fmt: skip
    items = r["items"]
    rows.append(("dataset items, 1 process (640x480 JPEG -> 64x64)",
                 f"{items['per_second']:.0f} items/s", "-"))  # fmt: skip
    report = build["report"]
    full = r["data"]["images"] >= 118_287 and r["data"]["boxes"] >= 860_001
    scale = " (COCO train2017 size)" if full else " (smaller than COCO train2017)"
    head = textwrap.dedent(
        f"""\
        Synthetic COCO-format instances JSON: {r["data"]["images"]:,} images,
        {r["data"]["boxes"]:,} boxes, {r["data"]["json_mb"]:.0f} MB{scale}.
        Index: {build["images"]:,} images and {build["objects"]:,} objects kept
        ({report["images"]["total"]:,} / {report["objects"]["total"]:,} in the source),
        {r["index_mb"]:.1f} MB on disk. Peak memory: peak RSS minus RSS after imports.
        Machine: {r["machine"]["cpus"]} CPU cores shared with other jobs (load average at start
        {r["machine"]["loadavg_at_start"][0]:.1f}); timings are noisy.
        """
    )
    lines = [head, "| step | time | peak memory |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
