"""This harness's FID against torch-fidelity 0.4.0 and pytorch-fid 0.3.0: same images, same
Inception weights, each tool end to end.

    make crosscheck-venv                       # once: the other tools' environment (about 2.5 GB)
    python benchmarks/fid_crosscheck.py        # 500 generated + 500 real images, ~20 min on 2 cores
    python benchmarks/fid_crosscheck.py --images 100 --out outputs/fid-crosscheck --work outputs/w

Images: the first ``--images`` layouts of the ``shapes32`` protocol (the held-out shapes
split), drawn by the shipped shapes32 model with the protocol's codes, against the same
layouts' real images; 32x32 PNG files, which every tool resizes to 299.

- **ours**: the harness's ``fid`` metric (``run_metrics`` on an ``EvalContext``, as
  ``layout2im evaluate`` runs it, real statistics not cached) with the ``shapes32`` protocol's
  resize ``tf-bilinear`` and again with ``torch-bilinear``, on the pinned TorchScript
  ``default_1.pt``.
- **torch-fidelity** and **pytorch-fid**, in their own environment (``--crosscheck-python``;
  torchvision does not import beside this package's torch) by
  ``benchmarks/fid_crosscheck_worker.py``, reading the PNG folders. Neither can download its
  weights here: both get ``default_1.pt`` converted to torchvision's Inception3 parameter names
  (:func:`torchvision_state_dict`, by name), which each loads with ``strict=True``.

Compared: each FID with ours (torch-fidelity with ``tf-bilinear``, pytorch-fid with
``torch-bilinear``), the pool3 features image by image, each tool's Fréchet distance on our own
features (the distance computation alone), and pytorch-fid's network fed our pixel scaling
``(pixel - 128) / 128`` instead of its ``2 * pixel / 255 - 1`` (the scaling alone).

Writes ``OUT.md`` and ``OUT.json`` (``--out``, default
``benchmarks/results/fid-crosscheck``). ``--work DIR`` keeps the images, the converted weights
and every tool's features there; by default they go to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from layout2im.config import ConfigError, load_config
from layout2im.errors import Layout2ImError, quote, short_path
from layout2im.evaluation import weight_files
from layout2im.evaluation.context import EvalContext
from layout2im.evaluation.features import InceptionV3
from layout2im.evaluation.generation import generate_images, load_layouts
from layout2im.evaluation.options import EvalFiles, ScoringOptions
from layout2im.evaluation.protocols import get_protocol
from layout2im.evaluation.registry import get_metric
from layout2im.evaluation.runner import run_metrics
from layout2im.fsutil import atomic_write, portable_paths, write_text
from layout2im.pipeline import Layout2ImPipeline, default_model

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("fid_crosscheck_worker.py")
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "fid-crosscheck"
DEFAULT_PYTHON = ROOT / ".venv-crosscheck" / "bin" / "python"
PROTOCOL = "shapes32"
RESIZES = ("tf-bilinear", "torch-bilinear")
SIDES = ("generated", "real")


class CrosscheckError(Layout2ImError):
    """The cross-check cannot run (no cross-check environment, a failing worker, bad options)."""


# ----------------------------------------------------------------------------- weights

# default_1.pt names its parameters after the TF graph (``mixed_4.tower_1.conv_2.beta``);
# torch-fidelity, pytorch-fid and torchvision name the same layers ``Mixed_6b.branch7x7dbl_3``.
STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_A = {
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_B = {
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_C = {
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    **{f"tower_1.conv_{k}": f"branch7x7dbl_{k + 1}" for k in range(1, 5)},
    "tower_2.conv": "branch_pool",
}
_D = {
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    **{f"tower_1.conv_{k}": f"branch7x7x3_{k + 1}" for k in range(1, 4)},
}
_E = {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
BLOCKS = {
    "mixed": ("Mixed_5b", _A),
    "mixed_1": ("Mixed_5c", _A),
    "mixed_2": ("Mixed_5d", _A),
    "mixed_3": ("Mixed_6a", _B),
    "mixed_4": ("Mixed_6b", _C),
    "mixed_5": ("Mixed_6c", _C),
    "mixed_6": ("Mixed_6d", _C),
    "mixed_7": ("Mixed_6e", _C),
    "mixed_8": ("Mixed_7a", _D),
    "mixed_9": ("Mixed_7b", _E),
    "mixed_10": ("Mixed_7c", _E),
}
# per convolution: weight, then BatchNorm without scale (TF's batch_norm(scale=False))
PARTS = {
    "weight": "conv.weight",
    "beta": "bn.bias",
    "mean": "bn.running_mean",
    "var": "bn.running_var",
}
TORCHSCRIPT_PREFIX = "net.layers."
CONVERSION = (
    "every TorchScript parameter mapped by name to torchvision's Inception3 key; BatchNorm "
    "scales 1 (the TF graph has none), num_batches_tracked 0, the 1008-class fc layer 0 "
    "(default_1.pt has no head; pool3 features never reach it)"
)


def torchvision_name(name: str) -> str:
    """``net.layers.mixed_4.tower_1.conv_2.beta`` -> ``Mixed_6b.branch7x7dbl_3.bn.bias``."""
    if not name.startswith(TORCHSCRIPT_PREFIX):
        raise CrosscheckError(f"unexpected parameter {quote(name)} in the TorchScript network")
    layer, _, part = name[len(TORCHSCRIPT_PREFIX) :].rpartition(".")
    block, _, branch = layer.partition(".")
    try:
        if not branch:
            unit = STEM[block]
        else:
            torch_block, branches = BLOCKS[block]
            unit = f"{torch_block}.{branches[branch]}"
        return f"{unit}.{PARTS[part]}"
    except KeyError:
        raise CrosscheckError(f"no torchvision name for parameter {quote(name)}") from None


def torchvision_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The TorchScript FID network's weights as a state dict of torchvision's Inception3 (no
    auxiliary head), the key names torch-fidelity's and pytorch-fid's networks load.

    Every TorchScript parameter is mapped by name (:func:`torchvision_name`); the BatchNorm
    scales, which the TF graph does not have, are 1; ``num_batches_tracked`` is 0; the 1008-class
    ``fc`` layer, which ``default_1.pt`` does not hold and pool3 features never reach, is 0.
    Checked: every key of :class:`~layout2im.evaluation.features.InceptionV3` (torchvision's
    names) is set exactly once with its shape, and it loads with ``strict=True``."""
    net = InceptionV3(num_classes=1008)
    state = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    for key in state:
        if key.endswith(".bn.weight"):
            state[key] = torch.ones_like(state[key])
    mapped: set[str] = set()
    for name, value in module.named_parameters():
        key = torchvision_name(name)
        if key not in state or key in mapped or state[key].shape != value.shape:
            raise CrosscheckError(f"parameter {quote(name)} does not fit {quote(key)}")
        state[key] = value.detach().clone().float()
        mapped.add(key)
    expected = {k for k in state if not k.endswith((".bn.weight", "num_batches_tracked"))}
    expected -= {"fc.weight", "fc.bias"}
    if mapped != expected:
        raise CrosscheckError(f"torchvision keys left unset: {sorted(expected - mapped)[:5]}")
    net.load_state_dict(state, strict=True)
    return state


