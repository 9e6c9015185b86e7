"""The authors' networks as tensors: every key of their state dicts with its shape, written from
their model code (zhaobozb/layout2im ``models/generator.py``: Generator = CropEncoder +
LayoutEncoder + Decoder; ``models/discriminator.py`` with ``add_sn``), independently of the
library's key table, plus a functional forward on those original-named tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5  # BatchNorm's


def _cond_bn(prefix: str, c: int, k: int) -> dict[str, tuple]:
    # ConditionalBatchNorm2d: bn = BatchNorm2d(c, affine=False), embed = Embedding(k, 2c)
    return {
        f"{prefix}.bn.running_mean": (c,),
        f"{prefix}.bn.running_var": (c,),
        f"{prefix}.bn.num_batches_tracked": (),
        f"{prefix}.embed.weight": (k, 2 * c),
    }


def _bn(prefix: str, c: int) -> dict[str, tuple]:
    return {
        f"{prefix}.weight": (c,),
        f"{prefix}.bias": (c,),
        f"{prefix}.running_mean": (c,),
        f"{prefix}.running_var": (c,),
        f"{prefix}.num_batches_tracked": (),
    }


def generator_shapes(k: int) -> dict[str, tuple]:
    """Generator(num_embeddings=k, embedding_dim=64, z_dim=64, clstm_layers=3).state_dict()."""
    s: dict[str, tuple] = {}
    # CropEncoder(conv_dim=64, z_dim=64, class_num=k)
    s["crop_encoder.c1.weight"] = (64, 3, 7, 7)
    s.update(_cond_bn("crop_encoder.bn1", 64, k))
    s["crop_encoder.c2.weight"] = (128, 64, 4, 4)
    s.update(_cond_bn("crop_encoder.bn2", 128, k))
    s["crop_encoder.c3.weight"] = (256, 128, 4, 4)
    s.update(_cond_bn("crop_encoder.bn3", 256, k))
    s["crop_encoder.c4.weight"] = (512, 256, 4, 4)
    s.update(_cond_bn("crop_encoder.bn4", 512, k))
    s["crop_encoder.conv5.weight"] = (1024, 512, 4, 4)
    s.update(_cond_bn("crop_encoder.bn5", 1024, k))
    s["crop_encoder.fc_mu.weight"], s["crop_encoder.fc_mu.bias"] = (64, 1024), (64,)
    s["crop_encoder.fc_logvar.weight"], s["crop_encoder.fc_logvar.bias"] = (64, 1024), (64,)
    # LayoutEncoder: embedding, clstm = LayoutConvLSTM(8, 512, [128, 64, 64], (5, 5)),
    # residual = 6 x ResidualBlock(64, 64), c1..c4 with bn1..bn4
    s["layout_encoder.embedding.weight"] = (k, 64)
    for i, (c_in, hid) in enumerate([(512, 128), (128, 64), (64, 64)]):
        s[f"layout_encoder.clstm.cell_list.{i}.conv.weight"] = (4 * hid, c_in + hid, 5, 5)
        s[f"layout_encoder.clstm.cell_list.{i}.conv.bias"] = (4 * hid,)
    for i in range(6):
        s[f"layout_encoder.residual.{i}.main.0.weight"] = (64, 64, 3, 3)
        s.update(_bn(f"layout_encoder.residual.{i}.main.1", 64))
        s[f"layout_encoder.residual.{i}.main.3.weight"] = (64, 64, 3, 3)
        s.update(_bn(f"layout_encoder.residual.{i}.main.4", 64))
    for i, (c_in, c_out, kk) in enumerate(
        [(128, 64, 1), (64, 128, 4), (128, 256, 4), (256, 512, 4)]
    ):
        s[f"layout_encoder.c{i + 1}.weight"] = (c_out, c_in, kk, kk)
        s.update(_cond_bn(f"layout_encoder.bn{i + 1}", c_out, k))
    # Decoder(conv_dim=64): c0, bn0, dc1..dc3 (ConvTranspose2d: in, out, k, k), bn1..bn3, c4
    s["decoder.c0.weight"] = (256, 64, 3, 3)
    s.update(_bn("decoder.bn0", 256))
    for i, (c_in, c_out) in enumerate([(256, 256), (256, 128), (128, 64)], start=1):
        s[f"decoder.dc{i}.weight"] = (c_in, c_out, 4, 4)
        s.update(_bn(f"decoder.bn{i}", c_out))
    s["decoder.c4.weight"], s["decoder.c4.bias"] = (3, 64, 7, 7), (3,)
    return s


def _sn(prefix: str, shape: tuple, bias: bool = True) -> dict[str, tuple]:
    # nn.utils.spectral_norm: weight_orig (parameter), weight_u, weight_v (buffers)
    out = {
        f"{prefix}.weight_orig": shape,
        f"{prefix}.weight_u": (shape[0],),
        f"{prefix}.weight_v": (int(torch.tensor(shape[1:]).prod()),),
    }
    if bias:
        out[f"{prefix}.bias"] = (shape[0],)
    return out


def _disc_body() -> dict[str, tuple]:
    s = {}
    # OptimizedBlock(3, 64): resi = [conv, relu, conv], sc
    s.update(_sn("main.0.resi.0", (64, 3, 3, 3)))
    s.update(_sn("main.0.resi.2", (64, 64, 3, 3)))
    s.update(_sn("main.0.sc", (64, 3, 1, 1)))
    # ResidualBlock(c_in, c_out): resi = [relu, conv(c_in, c_in), relu, conv(c_in, c_out)], sc
    widths = [64, 128, 256, 512, 1024]
    for i in range(1, 5):
        a, b = widths[i - 1], widths[i]
        s.update(_sn(f"main.{i}.resi.1", (a, a, 3, 3)))
        s.update(_sn(f"main.{i}.resi.3", (b, a, 3, 3)))
        s.update(_sn(f"main.{i}.sc", (b, a, 1, 1)))
    return s


def image_discriminator_shapes() -> dict[str, tuple]:
    return {**_disc_body(), **_sn("classifier", (1, 1024), bias=False)}


def object_discriminator_shapes(k: int) -> dict[str, tuple]:
    return {
        **_disc_body(),
        **_sn("classifier_src", (1, 1024)),
        **_sn("classifier_cls", (k, 1024)),
    }


def random_state(shapes: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of those shapes at scales that keep activations finite: weights
    ~ N(0, 1/fan_in), conditional-BN scales near 1, positive running variances, unit u, v."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(1000 + len(key), dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(("weight_u", "weight_v")):
            out[key] = F.normalize(torch.randn(shape, generator=g), dim=0)
        elif key.endswith("embed.weight"):
            c = shape[1] // 2
            t = torch.randn(shape, generator=g) * 0.1
            t[:, :c] += 1.0
            out[key] = t
        elif len(shape) >= 2 and "embedding" not in key:
            fan_in = shape[0] if ".dc" in key else int(torch.tensor(shape[1:]).prod())
            out[key] = torch.randn(shape, generator=g) / fan_in**0.5
        else:
            out[key] = torch.randn(shape, generator=g) * 0.1
    # stored u, v as a trained network has them: close to W's top singular vectors
    for key in [k for k in out if k.endswith(".weight_orig")]:
        prefix = key[: -len("_orig")]
        mat = out[key].flatten(1)
        u = out[prefix + "_u"]
        for _ in range(20):
            v = F.normalize(mat.t() @ u, dim=0)
            u = F.normalize(mat @ v, dim=0)
        out[prefix + "_u"], out[prefix + "_v"] = u, v
    return out


# ----------------------------------------------------------------------------- forward


def _cbn(s, prefix, x, y):
    mean, var = s[f"{prefix}.bn.running_mean"], s[f"{prefix}.bn.running_var"]
    gamma, beta = s[f"{prefix}.embed.weight"][y].chunk(2, dim=1)
    x = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + EPS)
    return gamma[:, :, None, None] * x + beta[:, :, None, None]


def _bn_eval(s, prefix, x):
    mean, var = s[f"{prefix}.running_mean"], s[f"{prefix}.running_var"]
    w, b = s[f"{prefix}.weight"], s[f"{prefix}.bias"]
    x = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + EPS)
    return w[:, None, None] * x + b[:, None, None]


def original_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """The original data loader's masks: rows round(y0*H):round(y1*H), same for columns."""
    masks = torch.zeros(len(boxes), 1, size, size)
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        masks[i, :, round(y0 * size) : round(y1 * size), round(x0 * size) : round(x1 * size)] = 1
    return masks


