"""Training and generation speed of a preset, fast computation vs. the straightforward one.

    python benchmarks/speed.py --config shapes32 --batch 8 --iters 20
    python benchmarks/speed.py --config paper-coco64 --batch 8 --iters 3 --reference
    python benchmarks/speed.py --config paper-coco64 --batch 8 --iters 3 --ablate

Reports the median and spread over repeated runs of (a) seconds per training iteration (one D
step + one G step), (b) milliseconds per generated image at batch 1 and at ``--batch`` (eval
mode, no grad), (c) peak memory (allocator peak per configuration on CUDA; on a CPU the
process's peak RSS, for all configurations together) and (d) the floating-point operations of
one training iteration and one generation call at ``--batch`` (counted once per configuration by
``torch.utils.flop_counter.FlopCounterMode`` in a separate untimed call: convolutions and matrix
products, forward and backward), the throughput they give (TFLOP/s = FLOPs / median time), the
"reference-equivalent" throughput (the reference computation's FLOPs / this configuration's time,
so a fast path that skips work shows as a higher figure) and, where the device's peak is known
(``--peak-tflops``, or ``PEAK_TFLOPS`` for CUDA cards), the fraction of that peak reached.

On a GPU: ``--device cuda --batch 8 --reference --kernels`` and ``--batch 64``. ``--kernels``
adds, per configuration, the main kernels' share: the time the convolution, convolution-backward
and matrix-product kernels ran (``torch.profiler``), their FLOPs, the TFLOP/s and fraction of
peak they reach on their own, and the GPU's busy time against the wall time (at small batches a
step is bound by kernel launches and Python, not by the kernels).

Configurations: ``fast`` takes every speed option (the ``train.*`` switches and every fast path of
the networks, see ``layout2im.models.computation``) and, with ``--amp bf16`` (or ``auto`` on a
device with fast bfloat16, see ``layout2im.hardware.bf16_is_fast``), bf16 autocast.
``--reference`` adds the straightforward computation (generator forward recomputed for the G step,
full composer maps, image-by-image ConvLSTM, separate convolution and pooling, NCHW, float32), so
each figure comes with its ratio. ``--ablate`` instead measures the reference and then switches
the speed options on one at a time (cumulatively, in the order of ``STEPS``) and reports what
each bought.

All configurations share one set of networks and are measured round-robin (one training step
of each per round, after ``--warmup`` untimed rounds), so a machine whose load drifts affects
them alike. Layouts are random but realistic (3..8 objects, boxes of varied sizes) from a fixed
seed. Writes ``benchmarks/results/speed-<config>-<device>-b<batch>[-ablate].{json,md}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from layout2im.config import apply_overrides, load_config
from layout2im.devices import parse_device
from layout2im.fsutil import portable_paths, write_text
from layout2im.hardware import bf16_is_fast, cpu_info, cpu_summary
from layout2im.layout import LayoutBatch
from layout2im.models.computation import FAST_PATHS
from layout2im.training.graphs import GraphedCall
from layout2im.training.trainer import SpeedOptions, Trainer
from layout2im.vocab import Vocabulary

RESULTS = Path(__file__).parent / "results"

TRAIN_OPTIONS = ("reuse_generator_forward", "channels_last")
# CUDA only, after the fast paths in --ablate: layouts padded to the preset's max_objects (every
# call the same shapes), cuDNN's kernel choice by timing, the whole call replayed as a CUDA graph
GPU_OPTIONS = ("static_shapes", "cudnn_benchmark", "cuda_graphs")
LAYOUT_BATCHES = 4  # training steps cycle through this many random layout batches


@dataclass(frozen=True)
class Mode:
    """One configuration: the ``train.*`` speed switches, the networks' fast paths, autocast."""

    train: frozenset[str] = frozenset()
    fast_paths: frozenset[str] = frozenset()
    amp: str = "off"

    def plus(self, name: str) -> Mode:
        if name in TRAIN_OPTIONS or name in GPU_OPTIONS:
            return Mode(self.train | {name}, self.fast_paths, self.amp)
        if name in FAST_PATHS:
            return Mode(self.train, self.fast_paths | {name}, self.amp)
        if name.startswith("amp="):
            return Mode(self.train, self.fast_paths, name.removeprefix("amp="))
        raise ValueError(f"unknown speed option {name!r}")


