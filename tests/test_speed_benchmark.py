"""benchmarks/speed.py on a tiny config: every configuration runs and lands in the table."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

from layout2im.training.trainer import Trainer
from layout2im.vocab import Vocabulary
from tests.conftest import load_script, tiny_config

SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


def _speed_module():
    return load_script(SPEED, "speed_benchmark")


def test_ablation_measures_every_option_cumulatively(tmp_path):
    speed = _speed_module()
    config = tiny_config().model_dump()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    args = ["--config", str(tmp_path / "tiny.yaml"), "--batch", "4", "--iters", "1"]
    args += ["--gen-iters", "1", "--warmup", "0", "--amp", "off", "--out", str(tmp_path)]
    assert speed.main([*args, "--ablate"]) == 0
    record = json.loads((tmp_path / "speed-tiny-cpu-b4-ablate.json").read_text())
    names = list(record["results"])
    # no bf16 step, no CUDA-only step on a CPU
    assert names[0] == "reference"
    assert len(names) == 1 + len(speed.STEPS) - 1 - len(speed.GPU_OPTIONS)
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


def test_flop_counts_throughput_and_fraction_of_peak(tmp_path):
    speed = _speed_module()
    config = tiny_config().model_dump()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    args = ["--config", str(tmp_path / "tiny.yaml"), "--batch", "4", "--iters", "1"]
    args += ["--gen-iters", "1", "--warmup", "0", "--amp", "off", "--out", str(tmp_path)]
    assert speed.main([*args, "--reference", "--peak-tflops", "2.5"]) == 0
    record = json.loads((tmp_path / "speed-tiny-cpu-b4.json").read_text())
    fast, ref = record["results"]["fast"], record["results"]["reference"]
    for row in (fast, ref):
        for kind, time_s in (
            ("train", row["train_s_per_iter"]["median"]),
            ("generate", row["generate_ms_per_image_b4"]["median"] * 4 / 1000),
        ):
            gflop = row[f"{kind}_gflop_per_{'iter' if kind == 'train' else 'call'}"]
            assert gflop > 0
            achieved = row[f"{kind}_tflops_achieved"]
            assert achieved == pytest.approx(gflop * 1e9 / time_s / 1e12)
            fraction = row[f"{kind}_fraction_of_peak"]
            assert 0 < fraction <= 1 and fraction == pytest.approx(achieved / 2.5)
        assert row["peak_tflops"] == 2.5 and "--peak-tflops" in row["peak_source"]
        assert row["train_iters_per_s"] == pytest.approx(1 / row["train_s_per_iter"]["median"])
    # The fast paths skip work the reference does; reference-equivalent = reference FLOPs / time.
    assert ref["train_gflop_per_iter"] >= fast["train_gflop_per_iter"]
    assert ref["generate_gflop_per_call"] >= fast["generate_gflop_per_call"]
    ratio = ref["train_gflop_per_iter"] / fast["train_gflop_per_iter"]
    assert fast["train_tflops_reference_equivalent"] == pytest.approx(
        fast["train_tflops_achieved"] * ratio
    )
    table = (tmp_path / "speed-tiny-cpu-b4.md").read_text()
    assert "GFLOP/s" in table and "of peak" in table and "--peak-tflops = 2.5 TFLOP/s" in table

    # Without a peak on a CPU: throughput only, no fraction.
    assert speed.main(args) == 0
    row = json.loads((tmp_path / "speed-tiny-cpu-b4.json").read_text())["results"]["fast"]
    assert row["train_tflops_achieved"] > 0 and "train_fraction_of_peak" not in row
    assert "of peak" not in (tmp_path / "speed-tiny-cpu-b4.md").read_text()


def test_main_kernels_split_the_flops_and_time_by_family(tmp_path):
    speed = _speed_module()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config().model_dump()))
    args = ["--config", str(tmp_path / "tiny.yaml"), "--batch", "4", "--iters", "1"]
    args += ["--gen-iters", "1", "--warmup", "0", "--amp", "off", "--out", str(tmp_path)]
    args += ["--kernels", "--kernel-iters", "2", "--peak-tflops", "2.5"]
    assert speed.main(args) == 0
    row = json.loads((tmp_path / "speed-tiny-cpu-b4.json").read_text())["results"]["fast"]
    train, generate = row["main_kernels"]["train"], row["main_kernels"]["generate"]
    # The families hold every FLOP the whole-call count holds (convolutions, matrix products).
    for kernels, total in (
        (train, row["train_gflop_per_iter"]),
        (generate, row["generate_gflop_per_call"]),
    ):
        families = kernels["families"]
        assert sum(f["gflop"] for f in families.values()) == pytest.approx(total, rel=1e-6)
        assert kernels["iters"] == 2 and kernels["wall_ms"] > 0
        assert 0 < sum(f["share_of_busy"] for f in families.values()) <= 1
        for f in families.values():
            if f["ms"] > 0:
                assert f["tflops"] == pytest.approx(f["gflop"] / f["ms"])
                assert f["fraction_of_peak"] == pytest.approx(f["tflops"] / 2.5)
    assert train["families"]["convolution backward"]["gflop"] > 0
    assert generate["families"]["convolution backward"]["gflop"] == 0  # no grad
    table = (tmp_path / "speed-tiny-cpu-b4.md").read_text()
    assert "Main kernels" in table and "| fast | train | convolution backward |" in table
    assert "| fast | generate | convolution backward |" not in table  # empty rows left out


def test_nested_convolution_ops_are_counted_once():
    """conv2d -> convolution -> _convolution -> mkldnn_convolution is one convolution: on a
    function that is nearly all convolution, the family's time is most of the wall time and
    never more (counting the nested ops too would give 2-4x)."""
    speed = _speed_module()
    x, w = torch.randn(2, 64, 48, 48), torch.randn(64, 64, 3, 3)

    def convolutions():
        for _ in range(3):
            torch.nn.functional.conv2d(x, w, padding=1)

    profiled = speed.profile_main_kernels(convolutions, torch.device("cpu"), iters=3)
    conv = profiled["family_ms"]["convolution"]
    assert 0.5 * profiled["wall_ms"] < conv <= profiled["wall_ms"]
    assert profiled["family_ms"]["matrix product"] == 0
    _, flops = speed.flop_counts(convolutions)
    assert flops["convolution"] == 3 * 2 * (2 * 48 * 48) * 64 * 64 * 9  # multiply-add = 2


def test_gpu_events_count_kernels_once_and_leave_annotations_out():
    """The accounting on a GPU, with events shaped like torch.profiler's: CPU ops carry the
    inclusive time of their kernels; kernels, copies and record_function spans are device
    events, and only kernels and copies add to the busy time."""
    from types import SimpleNamespace as Event

    from torch.autograd import DeviceType

    speed = _speed_module()

    def op(name, device_us, parent=None):
        return Event(name=name, device_type=DeviceType.CPU, cpu_parent=parent,
                     device_time_total=device_us, self_device_time_total=0.0)  # fmt: skip

    def on_gpu(name, us, annotation=False):
        return Event(name=name, device_type=DeviceType.CUDA, cpu_parent=None,
                     self_device_time_total=us, device_time_total=us,
                     is_user_annotation=annotation)  # fmt: skip

    conv2d = op("aten::conv2d", 100.0)
    convolution = op("aten::convolution", 100.0, conv2d)
    cudnn = op("aten::cudnn_convolution", 100.0, op("aten::_convolution", 100.0, convolution))
    step = op("Optimizer.step#Adam.step", 30.0)
    events = [
        conv2d, convolution, cudnn, cudnn.cpu_parent,
        op("aten::convolution_backward", 200.0),
        op("aten::addmm", 10.0, op("aten::linear", 10.0)),
        step, op("aten::mm", 5.0, step),
        on_gpu("sm90_xmma_fprop_kernel", 100.0), on_gpu("sm90_dgrad_kernel", 200.0),
        on_gpu("gemm_kernel", 15.0), on_gpu("Memcpy HtoD", 7.0),
        on_gpu("Optimizer.step#Adam.step", 30.0, annotation=True),
    ]  # fmt: skip
    family_us, busy_us = speed.tally_events(events, torch.device("cuda"))
    assert family_us == {"convolution": 100.0, "convolution backward": 200.0,
                         "matrix product": 15.0}  # fmt: skip
    assert busy_us == 100.0 + 200.0 + 15.0 + 7.0  # the annotation span is not counted again


def test_warmup_covers_every_layout_batch_on_a_gpu_only(tmp_path, monkeypatch):
    speed = _speed_module()
    seen = {}
    monkeypatch.setattr(speed, "measure", lambda args, modes, device: seen.update(w=args.warmup))
    monkeypatch.setattr(speed, "render", lambda record: "")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config().model_dump()))
    args = ["--config", str(tmp_path / "tiny.yaml"), "--amp", "off", "--out", str(tmp_path)]
    speed.main(args)
    assert seen["w"] == 1
    speed.main([*args, "--warmup", "0"])
    assert seen["w"] == 0
    monkeypatch.setattr(speed.torch.cuda, "get_device_name", lambda device: "fake GPU")
    monkeypatch.setattr(speed, "parse_device", lambda text: torch.device(text))  # no CUDA here
    speed.main([*args, "--device", "cuda"])
    assert seen["w"] == speed.LAYOUT_BATCHES


def test_kernel_iters_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _speed_module().main(["--kernels", "--kernel-iters", "0"])
    assert exit_info.value.code == 2
    assert "--kernel-iters must be at least 1" in capsys.readouterr().err


def test_flop_count_is_the_same_for_identical_calls():
    speed = _speed_module()
    config = tiny_config()
    vocab = Vocabulary([f"c{i}" for i in range(config.model.num_classes)])
    trainer = Trainer(config, vocab, device=torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    layout = speed.random_layouts(2, config.model.num_classes, g)
    images = torch.randn(2, 3, config.model.image_size, config.model.image_size, generator=g)
    counts = [speed.flop_counts(lambda: trainer.train_step(images, layout))[0] for _ in range(2)]
    assert counts[0] > 0 and counts[0] == counts[1]
    z = torch.randn(layout.num_objects, config.model.z_dim, generator=g)
    with torch.no_grad():
        gen = [speed.flop_counts(lambda: trainer.generator.decode(layout, z))[0] for _ in range(2)]
    assert 0 < gen[0] == gen[1] < counts[0]


def test_peak_table_picks_the_card_and_precision(monkeypatch):
    speed = _speed_module()
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    assert speed.device_peak(cuda, "bf16", None)["tflops"] == 756.0
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert speed.device_peak(cuda, "bf16", None)["tflops"] == 989.4
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for convolutions
        assert speed.device_peak(cuda, "off", None)["tflops"] == 494.7
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        assert speed.device_peak(cuda, "off", None) == {
            "tflops": 66.9,
            "source": "H100 SXM dense fp32 (datasheet)",
        }
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 NVL")
    assert speed.device_peak(cuda, "bf16", None) is None
    assert speed.device_peak(torch.device("cpu"), "off", None) is None
    assert speed.device_peak(torch.device("cpu"), "off", 3.0)["tflops"] == 3.0


def test_gpu_options_run_through_measure_with_a_graph_stand_in(tmp_path, monkeypatch):
    """The CUDA ablation's code on a CPU: static shapes for real, CUDA graphs through a
    stand-in whose replay re-runs the captured function (tests/training/test_graphs.py)."""
    import argparse

    from layout2im.training.graphs import GraphedCall
    from tests.training.test_graphs import FakeCuda

    speed = _speed_module()

    class EagerGraphedCall(GraphedCall):
        def __init__(self, fn, inputs, state=(), warmup=3, backend=None):
            fake = FakeCuda(lambda: self, lambda: fn)
            super().__init__(fn, inputs, state, warmup, backend=fake)

    def graphed_trainer(config, vocab, device, mode):
        config = copy.deepcopy(config)
        config.train.static_shapes = True
        trainer = Trainer(config, vocab, device=device)
        config.train.cuda_graphs = True  # a CPU trainer refuses it at construction
        trainer.graph_backend = FakeCuda(
            lambda: trainer._graphed, lambda: trainer._graphed_iteration
        )
        speed.apply_mode(trainer, mode)
        return trainer

    monkeypatch.setattr(speed, "GraphedCall", EagerGraphedCall)
    monkeypatch.setattr(speed, "graphed_trainer", graphed_trainer)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config().model_dump()))
    args = argparse.Namespace(
        config=str(tmp_path / "tiny.yaml"), batch=4, seed=0, warmup=1, iters=1, gen_iters=1,
        kernels=False, kernel_iters=1, peak_tflops=None,
    )  # fmt: skip
    modes = speed.ablation_modes("off", torch.device("cuda"))
    assert list(modes)[-3:] == ["+ static_shapes", "+ cudnn_benchmark", "+ cuda_graphs"]
    rows = speed.measure(args, modes, torch.device("cpu"))
    assert list(rows) == list(modes)
    for row in rows.values():
        assert row["train_s_per_iter"]["median"] > 0
        assert row["generate_ms_per_image_b4"]["median"] > 0
    # padding slots are computed: more FLOPs; a graph replays the eager static-shape kernels
    static, bench, graphs = (
        rows["+ static_shapes"],
        rows["+ cudnn_benchmark"],
        rows["+ cuda_graphs"],
    )
    assert static["train_gflop_per_iter"] > rows["+ pooled_convolutions"]["train_gflop_per_iter"]
    assert graphs["train_gflop_per_iter"] == bench["train_gflop_per_iter"]
    assert graphs["generate_gflop_per_call"] == bench["generate_gflop_per_call"]


def test_graphed_generation_gives_the_eager_images(monkeypatch):
    from layout2im.training.graphs import GraphedCall
    from tests.training.test_graphs import FakeCuda

    speed = _speed_module()
    config = tiny_config()
    trainer = Trainer(config, Vocabulary([f"c{i}" for i in range(config.model.num_classes)]))
    trainer.generator.eval()
    g = torch.Generator().manual_seed(0)
    layout = speed.random_layouts(3, config.model.num_classes, g, 4)
    z = torch.randn(layout.num_objects, config.model.z_dim, generator=g)
    eager_mode = speed.fast_mode("off", torch.device("cpu")).plus("static_shapes")
    graph_mode = eager_mode.plus("cuda_graphs")
    assert "cuda_graphs" not in eager_mode.train
    speed.apply_mode(trainer, eager_mode)
    eager = speed.generation_call(trainer, eager_mode, layout, z, 4)()
    holder = {}

    class Recording(GraphedCall):
        def __init__(self, fn, inputs, state=(), warmup=3, backend=None):
            holder["call"] = self
            super().__init__(fn, inputs, state, warmup, FakeCuda(lambda: self, lambda: fn))

    monkeypatch.setattr(speed, "GraphedCall", Recording)
    replay = speed.generation_call(trainer, graph_mode, layout, z, 4)
    torch.testing.assert_close(replay(), eager)
    assert replay() is holder["call"].outputs  # the graph's static output buffer
