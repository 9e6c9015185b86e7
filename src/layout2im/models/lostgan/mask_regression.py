"""Mask regression: a soft 16 x 16 shape for every object, pasted into its box.

The authors' ``MaskRegressNetv2`` (``model/mask_regression.py``): a spectral-normalised
linear layer turns each object's latent vector (code + label embedding) into a 4 x 4 map of
``channels`` (256) features; three spectral-normalised 3 x 3 convolutions, each followed by an
affine-free instance norm and a ReLU, run at 4 x 4, 8 x 8 and 16 x 16, with bilinear upsampling
in between (``F.interpolate(mode="bilinear")`` without ``align_corners`` in the original:
False); a 1 x 1 convolution and a sigmoid give the mask, which :func:`.box_maps.paste_masks`
places into the object's box on a ``map_size`` x ``map_size`` map (64). Spectral norms are
classic with the default eps (1e-12). Objects are independent of each other here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spectral_norm import spectral_norm
from .box_maps import paste_masks

MASK_SIZE = 16
START_SIZE = 4


class MaskRegression(nn.Module):
    """Per-object masks from latent vectors of ``latent_dim``, pasted into the boxes."""

    def __init__(self, latent_dim: int, channels: int = 256, map_size: int = 64):
        super().__init__()
        self.channels = channels
        self.map_size = map_size
        self.fc = spectral_norm(nn.Linear(latent_dim, channels * START_SIZE**2), "classic")
        self.convs = nn.ModuleList(
            spectral_norm(nn.Conv2d(channels, channels, 3, 1, 1), "classic") for _ in range(3)
        )
        self.norm = nn.InstanceNorm2d(channels)  # affine-free, no running statistics
        self.to_mask = spectral_norm(nn.Conv2d(channels, 1, 1), "classic")

    def shapes(self, latents: torch.Tensor) -> torch.Tensor:
        """latents: (B, O, latent_dim). Returns each object's mask (B, O, 16, 16) in (0, 1)."""
        batch, objects = latents.shape[:2]
        x = self.fc(latents.reshape(batch * objects, -1))
        x = x.view(batch * objects, self.channels, START_SIZE, START_SIZE)
        for i, conv in enumerate(self.convs):
            if i > 0:
                size = START_SIZE * 2**i
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            x = F.relu(self.norm(conv(x)))
        masks = torch.sigmoid(self.to_mask(x))
        return masks.view(batch, objects, MASK_SIZE, MASK_SIZE)

    def forward(self, latents: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """latents: (B, O, latent_dim); boxes: (B, O, 4) normalised ``[x0, y0, w, h]``.
        Returns the box-mask map (B, O, map_size, map_size) float32."""
        return paste_masks(self.shapes(latents), boxes, self.map_size)
