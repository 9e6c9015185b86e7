"""The LostGAN-v2 authors' generator as tensors: every key of its state dict with its shape,
written from their model code (WillSuen/LostGANs ``model/resnet_generator_v2.py``:
ResnetGenerator128 / ResnetGenerator256 with ResBlock, PSPModule, ``conv2d``;
``model/norm_module.py`` of the same code: SpatialAdaptiveSynBatchNorm2d, an ``nn.Module``
holding the projections and ``batch_norm2d``; ``model/mask_regression.py``:
MaskRegressNetv2; ``utils/bilinear.py``: masks_to_layout), independently of the library's key
table and modules, plus a functional forward on those original-named tensors in the original's
order of operations (broadcast sums, not the library's einsum).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.conversion.original_networks import random_state as _random_state

BN_EPS = 1e-5


def _bn(prefix: str, c: int, affine: bool = True) -> dict[str, tuple]:
    out = {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,)} if affine else {}
    out.update(
        {
            f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,),
            f"{prefix}.num_batches_tracked": (),
        }
    )
    return out


def _sn(prefix: str, shape: tuple) -> dict[str, tuple]:
    # nn.utils.spectral_norm(layer with bias): weight_orig, bias, weight_u, weight_v
    return {
        f"{prefix}.weight_orig": shape,
        f"{prefix}.bias": (shape[0],),
        f"{prefix}.weight_u": (shape[0],),
        f"{prefix}.weight_v": (int(torch.tensor(shape[1:]).prod()),),
    }


def generator_shapes(
    resolution: int = 128,
    num_classes: int = 184,
    ch: int = 64,
    mask_ch: int = 256,
    head_ch: int = 100,
    isla_buffers: bool = False,
) -> dict[str, tuple]:
    """ResnetGenerator128/256(ch, z_dim=128, num_classes).state_dict() shapes; ``mask_ch``
    (MaskRegressNetv2's 256) and ``head_ch`` (the mask heads' 100) shrink them for tests.
    ``isla_buffers``: with the ICCV 2019 ``SpatialAdaptiveSynBatchNorm2d`` (an
    ``nn.BatchNorm2d`` subclass, affine-free) in place of the LostGAN-v2 one (an ``nn.Module``),
    each ISLA-Norm also stores ``running_mean``, ``running_var`` and ``num_batches_tracked``."""
    num_w = 128 + 180
    s: dict[str, tuple] = {"label_embedding.weight": (num_classes, 180)}
    s.update(_sn("fc", (4 * 4 * 16 * ch, 128)))
    if resolution == 128:
        widths = [(16, 16), (16, 8), (8, 4), (4, 2), (2, 1)]
    else:
        widths = [(16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1)]
    for i, (a, b) in enumerate(widths, start=1):
        in_ch, out_ch = a * ch, b * ch
        s.update(_sn(f"res{i}.conv1", (out_ch, in_ch, 3, 3)))
        s.update(_sn(f"res{i}.conv2", (out_ch, out_ch, 3, 3)))
        for norm, c in (("b1", in_ch), ("b2", out_ch)):
            s.update(_sn(f"res{i}.{norm}.weight_proj", (c, num_w)))
            s.update(_sn(f"res{i}.{norm}.bias_proj", (c, num_w)))
            s.update(_bn(f"res{i}.{norm}.batch_norm2d", c, affine=False))
            if isla_buffers:
                s.update(_bn(f"res{i}.{norm}", c, affine=False))
        s.update(_sn(f"res{i}.c_sc", (out_ch, in_ch, 1, 1)))
        if i == len(widths):
            continue  # predict_mask=False
        if resolution == 128 and i == 4:  # psp_module=True
            for k in range(4):
                s[f"res{i}.conv_mask.0.stages.{k}.1.weight"] = (head_ch, out_ch, 1, 1)
                s.update(_bn(f"res{i}.conv_mask.0.stages.{k}.2", head_ch))
            s[f"res{i}.conv_mask.0.bottleneck.0.weight"] = (head_ch, out_ch + 4 * head_ch, 3, 3)
            s.update(_bn(f"res{i}.conv_mask.0.bottleneck.1", head_ch))
            s[f"res{i}.conv_mask.1.weight"] = (184, head_ch, 1, 1)
            s[f"res{i}.conv_mask.1.bias"] = (184,)
        else:
            s[f"res{i}.conv_mask.0.weight"] = (head_ch, out_ch, 3, 3)
            s[f"res{i}.conv_mask.0.bias"] = (head_ch,)
            s.update(_bn(f"res{i}.conv_mask.1", head_ch))
            s[f"res{i}.conv_mask.3.weight"] = (184, head_ch, 1, 1)
            s[f"res{i}.conv_mask.3.bias"] = (184,)
    s.update(_bn("final.0", ch))
    s.update(_sn("final.2", (3, ch, 3, 3)))
    for i in range(1, len(widths)):
        s[f"alpha{i}"] = (1, 184, 1)
    s.update(_sn("mask_regress.fc", (mask_ch * 4 * 4, num_w)))
    for name in ("conv1.0", "conv2.0", "conv3.0"):
        s.update(_sn(f"mask_regress.{name}", (mask_ch, mask_ch, 3, 3)))
    s.update(_sn("mask_regress.conv3.3", (1, mask_ch, 1, 1)))
    return s


def random_state(shapes: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of those shapes (see tests.conversion.original_networks.random_state),
    with blend weights spread over (0, 1) and embeddings of unit scale."""
    state = _random_state(shapes, seed)
    g = torch.Generator().manual_seed(seed + 1)
    for key, shape in shapes.items():
        if key.startswith("alpha") or key == "label_embedding.weight":
            state[key] = torch.randn(shape, generator=g) * 2
    return state


