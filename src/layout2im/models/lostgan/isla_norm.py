"""ISLA-Norm: instance-sensitive, layout-aware normalisation (LostGAN, Sun and Wu).

Each feature map is batch-normalised without an affine transform; its scale and shift then vary
over the image: every object gets a per-channel ``gamma`` and ``beta`` from two
spectral-normalised linear layers on its latent vector (code + label embedding), and each pixel
takes the mask-weighted average of the objects' values::

    gamma(p) = sum_o m_o(p) gamma_o / (sum_o m_o(p) + 1e-6) + 1
    beta(p)  = sum_o m_o(p) beta_o  / (sum_o m_o(p) + 1e-6)
    out      = gamma * BN(x) + beta

This is the authors' ``SpatialAdaptiveSynBatchNorm2d`` (``model/norm_module.py``). Their
synchronised BatchNorm computes what ``nn.BatchNorm2d`` computes on one device (eps 1e-5,
momentum 0.1, running statistics in eval mode). The masks are resized to the feature map with
``F.interpolate(mode="bilinear", align_corners=False)`` when their size differs: the original
calls ``interpolate`` without ``align_corners``, which meant False since PyTorch 0.4. An
object whose mask is zero everywhere (a padding object) changes nothing. The two linear layers
use the classic spectral norm with the default eps (1e-12).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spectral_norm import spectral_norm

MASK_EPS = 1e-6


class ISLANorm(nn.Module):
    """``num_features`` channels, conditioned on per-object vectors of ``latent_dim``."""

    def __init__(self, num_features: int, latent_dim: int):
        super().__init__()
        self.batch_norm = nn.BatchNorm2d(num_features, affine=False)
        self.gamma = spectral_norm(nn.Linear(latent_dim, num_features), "classic")
        self.beta = spectral_norm(nn.Linear(latent_dim, num_features), "classic")

    def forward(self, x: torch.Tensor, latents: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) features; latents: (B, O, latent_dim) per-object vectors; masks:
        (B, O, h, w) object masks in [0, 1] (resized to H x W if h, w differ).
        Returns (B, C, H, W)."""
        normed = self.batch_norm(x)
        if masks.shape[-2:] != x.shape[-2:]:
            masks = F.interpolate(masks, size=x.shape[-2:], mode="bilinear", align_corners=False)
        masks = masks.to(normed.dtype)
        total = masks.sum(dim=1, keepdim=True) + MASK_EPS  # (B, 1, H, W)
        gamma = self.gamma(latents).to(normed.dtype)  # (B, O, C)
        beta = self.beta(latents).to(normed.dtype)
        scale = torch.einsum("bohw,boc->bchw", masks, gamma) / total + 1
        shift = torch.einsum("bohw,boc->bchw", masks, beta) / total
        return scale * normed + shift