REFERENCE = Mode()
# The cumulative order of --ablate: training-step options first, then the networks' fast paths.
STEPS = [*TRAIN_OPTIONS, *FAST_PATHS, *GPU_OPTIONS, "amp=bf16"]


def fast_mode(amp: str, device: torch.device) -> Mode:
    """Every speed option the device takes (the GPU options on CUDA only), autocast ``amp``."""
    mode = REFERENCE
    for name in [*TRAIN_OPTIONS, *FAST_PATHS, *(GPU_OPTIONS if device.type == "cuda" else ())]:
        mode = mode.plus(name)
    return mode.plus(f"amp={amp}")


def ablation_modes(amp: str, device: torch.device) -> dict[str, Mode]:
    """The reference, then STEPS switched on one at a time (GPU options on CUDA only, bf16
    only when ``amp`` is bf16)."""
    modes = {"reference": REFERENCE}
    mode = REFERENCE
    for step in STEPS:
        if step == "amp=bf16" and amp != "bf16":
            continue
        if step in GPU_OPTIONS and device.type != "cuda":
            continue
        mode = mode.plus(step)
        modes[f"+ {step}"] = mode
    return modes


def apply_mode(trainer: Trainer, mode: Mode) -> None:
    """Switch a trainer to ``mode`` (all but cuda_graphs, which needs a trainer of its own:
    see :func:`graphed_trainer`)."""
    trainer.set_speed_options(
        SpeedOptions(
            reuse_generator_forward="reuse_generator_forward" in mode.train,
            channels_last="channels_last" in mode.train,
            static_shapes="static_shapes" in mode.train,
            cudnn_benchmark="cudnn_benchmark" in mode.train,
            amp=mode.amp,
            fast_paths=mode.fast_paths,
        )
    )


def random_layouts(
    batch: int, num_classes: int, generator: torch.Generator, max_objects: int = 8
) -> LayoutBatch:
    """``batch`` layouts of 3..``max_objects`` objects (3..8 as the COCO presets) with boxes
    from 10% to 60% of the image side."""
    labels, boxes = [], []
    for _ in range(batch):
        n = int(torch.randint(3, max(max_objects, 3) + 1, (1,), generator=generator))
        size = 0.1 + 0.5 * torch.rand(n, 2, generator=generator)
        corner = torch.rand(n, 2, generator=generator) * (1 - size)
        boxes.append(torch.cat([corner, corner + size], dim=1))
        labels.append(torch.randint(1, num_classes, (n,), generator=generator))
    return LayoutBatch.from_lists(labels, boxes)