def decode(s, objs, boxes, obj_to_img, z, size=64):
    """LayoutEncoder + Decoder of the original in eval mode. objs (O,), boxes (O, 4) xyxy,
    obj_to_img (O,) sorted, z (O, 64). Returns images (B, 3, size, size)."""
    emb = s["layout_encoder.embedding.weight"][objs]
    h = torch.cat([emb, z], dim=1)[:, :, None, None] * original_masks(boxes, size)
    for i in range(1, 5):
        stride, pad = (1, 1) if i == 1 else (2, 1)
        h = F.conv2d(h, s[f"layout_encoder.c{i}.weight"], stride=stride, padding=pad)
        h = _cbn(s, f"layout_encoder.bn{i}", h, objs)
        if i < 4:
            h = F.relu(h)
    fused = []
    for b in range(int(obj_to_img.max()) + 1):
        seq = h[obj_to_img == b]
        for layer, hid in enumerate((128, 64, 64)):
            w = s[f"layout_encoder.clstm.cell_list.{layer}.conv.weight"]
            bias = s[f"layout_encoder.clstm.cell_list.{layer}.conv.bias"]
            hh = seq.new_zeros(1, hid, 8, 8)
            cc = seq.new_zeros(1, hid, 8, 8)
            outputs = []
            for t in range(len(seq)):
                gates = F.conv2d(torch.cat([seq[t : t + 1], hh], dim=1), w, bias, padding=2)
                i_g, f_g, o_g, g_g = gates.split(hid, dim=1)
                cc = torch.sigmoid(f_g) * cc + torch.sigmoid(i_g) * torch.tanh(g_g)
                hh = torch.sigmoid(o_g) * torch.tanh(cc)
                outputs.append(hh)
            seq = torch.cat(outputs)
        fused.append(hh)
    h = torch.cat(fused)
    for i in range(6):
        p = f"layout_encoder.residual.{i}.main"
        r = F.relu(_bn_eval(s, f"{p}.1", F.conv2d(h, s[f"{p}.0.weight"], padding=1)))
        h = h + _bn_eval(s, f"{p}.4", F.conv2d(r, s[f"{p}.3.weight"], padding=1))
    h = F.relu(_bn_eval(s, "decoder.bn0", F.conv2d(h, s["decoder.c0.weight"], padding=1)))
    for i in range(1, 4):
        h = F.conv_transpose2d(h, s[f"decoder.dc{i}.weight"], stride=2, padding=1)
        h = F.relu(_bn_eval(s, f"decoder.bn{i}", h))
    return F.conv2d(h, s["decoder.c4.weight"], s["decoder.c4.bias"], padding=3)


