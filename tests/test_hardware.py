"""layout2im.hardware: CPU features, whether bf16 pays, and ``train.amp=auto``."""

from __future__ import annotations

import pytest
import torch
import yaml

from layout2im import hardware
from layout2im.config import ConfigError, apply_overrides
from layout2im.training.loop import train
from layout2im.training.trainer import Trainer

from .conftest import tiny_config

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512bw

processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512bw
"""


def fake_cpu(native: bool) -> dict:
    flags = {f: False for f in ("avx2", "avx512f", *hardware.BF16_CPU_FLAGS)}
    flags["avx2"] = True
    flags["avx512_bf16"] = native
    return {"model": "Fake CPU", "flags": flags, "bf16_native": native, "capability": "AVX2"}


def test_reads_model_and_flags_of_proc_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    model, flags = hardware._read_proc_cpuinfo(path)
    assert model == "AMD EPYC 9R14 96-Core Processor"
    assert {"avx512_bf16", "avx2", "avx512f"} <= flags and "amx_tile" not in flags
    assert hardware._read_proc_cpuinfo(tmp_path / "missing") == (None, set())


def test_this_machine_is_described():
    info = hardware.cpu_info()
    assert info["model"] and set(hardware.BF16_CPU_FLAGS) <= set(info["flags"])
    assert info["bf16_native"] == any(info["flags"][f] for f in hardware.BF16_CPU_FLAGS)
    line = hardware.cpu_summary()
    assert info["model"] in line and "AVX512-BF16" in line and "AMX" in line


@pytest.mark.parametrize("native", [True, False])
def test_auto_on_cpu_follows_native_bf16(monkeypatch, native):
    monkeypatch.setattr(hardware, "cpu_info", lambda: fake_cpu(native))
    assert hardware.bf16_is_fast("cpu") is native
    assert hardware.resolve_amp("auto", "cpu") == ("bf16" if native else "off")
    # explicit choices are kept whatever the machine
    assert hardware.resolve_amp("off", "cpu") == "off"
    assert hardware.resolve_amp("bf16", "cpu") == "bf16"
    summary = hardware.cpu_summary(fake_cpu(native))
    assert f"AVX512-BF16 {'yes' if native else 'no'}" in summary and "AMX no" in summary


def test_auto_on_gpu_only_where_measured_faster(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(hardware, "BF16_FAST_GPUS", ())
    assert hardware.resolve_amp("auto", "cuda") == "off"
    monkeypatch.setattr(hardware, "BF16_FAST_GPUS", ("H200",))
    assert hardware.resolve_amp("auto", "cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert hardware.resolve_amp("auto", "cuda") == "off"


def test_unknown_amp_is_refused():
    with pytest.raises(ValueError, match="amp must be one of"):
        hardware.resolve_amp("fp16", "cpu")


def test_amp_overrides_parse():
    config = tiny_config()
    assert apply_overrides(config, ["train.amp=off"]).train.amp == "off"
    assert apply_overrides(config, ["train.amp=auto"]).train.amp == "auto"
    with pytest.raises(ConfigError, match=r"train\.amp must be one of off, bf16, auto"):
        apply_overrides(config, ["train.amp=on"])


@pytest.mark.parametrize("native", [True, False])
def test_trainer_resolves_auto(monkeypatch, vocab, native):
    monkeypatch.setattr(hardware, "cpu_info", lambda: fake_cpu(native))
    trainer = Trainer(tiny_config(amp="auto"), vocab)
    assert trainer.config.train.amp == ("bf16" if native else "off")
    with trainer.autocast():
        assert torch.is_autocast_enabled("cpu") is native


def test_training_records_resolved_amp_in_config_and_log(monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "cpu_info", lambda: fake_cpu(True))
    config = tiny_config(amp="auto", steps=1, tensorboard=False)
    run = train(config, tmp_path, progress=False).run_dir
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["amp"] == "bf16"
    log_text = (run / "log.txt").read_text()
    assert "train.amp=auto -> bf16" in log_text and "Fake CPU" in log_text
    assert "amp bf16" in log_text
    # resuming with auto on the same machine continues the run in the same precision
    config = tiny_config(amp="auto", steps=2, tensorboard=False)
    assert train(config, tmp_path, resume=run, progress=False).run_dir == run
