"""Small ResNets trained on a dataset's real images: the evaluation networks a dataset brings.

Two kinds, one architecture (:class:`SmallResNet`: a 3x3 stem, then one residual basic block per
stage, each stage halving the resolution, global average pooling -> ``feature_dim`` features,
a linear head):

- ``objects``: an **object classifier**. Input: a box cropped from the image with the
  generator's own bilinear crop (``crop_boxes``, ``align_corners=True``) and resized to
  ``input_size``; output: the category. The paper's object classification accuracy runs it on
  the same boxes cropped from generated images (the paper used a ResNet-101 on 32x32 crops;
  this one is small enough to train on a CPU in minutes).
- ``scenes``: a **scene feature extractor**. Input: the whole image; trained to predict which
  categories are present and in which cell of a ``grid`` x ``grid`` partition each object's
  box centre lies (multi-label, binary cross-entropy). Its pooled features are the embedding of
  ``fid-shapes`` and ``diversity-shapes``.

Saved as ``NAME.safetensors`` (weights and BatchNorm statistics) + ``NAME.json`` (architecture,
vocabulary, the data it was trained on, how, and its held-out accuracy); ``load_network`` rebuilds
it with no other information. Inputs are float images ImageNet-normalised, as dataset items.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from ..config import Config
from ..data import build_dataset
from ..data.collate import ResumableSampler, batch_layout, collate_layouts
from ..devices import parse_device
from ..errors import Layout2ImError, quote, short, short_path
from ..fsutil import atomic_write, portable_paths, write_text
from ..layout import LayoutBatch
from ..models.layers import crop_boxes
from ..readers import check_path, read_json
from ..state_dicts import check_state

log = logging.getLogger(__name__)

FORMAT = "layout2im-eval-network"

KINDS = ("objects", "scenes")


class NetworkLoadError(Layout2ImError, RuntimeError):
    """An evaluation network file is missing or unusable."""


@dataclass
class NetworkConfig:
    kind: str = "objects"
    num_classes: int = 10
    input_size: int = 32
    stem_channels: int = 24
    widths: list[int] = field(default_factory=lambda: [32, 64, 96])
    grid: int = 4  # scenes only: box-centre cells per side

    @property
    def num_outputs(self) -> int:
        if self.kind == "objects":
            return self.num_classes
        return self.num_classes * (1 + self.grid * self.grid)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """(N, 3, S, S) ImageNet-normalised, S = ``config.input_size`` -> logits (N, outputs)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        self.stem = nn.Sequential(
            nn.Conv2d(3, config.stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(config.stem_channels),
            nn.ReLU(),
        )
        blocks, cin = [], config.stem_channels
        for width in config.widths:
            blocks.append(BasicBlock(cin, width, stride=2))
            cin = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, config.num_outputs)

    @property
    def feature_dim(self) -> int:
        return self.config.widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, feature_dim): global average pool of the last stage."""
        size = self.config.input_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return self.blocks(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ----------------------------------------------------------------------------- inputs


def object_crops(images: torch.Tensor, layout: LayoutBatch, size: int) -> torch.Tensor:
    """Crops (N, 3, size, size) of every real object of ``layout`` (row-major order) from
    ``images`` (B, 3, H, W), with the generator's bilinear crop."""
    objects = layout.flat()
    return crop_boxes(images, objects.boxes, objects.obj_to_img, size)


def scene_targets(layout: LayoutBatch, num_classes: int, grid: int) -> torch.Tensor:
    """Multi-label targets (B, C * (1 + grid^2)): category present, then for each category the
    grid cells that hold a box centre of that category."""
    B = layout.batch_size
    presence = torch.zeros(B, num_classes)
    cells = torch.zeros(B, num_classes, grid * grid)
    objects = layout.flat()
    centres = (objects.boxes[:, :2] + objects.boxes[:, 2:]) / 2
    ij = (centres * grid).long().clamp(0, grid - 1)
    cell = ij[:, 1] * grid + ij[:, 0]
    img, lab = objects.obj_to_img.cpu(), objects.labels.cpu()
    presence[img, lab] = 1.0
    cells[img, lab, cell.cpu()] = 1.0
    return torch.cat([presence, cells.flatten(1)], dim=1)


