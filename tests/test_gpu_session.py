"""benchmarks/gpu_summary.py (the GPU session's targets and budget) on synthetic records, and
benchmarks/graph_check.py on a tiny config on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import load_script, tiny_config

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def summary_module():
    yield load_script(BENCH / "gpu_summary.py", "gpu_summary")
    sys.modules.pop("gpu_summary", None)


def record(batch: int, rows: dict) -> dict:
    return {"batch": batch, "device_name": "NVIDIA H200", "results": rows}


def row(its: float, gen: float, batch: int, **extra) -> dict:
    return {"train_iters_per_s": its, f"generate_images_per_s_b{batch}": gen, **extra}


def test_targets_best_batch_and_paper_budget(summary_module, tmp_path):
    kernels = {"train": {"busy_fraction": 0.9, "families": {"convolution": {
        "fraction_of_peak": 0.4, "tflops": 200.0, "ms": 1.0}}}}  # fmt: skip
    graphed = {"train": {"busy_fraction": 0.95, "families": {"convolution": {
        "fraction_of_peak": None, "tflops": None, "ms": 0.0}}}}  # fmt: skip
    records = {
        "b8-ablate/speed-paper-coco64-cuda-b8-ablate.json": record(8, {
            "reference": row(4.0, 2000.0, 8),
            "+ cudnn_benchmark": row(30.0, 6000.0, 8, main_kernels=kernels),
            "+ cuda_graphs": row(50.0, 9000.0, 8, main_kernels=graphed),
        }),
        "b256/speed-paper-coco64-cuda-b256.json": record(256, {
            "fast": row(10.0, 25000.0, 256), "reference": row(1.0, 5000.0, 256),
        }),
        "b64/speed-paper-coco64-cuda-b64.json": record(64, {"fast": row(20.0, 15000.0, 64)}),
    }  # fmt: skip
    for name, content in records.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps(content))
    assert summary_module.main([str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "gpu-targets.json").read_text())
    m = summary["measured"]
    assert m["train_iters_per_s_b8"]["value"] == 50.0
    assert m["train_iters_per_s_b8"]["configuration"] == "+ cuda_graphs"
    assert m["train_iters_per_s_b8"]["reference"] == 4.0
    assert m["gpu_busy_fraction"]["value"] == 0.95
    # a graph replay has no ATen ops: the fraction of peak comes from the best eager row
    assert m["conv_fraction_of_peak_b8"]["value"] == 0.4
    assert m["conv_fraction_of_peak_b8"]["configuration"] == "+ cudnn_benchmark"
    best = m["train_images_per_s_best"]
    assert best["value"] == 2560.0 and best["batch"] == 256 and best["reference"] == 256.0
    assert m["generate_images_per_s"]["value"] == 25000.0
    assert all(t["met"] for t in summary["targets"].values())
    hours = summary["paper_budget_hours"]
    assert hours["batch 8 (the paper's), one GPU"] == pytest.approx(300_000 / 50 / 3600)
    one = hours["batch 256 (the best measured), one GPU"]
    assert one == pytest.approx(2_400_000 / 2560 / 3600)
    assert hours["batch 256 x 8 GPUs (--nproc 8, ideal scaling: not measured)"] == one / 8
    text = (tmp_path / "gpu-targets.md").read_text()
    assert "| training at batch 8, iterations/s | 50.0 | + cuda_graphs |" in text
    assert "ideal scaling" in text


def test_missing_records_are_an_error(summary_module, tmp_path, capsys):
    assert summary_module.main([str(tmp_path)]) == 2
    assert "no speed-*.json" in capsys.readouterr().err


def test_graph_check_passes_on_the_cpu(tmp_path):
    config = tiny_config()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config.model_dump()))
    out = tmp_path / "check.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "graph_check.py"), "--config", str(tmp_path / "tiny.yaml"),
         "--device", "cpu", "--batch", "4", "--steps", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    worst = json.loads(out.read_text())["worst"]
    assert worst["static_shapes G/total"] < 1e-4
    assert worst["static_shapes generated images"] < 1e-4
    assert "ok: every difference within" in proc.stdout