def load_torchscript(path: Path) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load, the file's format
        return torch.jit.load(str(path), map_location="cpu")


# ----------------------------------------------------------------------------- images


def shapes_images(count: int, batch_size: int) -> tuple[object, torch.Tensor, dict]:
    """The protocol's first ``count`` layouts (with their real images) and the shipped shapes32
    model's images of them, uint8 (count, 3, 32, 32); and what made them."""
    model_dir = default_model()
    pipe = Layout2ImPipeline.from_pretrained(model_dir, device="cpu")
    data = load_config(PROTOCOL).data
    protocol = get_protocol(PROTOCOL, data.name)
    layouts = load_layouts(data, pipe.image_size, protocol, count)
    fake = generate_images(
        pipe.generator,
        layouts.labels,
        layouts.boxes,
        1,
        protocol.seed,
        protocol.rescale,
        "cpu",
        batch_size,
        architecture=pipe.architecture,
    )[:, 0]
    made = {
        "protocol": PROTOCOL,
        "split": protocol.split,
        "layouts": len(layouts),
        "image_size": pipe.image_size,
        "model": str(model_dir),
        "model_sha256": weight_files.sha256_of(Path(model_dir) / "model.safetensors"),
        "seed": protocol.seed,
        "rescale": protocol.rescale,
    }
    return layouts, fake, made


