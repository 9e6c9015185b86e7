"""Object composer: category embedding and latent code, broadcast into each object's box.

For object i the 128-d vector ``[embed(label_i), z_i]`` fills its box mask, giving a per-object
map (N, embedding_dim + z_dim, H, W) that is constant inside the box and zero outside.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import box_masks


class ObjectComposer(nn.Module):
    def __init__(self, num_classes: int, embedding_dim: int, image_size: int):
        super().__init__()
        self.embedding = nn.Embedding(num_classes, embedding_dim)
        self.image_size = image_size

    def object_vectors(self, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """labels: (N,); z: (N, z_dim). Returns (N, embedding_dim + z_dim)."""
        return torch.cat([self.embedding(labels), z], dim=1)

    def forward(self, labels: torch.Tensor, z: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """labels: (N,); z: (N, z_dim); boxes: (N, 4) normalised xyxy.

        Returns the per-object maps (N, embedding_dim + z_dim, image_size, image_size).
        """
        vectors = self.object_vectors(labels, z)
        masks = box_masks(boxes, self.image_size, self.image_size).to(vectors.dtype)
        return vectors[:, :, None, None] * masks
