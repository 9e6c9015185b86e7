"""Hostile files and requests beyond layouts, shared by the property tests and
``benchmarks/fuzz.py``: model folders (config.json, vocab.json, safetensors headers), training
checkpoints, dataset JSON (COCO-format and VG files) and raw HTTP requests.

Every strategy draws a mutation of a valid input (one field replaced by any JSON value, bytes
cut or spliced, huge integers, deep nesting, booleans for numbers); every ``check_*`` returns
``"refused"`` (a Layout2ImError with one short line, a 4xx, a closed connection) or
``"accepted"`` and fails on anything else (another exception, a 5xx, a long message).
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
from pathlib import Path
from typing import Any

import torch
from hypothesis import strategies as st

from layout2im.data.errors import DatasetError
from layout2im.data.jsonstream import iter_array, read_members
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


def _short_line(message: str) -> None:
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
def mutated_json(draw, base: Any) -> bytes:
    """``base`` with one value replaced, as JSON text, sometimes cut, spliced or nested deep."""
    paths = _paths(base)
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
        _short_line(str(exc))
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
        _short_line(str(exc))
        return "refused"
    assert isinstance(loaded["step"], int) and isinstance(loaded["models"], dict)
    return "accepted"


# -- dataset files ---------------------------------------------------------------------------------

COCO = {
    "info": {"description": "x"},
    "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
    "annotations": [
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "iscrowd": 0}
    ],
    "categories": [{"id": 1, "name": "cat", "supercategory": "animal"}],
}
VG_OBJECTS = [
    {
        "image_id": 1,
        "objects": [{"object_id": 5, "names": ["man"], "x": 1, "y": 2, "w": 40, "h": 40}],
    }
]


def dataset_files():
    """``(kind, bytes)``: a COCO instances file or a VG objects file."""
    return st.one_of(
        st.tuples(st.just("coco"), mutated_json(COCO)),
        st.tuples(st.just("vg"), mutated_json(VG_OBJECTS)),
    )


def check_dataset_file(example: tuple[str, bytes], work: Path) -> str:
    """Stream a COCO or VG file with the dataset readers and checks."""
    from layout2im.data.coco import _Annotations, _Images
    from layout2im.data.vg import _entry_id

    kind, data = example
    path = work / f"{kind}.json"
    path.write_bytes(data)
    try:
        if kind == "coco":
            images, annotations = _Images(), _Annotations()
            read_members(
                path,
                {"images": images.handler(path), "annotations": annotations.handler(path, 0)},
                skip_key="segmentation",
            )
        else:
            for k, entry in enumerate(iter_array(path)):
                _entry_id(entry, path, k)
    except DatasetError as exc:
        _short_line(str(exc))
        return "refused"
    return "accepted"


# -- raw HTTP --------------------------------------------------------------------------------------

REQUEST = (
    b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b'Content-Length: 12\r\n\r\n{"objects":1}'
)


@st.composite
def raw_requests(draw) -> bytes:
    """A request with bytes replaced, cut or spliced, or headers added."""
    how = draw(st.sampled_from(["splice", "cut", "header", "bytes"]))
    if how == "cut":
        return REQUEST[: draw(st.integers(1, len(REQUEST)))]
    if how == "splice":
        at = draw(st.integers(0, len(REQUEST)))
        return REQUEST[:at] + draw(st.binary(min_size=1, max_size=16)) + REQUEST[at:]
    if how == "header":
        name = draw(
            st.sampled_from(
                [b"Transfer-Encoding", b"Content-Length", b"Host", b"Origin", b"Content-Type"]
            )
        )
        value = draw(st.sampled_from([b"chunked", b"9" * 5000, b"-1", b"evil.example", b""]))
        head, body = REQUEST.split(b"\r\n\r\n")
        return head + b"\r\n" + name + b": " + value + b"\r\n\r\n" + body
    return draw(st.binary(min_size=1, max_size=64))


def check_raw_request(port: int, data: bytes) -> str:
    """Send ``data`` on a fresh connection; the answer must not be a 5xx."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    if not answer:
        return "refused"  # closed unanswered (incomplete request)
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 "), status[:100]
    code = int(status.split()[1])
    assert code < 500, answer[:300]
    return "refused" if code >= 400 else "accepted"
