"""Hostile files beyond layouts, shared by the property tests and ``benchmarks/fuzz.py``:
model folders (config.json, vocab.json, safetensors headers) and training checkpoints, and the
JSON mutations the other families use (dataset files: ``tests/dataset_fuzz.py``; raw requests
and slow clients: ``tests/http_fuzz.py``).

Every strategy draws a mutation of a valid input (one field replaced by any JSON value, bytes
cut or spliced, huge integers, deep nesting, booleans for numbers); every ``check_*`` returns
``"refused"`` (a Layout2ImError with one short line) or
``"accepted"`` and fails on anything else (another exception, a long message).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any

import torch
from hypothesis import strategies as st

from layout2im.errors import Layout2ImError
from layout2im.pipeline import Layout2ImPipeline
from layout2im.training.checkpoint import CheckpointError, load_checkpoint

MAX_MESSAGE = 2000

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([10**70, -(10**70), 2**63, 2**64, 0, -1, 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "", "x" * 5000]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def short_line(message: str) -> None:
    assert message and "\n" not in message.strip() and len(message) < MAX_MESSAGE, message[:300]
    assert "Traceback" not in message


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):
            found += _paths(v, (*prefix, i))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def mutated_json(draw, base: Any, under: tuple = ()) -> bytes:
    """``base`` with one value replaced (one at path ``under`` or inside it), as JSON text,
    sometimes cut, spliced or nested deep."""
    paths = [p for p in _paths(base) if p[: len(under)] == under]
    path = draw(st.sampled_from(paths))
    value = _replace(base, path, draw(json_values))
    text = json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["as is", "as is", "cut", "splice", "deep", "bytes"]))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "splice":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(max_size=8)) + text[at:]
    elif how == "deep":
        text = b"[" * 5000 + b"]" * 5000
    elif how == "bytes":
        text = draw(st.binary(max_size=64))
    return text


# -- model folders ---------------------------------------------------------------------------------


def model_folder_files(model_dir: Path):
    """``(file name, new bytes)`` for one file of the model folder ``model_dir``."""
    config = json.loads((model_dir / "config.json").read_text())
    vocab = json.loads((model_dir / "vocab.json").read_text())
    weights = (model_dir / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", weights[:8])
    header = json.loads(weights[8 : 8 + size])

    @st.composite
    def safetensors(draw) -> bytes:
        text = draw(mutated_json(header))
        length = draw(st.sampled_from([len(text), len(text), 2**63, 0, len(text) + 7]))
        return struct.pack("<Q", length) + text + weights[8 + size :]

    return st.one_of(
        st.tuples(st.just("config.json"), mutated_json(config)),
        st.tuples(st.just("vocab.json"), mutated_json(vocab)),
        st.tuples(st.just("model.safetensors"), safetensors()),
    )


def check_model_folder(model_dir: Path, change: tuple[str, bytes], work: Path) -> str:
    """Load a copy of ``model_dir`` with one file replaced."""
    name, data = change
    folder = work / "model"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(model_dir, folder)
    (folder / name).write_bytes(data)
    try:
        pipe = Layout2ImPipeline.from_pretrained(folder)
    except Layout2ImError as exc:
        short_line(str(exc))
        return "refused"
    assert len(pipe.vocab) == pipe.config.num_classes
    return "accepted"


# -- checkpoints -----------------------------------------------------------------------------------


@st.composite
def checkpoint_states(draw, state: dict) -> Any:
    """A training state with one part replaced: a top-level key, a network, a tensor."""
    kind = draw(st.sampled_from(["top", "network", "tensor", "any"]))
    new = {**state, "models": dict(state["models"])}
    if kind == "top":
        new[draw(st.sampled_from(sorted(state)))] = draw(json_values)
    elif kind == "network":
        new["models"][draw(st.sampled_from(sorted(state["models"])))] = draw(json_values)
    elif kind == "tensor":
        net = draw(st.sampled_from(sorted(state["models"])))
        weights = dict(new["models"][net])
        key = draw(st.sampled_from(sorted(weights)))
        old = weights[key]
        weights[key] = draw(
            st.sampled_from(
                [
                    torch.zeros(3, 3),
                    old.to(torch.complex64) if old.is_floating_point() else old,
                    old > 0,
                    torch.full_like(old, float("nan")) if old.is_floating_point() else old,
                    old.double(),
                    "evil",
                ]
            )
        )
        new["models"][net] = weights
    else:
        return draw(json_values)
    return new


def check_checkpoint(state: Any, work: Path) -> str:
    """Save ``state`` as a checkpoint and load it back."""
    path = work / "ckpt-00000006.pt"
    torch.save(state, path)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        short_line(str(exc))
        return "refused"
    assert isinstance(loaded["step"], int) and isinstance(loaded["models"], dict)
    return "accepted"
