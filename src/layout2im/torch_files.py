"""Reading a PyTorch ``torch.save`` file a user hands us: ``weights_only=True`` only, the path
checked first (a FIFO named like a checkpoint is refused unopened), one wording for the ways it
fails."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import Layout2ImError, short_path
from .readers import check_path

# "Unsupported global: GLOBAL os.system" (torch < 2.6), "Trying to load unsupported GLOBAL
# posix.system whose module posix is blocked" and "GLOBAL builtins.eval was not an allowed
# global by default" (torch >= 2.6)
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_weights_only(
    path: str | Path,
    what: str,
    error: type[Layout2ImError],
    map_location: str | torch.device = "cpu",
) -> Any:
    """``torch.load(path, map_location, weights_only=True)``; ``error`` naming ``what`` and
    the path for a missing file, a FIFO or device, pickled code, or a damaged file."""
    path = check_path(path, what, "file", error)
    shown = short_path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        code = _GLOBAL.search(str(exc))
        if code is not None:
            raise error(
                f"{what} {shown} needs Python code unpickled to load ({code.group(1)}); only "
                "plain tensors, numbers, strings and containers are read (torch.load with "
                "weights_only=True)"
            ) from None
        raise error(
            f"{what} {shown} is unreadable (damaged, or not a file torch.save wrote)"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, TypeError) as exc:
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise error(f"{what} {shown} is unreadable ({type(exc).__name__}: {first})") from None
