"""Object latent estimator: a real object crop -> the posterior q(z | crop, category).

Conv 7x7 (stride 1) then stride-2 4x4 convolutions, each followed by class-conditional BatchNorm
and ReLU, global average pooling, and two linear heads for ``mu`` and ``logvar``. With the
paper's widths 64-128-256-512-1024 a 32x32 crop ends at 2x2 before pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import downsampling_convs


class ObjectLatentEstimator(nn.Module):
    def __init__(self, channels: list[int], z_dim: int, num_classes: int):
        super().__init__()
        # 7x7 stride 1, then 4x4 stride 2 (32 -> 2 for the paper's crops)
        self.convs, self.norms = downsampling_convs(3, channels, 7, 3, num_classes)
        in_ch = channels[-1]
        self.fc_mu = nn.Linear(in_ch, z_dim)
        self.fc_logvar = nn.Linear(in_ch, z_dim)

    def forward(
        self, crops: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """crops: (N, 3, S, S) ImageNet-normalised; labels: (N,); valid: BoolTensor (N,) or
        None, the real rows (padding enters no BatchNorm statistic). Returns mu, logvar
        (N, z_dim)."""
        x = crops
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = torch.relu(norm(conv(x), labels, valid))
        x = x.mean(dim=(2, 3))
        return self.fc_mu(x), self.fc_logvar(x)


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None = None,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """z = mu + eps * exp(logvar / 2), eps ~ N(0, I) drawn in float32 on the CPU from
    ``generator`` (so a seed gives the same codes on every device and in every precision),
    or given (``eps``, the same shape as mu). mu, logvar: (N, z_dim)."""
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, dtype=torch.float32)
    return mu + eps.to(device=mu.device, dtype=mu.dtype) * torch.exp(0.5 * logvar)