# --- the functional forward -------------------------------------------------------------


def _sn_weight(p: dict, name: str) -> torch.Tensor:
    w = p[f"{name}.weight_orig"]
    sigma = torch.dot(
        p[f"{name}.weight_u"], torch.mv(w.reshape(w.shape[0], -1), p[f"{name}.weight_v"])
    )
    return w / sigma


def _sn_linear(p, name, x):
    return F.linear(x, _sn_weight(p, name), p[f"{name}.bias"])


def _sn_conv(p, name, x, pad):
    return F.conv2d(x, _sn_weight(p, name), p[f"{name}.bias"], 1, pad)


def _batch_norm(p, name, x, affine=True):
    w = p[f"{name}.weight"] if affine else None
    b = p[f"{name}.bias"] if affine else None
    return F.batch_norm(
        x, p[f"{name}.running_mean"], p[f"{name}.running_var"], w, b, False, 0.1, BN_EPS
    )


def torch10_linspace(n: int) -> torch.Tensor:
    # PyTorch 1.0's CPU float linspace(0, 1, n): a + step * i in float32
    return torch.arange(n, dtype=torch.float32) * (torch.tensor(1.0) / (n - 1))


def bbox_mask(bbox, H, W):
    b, o, _ = bbox.size()
    n = b * o
    bb = bbox.float().view(-1, 4)
    x0, y0 = bb[:, 0].view(n, 1).expand(n, H), bb[:, 1].view(n, 1).expand(n, W)
    ww, hh = bb[:, 2].view(n, 1).expand(n, H), bb[:, 3].view(n, 1).expand(n, W)
    X = torch10_linspace(W).view(1, W).expand(n, W)
    Y = torch10_linspace(H).view(1, H).expand(n, H)
    X = (X - x0) / ww
    Y = (Y - y0) / hh
    x_out = ((X < 0).int() + (X > 1).int()).view(n, 1, W).expand(n, H, W)
    y_out = ((Y < 0).int() + (Y > 1).int()).view(n, H, 1).expand(n, H, W)
    return (1 - (x_out + y_out).float().clamp(max=1)).view(b, o, H, W)


def masks_to_layout(boxes, masks, H):
    b, o, _ = boxes.size()
    M = masks.size(2)
    bx = boxes.view(b * o, 4, 1, 1)
    x0, y0, ww, hh = bx[:, 0], bx[:, 1], bx[:, 2], bx[:, 3]
    X = torch10_linspace(H).view(1, 1, H).to(boxes)
    Y = torch10_linspace(H).view(1, H, 1).to(boxes)
    X = ((X - x0) / ww).expand(b * o, H, H)
    Y = ((Y - y0) / hh).expand(b * o, H, H)
    grid = torch.stack([X, Y], dim=3).mul(2).sub(1).float()
    sampled = F.grid_sample(
        masks.float().view(b * o, 1, M, M), grid, mode="bilinear", align_corners=True
    )
    return sampled.view(b, o, H, H)


def mask_regress(p, w, bbox, mask_ch):
    b, o, _ = bbox.size()
    x = _sn_linear(p, "mask_regress.fc", w)
    x = x.view(b * o, mask_ch, 4, 4)
    x = F.relu(F.instance_norm(_sn_conv(p, "mask_regress.conv1.0", x, 1)))
    x = F.interpolate(x, size=8, mode="bilinear", align_corners=False)
    x = F.relu(F.instance_norm(_sn_conv(p, "mask_regress.conv2.0", x, 1)))
    x = F.interpolate(x, size=16, mode="bilinear", align_corners=False)
    x = F.relu(F.instance_norm(_sn_conv(p, "mask_regress.conv3.0", x, 1)))
    x = torch.sigmoid(_sn_conv(p, "mask_regress.conv3.3", x, 0))
    return masks_to_layout(bbox, x.view(b, o, 16, 16), 64)


