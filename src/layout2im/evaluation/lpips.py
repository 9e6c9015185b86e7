"""LPIPS (Zhang et al. 2018), version 0.1 with the AlexNet backbone, and distance summaries.

The network, written out (no torchvision): inputs in [-1, 1] are shifted and scaled
(``ScalingLayer``: shift (-.030, -.088, -.188), scale (.458, .448, .450)); AlexNet's
``features`` give the five ReLU outputs relu1..relu5; each is unit-normalised along channels
(``x / (||x|| + 1e-10)``); the squared difference of the two images' maps goes through a
non-negative 1x1 convolution (the "lin" layers), is averaged over space, and the five layers
are summed. Weights: torchvision's ImageNet AlexNet (``alexnet-owt-7be5be79.pth``) and the
official v0.1 linear layers (``alex.pth`` from the lpips 0.1.4 wheel). Both are verified.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from . import weight_files

if TYPE_CHECKING:
    from .context import EvalContext

# AlexNet ``features`` indices: conv layers and where each LPIPS slice ends (after a ReLU).
_ALEX_CONVS = {0: (3, 64, 11, 4, 2), 3: (64, 192, 5, 1, 2), 6: (192, 384, 3, 1, 1)}
_ALEX_CONVS.update({8: (384, 256, 3, 1, 1), 10: (256, 256, 3, 1, 1)})
_SLICE_ENDS = (2, 5, 8, 10, 12)
CHANNELS = (64, 192, 384, 256, 256)


def alexnet_features() -> nn.Sequential:
    """torchvision's ``alexnet().features`` (same indices, so its state dict loads)."""
    layers: list[nn.Module] = []
    for i in range(12):
        if i in _ALEX_CONVS:
            cin, cout, k, s, p = _ALEX_CONVS[i]
            layers.append(nn.Conv2d(cin, cout, k, stride=s, padding=p))
        elif i in (2, 5):
            layers.append(nn.MaxPool2d(3, stride=2))
        else:
            layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def normalize_channels(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """forward(a, b): images (N, 3, H, W) in [-1, 1] -> distances (N,)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.features = alexnet_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        outs, start = [], 0
        for end in _SLICE_ENDS:
            for layer in self.features[start:end]:
                x = layer(x)
            outs.append(x)
            start = end
        return outs

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = a.new_zeros(a.shape[0])
        for fa, fb, lin in zip(self.layer_outputs(a), self.layer_outputs(b), self.lins):
            diff = (normalize_channels(fa) - normalize_channels(fb)) ** 2
            total = total + lin(diff).mean(dim=(1, 2, 3))
        return total

    def load_weights(self, alexnet: dict, lin: dict) -> None:
        """``alexnet``: torchvision AlexNet state dict (``features.*`` used); ``lin``: the lpips
        v0.1 file (``lin{k}.model.1.weight``)."""
        feats = {k[len("features.") :]: v for k, v in alexnet.items() if k.startswith("features.")}
        self.features.load_state_dict(feats, strict=True)
        for k, conv in enumerate(self.lins):
            conv.weight.data.copy_(lin[f"lin{k}.model.1.weight"])

    @classmethod
    def from_files(cls, folder: str | Path | None = None) -> tuple[LPIPS, dict[str, str]]:
        """Load from ``folder`` (holding ``alexnet-owt-7be5be79.pth`` and ``alex.pth``), or
        find the files (lpips wheel, ``$TORCH_HOME/hub/checkpoints``). Returns the network in
        eval mode and the sha256 of each file."""
        alex_path, alex_sha = weight_files.resolve(weight_files.ALEXNET, folder, "--lpips-weights")
        lin_path, lin_sha = weight_files.resolve(
            weight_files.LPIPS_LIN_ALEX, folder, "--lpips-weights"
        )
        net = cls()
        net.load_weights(
            torch.load(str(alex_path), map_location="cpu", weights_only=True),
            torch.load(str(lin_path), map_location="cpu", weights_only=True),
        )
        return net.eval(), {str(alex_path): alex_sha, str(lin_path): lin_sha}


def lpips_network(ctx: EvalContext) -> LPIPS:
    """The LPIPS network of this evaluation (``--lpips-weights`` or the found files) on its
    device, loaded once and recorded in the results' ``networks``."""

    def load() -> LPIPS:
        net, hashes = LPIPS.from_files(ctx.files.lpips_weights)
        ctx.networks["lpips"] = [{"path": p, "sha256": h} for p, h in hashes.items()]
        return net.to(ctx.device)

    return ctx.network("lpips", load)


def uint8_to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float in [-1, 1] (``pixel / 127.5 - 1``)."""
    return images.float() / 127.5 - 1.0


def summarize(distances: np.ndarray, prefix: str) -> dict[str, float]:
    """Mean and standard deviation (ddof 0) of per-layout distances."""
    d = np.asarray(distances, dtype=np.float64)
    return {f"{prefix}_mean": float(d.mean()), f"{prefix}_std": float(d.std())}
