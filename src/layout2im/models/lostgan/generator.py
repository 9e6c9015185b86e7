"""The LostGAN-v2 generator (Sun and Wu, "Learning Layout and Style Reconfigurable GANs for
Controllable Image Synthesis", TPAMI 2021), read top to bottom as the authors'
``ResnetGenerator128`` / ``ResnetGenerator256`` (``model/resnet_generator_v2.py``) compute it.

1. Each object's latent vector is its code ``z_o`` (128) joined with its label's embedding
   (180): 308 numbers that drive everything object-specific below.
2. Mask regression (:mod:`.mask_regression`) gives each object a soft shape pasted into its
   box: the box masks, 64 x 64. Binary rectangles of the boxes (:func:`.box_maps.rectangle_masks`,
   half the image size) bound the semantic masks below.
3. The image code ``z_im`` (128) goes through a spectral-normalised linear layer to a
   4 x 4 x 16ch map.
4. Five (128) or six (256) :class:`.blocks.ISLAResBlock` double the resolution; their
   ISLA-Norms are conditioned on the objects' vectors through the current object masks: the box
   masks for the first block, then at each later stage ``i`` a blend of the box masks and the
   semantic masks that the previous block's mask head predicts for each object's label::

       semantic = sigmoid(logits[label]) * rectangle      (nearest-resized to the stage)
       a        = sigmoid(blend_i[label])                 (one learned weight per class)
       masks    = box_masks * (1 - a) + semantic * a      (box masks bilinearly resized)

   The 128 generator's fourth head uses pyramid pooling.
5. BatchNorm, ReLU, a spectral-normalised 3 x 3 convolution (eps 1e-4) and tanh give the RGB
   image in [-1, 1].

Resizing follows the original under PyTorch 1.0: the box masks with
``F.interpolate(mode="bilinear", align_corners=False)`` (the original passes no
``align_corners``, which meant False), the rectangles with ``mode="nearest"`` (the legacy
nearest rule that ``"nearest"`` still is). The original's ``mapping`` is an empty
``nn.Sequential`` (the identity) and is left out; so is ``alpha_back``, a tensor of ones in one
revision of the authors' file that multiplies the blend weights by 1.

The object masks returned with the image (:class:`LostGANOutput`) are the last stage's
blended masks resized to the image as the last block's second norm resizes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..spectral_norm import spectral_norm
from .blocks import ISLAResBlock, MaskHead, PyramidMaskHead, sn_conv
from .box_maps import rectangle_masks
from .config import LostGANConfig
from .mask_regression import MaskRegression

START_SIZE = 4
#: Index of the block after which the 128 generator predicts masks with pyramid pooling.
PYRAMID_HEAD_128 = 3


@dataclass
class LostGANOutput:
    images: torch.Tensor  # (B, 3, R, R) in [-1, 1]
    masks: torch.Tensor  # (B, O, R, R) each object's final mask, in [0, 1]


class LostGANGenerator(nn.Module):
    def __init__(self, config: LostGANConfig):
        super().__init__()
        self.config = c = config
        widths = c.block_channels
        self.label_embedding = nn.Embedding(c.num_classes, c.embedding_dim)
        self.mask_regression = MaskRegression(c.latent_dim, c.mask_channels, c.mask_map_size)
        self.image_fc = spectral_norm(
            nn.Linear(c.z_dim, widths[0] * START_SIZE * START_SIZE), "classic"
        )
        self.blocks = nn.ModuleList(
            ISLAResBlock(widths[i], widths[i + 1], c.latent_dim) for i in range(c.num_blocks)
        )
        heads = []
        for i in range(c.num_blocks - 1):
            pyramid = c.resolution == 128 and i == PYRAMID_HEAD_128
            head = PyramidMaskHead if pyramid else MaskHead
            heads.append(head(widths[i + 1], c.mask_head_channels, c.mask_classes))
        self.mask_heads = nn.ModuleList(heads)
        # blend weight logits per class and stage, (1, mask_classes, 1) as the original's alphaN
        self.mask_blend = nn.ParameterList(
            nn.Parameter(torch.zeros(1, c.mask_classes, 1)) for _ in range(c.num_blocks - 1)
        )
        self.to_rgb = nn.Sequential(
            nn.BatchNorm2d(widths[-1]), nn.ReLU(), sn_conv(widths[-1], 3, 3), nn.Tanh()
        )

    def forward(
        self,
        labels: torch.Tensor,
        boxes: torch.Tensor,
        object_codes: torch.Tensor,
        image_codes: torch.Tensor,
    ) -> LostGANOutput:
        """labels: LongTensor (B, O) of vocabulary rows (0 = ``__image__``, the padding label);
        boxes: (B, O, 4) normalised ``[x0, y0, w, h]`` (float64 or float32: the precision of
        the mask pasting grid, see :mod:`.box_maps`); object_codes: (B, O, z_dim); image_codes:
        (B, z_dim). Returns images (B, 3, R, R) and masks (B, O, R, R)."""
        batch = labels.shape[0]
        latents = torch.cat([object_codes, self.label_embedding(labels)], dim=-1)
        box_masks = self.mask_regression(latents, boxes)  # (B, O, 64, 64)
        rectangles = rectangle_masks(boxes, self.config.box_mask_size)  # (B, O, R/2, R/2)

        x = self.image_fc(image_codes).view(batch, -1, START_SIZE, START_SIZE)
        masks = box_masks
        for i, block in enumerate(self.blocks):
            x = block(x, latents, masks)
            if i < len(self.mask_heads):
                masks = self._stage_masks(i, x, labels, box_masks, rectangles)
        out_size = (self.config.resolution,) * 2
        if masks.shape[-2:] != out_size:
            masks = F.interpolate(masks, size=out_size, mode="bilinear", align_corners=False)
        return LostGANOutput(self.to_rgb(x), masks)

    def _stage_masks(
        self,
        stage: int,
        features: torch.Tensor,
        labels: torch.Tensor,
        box_masks: torch.Tensor,
        rectangles: torch.Tensor,
    ) -> torch.Tensor:
        """The object masks for the block after ``stage``: features (B, C, H, W) of the block
        just run; labels (B, O); box_masks (B, O, 64, 64); rectangles (B, O, R/2, R/2).
        Returns (B, O, H, W)."""
        size = features.shape[-2:]
        logits = self.mask_heads[stage](features)  # (B, mask_classes, H, W)
        index = labels[:, :, None, None].expand(-1, -1, *size)
        bounds = F.interpolate(rectangles, size=size, mode="nearest")
        semantic = torch.sigmoid(logits.gather(1, index)) * bounds
        weight = torch.sigmoid(self.mask_blend[stage])[0, :, 0][labels][..., None, None]
        resized = F.interpolate(box_masks, size=size, mode="bilinear", align_corners=False)
        return resized * (1 - weight) + semantic * weight
