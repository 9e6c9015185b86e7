"""The layout JSON format as pydantic models: what ``generate --layout`` and ``/api/generate``
read, and what ``/openapi.json`` documents.

Box format: normalised ``[x0, y0, x1, y1]`` with ``0 <= x0 < x1 <= 1`` and ``0 <= y0 < y1 <=
1``, origin at the top-left corner. Every field has a validator with the project's wording
(``x1 (0.3) must be greater than x0 (0.5)``); the checks that depend on the model (known
categories, ``z_dim``, the object limit, whether style images may be file paths) read the
validation context (:class:`LayoutContext`). :func:`layout_problems` validates a parsed layout
and returns **every** problem, in order, each naming the object (index, and id when it has
one) and the field; :mod:`layout2im.layout` turns them into one ``LayoutError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from PIL import Image
from pydantic import Field, PlainValidator, ValidationError, ValidationInfo, WithJsonSchema
from pydantic import field_validator as _field_validator

from ..errors import quote, short
from .base import StrictModel, problem

MAX_ID_LENGTH = 100
MAX_ABS_Z = 1000.0
"""Largest magnitude of a value in an object's ``z``. Codes are drawn from N(0, I), so useful
values are a few units; far larger ones overflow float32 inside the network (black images)."""


@dataclass(frozen=True)
class LayoutContext:
    """What validating a layout for one model needs (all optional: none checks nothing)."""

    vocab: Any = None  # a layout2im.vocab.Vocabulary
    z_dim: int | None = None
    max_objects: int | None = None
    allow_style_files: bool = True


def _context(info: ValidationInfo) -> LayoutContext:
    return info.context if isinstance(info.context, LayoutContext) else LayoutContext()


# ----------------------------------------------------------------------------- values


def kind(value: Any) -> str:
    """How a value is named in messages: ``an object``, ``a list``, ``a string`` or its quote."""
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), quote(value))


def is_number(value: Any) -> bool:
    """A finite int or float (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float's range
        return False


def text_problem(value: str) -> str | None:
    """Why ``value`` is not usable text (a lone surrogate), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{short(ascii(value))} holds a lone surrogate (not valid text)"
    return None


def box_problem(box: Any) -> str | None:
    """Why ``box`` is not a normalised xyxy box, or None."""
    if not isinstance(box, list | tuple) or len(box) != 4:
        return f"must be a list of 4 numbers [x0, y0, x1, y1], got {quote(box)}"
    if not all(is_number(v) for v in box):
        return f"must hold 4 finite numbers, got {quote(box)}"
    x0, y0, x1, y1 = (float(v) for v in box)
    for name, v in zip(("x0", "y0", "x1", "y1"), (x0, y0, x1, y1), strict=True):
        if not 0.0 <= v <= 1.0:
            return f"{name} ({v}) is outside [0, 1] (boxes are normalised)"
    if x1 <= x0:
        return f"x1 ({x1}) must be greater than x0 ({x0})"
    if y1 <= y0:
        return f"y1 ({y1}) must be greater than y0 ({y0})"
    return None


def parse_box(box: Any) -> tuple[float, float, float, float]:
    """``box`` as 4 floats; raises a pydantic problem naming what is wrong."""
    found = box_problem(box)
    if found:
        raise problem(found)
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def _parse_codes(values: Any, length: int | None, length_name: str) -> list[float]:
    if not isinstance(values, list):
        raise problem(f"must be a list of finite numbers, got {kind(values)}")
    if length is not None and len(values) != length:
        raise problem(f"has {len(values)} values; this model's {length_name} is {length}")
    for k, v in enumerate(values):
        if not is_number(v):
            raise problem(f"must be a finite number, got {quote(v)}", index=k)
        if not abs(v) <= MAX_ABS_Z:
            raise problem(
                f"{quote(v)} is out of range; code values must lie in [-{MAX_ABS_Z:g}, "
                f"{MAX_ABS_Z:g}] (codes are drawn from N(0, 1); the model computes in float32)",
                index=k,
            )
    return [float(v) for v in values]


SEED_LIMIT = 2**63
"""Seeds (a call's, a layout's) and integer object ids are below this: they seed 63-bit
generators (layout2im.seeding)."""

MAX_SAMPLES = 256
"""Images one generation call makes at most (``Layout2ImPipeline.__call__``'s ``num_samples``,
``generate --samples``; the web API's per-request limit is at most this). One batch: its codes,
images and masks are allocated at once, so the bound keeps a typo from asking for terabytes."""


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not an object id, or None."""
    if isinstance(value, str):
        if not value or len(value) > MAX_ID_LENGTH:
            return f"must be 1 to {MAX_ID_LENGTH} characters long"
        return text_problem(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < SEED_LIMIT:
        return None
    return f"must be a string or a non-negative integer below 2**63, got {quote(value)}"


def _parse_id(value: Any) -> str | int:
    found = id_problem(value)
    if found:
        raise problem(found)
    return value


def _parse_seed(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise problem(f"must be a non-negative integer, got {quote(value)}")
    if value >= SEED_LIMIT:
        raise problem("must be below 2**63")
    return value


def _number_list(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "number"}, "description": description}


Box = Annotated[
    tuple[float, float, float, float],
    PlainValidator(parse_box),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "number", "minimum": 0, "maximum": 1},
            "minItems": 4,
            "maxItems": 4,
            "description": "normalised [x0, y0, x1, y1], x0 < x1, y0 < y1",
        }
    ),
]
ObjectId = Annotated[
    str | int,
    PlainValidator(_parse_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
                {"type": "integer", "minimum": 0, "maximum": SEED_LIMIT - 1},
            ],
            "description": "the object's identity for drawing its code (unique in a layout)",
        }
    ),
]
Seed = Annotated[
    int,
    PlainValidator(_parse_seed),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": SEED_LIMIT - 1}),
]