def crops(images, boxes, obj_to_img, size=32):
    """Bilinear crops of boxes: samples at linspace(x0, x1) x linspace(y0, y1), pixel centres
    at 0 and 1 (align_corners), zeros outside: the original's crop_bbox_batch."""
    n = len(boxes)
    t = torch.linspace(0, 1, size)
    xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * t
    ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * t
    grid = torch.stack(
        [xs[:, None, :].expand(n, size, size), ys[:, :, None].expand(n, size, size)], dim=-1
    )
    return F.grid_sample(images[obj_to_img], grid * 2 - 1, align_corners=True)


def crop_encoder_mu(s, crops_, objs):
    """CropEncoder in eval mode: mu (N, 64)."""
    h = crops_
    names = ["c1", "c2", "c3", "c4", "conv5"]
    for i, name in enumerate(names):
        stride, pad = (1, 3) if i == 0 else (2, 1)
        h = F.conv2d(h, s[f"crop_encoder.{name}.weight"], stride=stride, padding=pad)
        h = F.relu(_cbn(s, f"crop_encoder.bn{i + 1}", h, objs))
    h = h.mean(dim=(2, 3))
    return F.linear(h, s["crop_encoder.fc_mu.weight"], s["crop_encoder.fc_mu.bias"])


def _sn_weight(s, prefix, training):
    """The classic spectral norm: in training, v = normalize(W^T u), u = normalize(W v) first
    (written back, as the buffers are); sigma = u . W v."""
    w = s[f"{prefix}.weight_orig"]
    mat = w.flatten(1)
    u, v = s[f"{prefix}.weight_u"], s[f"{prefix}.weight_v"]
    if training:
        v = F.normalize(mat.t() @ u, dim=0, eps=1e-12)
        u = F.normalize(mat @ v, dim=0, eps=1e-12)
        s[f"{prefix}.weight_u"], s[f"{prefix}.weight_v"] = u, v
    return w / torch.dot(u, mat @ v)


def discriminator(s, x, training, heads):
    """ImageDiscriminator (heads=("classifier",)) or ObjectDiscriminator (heads=(
    "classifier_src", "classifier_cls")) of the original; image D downsamples in main.0."""

    def conv(prefix, h, pad):
        return F.conv2d(h, _sn_weight(s, prefix, training), s[f"{prefix}.bias"], padding=pad)

    down0 = heads == ("classifier",)
    r = conv("main.0.resi.2", F.relu(conv("main.0.resi.0", x, 1)), 1)
    if down0:
        h = F.avg_pool2d(r, 2) + conv("main.0.sc", F.avg_pool2d(x, 2), 0)
    else:
        h = r + conv("main.0.sc", x, 0)
    for i in range(1, 5):
        a = F.relu(h)  # in place in the original: the shortcut sees it too
        r = conv(f"main.{i}.resi.3", F.relu(conv(f"main.{i}.resi.1", a, 1)), 1)
        h = F.avg_pool2d(r, 2) + F.avg_pool2d(conv(f"main.{i}.sc", a, 0), 2)
    h = F.relu(h).sum(dim=(2, 3))
    outs = []
    for name in heads:
        bias = s.get(f"{name}.bias")
        outs.append(F.linear(h, _sn_weight(s, name, training), bias))
    return outs