# Dense (no sparsity) peak TFLOP/s from the vendors' datasheets, keyed by a substring of
# torch.cuda.get_device_name(); the first match wins (so "H100 PCIe" before "H100"). An empty
# entry means "not known" (H100 NVL has its own figures): pass --peak-tflops.
PEAK_TFLOPS: list[tuple[str, str, dict[str, float]]] = [
    ("H100 PCIe", "H100 PCIe", {"bf16": 756.0, "tf32": 378.0, "fp32": 51.2}),
    ("H100 NVL", "H100 NVL", {}),
    ("H100", "H100 SXM", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("H200", "H200", {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("A100", "A100", {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5}),
]


# The main kernels: the op families that hold nearly all FLOPs. Keys are ATen op names as the
# FLOP counter (``aten.x``) and the profiler (``aten::x``) spell them; an op nested inside
# another of these (e.g. a matrix product inside a CPU convolution) counts for the outer one.
MAIN_OPS = {
    "convolution": ("convolution", "_convolution", "cudnn_convolution", "mkldnn_convolution"),
    "convolution backward": ("convolution_backward",),
    "matrix product": ("mm", "addmm", "bmm", "baddbmm", "_addmm_activation"),
}
_FAMILY = {op: family for family, ops in MAIN_OPS.items() for op in ops}


def flop_counts(fn) -> tuple[int, dict[str, int]]:
    """Floating-point operations of ``fn()`` (convolutions and matrix products, forward and
    backward; a multiply-add counts 2), by ``FlopCounterMode``: the total and the share of each
    MAIN_OPS family. Runs ``fn`` once, untimed."""
    with FlopCounterMode(display=False) as counter:
        fn()
    families = dict.fromkeys(MAIN_OPS, 0)
    for op, count in counter.get_flop_counts().get("Global", {}).items():
        family = _FAMILY.get(str(op).removeprefix("aten."))
        if family is not None:
            families[family] += count
    return counter.get_total_flops(), families


def _event_time_us(event, device: torch.device, self_only: bool = False) -> float:
    """An op's time in microseconds: its kernels' time on a GPU, its CPU time on a CPU."""
    if device.type == "cuda":
        names = (
            ("self_device_time_total", "self_cuda_time_total")
            if self_only
            else (
                "device_time_total",
                "cuda_time_total",
            )
        )
    else:
        names = ("self_cpu_time_total",) if self_only else ("cpu_time_total",)
    for name in names:
        if hasattr(event, name):
            return float(getattr(event, name))
    raise AttributeError(f"profiler event has none of {names}")


def _family_of(name: str) -> str | None:
    """The MAIN_OPS family of a profiler event name (``aten::convolution`` ...), or None."""
    return _FAMILY.get(name.removeprefix("aten::")) if name.startswith("aten::") else None


def tally_events(events, device: torch.device) -> tuple[dict[str, float], float]:
    """From profiler events: microseconds per MAIN_OPS family (each outermost op of a family,
    inclusive of its children's kernels on a GPU, its CPU time on a CPU) and the summed time of
    the GPU's kernels and copies."""
    from torch.autograd import DeviceType

    family_us = dict.fromkeys(MAIN_OPS, 0.0)
    busy_us = 0.0
    for event in events:
        if event.device_type != DeviceType.CPU:  # a kernel or a copy, on the GPU
            # record_function spans (torch.optim wraps step() in one) also show up on the GPU's
            # timeline, around kernels counted already
            # (https://github.com/pytorch/pytorch/issues/130730)
            if not getattr(event, "is_user_annotation", False):
                busy_us += _event_time_us(event, device, self_only=True)
            continue
        family = _family_of(event.name)
        if family is None:
            continue
        parent = event.cpu_parent
        while parent is not None and _family_of(parent.name) is None:
            parent = parent.cpu_parent
        if parent is None:  # outermost op of a main family
            family_us[family] += _event_time_us(event, device)
    return family_us, busy_us


def profile_main_kernels(fn, device: torch.device, iters: int) -> dict:
    """Per MAIN_OPS family, the time per call of ``fn`` spent in its kernels (GPU) or ops (CPU),
    from ``torch.profiler`` over ``iters`` calls after one untimed call; plus the wall time per
    call and, on a GPU, the summed time of its kernels and copies (busy; an upper bound of the
    time the GPU was busy when kernels overlap on several streams)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    fn()
    _sync(device)
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        _sync(device)
        wall = time.perf_counter() - start
    family_us, busy_us = tally_events(prof.events(), device)
    out = {
        "iters": iters,
        "wall_ms": wall / iters * 1000,
        "family_ms": {k: v / iters / 1000 for k, v in family_us.items()},
    }
    if device.type == "cuda":
        out["busy_ms"] = busy_us / iters / 1000
    return out


def kernel_rows(flops: dict[str, int], profiled: dict, peak: dict | None) -> dict:
    """Joins FLOPs and profiled time per family: GFLOP, ms, TFLOP/s, fraction of peak, share of
    the GPU's busy time (or of the wall time on a CPU)."""
    whole = profiled.get("busy_ms", profiled["wall_ms"])
    families = {}
    for family, ms in profiled["family_ms"].items():
        row = {"gflop": flops[family] / 1e9, "ms": ms, "share_of_busy": ms / whole if whole else 0}
        row["tflops"] = flops[family] / (ms / 1000) / 1e12 if ms > 0 else None
        if peak is not None and row["tflops"] is not None:
            row["fraction_of_peak"] = row["tflops"] / peak["tflops"]
        families[family] = row
    out = {"wall_ms": profiled["wall_ms"], "iters": profiled["iters"], "families": families}
    if "busy_ms" in profiled:
        out["busy_ms"] = profiled["busy_ms"]
        out["busy_fraction"] = profiled["busy_ms"] / profiled["wall_ms"]
    return out


def peak_precision(amp: str) -> str:
    """The kernels' precision on CUDA: bf16 under bf16 autocast, else tf32 where PyTorch lets
    convolutions or matrix products use TF32 (cuDNN does by default), else fp32."""
    if amp == "bf16":
        return "bf16"
    if torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "fp32"


def device_peak(device: torch.device, amp: str, given: float | None) -> dict | None:
    """``{"tflops": peak, "source": what it is}`` for a configuration, or None when unknown."""
    if given is not None:
        return {"tflops": given, "source": "--peak-tflops"}
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, label, peaks in PEAK_TFLOPS:
        if key in name:
            precision = peak_precision(amp)
            if precision == "tf32" and "tf32" not in peaks:
                precision = "fp32"
            if precision not in peaks:
                return None
            return {"tflops": peaks[precision], "source": f"{label} dense {precision} (datasheet)"}
    return None


def throughput(row: dict, flops: dict, reference: dict, peak: dict | None, batch: int) -> None:
    """Adds iterations/s, images/s, GFLOP per call, achieved and reference-equivalent TFLOP/s
    and (``peak`` known) the fraction of peak to ``row``; ``flops``/``reference`` hold this
    configuration's and the reference's counts under "train" and "generate"."""
    times = {
        "train": row["train_s_per_iter"]["median"],
        "generate": row[f"generate_ms_per_image_b{batch}"]["median"] * batch / 1000.0,
    }
    row["train_iters_per_s"] = 1.0 / times["train"]
    row[f"generate_images_per_s_b{batch}"] = batch / times["generate"]
    row["train_gflop_per_iter"] = flops["train"] / 1e9
    row["generate_gflop_per_call"] = flops["generate"] / 1e9
    for kind in ("train", "generate"):
        row[f"{kind}_tflops_achieved"] = flops[kind] / times[kind] / 1e12
        row[f"{kind}_tflops_reference_equivalent"] = reference[kind] / times[kind] / 1e12
        if peak is not None:
            row[f"{kind}_fraction_of_peak"] = row[f"{kind}_tflops_achieved"] / peak["tflops"]
    if peak is not None:
        row["peak_tflops"] = peak["tflops"]
        row["peak_source"] = peak["source"]


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def summary(values: list[float], scale: float = 1.0) -> dict:
    values = [v * scale for v in values]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def graphed_trainer(config, vocab: Vocabulary, device: torch.device, mode: Mode) -> Trainer:
    """A trainer of its own for a mode with cuda_graphs: a captured graph holds its tensors'
    addresses, which switching the shared trainer between modes (channels_last) would move.
    Built from the same seed, so it starts from the same weights."""
    config = copy.deepcopy(config)
    config.train.static_shapes = config.train.cuda_graphs = True
    trainer = Trainer(config, vocab, device=device)
    apply_mode(trainer, mode)
    return trainer


def static_inputs(layout: LayoutBatch, z: torch.Tensor, slots: int):
    """A generation call's layout padded to ``slots`` and its codes (N, z_dim) scattered into
    the B * slots rows the static-shape path reads."""
    wide = layout.padded(slots)
    return wide, wide.scatter(z).flatten(0, 1)


def generation_call(trainer: Trainer, mode: Mode, layout, z, slots: int, graph_backend=None):
    """A no-argument callable generating one batch in ``mode`` (eval mode, no grad): eager, or
    for cuda_graphs a graph replay on static buffers (captured here)."""
    generator = trainer.generator

    def decode(labels, boxes, mask, codes):
        with torch.no_grad(), trainer.autocast():
            return generator.decode(LayoutBatch(labels, boxes, mask), codes)

    if "static_shapes" in mode.train:
        layout, z = static_inputs(layout, z, slots)
    inputs = (layout.labels, layout.boxes, layout.mask, z)
    if "cuda_graphs" not in mode.train:
        return partial(decode, *inputs)
    generator.eval()
    graphed = GraphedCall(decode, inputs, backend=graph_backend)
    return partial(graphed, *inputs)


def measure(args, modes: dict[str, Mode], device: torch.device) -> dict[str, dict]:
    """Round-robin timings of every mode (on one shared trainer; a cuda_graphs mode on its own,
    see :func:`graphed_trainer`). Returns {mode name: results}."""
    config = apply_overrides(
        load_config(args.config),
        [f"train.batch_size={args.batch}", f"train.device={device.type}"],
    )
    vocab = Vocabulary([f"c{i}" for i in range(config.model.num_classes)])
    trainer = Trainer(config, vocab, device=device)
    graphed = {
        name: graphed_trainer(config, vocab, device, mode)
        for name, mode in modes.items()
        if "cuda_graphs" in mode.train
    }
    slots = config.data.max_objects
    g = torch.Generator().manual_seed(args.seed)
    size = config.model.image_size
    batches = []
    for _ in range(LAYOUT_BATCHES):
        layout = random_layouts(args.batch, config.model.num_classes, g, slots)
        batches.append((torch.randn(args.batch, 3, size, size, generator=g), layout))

    def train_step(name: str, images, layout) -> None:
        """One iteration of configuration ``name`` (a cuda_graphs mode on its own trainer)."""
        if name in graphed:
            graphed[name].train_step(images, layout)
            return
        apply_mode(trainer, counted[name])
        trainer.train_step(images, layout)

    # FLOPs once per configuration (and the reference's), in untimed eager calls of their own
    # (a cuda_graphs mode counts as its eager static-shape form: the same kernels); the
    # per-family split is kept for --kernels, which profiles the same inputs.
    counted = {**modes, "reference": REFERENCE}
    flops: dict[str, dict[str, int]] = {name: {} for name in counted}
    families: dict[str, dict[str, dict[str, int]]] = {name: {} for name in counted}
    count_images, count_layout = batches[0]
    for name, mode in counted.items():
        apply_mode(trainer, mode)
        flops[name]["train"], families[name]["train"] = flop_counts(
            partial(trainer.train_step, count_images, count_layout)
        )

    train_times: dict[str, list[float]] = {name: [] for name in modes}
    peaks: dict[str, float] = {}
    for r in range(args.warmup + args.iters):
        images, layout = batches[r % len(batches)]
        for name in modes:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = timed(partial(train_step, name, images, layout), device)
            if r >= args.warmup:
                train_times[name].append(seconds)
            if device.type == "cuda":
                peaks[name] = max(peaks.get(name, 0.0), peak_memory_mb(device))

    kernels: dict[str, dict] = {name: {} for name in modes}

    def profile_kernels(call: str, fn_of) -> None:
        """``--kernels``: every configuration's main kernels for ``fn_of(name)`` (the counted
        inputs). A graph replay runs no ATen ops: its families show no time, its GPU busy
        fraction is measured all the same."""
        for name, mode in modes.items():
            apply_mode(trainer, mode)
            kernels[name][call] = kernel_rows(
                families[name][call],
                profile_main_kernels(fn_of(name), device, args.kernel_iters),
                device_peak(device, mode.amp, args.peak_tflops),
            )

    if args.kernels:
        profile_kernels("train", lambda name: partial(train_step, name, count_images, count_layout))

    trainer.generator.eval()
    for other in graphed.values():
        other.generator.eval()
    gen_inputs = {}
    for gen_batch in sorted({1, args.batch}):
        layout = random_layouts(gen_batch, config.model.num_classes, g, slots).to(device)
        z = torch.randn(layout.num_objects, config.model.z_dim, generator=g).to(device)
        gen_inputs[gen_batch] = (layout, z)
    calls = {}
    for name, mode in modes.items():
        apply_mode(trainer, mode)
        owner = graphed.get(name, trainer)
        for b, (layout, z) in gen_inputs.items():
            calls[(name, b)] = generation_call(owner, mode, layout, z, slots)
    gen_times = {key: [] for key in calls}
    for name, mode in counted.items():
        apply_mode(trainer, mode)
        layout, z = gen_inputs[args.batch]
        counted_call = generation_call(trainer, Mode(mode.train - {"cuda_graphs"},
                                       mode.fast_paths, mode.amp), layout, z, slots)  # fmt: skip
        flops[name]["generate"], families[name]["generate"] = flop_counts(counted_call)
    for r in range(args.warmup + args.gen_iters):
        for name, mode in modes.items():
            apply_mode(trainer, mode)
            for b in gen_inputs:
                seconds = timed(calls[(name, b)], device)
                if r >= args.warmup:
                    gen_times[(name, b)].append(seconds)
    if args.kernels:
        profile_kernels("generate", lambda name: calls[(name, args.batch)])

    results = {}
    for name in modes:
        row = {"train_s_per_iter": summary(train_times[name])}
        for b in gen_inputs:
            row[f"generate_ms_per_image_b{b}"] = summary(gen_times[(name, b)], 1000.0 / b)
        if device.type == "cuda":
            row["peak_memory_mb"] = peaks[name]
        peak = device_peak(device, modes[name].amp, args.peak_tflops)
        throughput(row, flops[name], flops["reference"], peak, args.batch)
        if kernels[name]:
            row["main_kernels"] = kernels[name]
        results[name] = row
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default="shapes32")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--iters", type=int, default=10, help="timed training iterations")
    p.add_argument("--gen-iters", type=int, default=20, help="timed generation calls")
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help=f"untimed rounds first (default: 1 on a CPU; {LAYOUT_BATCHES} on a GPU, one per "
        "layout batch, so no timed step meets new shapes: cuDNN chooses its kernels per shape)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--amp",
        choices=["auto", "off", "bf16"],
        default="auto",
        help="autocast of the fast configuration (auto: bf16 on a CPU with AVX512-BF16/AMX or a "
        "GPU where it was measured faster, see layout2im.hardware)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--reference", action="store_true", help="also measure the straightforward computation"
    )
    group.add_argument(
        "--ablate",
        action="store_true",
        help="the reference, then each speed option switched on in turn (cumulative)",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's peak TFLOP/s for the fraction-of-peak columns (default: PEAK_TFLOPS "
        "by CUDA device name and precision; none on a CPU)",
    )
    p.add_argument(
        "--kernels",
        action="store_true",
        help="also profile the main kernels (convolutions, matrix products) of each "
        "configuration with torch.profiler: their time, TFLOP/s and fraction of peak",
    )
    p.add_argument(
        "--kernel-iters", type=int, default=5, help="profiled calls per configuration (--kernels)"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--note", default="", help="a line for the table, e.g. how loaded the machine was"
    )
    args = p.parse_args(argv)
    if args.peak_tflops is not None and not args.peak_tflops > 0:
        p.error("--peak-tflops must be positive")
    if args.kernel_iters < 1:
        p.error("--kernel-iters must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        p.error("--warmup must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = parse_device(args.device)
    if args.warmup is None:
        args.warmup = LAYOUT_BATCHES if device.type == "cuda" else 1
    amp = args.amp
    if amp == "auto":
        amp = "bf16" if bf16_is_fast(device) else "off"
    if args.ablate:
        modes = ablation_modes(amp, device)
    else:
        modes = {"fast": fast_mode(amp, device)}
        if args.reference:
            modes["reference"] = REFERENCE
    rows = measure(args, modes, device)
    record = {
        "config": load_config(args.config).name,
        "batch": args.batch,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "cpu": cpu_info(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "args": portable_paths({k: str(v) for k, v in vars(args).items()}),
        "modes": {
            name: {"train": sorted(m.train), "fast_paths": sorted(m.fast_paths), "amp": m.amp}
            for name, m in modes.items()
        },
        "note": args.note,
        "results": rows,
        "process_peak_memory_mb": peak_memory_mb(device) if device.type != "cuda" else None,
    }
    table = render_ablation(record) if args.ablate else render(record)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"speed-{record['config']}-{device.type}-b{args.batch}"
    stem += "-ablate" if args.ablate else ""
    write_text(args.out / f"{stem}.json", json.dumps(record, indent=2))
    write_text(args.out / f"{stem}.md", table + "\n")
    return 0


def _header(record: dict) -> str:
    line = (
        f"{record['config']}, batch {record['batch']}, {record['device']} "
        f"({record['device_name']}), {record['threads']} threads, torch {record['torch']}"
    )
    if "cpu" in record:
        line += f"; CPU {cpu_summary(record['cpu'])}"
    return line + (f"\n\n{record['note']}" if record.get("note") else "")


def _fmt(s: dict) -> str:
    return f"{s['median']:.4g} [{s['min']:.4g}, {s['max']:.4g}]"


def _memory_line(record: dict) -> str:
    peak = record.get("process_peak_memory_mb")
    return f"Process peak memory (all configurations): {peak:.0f} MB" if peak else ""


def render(record: dict) -> str:
    rows = record["results"]
    fast_amp = record["modes"]["fast"]["amp"]
    metrics = [k for k, v in rows["fast"].items() if isinstance(v, dict) and "median" in v]
    if "peak_memory_mb" in rows["fast"]:
        metrics.append("peak_memory_mb")
    ref = "reference" in rows
    lines = [
        _header(record),
        "",
        f"| measure | fast{'' if fast_amp == 'off' else f', {fast_amp}'} (median [min, max]) |"
        + (" reference | ratio |" if ref else ""),
        "|---|---|" + ("---|---|" if ref else ""),
    ]
    for m in metrics:
        f = rows["fast"][m]
        if not isinstance(f, dict):
            line = f"| {m} | {f:.0f} |" + (f" {rows['reference'][m]:.0f} | |" if ref else "")
            lines.append(line)
            continue
        line = f"| {m} | {_fmt(f)} |"
        if ref:
            r = rows["reference"][m]
            line += f" {_fmt(r)} | {r['median'] / f['median']:.2f}x |"
        lines.append(line)
    memory = _memory_line(record)
    return "\n".join(
        lines + ([memory] if memory else []) + ["", render_flops(record)] + render_kernels(record)
    )


def render_ablation(record: dict) -> str:
    """One row per cumulative step: its figures, the speed-up it added, the total speed-up."""
    rows = record["results"]
    names = list(rows)
    metrics = ["train_s_per_iter"] + [
        k for k, v in rows[names[0]].items() if k.startswith("generate") and isinstance(v, dict)
    ]
    head = " | ".join(f"{m} | step | total" for m in metrics)
    lines = [
        _header(record),
        "",
        "Each row adds one speed option to the row above (medians; step: speed-up over the row "
        "above; total: over the reference).",
        "",
        f"| configuration | {head} |",
        "|---|" + "---|---|---|" * len(metrics),
    ]
    base = rows[names[0]]
    for i, name in enumerate(names):
        cells = []
        for m in metrics:
            v = rows[name][m]["median"]
            prev = rows[names[max(i - 1, 0)]][m]["median"]
            cells.append(f"{v:.4g} | {prev / v:.2f}x | {base[m]['median'] / v:.2f}x")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    memory = _memory_line(record)
    return "\n".join(
        lines
        + (["", memory] if memory else [])
        + ["", render_flops(record)]
        + render_kernels(record)
    )


def render_flops(record: dict) -> str:
    """Per configuration: FLOPs per call, achieved and reference-equivalent throughput (TFLOP/s
    on a GPU, GFLOP/s on a CPU) and, where a peak is known, the fraction of it."""
    rows = record["results"]
    gpu = record["device"].startswith("cuda")
    unit, scale = ("TFLOP/s", 1.0) if gpu else ("GFLOP/s", 1000.0)
    with_peak = any("peak_tflops" in row for row in rows.values())
    batch = record["batch"]
    cols = [f"train GFLOP/iter | {unit} | ref-equiv. {unit}"]
    cols.append(f"generate GFLOP/call (batch {batch}) | {unit} | ref-equiv. {unit}")
    if with_peak:
        cols = [cols[0] + " | of peak", cols[1] + " | of peak"]
    lines = [
        "FLOPs (convolutions and matrix products, forward and backward, counted once per "
        f"configuration); {unit} = FLOPs / median time; ref-equiv. = the reference "
        "computation's FLOPs / this configuration's time.",
        "",
        f"| configuration | {' | '.join(cols)} |" + (" peak used |" if with_peak else ""),
        "|---|" + "---|" * sum(c.count("|") + 1 for c in cols) + ("---|" if with_peak else ""),
    ]
    for name, row in rows.items():
        cells = []
        for kind, per in (("train", "iter"), ("generate", "call")):
            cells.append(
                f"{row[f'{kind}_gflop_per_{per}']:.4g} | "
                f"{row[f'{kind}_tflops_achieved'] * scale:.4g} | "
                f"{row[f'{kind}_tflops_reference_equivalent'] * scale:.4g}"
            )
            if with_peak:
                fraction = row.get(f"{kind}_fraction_of_peak")
                cells[-1] += f" | {fraction:.2%}" if fraction is not None else " | "
        peak = f" {row['peak_source']} = {row['peak_tflops']:g} TFLOP/s |" if with_peak else ""
        if with_peak and "peak_tflops" not in row:
            peak = " unknown |"
        lines.append(f"| {name} | " + " | ".join(cells) + " |" + peak)
    return "\n".join(lines)


def render_kernels(record: dict) -> list[str]:
    """The main-kernel table (``--kernels``) as lines, preceded by a blank line; [] without it."""
    rows = {
        name: row["main_kernels"]
        for name, row in record["results"].items()
        if "main_kernels" in row
    }
    if not rows:
        return []
    gpu = record["device"].startswith("cuda")
    unit, scale = ("TFLOP/s", 1.0) if gpu else ("GFLOP/s", 1000.0)
    time_of = "kernel time" if gpu else "op time (CPU)"
    whole = "GPU busy time" if gpu else "wall time"
    iters = next(iter(next(iter(rows.values())).values()))["iters"]
    lines = [
        "",
        f"Main kernels (torch.profiler over {iters} calls per configuration; ms per call; "
        f"{unit} = the family's FLOPs / its {time_of}; share = of the {whole})"
        + (
            "; GPU busy = the summed time of all kernels and copies / the wall time under the "
            "profiler, which slows the host side."
            if gpu
            else "."
        ),
        "",
        f"| configuration | call | family | GFLOP | ms | {unit} | of peak | share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, calls in rows.items():
        for call, k in calls.items():
            for family, f in k["families"].items():
                if f["gflop"] == 0 and f["ms"] == 0:
                    continue
                fraction = f.get("fraction_of_peak")
                tflops = "" if f["tflops"] is None else f"{f['tflops'] * scale:.4g}"
                lines.append(
                    f"| {name} | {call} | {family} | {f['gflop']:.4g} | {f['ms']:.4g} | "
                    f"{tflops} | "
                    f"{f'{fraction:.1%}' if fraction is not None else ''} | "
                    f"{f['share_of_busy']:.0%} |"
                )
            busy = (
                f"GPU busy {k['busy_ms']:.4g} ms = {k['busy_fraction']:.0%} of"
                if "busy_ms" in k
                else "of"
            )
            lines.append(f"| {name} | {call} | ({busy} wall {k['wall_ms']:.4g} ms) | | | | | |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