# ----------------------------------------------------------------------------- models


class StyleSpec(StrictModel):
    """An object's look taken from a reference image: the crop ``box`` of ``image`` is encoded
    and its posterior mean is the object's code."""

    image: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "string",
                "description": "a data: URL (data:image/png;base64,...); in a layout file also "
                "a file path, relative to the file",
            }
        ),
    ]
    box: Box

    @_field_validator("image", mode="plain")
    @classmethod
    def _image(cls, image: Any, info: ValidationInfo) -> Any:
        if isinstance(image, bytearray | memoryview):
            image = bytes(image)
        if isinstance(image, str):
            if not image.strip():
                raise problem("is empty")
            found = text_problem(image)
            if found:
                raise problem(found)
            if not _context(info).allow_style_files and image[:5].lower() != "data:":
                raise problem(
                    "file paths are not accepted here; send the image as a data: URL "
                    "(data:image/png;base64,...)"
                )
        elif isinstance(image, bytes):
            if not image:
                raise problem("is empty")
        elif not isinstance(image, Image.Image):
            raise problem(
                "must be a file path or a data: URL (or bytes or a PIL image from Python), "
                f"got {kind(image)}"
            )
        return image


class ObjectSpec(StrictModel):
    """One object: a category, a box, at most one of ``seed``/``z``/``style``, an optional
    ``id``."""

    category: Annotated[Any, WithJsonSchema({"type": "string", "description": "a category"})]
    box: Box
    seed: Seed | None = Field(None, description="fixes the object's code across calls")
    z: Annotated[Any, WithJsonSchema(_number_list("the object's code (z_dim values)"))] = None
    style: StyleSpec | None = None
    id: ObjectId | None = None

    @_field_validator("category", mode="plain")
    @classmethod
    def _category(cls, category: Any, info: ValidationInfo) -> str:
        if not isinstance(category, str):
            raise problem(f"must be a string, got {kind(category)}")
        found = text_problem(category)
        if found:
            raise problem(found)
        vocab = _context(info).vocab
        if vocab is not None and category not in vocab:
            raise problem(vocab.unknown_message(category))
        return category

    @_field_validator("z", mode="plain")
    @classmethod
    def _z(cls, z: Any, info: ValidationInfo) -> list[float] | None:
        if z is None:
            return None
        z = _parse_codes(z, _context(info).z_dim, "z_dim")
        if info.data.get("seed") is not None:
            raise problem("give either seed or z, not both", at_object=True)
        return z

    @_field_validator("style", mode="wrap")
    @classmethod
    def _style(cls, style: Any, handler: Any, info: ValidationInfo) -> StyleSpec | None:
        if style is None:
            return None
        if not isinstance(style, dict | StyleSpec):
            raise problem(
                f'must be an object {{"image": ..., "box": [x0, y0, x1, y1]}}, got {kind(style)}'
            )
        given = next((k for k in ("seed", "z") if info.data.get(k) is not None), None)
        spec = handler(style)
        if given:
            raise problem(f"cannot be combined with {given} (the style gives the code)")
        return spec


class LayoutSpec(StrictModel):
    """A layout: the objects to place in one image, and optionally the image's own code."""

    objects: list[ObjectSpec] = Field(description="at least one object")
    image_z: Annotated[
        Any,
        WithJsonSchema(
            _number_list(
                "the per-image code, for architectures that have one (its length is "
                "the architecture's)"
            )
        ),
    ] = None

    @_field_validator("objects", mode="wrap")
    @classmethod
    def _objects(cls, objects: Any, handler: Any, info: ValidationInfo) -> list[ObjectSpec]:
        if not isinstance(objects, list):
            raise problem('"objects" must be a list of objects', whole=True)
        if not objects:
            raise problem('"objects" is empty: a layout needs at least one object', whole=True)
        limit = _context(info).max_objects
        if limit is not None and len(objects) > limit:
            raise problem(
                f'"objects" has {len(objects)} objects; this model takes at most {limit}',
                whole=True,
            )
        return handler(objects)

    @_field_validator("image_z", mode="plain")
    @classmethod
    def _image_z(cls, image_z: Any) -> list[float] | None:
        return None if image_z is None else _parse_codes(image_z, None, "")


