"""The networks a dataset brings (:mod:`.classifier`) as an evaluation uses them.

Which file: the one given (``--classifier``, ``--scene-features``), else the one shipped in
``layout2im/evaluation/weights/<dataset>-<kind>.safetensors``; a metric whose network is
absent, unreadable, of the other kind or trained on another vocabulary is skipped with the
reason. Each network is loaded once per evaluation and recorded in the results' ``networks``
(path, sha256, what it was trained on, its held-out accuracy).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import short_path
from ..layout import LayoutBatch
from ..visualize import normalize
from . import weight_files
from .classifier import NetworkLoadError, SmallResNet, load_network, network_files, object_crops
from .features import extract
from .registry import MetricSkipped

if TYPE_CHECKING:
    from .context import EvalContext


def bundled_network(data_name: str, kind: str) -> Path | None:
    """The network shipped in ``layout2im/evaluation/weights`` for a dataset, if any."""
    folder = resources.files("layout2im.evaluation") / "weights"
    candidate = folder / f"{data_name}-{kind}.safetensors"
    if candidate.is_file():
        return Path(str(candidate))
    return None


def _dataset_network(
    ctx: EvalContext, role: str, kind: str, given: str | None, option: str
) -> tuple[SmallResNet, str]:
    def load() -> tuple[SmallResNet, str]:
        if given is not None:
            path = Path(given)
        else:
            path = bundled_network(ctx.data.name, kind)
            if path is None:
                raise MetricSkipped(
                    f"no {kind} network for data.name={ctx.data.name!r}: train one with "
                    f"`layout2im evaluate train-classifier --config CONFIG --kind {kind} "
                    f"--out PATH` and pass {option} PATH"
                )
        try:
            net, info = load_network(path)
        except NetworkLoadError as exc:
            raise MetricSkipped(str(exc)) from None
        if net.config.kind != kind:
            raise MetricSkipped(
                f"{short_path(path)} is a {net.config.kind!r} network, not {kind!r}"
            )
        if info.get("vocab") != ctx.vocab.names:
            raise MetricSkipped(
                f"{short_path(path)} was trained on another vocabulary than this data's"
            )
        weights, _ = network_files(path)
        sha = weight_files.sha256_of(weights)
        ctx.networks[role] = {
            "path": str(weights),
            "sha256": sha,
            "trained_on": {
                "dataset": info.get("dataset"),
                "image_size": info.get("image_size"),
            },
            "input_size": net.config.input_size,
            "val": info.get("val"),
        }
        return net.to(ctx.device), sha

    return ctx.network(role, load)


def object_classifier(ctx: EvalContext) -> SmallResNet:
    """The dataset's object classifier (kind ``objects``)."""
    net, _ = _dataset_network(
        ctx, "object_classifier", "objects", ctx.files.object_classifier, "--classifier"
    )
    return net


def scene_network(ctx: EvalContext) -> tuple[SmallResNet, str]:
    """The dataset's scene feature network (kind ``scenes``) and the sha256 of its weights."""
    return _dataset_network(
        ctx, "scene_features", "scenes", ctx.files.scene_features, "--scene-features"
    )


def network_features(ctx: EvalContext, net: SmallResNet) -> Callable[..., np.ndarray]:
    """A feature function (uint8 (N, 3, H, W) batches -> float64 (N, D)) for a dataset
    network, in the form :meth:`EvalContext.features` and ``real_stats`` call."""

    def call(x: torch.Tensor) -> torch.Tensor:
        return net.features(normalize(x.float() / 255.0))

    def fn(images, batch_size=64, progress=None):
        return extract(call, images, batch_size, ctx.device, progress)

    return fn


@torch.no_grad()
def classify_objects(
    ctx: EvalContext,
    net: SmallResNet,
    images: torch.Tensor,
    layouts: tuple[list[torch.Tensor], list[torch.Tensor]],
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true categories of every object of ``layouts`` (labels (O_i,) and boxes
    (O_i, 4) xyxy in [0, 1], one per image of uint8 ``images`` (N, 3, H, W)), cropped at the
    classifier's input size."""
    labels, boxes = layouts
    preds, trues = [], []
    with ctx.bar(images.shape[0], "classify objects") as bar:
        for start in range(0, images.shape[0], ctx.batch_size):
            stop = min(images.shape[0], start + ctx.batch_size)
            layout = LayoutBatch.from_lists(labels[start:stop], boxes[start:stop])
            layout = layout.to(ctx.device)
            x = normalize(images[start:stop].to(ctx.device).float() / 255.0)
            crops = object_crops(x, layout, net.config.input_size)
            preds.append(net(crops).argmax(1).cpu().numpy())
            trues.append(layout.flat().labels.cpu().numpy())
            bar.update(stop - start)
    return np.concatenate(preds), np.concatenate(trues)
