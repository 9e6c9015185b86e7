"""The LostGAN-v2 authors' parameter names next to ours, layer by layer, with every shape.

The authors' generators (WillSuen/LostGANs, ``model/resnet_generator_v2.py``,
``model/norm_module.py``, ``model/mask_regression.py``) name their layers ``res1.b1.weight_proj``,
``res4.conv_mask.0.stages.2.1``, ``mask_regress.conv3.3``, ``alpha1`` and so on; this library's
modules read like the paper (``blocks.0.norm1.gamma``, ``mask_heads.3.pyramid.pools.2.1``,
``mask_regression.to_mask``, ``mask_blend.0``). :func:`lostgan_generator_layers` lists one row
per layer for a :class:`~layout2im.models.lostgan.LostGANConfig` (original, ours, kind, shape;
the kinds and their tensors are those of :mod:`.key_table`), :func:`lostgan_generator_keys` one
:class:`~.key_table.KeyMapping` per tensor.

Every spectral-normalised layer (``nn.utils.spectral_norm``: ``weight_orig``, ``weight_u``,
``weight_v``) has a bias. The synchronised BatchNorms of the original are ``_BatchNorm``
subclasses, so their keys are BatchNorm's: the ISLA-Norms' ``batch_norm2d`` (affine-free) and
the BatchNorms of the mask heads and the output (with ``weight`` and ``bias``). The LostGAN-v2
code's ISLA-Norm (``SpatialAdaptiveSynBatchNorm2d``, an ``nn.Module`` taking
``batchnorm_func``) holds nothing else. The repository's earlier one (the ICCV 2019 code)
subclassed ``nn.BatchNorm2d`` besides holding ``batch_norm2d``, so a generator saved with it has
``resN.b1.running_mean``, ``running_var`` and ``num_batches_tracked`` of the norm itself, which
its forward never reads; the authors' ``test.py`` drops keys its model lacks, so such a file
would have worked for them. Those are accepted when present (shapes checked) and not used. The
mask heads
and the blend weights ``alphaN`` have 184 rows for both datasets (the authors' constant); the
label embedding has the vocabulary's rows (184 COCO-Stuff, 179 Visual Genome).
"""

from __future__ import annotations

from ..models.lostgan.config import LostGANConfig
from ..models.lostgan.generator import PYRAMID_HEAD_128
from ..models.lostgan.psp import POOL_SIZES
from .key_table import KeyMapping, expand

Layer = tuple[str, str, str, tuple]


def _isla_norm(original: str, ours: str, channels: int, latent_dim: int) -> list[Layer]:
    return [
        (f"{original}.weight_proj", f"{ours}.gamma", "sn+bias", (channels, latent_dim)),
        (f"{original}.bias_proj", f"{ours}.beta", "sn+bias", (channels, latent_dim)),
        (f"{original}.batch_norm2d", f"{ours}.batch_norm", "bn-stats", (channels,)),
        # the ICCV 2019 code's ISLA-Norm subclassed BatchNorm2d: statistics of its own, unused
        (original, "", "bn-unused", (channels,)),
    ]


def _mask_head(original: str, ours: str, c_in: int, config: LostGANConfig) -> list[Layer]:
    hidden, classes = config.mask_head_channels, config.mask_classes
    return [
        (f"{original}.0", f"{ours}.conv", "conv+bias", (hidden, c_in, 3, 3)),
        (f"{original}.1", f"{ours}.norm", "bn", (hidden,)),
        (f"{original}.3", f"{ours}.classify", "conv+bias", (classes, hidden, 1, 1)),
    ]


def _pyramid_head(original: str, ours: str, c_in: int, config: LostGANConfig) -> list[Layer]:
    hidden, classes = config.mask_head_channels, config.mask_classes
    rows: list[Layer] = []
    for k in range(len(POOL_SIZES)):
        rows += [
            (
                f"{original}.0.stages.{k}.1",
                f"{ours}.pyramid.pools.{k}.1",
                "conv",
                (hidden, c_in, 1, 1),
            ),
            (f"{original}.0.stages.{k}.2", f"{ours}.pyramid.pools.{k}.2", "bn", (hidden,)),
        ]
    fused = c_in + len(POOL_SIZES) * hidden
    rows += [
        (f"{original}.0.bottleneck.0", f"{ours}.pyramid.fuse.0", "conv", (hidden, fused, 3, 3)),
        (f"{original}.0.bottleneck.1", f"{ours}.pyramid.fuse.1", "bn", (hidden,)),
        (f"{original}.1", f"{ours}.classify", "conv+bias", (classes, hidden, 1, 1)),
    ]
    return rows