# ----------------------------------------------------------------------------- problems

_OBJECT_FIELDS = ", ".join(sorted(ObjectSpec.model_fields))
_STYLE_FIELDS = ", ".join(sorted(StyleSpec.model_fields))
_TOP_FIELDS = " and ".join(f'"{k}"' for k in LayoutSpec.model_fields)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_name(name: Any) -> str:
    """A user's unknown field name, cut short for messages."""
    name = str(name)
    return name if len(name) <= 40 and name.isprintable() else quote(name)


def _describe(error: Any) -> tuple[int, str]:
    """(object index or -1, message) for one pydantic error of :class:`LayoutSpec`."""
    loc, kind_, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
    index = loc[1] if len(loc) > 1 and loc[0] == "objects" and isinstance(loc[1], int) else -1
    if kind_ == "problem":
        if ctx.get("whole"):
            return index, ctx["message"]
        if ctx.get("at_object"):
            loc = loc[:2]
        if "index" in ctx:
            return index, f"{_path(loc)}[{ctx['index']}]: {ctx['message']}"
        return index, f"{_path(loc)}: {ctx['message']}"
    if kind_ == "extra_forbidden":
        if len(loc) == 1:
            return index, (
                f"unknown top-level field {quote(str(loc[0]))}; a layout has only {_TOP_FIELDS}"
            )
        fields = _STYLE_FIELDS if "style" in loc[:-1] else _OBJECT_FIELDS
        where = _path(loc[:-1])
        return index, f"{where}.{_field_name(loc[-1])}: unknown field; valid fields: {fields}"
    if kind_ == "missing":
        return index, f"{_path(loc)}: missing"
    if kind_ in ("model_type", "model_attributes_type", "dict_type") and len(loc) == 2:
        return (
            index,
            f"{_path(loc)} must be an object with category and box, got {kind(error.get('input'))}",
        )
    return index, f"{_path(loc)}: {error['msg']}, got {quote(error.get('input'))}"


def _key_problems(objects: list[Any]) -> list[tuple[int, str]]:
    """Ids (and the indices standing in for missing ids) that are not unique."""
    owner: dict[tuple[type, str | int], int] = {}
    found = []
    ids = [o.get("id") if isinstance(o, dict) else None for o in objects]
    ids = [i if i is not None and id_problem(i) is None else None for i in ids]
    for j, obj_id in enumerate(ids):
        key = obj_id if obj_id is not None else j
        first = owner.setdefault((type(key), key), j)
        if first == j:
            continue
        if obj_id is not None and ids[first] is not None:
            found.append(
                (j, f"objects[{j}].id: {quote(obj_id)} is already the id of objects[{first}]")
            )
        elif obj_id is not None:
            found.append((j, (
                f"objects[{j}].id: {quote(obj_id)} is the index of objects[{first}], which has "
                "no id (an object without an id is identified by its index); give every object "
                "an id"
            )))  # fmt: skip
        else:
            found.append((first, (
                f"objects[{first}].id: {key!r} is the index of objects[{j}], which has no id "
                "(an object without an id is identified by its index); give every object an id"
            )))  # fmt: skip
    return found


def _with_id(message: str, index: int, objects: list[Any]) -> str:
    """``objects[2].box (id 'sun'): ...``: the object's id after its path, when it has one."""
    obj = objects[index] if 0 <= index < len(objects) else None
    obj_id = obj.get("id") if isinstance(obj, dict) else None
    head, sep, rest = message.partition(": ")
    if obj_id is None or id_problem(obj_id) or not sep or head.endswith(".id"):
        return message
    return f"{head} (id {quote(obj_id)}): {rest}"


def layout_problems(
    data: dict[str, Any], context: LayoutContext
) -> tuple[LayoutSpec | None, list[str]]:
    """Validate ``data`` (a parsed layout, a mapping): the spec, or None and every problem in
    order (by object, then field)."""
    objects = data.get("objects") if isinstance(data.get("objects"), list) else []
    try:
        spec = LayoutSpec.model_validate(data, context=context)
        found: list[tuple[int, str]] = []
    except ValidationError as exc:
        spec = None
        found = [_describe(e) for e in exc.errors(include_url=False)]
    found += _key_problems(objects) if spec is not None or found else []
    found.sort(key=lambda item: item[0])  # stable: fields keep their order within an object
    messages = list(dict.fromkeys(_with_id(m, i, objects) for i, m in found))
    return (spec if not messages else None), messages


def layout_json_schema() -> dict[str, Any]:
    """The JSON schema of a layout with every reference resolved in place (so it can sit
    inside another schema, e.g. the editor's OpenAPI document)."""
    schema = LayoutSpec.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)
