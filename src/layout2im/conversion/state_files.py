"""Reading the authors' state-dict files safely and matching them against the key table.

Files are read with ``torch.load(weights_only=True)`` only: a file that would need Python code
unpickled (a whole model saved with ``torch.save(model)``, or anything else than tensors in
containers) is refused. The released ``netG_coco.pt`` / ``netG_vg.pt`` and the training script's
``iter-N_netG.pkl`` / ``iter-N_netD_image.pkl`` / ``iter-N_netD_object.pkl`` are plain
``state_dict()`` files; a state dict saved from ``nn.DataParallel`` has every key prefixed with
``module.``, which is removed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import Layout2ImError, quote, short_path
from ..readers import open_binary
from ..torch_files import load_weights_only
from .key_table import KeyMapping


class ConversionError(Layout2ImError, ValueError):
    """An original model file cannot be converted; the message says exactly why."""


DATA_PARALLEL_PREFIX = "module."
_ITERATION = re.compile(r"iter-(\d+)")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``state_dict()`` file (``module.`` prefixes removed), read with
    ``weights_only=True``. Raises :class:`ConversionError` for anything else."""
    state = load_weights_only(
        path,
        "state-dict file",
        ConversionError,
        code_hint=(
            ". If the file holds a whole model object, save its model.state_dict() with the "
            "authors' code and convert that"
        ),
    )
    shown = short_path(path)
    if not isinstance(state, dict) or not state:
        raise ConversionError(
            f"{shown} holds a {type(state).__name__}, not a state dict (a mapping of parameter "
            "names to tensors)"
        )
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise ConversionError(
            f"{shown} is not a state dict: {len(bad)} entries are not tensors named by strings "
            f"(e.g. {quote(bad[0])})"
        )
    if all(k.startswith(DATA_PARALLEL_PREFIX) for k in state):
        state = {k[len(DATA_PARALLEL_PREFIX) :]: v for k, v in state.items()}
    return state


def iteration_of(path: str | Path) -> int | None:
    """The training iteration in a training-script file name (``iter-300000_netG.pkl``)."""
    match = _ITERATION.search(Path(path).name)
    return int(match.group(1)) if match else None


def map_state_dict(
    state: dict[str, torch.Tensor],
    table: list[KeyMapping],
    what: str,
    network: str = "a Layout2Im network",
) -> dict[str, torch.Tensor]:
    """``state`` (original names) renamed to ours by ``table``. Every missing required key,
    every unexpected key and every shape mismatch is named in one :class:`ConversionError`.
    ``what`` names the file and network in the message, ``network`` what it should be."""
    known = {m.original: m for m in table}
    missing = [m.original for m in table if not m.optional and m.original not in state]
    unexpected = sorted(k for k in state if k not in known)
    mismatched = [
        f"{k}: {tuple(v.shape)} in the file, {known[k].shape} expected"
        for k, v in state.items()
        if k in known and tuple(v.shape) != known[k].shape
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {', '.join(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatch(es): {'; '.join(mismatched)}")
        raise ConversionError(f"{what} is not {network} of this kind and size; " + ". ".join(parts))
    out: dict[str, torch.Tensor] = {}
    for m in table:
        if m.ours and m.original in state:
            out[m.ours] = state[m.original].detach().clone()
    _fill_missing_power_vectors(out, table, state)
    return out


def _fill_missing_power_vectors(
    out: dict[str, torch.Tensor], table: list[KeyMapping], state: dict[str, torch.Tensor]
) -> None:
    """A spectral-norm layer saved without ``weight_v`` (PyTorch < 1.0) gets
    ``v = normalize(W^T u)``: what the classic iteration computes first at the next training
    forward, so training continues as it would have."""
    for m in table:
        if m.ours.endswith("._v") and m.original not in state:
            prefix = m.ours[: -len("0._v")]
            weight = out[prefix + "original"].flatten(1).float()
            u = out[prefix + "0._u"].float()
            out[m.ours] = F.normalize(torch.mv(weight.t(), u), dim=0, eps=1e-12)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open_binary(path, "checkpoint file", ConversionError) as f:  # never blocks on a FIFO
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