def isla(p, name, x, vector, bbox):
    output = F.batch_norm(
        x,
        p[f"{name}.batch_norm2d.running_mean"],
        p[f"{name}.batch_norm2d.running_var"],
        None,
        None,
        False,
        0.1,
        BN_EPS,
    )
    b, o, bh, bw = bbox.size()
    h, w = x.shape[2:]
    if bh != h or bw != w:
        bbox = F.interpolate(bbox, size=(h, w), mode="bilinear", align_corners=False)
    weight = _sn_linear(p, f"{name}.weight_proj", vector).view(b, o, -1)
    bias = _sn_linear(p, f"{name}.bias_proj", vector).view(b, o, -1)
    denom = torch.sum(bbox.unsqueeze(2), dim=1) + 1e-6
    weight = torch.sum(bbox.unsqueeze(2) * weight.unsqueeze(-1).unsqueeze(-1), dim=1) / denom + 1
    bias = torch.sum(bbox.unsqueeze(2) * bias.unsqueeze(-1).unsqueeze(-1), dim=1) / denom
    return weight * output + bias


def psp(p, name, feats):
    h, w = feats.shape[2:]
    priors = []
    for k, size in enumerate((1, 2, 3, 6)):
        y = F.adaptive_avg_pool2d(feats, size)
        y = F.conv2d(y, p[f"{name}.stages.{k}.1.weight"])
        y = F.relu(_batch_norm(p, f"{name}.stages.{k}.2", y))
        priors.append(F.interpolate(y, size=(h, w), mode="bilinear", align_corners=True))
    x = F.conv2d(torch.cat([*priors, feats], 1), p[f"{name}.bottleneck.0.weight"], padding=1)
    return F.relu(_batch_norm(p, f"{name}.bottleneck.1", x))


def resblock(p, name, x, w, bbox, predict_mask, psp_module):
    h = F.relu(isla(p, f"{name}.b1", x, w, bbox))
    h = F.interpolate(h, scale_factor=2, mode="nearest")
    h = _sn_conv(p, f"{name}.conv1", h, 1)
    h = F.relu(isla(p, f"{name}.b2", h, w, bbox))
    h = _sn_conv(p, f"{name}.conv2", h, 1)
    sc = _sn_conv(p, f"{name}.c_sc", F.interpolate(x, scale_factor=2, mode="nearest"), 0)
    out = h + sc
    if not predict_mask:
        return out, None
    if psp_module:
        m = psp(p, f"{name}.conv_mask.0", out)
        m = F.conv2d(m, p[f"{name}.conv_mask.1.weight"], p[f"{name}.conv_mask.1.bias"])
    else:
        m = F.conv2d(out, p[f"{name}.conv_mask.0.weight"], p[f"{name}.conv_mask.0.bias"], padding=1)
        m = F.relu(_batch_norm(p, f"{name}.conv_mask.1", m))
        m = F.conv2d(m, p[f"{name}.conv_mask.3.weight"], p[f"{name}.conv_mask.3.bias"])
    return out, m


def forward(p, z, bbox, z_im, y, resolution=128, mask_ch=256):
    """ResnetGenerator128/256.forward(z, bbox, z_im, y) in eval mode: z (b, o, 128), bbox
    (b, o, 4) [x0, y0, w, h], z_im (b, 128), y (b, o). Returns (image (b, 3, R, R), the last
    stage's object masks (b, o, R/2, R/2))."""
    b, o = z.size(0), z.size(1)
    emb = F.embedding(y, p["label_embedding.weight"]).view(b * o, -1)
    w = torch.cat((z.view(b * o, -1), emb), dim=1)
    bmask = mask_regress(p, w, bbox, mask_ch)
    bbox_mask_ = bbox_mask(bbox, resolution // 2, resolution // 2)
    x = _sn_linear(p, "fc", z_im).view(b, -1, 4, 4)
    n_blocks = 5 if resolution == 128 else 6
    stage_bbox = bmask
    for i in range(1, n_blocks + 1):
        last = i == n_blocks
        x, stage_mask = resblock(
            p, f"res{i}", x, w, stage_bbox, not last, resolution == 128 and i == 4
        )
        if last:
            break
        hh, ww = x.size(2), x.size(3)
        index = y.view(b, o, 1, 1).expand(-1, -1, hh, ww)
        seman = torch.sigmoid(torch.gather(stage_mask, 1, index))
        seman = seman * F.interpolate(bbox_mask_, size=(hh, ww), mode="nearest")
        alpha = torch.gather(
            torch.sigmoid(p[f"alpha{i}"]).expand(b, -1, -1), 1, y.view(b, o, 1)
        ).unsqueeze(-1)
        stage_bbox = (
            F.interpolate(bmask, size=(hh, ww), mode="bilinear", align_corners=False) * (1 - alpha)
            + seman * alpha
        )
    x = _batch_norm(p, "final.0", x)
    x = torch.tanh(_sn_conv(p, "final.2", F.relu(x), 1))
    return x, stage_bbox
