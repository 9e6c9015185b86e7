"""The authors' parameter names next to ours, layer by layer, with every tensor's shape.

The authors' code (zhaobozb/layout2im, ``models/generator.py`` and ``models/discriminator.py``)
names its layers ``crop_encoder.c1``, ``layout_encoder.bn3``, ``decoder.dc2`` and so on; this
library's modules read like the paper (``crop_encoder.convs.0``, ``object_encoder.norms.2``,
``decoder.up.4``). Each row below is one layer: the original's name, ours, its kind and its
shape at the ``paper-coco64`` / ``paper-vg64`` sizes (``K`` is the vocabulary's row count: 184
for COCO-Stuff, 179 for Visual Genome). :func:`expand` turns a layer into one
:class:`KeyMapping` per tensor.

Kinds and the tensors they hold (original suffix -> ours, shape):

- ``conv``: ``weight`` (the given shape); ``conv+bias`` adds ``bias`` (out,).
- ``cbn`` (class-conditional BatchNorm, C channels): ``embed.weight`` (K, 2C) and the
  affine-free BatchNorm's ``bn.running_mean`` / ``bn.running_var`` (C,), ``bn.num_batches_tracked``.
- ``bn`` (BatchNorm with affine, C channels): ``weight``, ``bias``, ``running_mean``,
  ``running_var`` (C,), ``num_batches_tracked``.
- ``bn-stats`` (BatchNorm without affine, C channels): ``running_mean``, ``running_var`` (C,),
  ``num_batches_tracked``.
- ``bn-unused`` (statistics a BatchNorm subclass stores but its forward never reads, C
  channels): ``running_mean``, ``running_var`` (C,), ``num_batches_tracked``, all optional and
  read and not used (no name of ours); their shapes are still checked.
- ``linear``: ``weight`` (out, in), ``bias`` (out,).
- ``parameter``: a bare tensor (the layer name is the key), the given shape.
- ``embedding``: ``weight`` (K, dim).
- ``sn`` (a layer under the classic ``nn.utils.spectral_norm``): ``weight_orig`` -> our
  parametrization's ``parametrizations.weight.original`` (the given shape), ``weight_u`` ->
  ``parametrizations.weight.0._u`` (out,), ``weight_v`` -> ``parametrizations.weight.0._v``
  (in * kh * kw,); ``sn+bias`` adds ``bias`` (out,).

``num_batches_tracked`` is optional (PyTorch before 0.4.1 did not store it, and evaluation and
training with a momentum never read it); a missing ``weight_v`` is filled in from ``weight_u``
by the reader (PyTorch before 1.0 did not store it, but stored the normalised ``weight``,
which is accepted and not used; the classic iteration recomputes v from u before using it, so
training continues identically). Every other tensor, but those of ``bn-unused``, is required.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

K = "K"  # the vocabulary's row count, filled in by expand()


@dataclass(frozen=True)
class KeyMapping:
    """One tensor: the original's key, ours (empty: read and not used), its shape, and
    whether it may be absent."""

    original: str
    ours: str
    shape: tuple[int, ...]
    optional: bool = False


# (original layer, our layer, kind, shape); shapes use K for the vocabulary rows.
GENERATOR_LAYERS: tuple[tuple[str, str, str, tuple], ...] = (
    # object latent estimator: 7x7 conv, then four 4x4 stride-2 convs, class-conditional BN
    ("crop_encoder.c1", "crop_encoder.convs.0", "conv", (64, 3, 7, 7)),
    ("crop_encoder.bn1", "crop_encoder.norms.0", "cbn", (64,)),
    ("crop_encoder.c2", "crop_encoder.convs.1", "conv", (128, 64, 4, 4)),
    ("crop_encoder.bn2", "crop_encoder.norms.1", "cbn", (128,)),
    ("crop_encoder.c3", "crop_encoder.convs.2", "conv", (256, 128, 4, 4)),
    ("crop_encoder.bn3", "crop_encoder.norms.2", "cbn", (256,)),
    ("crop_encoder.c4", "crop_encoder.convs.3", "conv", (512, 256, 4, 4)),
    ("crop_encoder.bn4", "crop_encoder.norms.3", "cbn", (512,)),
    ("crop_encoder.conv5", "crop_encoder.convs.4", "conv", (1024, 512, 4, 4)),
    ("crop_encoder.bn5", "crop_encoder.norms.4", "cbn", (1024,)),
    ("crop_encoder.fc_mu", "crop_encoder.fc_mu", "linear", (64, 1024)),
    ("crop_encoder.fc_logvar", "crop_encoder.fc_logvar", "linear", (64, 1024)),
    # object composer: the category embedding
    ("layout_encoder.embedding", "composer.embedding", "embedding", (K, 64)),
    # object encoder: 1x1 conv (padding 1), three 4x4 stride-2 convs, class-conditional BN
    ("layout_encoder.c1", "object_encoder.convs.0", "conv", (64, 128, 1, 1)),
    ("layout_encoder.bn1", "object_encoder.norms.0", "cbn", (64,)),
    ("layout_encoder.c2", "object_encoder.convs.1", "conv", (128, 64, 4, 4)),
    ("layout_encoder.bn2", "object_encoder.norms.1", "cbn", (128,)),
    ("layout_encoder.c3", "object_encoder.convs.2", "conv", (256, 128, 4, 4)),
    ("layout_encoder.bn3", "object_encoder.norms.2", "cbn", (256,)),
    ("layout_encoder.c4", "object_encoder.convs.3", "conv", (512, 256, 4, 4)),
    ("layout_encoder.bn4", "object_encoder.norms.3", "cbn", (512,)),
    # objects fuser: three ConvLSTM cells, gates i, f, o, g from one 5x5 conv over [x, h]
    ("layout_encoder.clstm.cell_list.0.conv", "fuser.cells.0.conv", "conv+bias", (512, 640, 5, 5)),
    ("layout_encoder.clstm.cell_list.1.conv", "fuser.cells.1.conv", "conv+bias", (256, 192, 5, 5)),
    ("layout_encoder.clstm.cell_list.2.conv", "fuser.cells.2.conv", "conv+bias", (256, 128, 5, 5)),
    # image decoder: six residual blocks (in the original's layout encoder), then upsampling
    *(
        row
        for i in range(6)
        for row in (
            (
                f"layout_encoder.residual.{i}.main.0",
                f"decoder.res_blocks.{i}.body.0",
                "conv",
                (64, 64, 3, 3),
            ),
            (f"layout_encoder.residual.{i}.main.1", f"decoder.res_blocks.{i}.body.1", "bn", (64,)),
            (
                f"layout_encoder.residual.{i}.main.3",
                f"decoder.res_blocks.{i}.body.3",
                "conv",
                (64, 64, 3, 3),
            ),
            (f"layout_encoder.residual.{i}.main.4", f"decoder.res_blocks.{i}.body.4", "bn", (64,)),
        )
    ),
    ("decoder.c0", "decoder.up.0", "conv", (256, 64, 3, 3)),
    ("decoder.bn0", "decoder.up.1", "bn", (256,)),
    ("decoder.dc1", "decoder.up.3", "conv", (256, 256, 4, 4)),  # transposed: (in, out, kh, kw)
    ("decoder.bn1", "decoder.up.4", "bn", (256,)),
    ("decoder.dc2", "decoder.up.6", "conv", (256, 128, 4, 4)),
    ("decoder.bn2", "decoder.up.7", "bn", (128,)),
    ("decoder.dc3", "decoder.up.9", "conv", (128, 64, 4, 4)),
    ("decoder.bn3", "decoder.up.10", "bn", (64,)),
    ("decoder.c4", "decoder.up.12", "conv+bias", (3, 64, 7, 7)),
)


def _discriminator_body() -> tuple[tuple[str, str, str, tuple], ...]:
    """The SNGAN ResNet body of both discriminators (64-128-256-512-1024 channels; the image
    D's first block downsamples, the object D's does not, which changes no tensor).

    Original: ``main.0`` is an OptimizedBlock (``resi.0``, ``resi.2``, ``sc``), ``main.1-4``
    are ResidualBlocks (``resi.1``, ``resi.3``, ``sc``; ``resi.0`` and ``resi.2`` are ReLUs)."""
    rows = [
        ("main.0.resi.0", "body.0.conv1", "sn+bias", (64, 3, 3, 3)),
        ("main.0.resi.2", "body.0.conv2", "sn+bias", (64, 64, 3, 3)),
        ("main.0.sc", "body.0.shortcut", "sn+bias", (64, 3, 1, 1)),
    ]
    widths = (64, 128, 256, 512, 1024)
    for i in range(1, 5):
        c_in, c_out = widths[i - 1], widths[i]
        rows += [
            (f"main.{i}.resi.1", f"body.{i}.conv1", "sn+bias", (c_in, c_in, 3, 3)),
            (f"main.{i}.resi.3", f"body.{i}.conv2", "sn+bias", (c_out, c_in, 3, 3)),
            (f"main.{i}.sc", f"body.{i}.shortcut", "sn+bias", (c_out, c_in, 1, 1)),
        ]
    return tuple(rows)


IMAGE_DISCRIMINATOR_LAYERS = (
    *_discriminator_body(),
    ("classifier", "head", "sn", (1, 1024)),  # no bias
)

OBJECT_DISCRIMINATOR_LAYERS = (
    *_discriminator_body(),
    ("classifier_src", "head_src", "sn+bias", (1, 1024)),
    ("classifier_cls", "head_cls", "sn+bias", (K, 1024)),
)


def expand(layers: tuple[tuple[str, str, str, tuple], ...], num_classes: int) -> list[KeyMapping]:
    """One :class:`KeyMapping` per tensor of ``layers``, with ``K`` = ``num_classes``."""
    out: list[KeyMapping] = []
    for original, ours, kind, raw_shape in layers:
        shape = tuple(num_classes if d == K else d for d in raw_shape)

        def add(o_suffix, our_suffix, s, optional=False, original=original, ours=ours):
            target = f"{ours}.{our_suffix}" if our_suffix else ""
            out.append(KeyMapping(f"{original}.{o_suffix}", target, s, optional))

        if kind in ("conv", "conv+bias", "linear", "embedding"):
            add("weight", "weight", shape)
            if kind in ("conv+bias", "linear"):
                # a transposed conv keeps out channels at dim 1, but none here has a bias
                add("bias", "bias", (shape[0],))
        elif kind == "cbn":
            (c,) = shape
            add("embed.weight", "embed.weight", (num_classes, 2 * c))
            add("bn.running_mean", "bn.running_mean", (c,))
            add("bn.running_var", "bn.running_var", (c,))
            add("bn.num_batches_tracked", "bn.num_batches_tracked", (), optional=True)
        elif kind in ("bn", "bn-stats"):
            (c,) = shape
            affine = ("weight", "bias") if kind == "bn" else ()
            for name in (*affine, "running_mean", "running_var"):
                add(name, name, (c,))
            add("num_batches_tracked", "num_batches_tracked", (), optional=True)
        elif kind == "bn-unused":
            (c,) = shape
            add("running_mean", "", (c,), optional=True)
            add("running_var", "", (c,), optional=True)
            add("num_batches_tracked", "", (), optional=True)
        elif kind == "parameter":
            out.append(KeyMapping(original, ours, shape))
        elif kind in ("sn", "sn+bias"):
            add("weight_orig", "parametrizations.weight.original", shape)
            add("weight_u", "parametrizations.weight.0._u", (shape[0],))
            add("weight_v", "parametrizations.weight.0._v", (math.prod(shape[1:]),), True)
            add("weight", "", shape, optional=True)  # before PyTorch 1.0: W / sigma, unused
            if kind == "sn+bias":
                add("bias", "bias", (shape[0],))
        else:  # pragma: no cover - the tables above use only the kinds listed
            raise ValueError(f"unknown layer kind {kind!r}")
    return out


def generator_keys(num_classes: int) -> list[KeyMapping]:
    return expand(GENERATOR_LAYERS, num_classes)


def image_discriminator_keys() -> list[KeyMapping]:
    return expand(IMAGE_DISCRIMINATOR_LAYERS, 1)


def object_discriminator_keys(num_classes: int) -> list[KeyMapping]:
    return expand(OBJECT_DISCRIMINATOR_LAYERS, num_classes)