def write_pngs(folder: Path, images: torch.Tensor) -> None:
    """uint8 (N, 3, H, W) -> ``folder/000000.png``, ..."""
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        with atomic_write(folder / f"{i:06d}.png") as tmp:
            Image.fromarray(image).save(tmp)


def read_pngs(folder: Path) -> torch.Tensor:
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------- ours


@dataclass
class RecordingContext(EvalContext):
    """An :class:`EvalContext` that also keeps the feature arrays the metrics compute, by the
    description they are computed under."""

    recorded: dict[str, np.ndarray] = field(default_factory=dict)

    def features(self, fn, images, desc):
        self.recorded[desc] = super().features(fn, images, desc)
        return self.recorded[desc]


def harness_fid(layouts, fake: torch.Tensor, resize: str, inception: Path, batch_size: int):
    """The harness's ``fid`` of ``fake`` (uint8 (L, 3, H, W)) against ``layouts``' real
    images under the shapes32 protocol with ``resize``; and the pool3 features of both."""
    data = load_config(PROTOCOL).data
    protocol = replace(get_protocol(PROTOCOL, data.name), resize=resize)
    files = EvalFiles(inception=str(inception), use_cache=False)
    options = ScoringOptions(protocol, ["fid"], len(layouts), "cpu", batch_size, files=files)
    ctx = RecordingContext(protocol, layouts, fake[:, None], data, options)
    result = run_metrics(ctx, [get_metric("fid")])["fid"]
    if result["status"] != "ok":
        raise CrosscheckError(f"the harness's fid was skipped: {result['reason']}")
    features = {"generated": ctx.recorded["FID features"], "real": ctx.recorded["real inception"]}
    return result["values"]["fid"], features


# ----------------------------------------------------------------------------- comparing


