"""The Layout2Im generator, read top to bottom like the paper.

Training forward (one call, as the original's ``Generator.forward``):

1. crop every ground-truth box from the real image (32x32) and estimate q(z | crop) -> z_rec;
2. compose, encode and fuse the layout twice: with z_rec and with z_rand ~ N(0, I);
3. decode both into images: img_rec and img_rand;
4. crop img_rand's boxes and re-estimate their codes: the mean ``mu_rand`` is regressed onto
   z_rand by the latent regression loss.

Generation uses only steps 2-3 with codes from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ModelConfig
from ..layout import LayoutBatch, ObjectList
from .composer import ObjectComposer
from .computation import FastPathsMixin
from .crop_encoder import ObjectLatentEstimator, reparameterize
from .decoder import ImageDecoder
from .fuser import ObjectsFuser
from .layers import crop_boxes
from .object_encoder import ObjectEncoder


@dataclass
class GeneratorOutput:
    """Everything the losses need. N objects in B images; crops are (N, 3, S, S)."""

    crops_real: torch.Tensor
    crops_rec: torch.Tensor
    crops_rand: torch.Tensor
    img_rec: torch.Tensor  # (B, 3, H, W)
    img_rand: torch.Tensor  # (B, 3, H, W)
    mu: torch.Tensor  # (N, z_dim), posterior mean of the real crops
    logvar: torch.Tensor  # (N, z_dim)
    z_rand: torch.Tensor  # (N, z_dim), the prior sample used for img_rand
    mu_rand: torch.Tensor  # (N, z_dim), estimated mean of img_rand's crops
    # static-shape path: N = B * O slots and valid (N,) bool marks the real objects; None when
    # every row is a real object
    valid: torch.Tensor | None = None

    def detached(self) -> GeneratorOutput:
        return GeneratorOutput(
            **{k: None if v is None else v.detach() for k, v in self.__dict__.items()}
        )


class Layout2ImGenerator(FastPathsMixin, nn.Module):
    """``computation`` (``"fast"``, ``"reference"`` or fast path names, see
    :mod:`.computation`) chooses how to compute, not what: "fast" projects each object's
    vector before broadcasting it into its box (or skips the map altogether, with the object
    encoder's analytic second layer) and runs the ConvLSTM over all images and both layouts at
    once; "reference" builds the composer's full maps and runs the ConvLSTM image by image, as
    the original code does. Both give the same outputs and gradients (tests check it).

    ``static_shapes`` (off by default; ``train.static_shapes``) computes every object slot of
    the padded layout, B * O rows whatever the number of real objects, so a call's shapes
    depend on B and O only (what CUDA graphs and compilers need): per-object tensors (z,
    crops, codes) then have B * O rows in row-major slot order, padding rows enter no BatchNorm
    statistic and no state of the fuser, and the outputs carry ``valid`` for the losses.
    The real rows equal the default computation's (tests check it)."""

    FAST_PATHS = ("object_vectors", "batched_fuser")

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        c = config
        self.crop_encoder = ObjectLatentEstimator(c.crop_encoder_channels, c.z_dim, c.num_classes)
        self.composer = ObjectComposer(c.num_classes, c.embedding_dim, c.image_size)
        self.object_encoder = ObjectEncoder(
            c.embedding_dim + c.z_dim, c.object_encoder_channels, c.num_classes
        )
        self.fuser = ObjectsFuser(c.object_encoder_channels[-1], c.fuser_hidden, c.fuser_kernel)
        self.decoder = ImageDecoder(c.fuser_hidden[-1], c.decoder_res_blocks, c.decoder_channels)
        self.fast_paths = frozenset(self.FAST_PATHS)
        self.static_shapes = False

    def objects(self, layout: LayoutBatch) -> tuple[ObjectList, torch.Tensor | None]:
        """The rows per-object tensors have: the real objects (and None), or with
        ``static_shapes`` every slot (and ``valid``, True for real objects)."""
        if self.static_shapes:
            return layout.slots()
        return layout.flat(), None

    # -- the object latent estimator ---------------------------------------------------------

    def encode_objects(
        self, images: torch.Tensor, layout: LayoutBatch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Crop each box of ``layout`` from ``images`` (B, 3, H, W) and estimate its code.

        Returns crops (N, 3, S, S), mu and logvar (N, z_dim), objects in row-major order (N =
        B * O slots with ``static_shapes``).
        """
        objects, valid = self.objects(layout)
        crops = crop_boxes(images, objects.boxes, objects.obj_to_img, self.config.crop_size)
        mu, logvar = self.crop_encoder(crops, objects.labels, valid)
        return crops, mu, logvar

    # -- composer, object encoder, fuser, decoder ---------------------------------------------

    def object_features(self, layout: LayoutBatch, z: torch.Tensor) -> torch.Tensor:
        """Composer and object encoder. z: (N, z_dim), one code per real object in row-major
        order (one per slot with ``static_shapes``). Returns per-object feature maps
        (N, C, h, w)."""
        objects, valid = self.objects(layout)
        if "object_vectors" not in self.fast_paths:
            maps = self.composer(objects.labels, z, objects.boxes)
            return self.object_encoder(maps, objects.labels, valid)
        vectors = self.composer.object_vectors(objects.labels, z)
        return self.object_encoder.forward_from_vectors(
            vectors, objects.boxes, objects.labels, self.config.image_size, valid
        )

    def fuse(self, layout: LayoutBatch, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """The objects fuser on one or more sets of object features of the same layout.

        The ConvLSTM has no batch statistics, so the fast computation runs all sets as one
        batch; the reference runs each set image by image. Returns one (B, C, h, w) per set.
        """
        if self.static_shapes:
            mask = layout.mask.repeat(len(feats), 1)
            return list(self.fuser.forward_static(torch.cat(feats), mask).chunk(len(feats)))
        if "batched_fuser" not in self.fast_paths:
            obj_to_img = layout.flat().obj_to_img
            return [self.fuser.forward_reference(f, obj_to_img, layout.batch_size) for f in feats]
        mask = layout.mask.repeat(len(feats), 1)
        return list(self.fuser(torch.cat(feats), mask).chunk(len(feats)))

    def layout_features(self, layout: LayoutBatch, z: torch.Tensor) -> torch.Tensor:
        """Compose, encode and fuse the objects, then the decoder's residual blocks.

        z: (N, z_dim), one code per real object in row-major order. Returns (B, C, h, w).
        """
        (fused,) = self.fuse(layout, [self.object_features(layout, z)])
        return self.decoder.res_blocks(fused)

    def decode(self, layout: LayoutBatch, z: torch.Tensor) -> torch.Tensor:
        """Generate images (B, 3, H, W), ImageNet-normalised, from a layout and per-object codes
        z (N, z_dim) in row-major order of ``layout.mask``."""
        return self.decoder.up(self.layout_features(layout, z))

    # -- the training forward ------------------------------------------------------------------

    def forward(
        self,
        images: torch.Tensor,
        layout: LayoutBatch,
        z_rand: torch.Tensor,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
    ) -> GeneratorOutput:
        """images: (B, 3, H, W) real, ImageNet-normalised; z_rand: (N, z_dim) prior samples
        (N = B * O slots with ``static_shapes``).

        ``generator`` draws the reparameterisation noise, or ``eps`` (N, z_dim) gives it. The
        call order of BatchNorm layers (and so the running statistics) follows the original
        code.
        """
        objects, valid = self.objects(layout)
        size = self.config.crop_size
        crops_real, mu, logvar = self.encode_objects(images, layout)
        z_rec = reparameterize(mu, logvar, generator, eps)

        feats_rec = self.object_features(layout, z_rec)
        feats_rand = self.object_features(layout, z_rand)
        fused_rec, fused_rand = self.fuse(layout, [feats_rec, feats_rand])
        h_rec = self.decoder.res_blocks(fused_rec)
        h_rand = self.decoder.res_blocks(fused_rand)
        img_rec = self.decoder.up(h_rec)
        img_rand = self.decoder.up(h_rand)

        crops_rand = crop_boxes(img_rand, objects.boxes, objects.obj_to_img, size)
        mu_rand, _ = self.crop_encoder(crops_rand, objects.labels, valid)
        crops_rec = crop_boxes(img_rec, objects.boxes, objects.obj_to_img, size)
        return GeneratorOutput(
            crops_real, crops_rec, crops_rand, img_rec, img_rand, mu, logvar, z_rand, mu_rand,
            valid,
        )  # fmt: skip