def lostgan_generator_layers(config: LostGANConfig) -> list[Layer]:
    """One row per layer of the authors' generator of ``config``'s resolution and sizes."""
    c = config
    widths = c.block_channels
    m = c.mask_channels
    rows: list[Layer] = [
        ("label_embedding", "label_embedding", "embedding", (c.num_classes, c.embedding_dim)),
        ("fc", "image_fc", "sn+bias", (widths[0] * 16, c.z_dim)),
        ("mask_regress.fc", "mask_regression.fc", "sn+bias", (m * 16, c.latent_dim)),
        *(
            (f"mask_regress.conv{i + 1}.0", f"mask_regression.convs.{i}", "sn+bias", (m, m, 3, 3))
            for i in range(3)
        ),
        ("mask_regress.conv3.3", "mask_regression.to_mask", "sn+bias", (1, m, 1, 1)),
    ]
    for i in range(c.num_blocks):
        res, ours = f"res{i + 1}", f"blocks.{i}"
        c_in, c_out = widths[i], widths[i + 1]
        rows += [
            (f"{res}.conv1", f"{ours}.conv1", "sn+bias", (c_out, c_in, 3, 3)),
            (f"{res}.conv2", f"{ours}.conv2", "sn+bias", (c_out, c_out, 3, 3)),
            *_isla_norm(f"{res}.b1", f"{ours}.norm1", c_in, c.latent_dim),
            *_isla_norm(f"{res}.b2", f"{ours}.norm2", c_out, c.latent_dim),
            (f"{res}.c_sc", f"{ours}.shortcut", "sn+bias", (c_out, c_in, 1, 1)),
        ]
        if i < c.num_blocks - 1:  # every block but the last predicts masks
            pyramid = c.resolution == 128 and i == PYRAMID_HEAD_128
            head = _pyramid_head if pyramid else _mask_head
            rows += head(f"{res}.conv_mask", f"mask_heads.{i}", c_out, c)
    rows += [
        (f"alpha{i + 1}", f"mask_blend.{i}", "parameter", (1, c.mask_classes, 1))
        for i in range(c.num_blocks - 1)
    ]
    rows += [
        ("final.0", "to_rgb.0", "bn", (widths[-1],)),
        ("final.2", "to_rgb.2", "sn+bias", (3, widths[-1], 3, 3)),
    ]
    return rows


def lostgan_generator_keys(config: LostGANConfig) -> list[KeyMapping]:
    """One :class:`KeyMapping` per tensor of the authors' generator of ``config``."""
    return expand(tuple(lostgan_generator_layers(config)), config.num_classes)


def resolution_of(keys) -> int:
    """128 or 256: the generator whose keys ``keys`` (original names) are. The 256 generator
    alone has a sixth block (``res6.*``)."""
    return 256 if any(k.startswith("res6.") for k in keys) else 128


# (config field, original key, dimension, divisor): a width read from one tensor's shape
_WIDTHS = (
    ("channels", "fc.weight_orig", 0, 16 * 16),  # 16ch x 4 x 4 outputs
    ("mask_channels", "mask_regress.conv1.0.weight_orig", 0, 1),
    ("mask_head_channels", "res1.conv_mask.0.weight", 0, 1),
)


def widths_of(state) -> dict[str, int]:
    """The widths of the authors' generator in ``state`` (original names -> tensors) that
    differ from the released ones: its ``ch``, the mask regression's and the mask heads'
    widths, each read from one tensor. A tensor that is absent or of an impossible size is
    left to the key table to report."""
    out = {}
    for field, key, dim, divisor in _WIDTHS:
        tensor = state.get(key)
        if tensor is None or tensor.ndim <= dim:
            continue
        size, rest = divmod(tensor.shape[dim], divisor)
        if rest == 0 and size >= 1 and size != LostGANConfig.model_fields[field].default:
            out[field] = size
    return out