def feature_difference(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Max absolute difference of two (N, 2048) feature arrays, and relative to the largest
    feature (``max |a - b| / max |a|``)."""
    if ours.shape != theirs.shape:
        raise CrosscheckError(f"feature shapes differ: {ours.shape} vs {theirs.shape}")
    diff = float(np.abs(ours - theirs).max())
    return {"max_abs": diff, "relative": diff / float(np.abs(ours).max())}


def relative(value: float, reference: float) -> float:
    return (value - reference) / reference


def run_worker(python: Path, work: Path, request: dict) -> dict:
    text = json.dumps(request, indent=2) + "\n"
    write_text(work / "request.json", text)
    proc = subprocess.run(
        [str(python), str(WORKER), str(work)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise CrosscheckError(f"the cross-check worker failed (exit {proc.returncode}):\n{tail}")
    return json.loads((work / "worker.json").read_text())


def tool_features(work: Path, names: dict) -> dict[str, np.ndarray]:
    return {side: np.load(work / names[side]) for side in SIDES}


def compare(ours: dict, theirs: dict) -> dict:
    return {side: feature_difference(ours[side], theirs[side]) for side in SIDES}


def compared_row(
    tool: str, resize: str, fid: float, fids: dict, against: str, features: dict
) -> dict:
    """A table row for ``tool``'s FID, with its relative difference from the harness's FID
    with resize ``against`` (a key of ``fids``) and how far its features are from ours."""
    return {
        "tool": tool,
        "resize": resize,
        "fid": fid,
        "compared_with": against,
        "relative_difference": relative(fid, fids[against]),
        "features": features,
    }


def build_rows(fids: dict, ours: dict, worker: dict, work: Path, subset: int) -> list[dict]:
    tf, pf = worker["torch-fidelity"], worker["pytorch-fid"]
    ttur = np.load(work / pf["ttur_scaling_features"])
    return [
        {
            "tool": "layout2im harness (`fid`)",
            "resize": "tf-bilinear (TF1 ResizeBilinear), (x - 128) / 128",
            "fid": fids["tf-bilinear"],
            "compared_with": None,
        },
        compared_row(
            f"torch-fidelity {tf['version']} (`calculate_metrics`)",
            "its TF1 bilinear, (x - 128) / 128",
            tf["fid"],
            fids,
            "tf-bilinear",
            compare(ours["tf-bilinear"], tool_features(work, tf["features"])),
        ),
        compared_row(
            "layout2im harness (`fid`)",
            "torch-bilinear (F.interpolate), (x - 128) / 128",
            fids["torch-bilinear"],
            fids,
            "tf-bilinear",
            compare(ours["tf-bilinear"], ours["torch-bilinear"]),
        ),
        compared_row(
            f"pytorch-fid {pf['version']} (`calculate_fid_given_paths`)",
            "F.interpolate bilinear, 2 * x / 255 - 1",
            pf["fid"],
            fids,
            "torch-bilinear",
            compare(ours["torch-bilinear"], tool_features(work, pf["features"])),
        ),
        {
            "tool": f"pytorch-fid {pf['version']}'s network fed (x - 128) / 128",
            "resize": f"F.interpolate bilinear, (x - 128) / 128 (first {subset} generated images)",
            "fid": None,
            "compared_with": "torch-bilinear",
            "features": {
                "generated": feature_difference(ours["torch-bilinear"]["generated"][:subset], ttur)
            },
        },
    ]


def figures(rows: list[dict], frechet: dict) -> dict:
    """The figures the docs quote."""
    tf, torch_bilinear, pf, ttur = rows[1], rows[2], rows[3], rows[4]
    return {
        "torch_fidelity_relative": tf["relative_difference"],
        "torch_fidelity_features_max_abs": max(v["max_abs"] for v in tf["features"].values()),
        "pytorch_fid_relative": pf["relative_difference"],
        "pytorch_fid_features_max_abs": max(v["max_abs"] for v in pf["features"].values()),
        "pytorch_fid_ttur_scaling_features_max_abs": ttur["features"]["generated"]["max_abs"],
        "torch_bilinear_vs_tf_bilinear_relative": torch_bilinear["relative_difference"],
        "torch_fidelity_frechet_on_our_features_relative": frechet["torch-fidelity"]["relative"],
        "pytorch_fid_frechet_on_our_features_relative": frechet["pytorch-fid"]["relative"],
    }


# ----------------------------------------------------------------------------- report


def fmt(value: float | None, digits: int = 6) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def sci(value: float) -> str:
    return f"{value:.1e}"


def markdown(report: dict) -> str:
    n = report["images"]["layouts"]
    f = report["figures"]
    lines = [
        "# FID: this harness against torch-fidelity and pytorch-fid",
        "",
        f"{n} images of the shipped shapes32 model against the {n} real images of the same "
        f"layouts (the first {n} of protocol `shapes32`, held-out split; 32x32 PNG files, "
        "resized to 299 by each tool). Every tool uses the same Inception-v3 weights: "
        "`default_1.pt` (sha256 "
        f"`{report['weights']['sha256'][:16]}...`), given to torch-fidelity and pytorch-fid as "
        "a state dict with torchvision's names (converted by name; both load it with "
        "`strict=True`: no missing or unexpected keys).",
        "",
        "| tool | resize, pixel scaling | FID | relative difference | compared with | "
        "pool3 max abs difference (relative) |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        rel = row.get("relative_difference")
        feats = row.get("features")
        diff = (
            ", ".join(
                f"{side} {sci(v['max_abs'])} ({sci(v['relative'])})" for side, v in feats.items()
            )
            if feats
            else "(reference)"
        )
        lines.append(
            f"| {row['tool']} | {row['resize']} | {fmt(row['fid'], 4)} | "
            f"{'' if rel is None else sci(rel)} | {row['compared_with'] or ''} | {diff} |"
        )
    fr = report["frechet_on_same_features"]
    lines += [
        "",
        "Relative difference: (FID - FID compared with) / FID compared with; pool3 features "
        "image by image, max |ours - theirs| and that over max |ours|.",
        "",
        f"- `tf-bilinear` agrees with torch-fidelity to {sci(abs(f['torch_fidelity_relative']))} "
        f"relative (pool3 features to {sci(f['torch_fidelity_features_max_abs'])}). "
        "torch-fidelity's own Fréchet distance (eigenvalues of sigma1 sigma2) on the harness's "
        f"features differs from the harness's by {sci(fr['torch-fidelity']['relative'])}: "
        f"with {n} images for 2048 dimensions (singular covariances) the distance computation "
        "alone differs by as much.",
        f"- pytorch-fid's FID is {sci(f['pytorch_fid_relative'])} relative off `torch-bilinear` "
        f"(features up to {sci(f['pytorch_fid_features_max_abs'])}): its pixel scaling "
        "`2 * x / 255 - 1` instead of `(x - 128) / 128`. Its network fed `(x - 128) / 128` "
        f"gives the harness's `torch-bilinear` features to "
        f"{sci(f['pytorch_fid_ttur_scaling_features_max_abs'])}, so the scaling is the whole "
        "difference, up to round-off. pytorch-fid's Fréchet distance (`scipy.linalg.sqrtm`) "
        f"on the harness's features: {sci(fr['pytorch-fid']['relative'])} relative.",
        f"- `torch-bilinear` against `tf-bilinear` (the resize alone): "
        f"{sci(f['torch_bilinear_vs_tf_bilinear_relative'])} relative.",
        "",
        "```bash",
        "make crosscheck-venv   # torch-fidelity, pytorch-fid and torchvision in .venv-crosscheck",
        report["command"],
        "```",
        "",
        f"Ours: torch {report['settings']['torch']}, numpy {report['settings']['numpy']}; "
        f"theirs: torch {report['settings']['crosscheck']['torch']}, torchvision "
        f"{report['settings']['crosscheck']['torchvision']}, scipy "
        f"{report['settings']['crosscheck']['scipy']}; CPU, {report['settings']['threads']} "
        f"threads, {report['settings']['seconds']:.0f} s in all. Written {report['created']}.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=500, help="images per side (2..2000)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument(
        "--subset",
        type=int,
        default=50,
        help="generated images for pytorch-fid's network fed (x - 128) / 128",
    )
    p.add_argument(
        "--crosscheck-python",
        default=str(DEFAULT_PYTHON),
        help="python of the environment with torch-fidelity and pytorch-fid "
        "(`make crosscheck-venv`)",
    )
    p.add_argument("--inception", default=None, help="default_1.pt (default: the wheel's)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="writes OUT.md and OUT.json")
    p.add_argument("--work", default=None, help="keep images and features in this folder")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> Path:
    if not 2 <= args.images <= 2000:
        raise CrosscheckError(f"--images must be in 2..2000, got {quote(args.images)}")
    if not 1 <= args.subset <= args.images:
        raise CrosscheckError(f"--subset must be in 1..--images, got {quote(args.subset)}")
    if args.batch_size < 1:
        raise CrosscheckError(f"--batch-size must be positive, got {quote(args.batch_size)}")
    python = Path(args.crosscheck_python)
    if not python.is_file():
        raise CrosscheckError(
            f"no cross-check environment: {short_path(python)} does not exist; "
            "`make crosscheck-venv` creates it (torch-fidelity, pytorch-fid, torchvision)"
        )
    return python


def stage(text: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:6.0f} s] {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, argv: list[str], python: Path, work: Path) -> dict:
    start = time.perf_counter()
    inception, sha256 = weight_files.resolve(
        weight_files.INCEPTION_POOL3, args.inception, "--inception"
    )
    state = torchvision_state_dict(load_torchscript(inception))
    weights = work / "inception-torchvision.pth"
    with atomic_write(weights) as tmp:
        torch.save(state, tmp)
    stage(f"{len(state)} tensors converted to torchvision's names", start)

    layouts, fake, made = shapes_images(args.images, args.batch_size)
    folders = {"generated": work / "generated", "real": work / "real"}
    write_pngs(folders["generated"], fake)
    write_pngs(folders["real"], layouts.real)
    if not (torch.equal(read_pngs(folders["generated"]), fake)):
        raise CrosscheckError("the PNG files do not hold the generated pixels")
    stage(f"{len(fake)} generated and {len(layouts)} real images written", start)

    fids, ours, ours_files = {}, {}, {}
    for resize in RESIZES:
        fids[resize], ours[resize] = harness_fid(layouts, fake, resize, inception, args.batch_size)
        ours_files[resize] = {}
        for side in SIDES:
            path = work / "features" / f"ours-{resize}-{side}.npy"
            with atomic_write(path) as tmp:
                np.save(tmp, ours[resize][side])
            ours_files[resize][side] = str(path.relative_to(work))
        stage(f"harness, {resize}: FID {fids[resize]:.6f}", start)

    request = {
        **{side: str(folder) for side, folder in folders.items()},
        "weights": str(weights),
        "batch_size": args.batch_size,
        "subset": args.subset,
        "ours": ours_files,
    }
    worker = run_worker(python, work, request)
    stage(
        f"torch-fidelity FID {worker['torch-fidelity']['fid']:.6f}, "
        f"pytorch-fid FID {worker['pytorch-fid']['fid']:.6f}",
        start,
    )
    missing = worker["torch-fidelity"]["strict_load"]
    if missing["missing"] or missing["unexpected"]:
        raise CrosscheckError(f"torch-fidelity's strict load reported {missing}")

    rows = build_rows(fids, ours, worker, work, args.subset)
    frechet = {
        tool: {
            "fid": worker[tool]["fid_of_our_features"],
            "ours": fids[resize],
            "relative": relative(worker[tool]["fid_of_our_features"], fids[resize]),
            "features": resize,
        }
        for tool, resize in (("torch-fidelity", "tf-bilinear"), ("pytorch-fid", "torch-bilinear"))
    }
    command = "python benchmarks/fid_crosscheck.py" + (" " + shlex.join(argv) if argv else "")
    return {
        "format": "layout2im-fid-crosscheck",
        "version": 1,
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "images": made,
        "weights": {
            "file": str(inception),
            "sha256": sha256,
            "conversion": CONVERSION,
            "tensors": len(state),
            "strict_load": {
                "torch-fidelity": missing,
                "pytorch-fid": "its fid_inception_v3 loads the state dict with strict=True",
            },
        },
        "rows": rows,
        "frechet_on_same_features": frechet,
        "figures": figures(rows, frechet),
        "settings": {
            "device": "cpu",
            "batch_size": args.batch_size,
            "subset": args.subset,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "crosscheck": worker["versions"],
            "seconds": round(time.perf_counter() - start, 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        python = check_args(args)
        if args.work:
            work = Path(args.work)
            work.mkdir(parents=True, exist_ok=True)
            report = run(args, argv, python, work)
        else:
            with tempfile.TemporaryDirectory(prefix="fid-crosscheck-") as tmp:
                report = run(args, argv, python, Path(tmp))
        report = portable_paths(report)
        out = Path(args.out)
        write_text(out.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
        write_text(out.with_suffix(".md"), markdown(report))
    except (Layout2ImError, ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
