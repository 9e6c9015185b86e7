"""Random and mutated layouts, and the checks every one of them must pass.

Shared by the property-based tests (a few hundred examples in ``make test``) and
``benchmarks/fuzz.py`` (many more). Three ways in:

- :func:`check_parse`: the layout parser and the pipeline on parsed JSON: a layout is either
  refused with a :class:`LayoutError` (one line, short) or generates finite images and codes;
- :func:`check_cli_generate`: ``layout2im generate`` in-process on a layout file's bytes:
  exit 0 with every image written, or exit 2 with one ``error:`` line and nothing written;
- :func:`check_api_generate`: ``POST /api/generate``: 200 with finite codes and decodable
  images, or a 4xx JSON error; never a 5xx.

Any other outcome (a traceback, a 5xx, a non-finite value, a partial or leftover file) fails.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import torch
from hypothesis import strategies as st
from PIL import Image

from layout2im.cli import main
from layout2im.layout import LayoutError

MAX_MESSAGE = 2000
"""The longest error message accepted (the longest legitimate one lists 30 category names)."""

# -- strategies -----------------------------------------------------------------------------------

EXTREMES = [0.0, 1.0, -0.0, 0.5, 1e-320, 1e308, -1e308, 3.5e38, -3.5e38, 1e39, 999.9, 1000.0]
numbers = st.one_of(
    st.floats(0, 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.integers(-(2**70), 2**70),
    st.sampled_from(EXTREMES),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=20),
    st.sampled_from(["", "data:", "a" * 300]),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: (
        st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def valid_boxes(draw) -> list[float]:
    x0, x1 = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2, unique=True)))
    return [x0, y0, x1, y1]


def _png_url(size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


style_images = st.one_of(
    st.builds(
        _png_url,
        st.tuples(st.integers(1, 40), st.integers(1, 40)),
        st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    ),
    st.binary(max_size=64).map(lambda b: "data:image/png;base64," + base64.b64encode(b).decode()),
    st.sampled_from(["data:image/png;base64,!!!", "data:,x", "/dev/zero", "no-such-file.png"]),
    json_values,
)


def objects(categories: list[str], z_dim: int):
    """One object: mostly well-formed, every field sometimes wrong."""
    optional = {
        "seed": st.one_of(st.integers(0, 2**63 - 1), st.integers(-(2**70), 2**70), json_scalars),
        "z": st.one_of(
            st.lists(st.floats(-3, 3), min_size=z_dim, max_size=z_dim),
            st.lists(numbers, min_size=z_dim, max_size=z_dim),
            st.lists(numbers, max_size=z_dim + 2),
            json_values,
        ),
        "id": st.one_of(st.text(max_size=6), st.integers(-2, 2**64), json_scalars),
        "style": st.one_of(
            st.fixed_dictionaries({"image": style_images, "box": valid_boxes()}),
            st.fixed_dictionaries(
                {"image": style_images, "box": json_values}, optional={"x": json_scalars}
            ),
            json_values,
        ),
        "extra": json_values,
    }
    return st.fixed_dictionaries(
        {
            "category": st.one_of(st.sampled_from(categories), st.text(max_size=12), json_values),
            "box": st.one_of(valid_boxes(), st.lists(numbers, max_size=6), json_values),
        },
        optional=optional,
    )


def valid_objects(categories: list[str], z_dim: int):
    """One object that a model accepts, with any of the optional controls (extreme codes
    inside the accepted range included)."""
    return st.fixed_dictionaries(
        {"category": st.sampled_from(categories), "box": valid_boxes()},
        optional={
            "seed": st.integers(0, 2**63 - 1),
            "z": st.lists(
                st.floats(-1000, 1000) | st.sampled_from([-1000.0, 1000.0, 0.0]),
                min_size=z_dim,
                max_size=z_dim,
            ),
            "id": st.text(min_size=1, max_size=6),
        },
    ).filter(lambda o: not ("seed" in o and "z" in o))


def layouts(categories: list[str], z_dim: int, max_objects: int):
    """Parsed JSON layouts: valid, well-formed but wrong somewhere, mutated, or any JSON."""
    valid = st.builds(
        lambda objs: {"objects": objs},
        st.lists(
            valid_objects(categories, z_dim),
            min_size=1,
            max_size=max_objects,
            unique_by=lambda o: o.get("id", id(o)),  # ids must be unique within a layout
        ),
    )
    well_formed = st.builds(
        lambda objs: {"objects": objs},
        st.lists(objects(categories, z_dim), min_size=1, max_size=max_objects + 2),
    )
    return st.one_of(
        valid,  # three times: about half of all examples reach the model
        valid,
        valid,
        well_formed,
        st.builds(
            lambda layout, extra: {**layout, **extra},
            well_formed,
            st.dictionaries(st.text(max_size=6), json_values, max_size=2),
        ),
        st.lists(objects(categories, z_dim), max_size=3),
        json_values,
    )


@st.composite
def layout_bytes(draw, categories: list[str], z_dim: int, max_objects: int) -> bytes:
    """A layout file's bytes: JSON text, sometimes cut, spliced or not UTF-8 at all."""
    text = json.dumps(draw(layouts(categories, z_dim, max_objects))).encode()
    how = draw(st.sampled_from(["as is", "as is", "cut", "splice", "nest", "binary"]))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "splice":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(max_size=8)) + text[at:]
    elif how == "nest":
        depth = draw(st.sampled_from([10, 1000, 50_000]))
        text = b'{"objects": [' + b"[" * depth + b"]" * depth + b"]}"
    elif how == "binary":
        text = draw(st.binary(max_size=64))
    return text


