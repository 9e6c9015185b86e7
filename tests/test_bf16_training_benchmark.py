"""benchmarks/bf16_training.py end to end on a tiny 32x32 config: runs, resume, skip, table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from layout2im.hardware import cpu_info
from tests.conftest import load_script, tiny_config, tiny_model_config

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bf16_training.py"


@pytest.fixture(scope="module")
def bench():
    yield load_script(SCRIPT, "bf16_training")
    sys.modules.pop("bf16_training", None)


@pytest.fixture
def config_file(tmp_path) -> Path:
    config = tiny_config(checkpoint_every=2, sample_every=100, log_every=1, tensorboard=False)
    config.model = tiny_model_config(image_size=32)
    path = tmp_path / "tiny32.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    return path


def _argv(config_file: Path, tmp_path: Path, steps: int, parallel: int) -> list[str]:
    return [
        "--config", str(config_file), "--runs", str(tmp_path / "runs"), "--steps", str(steps),
        "--seeds", "0", "1", "--num-layouts", "4", "--parallel", str(parallel),
        "--out", str(tmp_path / "res" / "bf16"), "--cache-dir", str(tmp_path / "cache"),
        "--no-progress", "--poll", "0.2",
    ]  # fmt: skip


def _steps_in_checkpoints(run_root: Path) -> list[int]:
    return sorted(int(p.stem.split("-")[1]) for p in run_root.glob("*/checkpoints/ckpt-*.pt"))


@pytest.mark.slow
def test_trains_both_precisions_scores_resumes_and_tabulates(bench, config_file, tmp_path):
    runs = tmp_path / "runs"
    # 2 steps in this process, then continued to 4 in worker processes: the runs resume from
    # their checkpoints (same run folders) and the stale 2-step evaluations are redone
    assert bench.main(_argv(config_file, tmp_path, 2, 0)) == 0
    first = {p: json.loads(p.read_text()) for p in runs.glob("*/eval.json")}
    assert len(first) == 4 and all(r["settings"]["steps"] == 2 for r in first.values())
    assert bench.main(_argv(config_file, tmp_path, 4, 2)) == 0
    for precision in ("off", "bf16"):
        for seed in (0, 1):
            root = runs / f"{precision}-seed{seed}"
            assert len(list(root.glob("*-tiny"))) == 1, "resumed in the same run folder"
            assert _steps_in_checkpoints(root)[-1] == 4
            record = json.loads((root / "eval.json").read_text())
            assert record["settings"]["steps"] == 4 and record["seed"] == seed
            assert record["amp_in_run_config"] == precision
            saved = yaml.safe_load(next(root.glob("*-tiny/config.yaml")).read_text())
            assert saved["train"]["seed"] == seed and saved["train"]["amp"] == precision
            assert record["seconds_per_step"]["n"] == 4  # one stats line per step

    report = json.loads((tmp_path / "res" / "bf16.json").read_text())
    assert report["cpu"] == json.loads(json.dumps(cpu_info()))
    assert report["missing"] == []
    rows = {row["metric"]: row for row in report["table"]}
    acc = rows["object accuracy, generated crops"]
    for precision in ("off", "bf16"):
        values = acc[precision]["values"]
        assert len(values) == 2 and all(0 <= v <= 1 for v in values)
        assert acc[precision]["mean"] == pytest.approx(sum(values) / 2)
        assert acc[precision]["spread"] == pytest.approx(max(values) - min(values))
    assert acc["gap"] == pytest.approx(acc["bf16"]["mean"] - acc["off"]["mean"])
    assert acc["noise"] == max(acc["off"]["spread"], acc["bf16"]["spread"])
    assert rows[bench.TIME_ROW]["ratio"] > 0
    text = (tmp_path / "res" / "bf16.md").read_text()
    assert "AVX512-BF16" in text and "object accuracy" in text and "seeds:" in text

    # a third call finds everything done: nothing retrained, nothing re-scored
    stamps = {p: p.stat().st_mtime_ns for p in runs.glob("*/eval.json")}
    assert bench.main(_argv(config_file, tmp_path, 4, 2)) == 0
    assert {p: p.stat().st_mtime_ns for p in runs.glob("*/eval.json")} == stamps


def test_table_statistics_and_verdicts(bench):
    def record(acc: float, fid: float, sec: float) -> dict:
        metrics = {
            "object-accuracy": {"status": "ok", "values": {"object_acc_generated": acc}},
            "fid-shapes": {"status": "ok", "values": {"fid_shapes": fid}},
        }
        return {"results": {"metrics": metrics}, "seconds_per_step": {"median": sec}}

    evals = {
        ("off", 0): record(0.80, 1.0, 0.4),
        ("off", 1): record(0.84, 1.2, 0.4),
        ("bf16", 0): record(0.81, 2.0, 0.2),
        ("bf16", 1): record(0.83, 2.1, 0.2),
    }
    rows = {row["metric"]: row for row in bench.build_table(evals)}
    acc = rows["object accuracy, generated crops"]
    assert acc["off"]["mean"] == pytest.approx(0.82) and acc["off"]["spread"] == pytest.approx(0.04)
    assert acc["verdict"] == "within seed spread"
    fid = rows["FID, shapes scene features"]
    assert fid["gap"] == pytest.approx(0.95) and fid["verdict"] == "bf16 worse"
    assert rows[bench.TIME_ROW]["ratio"] == pytest.approx(2.0)
    assert rows[bench.TIME_ROW]["verdict"] == "bf16 better"
    # a metric no run has: no cells, no verdict
    assert rows["layout fidelity"]["off"] is None and "verdict" not in rows["layout fidelity"]


def test_refuses_overrides_it_owns(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--set", "train.amp=off"])
    assert exc.value.code == 2
    assert "this script's to set" in capsys.readouterr().err