# ----------------------------------------------------------------------------- files


def network_files(path: str | Path) -> tuple[Path, Path]:
    """The weights and metadata files (``.safetensors``, ``.json``) of the network ``path``
    names: ``path`` may end in either suffix or none."""
    base = Path(path)
    if base.suffix in (".safetensors", ".json"):
        base = base.with_suffix("")
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def saved_network_files(path: str | Path) -> tuple[Path, Path]:
    """The files of a saved network to read (:func:`network_files`); a path to some other
    existing file (a PyTorch ``.pt``) raises :class:`NetworkLoadError` saying what a network
    is."""
    given = Path(path)
    if given.suffix not in ("", ".safetensors", ".json") and given.is_file():
        raise NetworkLoadError(
            f"{short_path(path)} is not an evaluation network: one is a pair of files "
            "NAME.safetensors and NAME.json (what `layout2im evaluate train-classifier` "
            "writes); give NAME or either file"
        )
    return network_files(path)


def save_network(net: SmallResNet, path: str | Path, meta: dict) -> tuple[Path, Path]:
    """Write ``path.safetensors`` and ``path.json`` (atomically; paths in ``meta`` as
    :func:`layout2im.fsutil.portable_paths` records them). ``path`` may end in either suffix or
    none."""
    weights, config = network_files(path)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    info = portable_paths({"format": FORMAT, "network": asdict(net.config), **meta})
    with atomic_write(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    write_text(config, json.dumps(info, indent=2) + "\n")
    return weights, config


MAX_NETWORK_JSON_BYTES = 1024 * 1024
"""An evaluation network's JSON metadata is at most this large."""


def load_network(path: str | Path) -> tuple[SmallResNet, dict]:
    """Load a network saved by :func:`save_network` (``path`` with or without suffix); returns
    it in eval mode and its JSON metadata."""
    weights, config = saved_network_files(path)
    base = weights.with_suffix("")
    for f in (weights, config):
        if not f.exists():  # said with where the pair of files is looked for
            raise NetworkLoadError(
                f"evaluation network file not found: {short_path(f)} (a network given as "
                f"{short_path(path)} is read from {weights.name} and {config.name} "
                "next to each other)"
            )
        check_path(f, "evaluation network file", "file", NetworkLoadError)  # FIFOs, folders
    try:
        info = read_json(config, MAX_NETWORK_JSON_BYTES, "evaluation network", NetworkLoadError)
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            found = info.get("format") if isinstance(info, dict) else info
            raise ValueError(f"format is {quote(found)}, expected {FORMAT!r}")
        net = SmallResNet(NetworkConfig(**info["network"]))
        state = load_file(str(weights))
    except (ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise NetworkLoadError(
            f"{short_path(base)}: not a usable evaluation network: {short(str(exc), 200)}"
        ) from None
    check_state(
        state, net.state_dict(), f"{short_path(weights)} cannot be loaded", NetworkLoadError
    )
    net.load_state_dict(state)
    return net.eval(), info


# ----------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    network: SmallResNet
    meta: dict


def train_network(
    config: Config,
    kind: str = "objects",
    steps: int = 1500,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    input_size: int = 32,
    widths: Sequence[int] | None = None,
    stem_channels: int | None = None,
    val_images: int = 500,
    device: str | torch.device = "cpu",
    progress: bool = True,
    command: str = "",
) -> TrainResult:
    """Train a ``kind`` network on the real training images of ``config.data`` at
    ``config.model.image_size``; report accuracy on ``val_images`` held-out images.

    Adam with a cosine learning-rate decay; light augmentation for objects (each box edge jittered
    by up to 5% of the box side). Accuracy: top-1 per object (``objects``); for ``scenes``, the
    fraction of images whose predicted present-category set is exactly right, and the fraction
    of right presence bits. ``widths`` and ``stem_channels`` size the network (None: the
    defaults of :class:`NetworkConfig`).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    device = parse_device(device, "device")
    size = config.model.image_size
    dataset, vocab = build_dataset(config.data, size, split="train")
    torch.manual_seed(seed)
    net_cfg = NetworkConfig(kind=kind, num_classes=len(vocab), input_size=input_size)
    if widths is not None:
        net_cfg.widths = list(widths)
    if stem_channels is not None:
        net_cfg.stem_channels = stem_channels
    net = SmallResNet(net_cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ResumableSampler(len(dataset), seed=seed),
        collate_fn=collate_layouts,
        num_workers=config.data.num_workers,
        drop_last=True,
    )
    g = torch.Generator().manual_seed(seed + 1)
    start = time.perf_counter()
    bar = tqdm(total=steps, disable=not progress, unit="it", desc=f"train {kind} network")
    data_iter = iter(loader)
    net.train()
    loss_value = float("nan")
    for _ in range(steps):
        batch = next(data_iter)
        images = batch["images"].to(device)
        layout = batch_layout(batch).to(device)
        if kind == "objects":
            jittered = _jitter(layout, g)
            x = object_crops(images, jittered, input_size)
            loss = F.cross_entropy(net(x), jittered.flat().labels)
        else:
            targets = scene_targets(layout, len(vocab), net_cfg.grid).to(device)
            loss = scene_loss(net(images), targets, len(vocab))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_value = loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    net.eval()
    accuracy = evaluate_network(net, config, val_images, device)
    meta = {
        "dataset": config.data.name,
        "data": config.data.model_dump(),
        "image_size": size,
        "vocab": vocab.names,
        "training": {
            "kind": kind,
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "final_loss": loss_value,
            "seconds": round(seconds, 1),
            "device": str(device),
            "command": command,
        },
        "val": {"split": "val", "images": val_images, **accuracy},
    }
    log.info("trained %s network in %.0f s: %s", kind, seconds, accuracy)
    return TrainResult(net.cpu(), meta)


def scene_loss(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Binary cross-entropy of the presence bits plus that of the (sparse) cell bits, each
    averaged on its own so the few presence bits are not drowned by the many cell bits."""
    presence = F.binary_cross_entropy_with_logits(logits[:, :num_classes], targets[:, :num_classes])
    cells = F.binary_cross_entropy_with_logits(logits[:, num_classes:], targets[:, num_classes:])
    return presence + cells


def _jitter(layout: LayoutBatch, g: torch.Generator, amount: float = 0.05) -> LayoutBatch:
    boxes = layout.boxes
    wh = (boxes[..., 2:] - boxes[..., :2]).repeat(1, 1, 2)
    noise = (torch.rand(boxes.shape, generator=g) * 2 - 1).to(boxes.device) * amount * wh
    new = (boxes + noise).clamp(0, 1)
    keep = (new[..., 2:] - new[..., :2] > 1e-3).all(dim=-1, keepdim=True)
    new = torch.where(keep & layout.mask[..., None], new, boxes)
    return LayoutBatch(layout.labels, new, layout.mask)


@torch.no_grad()
def evaluate_network(
    net: SmallResNet, config: Config, num_images: int, device: str | torch.device = "cpu"
) -> dict:
    """Accuracy of ``net`` on the first ``num_images`` held-out (``val``) real images."""
    dataset, vocab = build_dataset(config.data, config.model.image_size, split="val")
    n = min(num_images, len(dataset))
    correct = total = bits = bits_right = 0
    for start in range(0, n, 64):
        batch = collate_layouts([dataset[i] for i in range(start, min(n, start + 64))])
        images, layout = batch["images"].to(device), batch_layout(batch).to(device)
        if net.config.kind == "objects":
            pred = net(object_crops(images, layout, net.config.input_size)).argmax(1)
            correct += int((pred == layout.flat().labels).sum())
            total += int(pred.numel())
        else:
            c = len(vocab)
            pred = net(images)[:, :c] > 0
            target = scene_targets(layout, c, net.config.grid)[:, :c].bool().to(device)
            correct += int((pred == target).all(dim=1).sum())
            bits_right += int((pred == target).sum())
            bits += pred.numel()
            total += images.shape[0]
    if net.config.kind == "objects":
        return {"object_accuracy": correct / max(1, total), "count": total}
    return {
        "presence_exact_match": correct / max(1, total),
        "presence_bit_accuracy": bits_right / max(1, bits),
        "count": total,
    }