def api_bodies(categories: list[str], z_dim: int, max_objects: int):
    """Request bodies for ``POST /api/generate`` (bytes sent as application/json)."""
    fields = st.fixed_dictionaries(
        {"layout": layouts(categories, z_dim, max_objects)},
        optional={
            "num_samples": st.one_of(st.integers(1, 2), json_scalars),
            "seed": st.one_of(st.integers(0, 2**63 - 1), json_scalars),
            "rescale": st.one_of(st.sampled_from(["clamp", "minmax"]), json_scalars),
        },
    )
    return st.one_of(
        fields.map(lambda body: json.dumps(body).encode()),
        layout_bytes(categories, z_dim, max_objects),
    )


# -- checks ---------------------------------------------------------------------------------------


def _short_line(message: str) -> None:
    assert message and "\n" not in message.strip() and len(message) < MAX_MESSAGE, message[:300]
    assert "Traceback" not in message


def check_parse(pipe, data: Any) -> str:
    """Parse ``data`` for ``pipe``'s model and, when valid, generate: images and codes finite.
    Returns "refused" or "generated"."""
    try:
        layout = pipe.parse(data)
        codes = pipe.style_codes(layout)
    except LayoutError as exc:
        _short_line(str(exc))
        return "refused"
    latents = pipe.latents(layout, 2, seed=0, style_codes=codes)
    images = pipe.generate_tensor(layout, latents)
    assert latents.shape == (2, len(layout.objects), pipe.config.z_dim)
    assert torch.isfinite(latents).all() and torch.isfinite(images).all()
    return "generated"


def check_cli_generate(model: str | Path, text: bytes, work: Path, k: int) -> str:
    """``layout2im generate`` on a file holding ``text``, output in a fresh folder. Returns
    "refused" or "generated"."""
    layout = work / f"layout{k}.json"
    layout.write_bytes(text)
    out = work / f"out{k}"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(
            ["generate", "--model", str(model), "--layout", str(layout), "--out", str(out),
             "--samples", "2"]
        )  # fmt: skip
    err = stderr.getvalue()
    if code == 2:
        assert err.startswith("error: "), err[:300]
        _short_line(err)
        assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())
        return "refused"
    assert code == 0, (code, err[:300])
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"layout{k}-grid.png", f"layout{k}-sample00.png", f"layout{k}-sample01.png"]
    for name in written:
        with Image.open(out / name) as img:
            img.load()
    return "generated"


def check_api_generate(client, body: bytes) -> str:
    """``POST /api/generate`` with ``body``; returns "refused" or "generated"."""
    r = client.post("/api/generate", content=body, headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text[:300]
    if r.status_code != 200:
        assert 400 <= r.status_code < 500 and r.status_code != 404, r.status_code
        answer = r.json()
        assert set(answer) == {"error", "field"}, answer
        _short_line(answer["error"])
        return "refused"
    answer = r.json()
    assert all(math.isfinite(v) for sample in answer["latents"] for obj in sample for v in obj)
    for image in answer["images"]:
        with Image.open(io.BytesIO(base64.b64decode(image))) as img:
            assert img.size == (answer["width"], answer["height"])
    return "generated"
