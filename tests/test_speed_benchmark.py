"""benchmarks/speed.py on a tiny config: every configuration runs and lands in the table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import yaml

from tests.conftest import tiny_config

SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


def _speed_module():
    spec = importlib.util.spec_from_file_location("speed_benchmark", SPEED)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_ablation_measures_every_option_cumulatively(tmp_path):
    speed = _speed_module()
    config = tiny_config().to_dict()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    args = ["--config", str(tmp_path / "tiny.yaml"), "--batch", "4", "--iters", "1"]
    args += ["--gen-iters", "1", "--warmup", "0", "--amp", "off", "--out", str(tmp_path)]
    assert speed.main([*args, "--ablate"]) == 0
    record = json.loads((tmp_path / "speed-tiny-cpu-b4-ablate.json").read_text())
    names = list(record["results"])
    assert names[0] == "reference" and len(names) == 1 + len(speed.STEPS) - 1  # no bf16 step
    assert record["modes"]["reference"] == {"train": [], "fast_paths": [], "amp": "off"}
    last = record["modes"][names[-1]]
    assert set(last["fast_paths"]) == set(speed.FAST_PATHS)
    assert set(last["train"]) == set(speed.TRAIN_OPTIONS)
    table = (tmp_path / "speed-tiny-cpu-b4-ablate.md").read_text()
    assert all(f"| {name} |" in table for name in names)

    assert speed.main([*args, "--reference"]) == 0
    record = json.loads((tmp_path / "speed-tiny-cpu-b4.json").read_text())
    assert list(record["results"]) == ["fast", "reference"]
    assert "ratio" in (tmp_path / "speed-tiny-cpu-b4.md").read_text()
