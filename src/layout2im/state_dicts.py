"""Checking a state dict someone hands us against the network it is meant for, before loading.

One rule for every way weights come in (a model folder's ``model.safetensors``, a training
checkpoint on ``train --resume`` / ``--init-from``, the checkpoints ``average`` reads):

- the names are the network's own: every one there, no other (``missing``, ``unexpected``);
- each tensor has the network's shape for it;
- where the network holds a floating-point tensor, the file's is floating point too
  (float16, bfloat16, float32 or float64: loading casts between them) and finite. bool,
  integer and complex values are refused: loading would cast them silently (a complex
  tensor loses its imaginary part), and no training writes them;
- where the network holds another type (BatchNorm's int64 ``num_batches_tracked``), the
  file's is exactly that type.

Every problem is found at once and reported in one message (:func:`check_state`), keys quoted
with :func:`~layout2im.errors.quote`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .errors import Layout2ImError, join_problems, quote

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
"""The floating-point types a weight may be stored as."""


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``float32``."""
    return str(dtype).removeprefix("torch.")


def tensor_problem(
    tensor: Any, dtype: torch.dtype, shape: tuple[int, ...] | None = None
) -> str | None:
    """What is wrong with ``tensor`` standing where the network holds a tensor of ``dtype``
    (and ``shape``, when given), as the end of a sentence (``"is bool, expected ..."``);
    None when it fits."""
    if not torch.is_tensor(tensor):
        return f"must be a tensor, got {type(tensor).__name__}"
    if shape is not None and tuple(tensor.shape) != tuple(shape):
        return f"has shape {tuple(tensor.shape)}, the network's is {tuple(shape)}"
    found = dtype_name(tensor.dtype)
    if dtype.is_floating_point:
        if tensor.dtype not in FLOAT_DTYPES:
            return (
                f"is {found}, expected a floating-point tensor (the network's is "
                f"{dtype_name(dtype)})"
            )
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            nan = int(torch.isnan(tensor).sum())
            return (
                f"holds {nan:,} NaN and {int((~finite).sum()) - nan:,} infinite values "
                f"(of {tensor.numel():,}); weights must be finite"
            )
        return None
    if tensor.dtype != dtype:
        return f"is {found}, expected {dtype_name(dtype)}"
    return None


def state_problems(state: Mapping[Any, Any], reference: Mapping[str, torch.Tensor]) -> list[str]:
    """Every way ``state`` differs from ``reference`` (a network's ``state_dict()``): missing
    and unexpected names, then each tensor's shape, type and values (see the module)."""
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    for key, tensor in state.items():
        if key in reference:
            want = reference[key]
            problem = tensor_problem(tensor, want.dtype, tuple(want.shape))
            if problem:
                problems.append(f"{quote(key)} {problem}")
    return problems


def check_state(
    state: Mapping[Any, Any],
    reference: Mapping[str, torch.Tensor],
    where: str,
    error: type[Layout2ImError],
) -> None:
    """Raise ``error`` (``"<where>: <every problem>"``) when ``state`` does not fit
    ``reference`` (see :func:`state_problems`)."""
    problems = state_problems(state, reference)
    if problems:
        raise error(f"{where}: {join_problems(problems)}")


def _names(keys: list[Any]) -> str:
    shown = quote(keys)
    return shown if len(keys) <= 6 else f"{shown} ({len(keys)} in all)"
