"""Reading a PyTorch ``torch.save`` file a user hands us: ``weights_only=True`` only, the path
checked first (a FIFO named like a checkpoint is refused unopened), one wording for the ways it
fails.

``torch.load(weights_only=True)`` says why it refused a pickle in words that change between
torch versions; :func:`load_weights_only` sorts them into three kinds: the file needs Python
code unpickled (a global such as ``posix.system``, a call, an object of a class that is not
allowed), it is a pickle of a protocol the weights-only reader does not read (4 or later), or
it is damaged or not a ``torch.save`` file.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from .errors import Layout2ImError, short, short_path
from .readers import check_path

# "Unsupported global: GLOBAL os.system" (torch < 2.6), "Trying to load unsupported GLOBAL
# posix.system whose module posix is blocked" and "GLOBAL builtins.eval was not an allowed
# global by default" (torch >= 2.6, still in 2.13)
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# the other refusals of code (torch 2.6 to 2.13): a call, an object or a state of a class that
# is not allowed, a tensor subclass whose module must be imported first
_CODE = re.compile(
    r"reduce for unrecognized function (.+?)(?: which belongs|$)|"
    r"Can only (?:create new object|build)\b.*?got (<class '[\w.]+'>)|"
    r"``([\w.]+)`` must be imported to load",
    re.MULTILINE,
)
# an opcode the weights-only reader does not implement: "Unsupported operand 149"
_OPERAND = re.compile(r"Unsupported operand (\d+)")


def load_weights_only(
    path: str | Path,
    what: str,
    error: type[Layout2ImError],
    map_location: str | torch.device = "cpu",
    code_hint: str = "",
) -> Any:
    """``torch.load(path, map_location, weights_only=True)``; ``error`` naming ``what`` and
    the path for a missing file, a FIFO or device, pickled code, a pickle protocol the
    weights-only reader does not read, or a damaged file. ``code_hint`` is added to the message
    for pickled code (what to do instead)."""
    path = check_path(path, what, "file", error)
    shown = short_path(path)
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol 4": the error says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise error(_unpickling_message(str(exc), f"{what} {shown}", code_hint)) from None
    except Exception as exc:
        # a hostile pickle fails in any way the unpickler can (struct.error, IndexError,
        # KeyError, AttributeError, ...): all of them mean "unreadable"
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise error(f"{what} {shown} is unreadable ({type(exc).__name__}: {first})") from None


def _unpickling_message(text: str, where: str, code_hint: str) -> str:
    code = _GLOBAL.search(text) or _CODE.search(text)
    if code is not None:
        name = short(next(g for g in code.groups() if g), 80)
        return (
            f"{where} needs Python code unpickled to load ({name}); only plain tensors, numbers, "
            f"strings and containers are read (torch.load with weights_only=True){code_hint}"
        )
    operand = _OPERAND.search(text)
    opcode = pickletools.code2op.get(chr(int(operand.group(1)))) if operand else None
    if opcode is not None and opcode.proto >= 4:
        return (
            f"{where} is a pickle of protocol {opcode.proto} or later (its {opcode.name} "
            "instruction), which torch.load(weights_only=True) does not read; save it with "
            "torch.save's default protocol (pickle_protocol=2)"
        )
    return f"{where} is unreadable (damaged, or not a file torch.save wrote)"
