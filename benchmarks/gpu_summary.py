"""The speed targets on one GPU, from the records of one ``benchmarks/gpu_session.sh`` run.

    python benchmarks/gpu_summary.py benchmarks/results/gpu-session

Reads the ``speed.py`` records (JSON) in the folder and writes ``gpu-targets.md`` / ``.json``
there: generation images/s at batch 256 (or the largest batch measured), training iterations/s
at batch 8 and images/s at the best batch, each against the reference computation; the GPU's
busy fraction and the convolution kernels' fraction of peak (``--kernels`` runs); each target
met or not; and how long the paper's training budget (300,000 iterations of batch 8 = 2.4M
images) takes at the measured speeds on one GPU and, at ideal scaling (not measured), with
``--nproc 8``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from layout2im.fsutil import write_text

PAPER_ITERATIONS, PAPER_BATCH = 300_000, 8
TARGETS = {
    "generate_images_per_s": 20_000,
    "train_iters_per_s_b8": 40,
    "train_images_per_s_best": 1_500,
    "gpu_busy_fraction": 0.80,
}


def load_records(folder: Path) -> list[dict]:
    records = []
    for path in sorted(folder.rglob("speed-*.json")):
        record = json.loads(path.read_text())
        record["file"] = str(path.relative_to(folder))
        records.append(record)
    return records


def best_row(record: dict, key: str, exclude=("reference",)) -> tuple[str, dict]:
    """The configuration with the highest ``key`` (not the reference)."""
    rows = {n: r for n, r in record["results"].items() if n not in exclude and key in r}
    name = max(rows, key=lambda n: rows[n][key])
    return name, rows[name]


def summarise(records: list[dict]) -> dict:
    out: dict = {"records": [r["file"] for r in records], "device": None, "measured": {}}
    if not records:
        return out
    out["device"] = records[0].get("device_name")
    measured = out["measured"]
    b8 = [r for r in records if r["batch"] == 8]
    if b8:
        record = b8[0]
        name, row = best_row(record, "train_iters_per_s")
        ref = record["results"].get("reference")
        measured["train_iters_per_s_b8"] = {
            "value": row["train_iters_per_s"], "configuration": name, "file": record["file"],
            "reference": ref["train_iters_per_s"] if ref else None,
        }  # fmt: skip
        kernels = row.get("main_kernels", {}).get("train")
        if kernels and "busy_fraction" in kernels:
            measured["gpu_busy_fraction"] = {
                "value": kernels["busy_fraction"],
                "configuration": name,
                "file": record["file"],
            }
        # convolution fraction of peak: from the best configuration that ran ATen ops (a graph
        # replay has none to attribute kernel time to)
        for cname, crow in sorted(
            record["results"].items(), key=lambda kv: -kv[1]["train_iters_per_s"]
        ):
            conv = crow.get("main_kernels", {}).get("train", {}).get("families", {})
            conv = conv.get("convolution")
            if conv and conv.get("fraction_of_peak") is not None and conv["ms"] > 0:
                measured["conv_fraction_of_peak_b8"] = {
                    "value": conv["fraction_of_peak"], "tflops": conv["tflops"],
                    "configuration": cname, "file": record["file"],
                }  # fmt: skip
                break
    best_images, best = 0.0, None
    for record in records:
        name, row = best_row(record, "train_iters_per_s")
        images = row["train_iters_per_s"] * record["batch"]
        if images > best_images:
            best_images, best = images, (record, name)
    if best:
        record, name = best
        ref = record["results"].get("reference")
        measured["train_images_per_s_best"] = {
            "value": best_images, "batch": record["batch"], "configuration": name,
            "file": record["file"],
            "reference": ref["train_iters_per_s"] * record["batch"] if ref else None,
        }  # fmt: skip
    largest = max(r["batch"] for r in records)
    gen_best, gen_info = 0.0, None
    for record in records:
        key = f"generate_images_per_s_b{record['batch']}"
        if record["batch"] != largest:
            continue
        name, row = best_row(record, key)
        if row[key] > gen_best:
            ref = record["results"].get("reference")
            gen_best = row[key]
            gen_info = {"value": row[key], "batch": record["batch"], "configuration": name,
                        "file": record["file"], "reference": ref[key] if ref else None}  # fmt: skip
    if gen_info:
        measured["generate_images_per_s"] = gen_info
    out["targets"] = {
        key: {"target": target, "met": key in measured and measured[key]["value"] >= target}
        for key, target in TARGETS.items()
    }
    budget = {}
    images = PAPER_ITERATIONS * PAPER_BATCH
    if "train_iters_per_s_b8" in measured:
        hours = PAPER_ITERATIONS / measured["train_iters_per_s_b8"]["value"] / 3600
        budget["batch 8 (the paper's), one GPU"] = hours
    if "train_images_per_s_best" in measured:
        hours = images / measured["train_images_per_s_best"]["value"] / 3600
        batch = measured["train_images_per_s_best"]["batch"]
        budget[f"batch {batch} (the best measured), one GPU"] = hours
        budget[f"batch {batch} x 8 GPUs (--nproc 8, ideal scaling: not measured)"] = hours / 8
    out["paper_budget_hours"] = budget
    return out


def fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" if pct else f"{value:,.1f}"


def markdown(summary: dict) -> str:
    m = summary["measured"]
    lines = [
        f"# Speed targets on one GPU ({summary['device']}), `paper-coco64`, 3..8 objects",
        "",
        "From `benchmarks/gpu_session.sh`; records: "
        + ", ".join(f"`{f}`" for f in summary["records"]),
        "",
        "| measure | measured | configuration | reference computation | target | met |",
        "|---|---|---|---|---|---|",
    ]
    titles = {
        "generate_images_per_s": "generation, images/s",
        "train_iters_per_s_b8": "training at batch 8, iterations/s",
        "train_images_per_s_best": "training at the best batch, images/s",
        "gpu_busy_fraction": "GPU busy, fraction of the step (batch 8, under the profiler)",
        "conv_fraction_of_peak_b8": "convolution kernels, fraction of peak (batch 8)",
    }
    for key, title in titles.items():
        row = m.get(key)
        target = summary.get("targets", {}).get(key)
        pct = key.endswith("fraction") or key.endswith("peak_b8")
        if row is None:
            lines.append(f"| {title} | not measured | | | {fmt(target and target['target'], pct)}"
                         f" | {'no' if target else ''} |")  # fmt: skip
            continue
        where = row["configuration"] + (f", batch {row['batch']}" if "batch" in row else "")
        ref = fmt(row.get("reference")) if "reference" in row else ""
        lines.append(
            f"| {title} | {fmt(row['value'], pct)} | {where} | {ref} | "
            + (f"{fmt(target['target'], pct)} | {'yes' if target['met'] else 'no'} |"
               if target else "stated | |")
        )  # fmt: skip
    lines += ["", f"The paper's training budget ({PAPER_ITERATIONS:,} iterations x batch "
              f"{PAPER_BATCH} = {PAPER_ITERATIONS * PAPER_BATCH:,} images):", ""]  # fmt: skip
    for setting, hours in summary["paper_budget_hours"].items():
        lines.append(f"- {setting}: {hours:.1f} h")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: gpu_summary.py FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    records = load_records(folder)
    if not records:
        print(f"error: no speed-*.json records under {folder}", file=sys.stderr)
        return 2
    summary = summarise(records)
    write_text(folder / "gpu-targets.json", json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    write_text(folder / "gpu-targets.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
