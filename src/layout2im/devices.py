"""The one parser of device names a user gives (``--device``, ``train.device``, Python callers).

Accepted: ``cpu``, ``cuda`` (the current CUDA device) and ``cuda:N`` with ``N`` below
``torch.cuda.device_count()`` (``train.device`` also takes ``auto``, which
:mod:`layout2im.training.distributed` resolves). Everything else is refused before any
tensor is moved: other backends (``meta`` holds no data, ``mps``/``xla`` are not supported),
malformed text, and CUDA devices this machine does not have.
"""

from __future__ import annotations

import re

import torch

from .errors import Layout2ImError, quote

DEVICE_FORMS = "cpu, cuda or cuda:N"
_CUDA_INDEX = re.compile(r"cuda:(0|[1-9][0-9]{0,3})")


class DeviceError(Layout2ImError, ValueError):
    """A device name that is malformed or names a device this machine does not have."""


def parse_device(device: str | torch.device, what: str = "--device") -> torch.device:
    """``device`` as a :class:`torch.device` once checked. Raises :class:`DeviceError` naming
    ``what`` and the value otherwise."""
    if isinstance(device, torch.device):
        text = str(device)
    elif isinstance(device, str):
        text = device
    else:
        raise DeviceError(f"{what} must be a device name ({DEVICE_FORMS}), got {quote(device)}")
    if text == "cpu":
        return torch.device("cpu")
    if text != "cuda" and not _CUDA_INDEX.fullmatch(text):
        raise DeviceError(f"{what} must be {DEVICE_FORMS}, got {quote(text)}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceError(f"{what}={quote(text)}: no CUDA device is available on this machine")
    if text == "cuda":
        return torch.device("cuda")
    index = int(text.split(":")[1])
    if index >= count:
        have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise DeviceError(f"{what}={quote(text)}: this machine has {count} ({have})")
    return torch.device("cuda", index)
