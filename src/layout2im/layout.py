"""Layouts: the user-facing JSON format and the padded tensor batch the model reads.

Box format everywhere: normalised ``[x0, y0, x1, y1]`` with ``0 <= x0 < x1 <= 1`` and
``0 <= y0 < y1 <= 1``, origin at the top-left corner of the image.

Layout JSON (what ``layout2im generate --layout`` reads)::

    {"objects": [
        {"category": "circle", "box": [0.1, 0.2, 0.5, 0.9], "seed": 7},
        {"category": "square", "box": [0.5, 0.1, 0.9, 0.6], "z": [0.1, ...]}
    ]}

Per object, optionally:

- ``seed`` (an integer) fixes its latent code ``z ~ N(0, I)`` across samples and calls;
- ``z`` (``z_dim`` floats) gives the code directly;
- ``style``: ``{"image": ..., "box": [x0, y0, x1, y1]}`` takes the code from a reference image:
  the object latent estimator encodes the crop ``box`` (normalised xyxy in the reference image)
  and its posterior mean is the code. ``image`` is a file path (relative paths in a layout file
  are relative to that file), a ``data:`` URL, or through the Python API raw bytes or a PIL
  image; only PNG, JPEG, WebP, GIF and BMP are read (see :mod:`layout2im.images`);
- ``id`` (a string of at most 100 characters or a non-negative integer): the object's identity
  for drawing its code. With none of seed, z and style, object ``j`` of sample ``k`` gets the code
  seeded by ``(call seed, k, id)``, where ``id`` defaults to the index ``j``. Giving every object
  an ``id`` keeps each object's code when others are added, removed or reordered; ids (and the
  indices standing in for missing ids) must be unique within a layout.

At most one of ``seed``, ``z`` and ``style`` per object.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .errors import Layout2ImError, quote
from .vocab import Vocabulary

MAX_ID_LENGTH = 100
MAX_LAYOUT_FILE_BYTES = 16 * 1024 * 1024
"""Layout files larger than this are refused unread (a layout with style images as data:
URLs is a few MB; the editor's server takes 2 MB)."""
MAX_ABS_Z = 1000.0
"""Largest magnitude of a value in an object's ``z``. Codes are drawn from N(0, I), so useful
values are a few units; far larger ones overflow float32 inside the network (black images)."""

_FIELD = re.compile(r"^(objects\[\d+\](?:\.[A-Za-z_]+)*)")


class LayoutError(Layout2ImError, ValueError):
    """A layout is invalid. The message names the object index and the field."""

    @property
    def field(self) -> str | None:
        """The field the message starts with, e.g. ``objects[2].style.box``, or None."""
        text = str(self)
        # Messages from load_layout_file start with the file name.
        for part in (text, text.split(": ", 1)[-1]):
            match = _FIELD.match(part)
            if match:
                return match.group(1)
        return "objects" if text.startswith('"objects"') else None


@dataclass
class ObjectStyle:
    """An object's look taken from a reference image.

    image: a file path, a ``data:`` URL, raw encoded bytes or a PIL image.
    box: the region of the reference image to encode, normalised xyxy.
    """

    image: str | bytes | Image.Image
    box: tuple[float, float, float, float]

    def to_json(self) -> dict[str, Any]:
        image = self.image
        if isinstance(image, Image.Image):
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            image = buf.getvalue()
        if isinstance(image, bytes):
            image = "data:application/octet-stream;base64," + base64.b64encode(image).decode()
        return {"image": image, "box": list(self.box)}


@dataclass
class LayoutObject:
    """One object: a category name, a normalised xyxy box, an optional latent control (seed, z
    or style) and an optional identity ``id`` (see the module docstring)."""

    category: str
    box: tuple[float, float, float, float]
    seed: int | None = None
    z: list[float] | None = None
    style: ObjectStyle | None = None
    id: str | int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out.update(category=self.category, box=list(self.box))
        if self.seed is not None:
            out["seed"] = self.seed
        if self.z is not None:
            out["z"] = list(self.z)
        if self.style is not None:
            out["style"] = self.style.to_json()
        return out

    def fields(self) -> dict[str, Any]:
        """Like :meth:`to_json` but the style stays an :class:`ObjectStyle` (nothing encoded)."""
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        out["box"] = list(self.box)
        return out


@dataclass
class Layout:
    """A list of objects to place in one image."""

    objects: list[LayoutObject] = field(default_factory=list)
    # the per-image code, for architectures that have one (see layout2im.architectures)
    image_z: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"objects": [o.to_json() for o in self.objects]}
        if self.image_z is not None:
            out["image_z"] = list(self.image_z)
        return out

    def object_keys(self) -> list[str | int]:
        """Each object's identity for drawing its code: its ``id``, else its index."""
        return [o.id if o.id is not None else j for j, o in enumerate(self.objects)]

    def labels(self, vocab: Vocabulary) -> torch.Tensor:
        """Category rows, LongTensor (O,)."""
        return torch.tensor([vocab.index(o.category) for o in self.objects], dtype=torch.long)

    def boxes(self) -> torch.Tensor:
        """Boxes, FloatTensor (O, 4), normalised xyxy."""
        return torch.tensor([o.box for o in self.objects], dtype=torch.float32).reshape(-1, 4)


_OBJECT_FIELDS = {"category", "box", "seed", "z", "style", "id"}
_STYLE_FIELDS = {"image", "box"}


def parse_layout(
    data: Any,
    vocab: Vocabulary,
    z_dim: int | None = None,
    max_objects: int | None = None,
    allow_style_files: bool = True,
) -> Layout:
    """Validate a layout given as parsed JSON (a dict), a :class:`Layout`, or a list of objects.

    ``allow_style_files=False`` refuses file paths in ``style.image`` (a server must not read
    its own files on a client's behalf); ``data:`` URLs, bytes and PIL images stay allowed.
    The style image itself is only read when the code is computed (see the pipeline).

    Raises :class:`LayoutError` naming the first problem: ``objects[2].box: x1 (0.3) must be
    greater than x0 (0.5)``.
    """
    if isinstance(data, Layout):
        data = {"objects": data.objects, "image_z": data.image_z}
    if isinstance(data, list):
        data = {"objects": data}
    if not isinstance(data, dict):
        raise LayoutError(
            f'a layout must be a JSON object with an "objects" list, got {_kind(data)}'
        )
    unknown = sorted(map(str, set(data) - {"objects", "image_z"}))
    if unknown:
        raise LayoutError(
            f'unknown top-level field {quote(unknown[0])}; a layout has "objects" and an '
            'optional "image_z"'
        )
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise LayoutError('"objects" must be a list of objects')
    if not objects:
        raise LayoutError('"objects" is empty: a layout needs at least one object')
    if max_objects is not None and len(objects) > max_objects:
        raise LayoutError(
            f'"objects" has {len(objects)} objects; this model takes at most {max_objects}'
        )
    parsed = [_parse_object(i, o, vocab, z_dim, allow_style_files) for i, o in enumerate(objects)]
    _check_unique_keys(parsed)
    image_z = data.get("image_z")
    return Layout(parsed, None if image_z is None else _parse_z("image_z", image_z, None))


def _check_unique_keys(objects: list[LayoutObject]) -> None:
    owner: dict[tuple[type, str | int], int] = {}
    for j, obj in enumerate(objects):
        key = obj.id if obj.id is not None else j
        first = owner.setdefault((type(key), key), j)
        if first == j:
            continue
        if obj.id is not None and objects[first].id is not None:
            raise LayoutError(
                f"objects[{j}].id: {quote(obj.id)} is already the id of objects[{first}]"
            )
        if obj.id is not None:
            raise LayoutError(
                f"objects[{j}].id: {quote(obj.id)} is the index of objects[{first}], which has "
                "no id (an object without an id is identified by its index); give every object "
                "an id"
            )
        raise LayoutError(
            f"objects[{first}].id: {key!r} is the index of objects[{j}], which has no id "
            "(an object without an id is identified by its index); give every object an id"
        )


def _parse_object(
    i: int, obj: Any, vocab: Vocabulary, z_dim: int | None, allow_style_files: bool = True
) -> LayoutObject:
    where = f"objects[{i}]"
    if isinstance(obj, LayoutObject):
        obj = obj.fields()
    if not isinstance(obj, dict):
        raise LayoutError(f"{where} must be an object with category and box, got {_kind(obj)}")
    unknown = sorted(map(str, set(obj) - _OBJECT_FIELDS))
    if unknown:
        raise LayoutError(
            f"{where}.{_field_name(unknown[0])}: unknown field; "
            f"valid fields: {', '.join(sorted(_OBJECT_FIELDS))}"
        )
    for required in ("category", "box"):
        if required not in obj:
            raise LayoutError(f"{where}.{required}: missing")
    category = obj["category"]
    if not isinstance(category, str):
        raise LayoutError(f"{where}.category: must be a string, got {_kind(category)}")
    if category not in vocab:
        raise LayoutError(f"{where}.category: {vocab.unknown_message(category)}")
    box = _parse_box(f"{where}.box", obj["box"])
    seed = obj.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise LayoutError(f"{where}.seed: must be a non-negative integer, got {quote(seed)}")
    if seed is not None and seed >= 2**63:
        raise LayoutError(f"{where}.seed: must be below 2**63")
    z = obj.get("z")
    if z is not None:
        z = _parse_z(f"{where}.z", z, z_dim)
    if seed is not None and z is not None:
        raise LayoutError(f"{where}: give either seed or z, not both")
    style = obj.get("style")
    if style is not None:
        style = _parse_style(f"{where}.style", style, allow_style_files)
        if seed is not None or z is not None:
            given = "seed" if seed is not None else "z"
            raise LayoutError(
                f"{where}.style: cannot be combined with {given} (the style gives the code)"
            )
    obj_id = _parse_id(f"{where}.id", obj.get("id"))
    return LayoutObject(category=category, box=box, seed=seed, z=z, style=style, id=obj_id)


def _parse_style(where: str, style: Any, allow_files: bool) -> ObjectStyle:
    if isinstance(style, ObjectStyle):
        style = {"image": style.image, "box": style.box}
    if not isinstance(style, dict):
        raise LayoutError(
            f'{where}: must be an object {{"image": ..., "box": [x0, y0, x1, y1]}}, '
            f"got {_kind(style)}"
        )
    unknown = sorted(map(str, set(style) - _STYLE_FIELDS))
    if unknown:
        raise LayoutError(
            f"{where}.{_field_name(unknown[0])}: unknown field; valid fields: box, image"
        )
    for required in ("image", "box"):
        if required not in style:
            raise LayoutError(f"{where}.{required}: missing")
    image = style["image"]
    if isinstance(image, (bytearray, memoryview)):
        image = bytes(image)
    if isinstance(image, str):
        if not image.strip():
            raise LayoutError(f"{where}.image: is empty")
        if not allow_files and image[:5].lower() != "data:":
            raise LayoutError(
                f"{where}.image: file paths are not accepted here; send the image as a "
                "data: URL (data:image/png;base64,...)"
            )
    elif isinstance(image, bytes):
        if not image:
            raise LayoutError(f"{where}.image: is empty")
    elif not isinstance(image, Image.Image):
        raise LayoutError(
            f"{where}.image: must be a file path or a data: URL (or bytes or a PIL image "
            f"from Python), got {_kind(image)}"
        )
    return ObjectStyle(image=image, box=_parse_box(f"{where}.box", style["box"]))


def _parse_id(where: str, value: Any) -> str | int | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not value or len(value) > MAX_ID_LENGTH:
            raise LayoutError(f"{where}: must be 1 to {MAX_ID_LENGTH} characters long")
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise LayoutError(
        f"{where}: must be a string or a non-negative integer below 2**63, got {quote(value)}"
    )


def _parse_box(where: str, box: Any) -> tuple[float, float, float, float]:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise LayoutError(
            f"{where}: must be a list of 4 numbers [x0, y0, x1, y1], got {quote(box)}"
        )
    if not all(_is_number(v) for v in box):
        raise LayoutError(f"{where}: must hold 4 finite numbers, got {quote(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    for name, v in zip(("x0", "y0", "x1", "y1"), (x0, y0, x1, y1), strict=True):
        if not 0.0 <= v <= 1.0:
            raise LayoutError(f"{where}: {name} ({v}) is outside [0, 1] (boxes are normalised)")
    if x1 <= x0:
        raise LayoutError(f"{where}: x1 ({x1}) must be greater than x0 ({x0})")
    if y1 <= y0:
        raise LayoutError(f"{where}: y1 ({y1}) must be greater than y0 ({y0})")
    return (x0, y0, x1, y1)


def _parse_z(where: str, z: Any, z_dim: int | None) -> list[float]:
    if not isinstance(z, list):
        raise LayoutError(f"{where}: must be a list of finite numbers, got {_kind(z)}")
    if z_dim is not None and len(z) != z_dim:
        raise LayoutError(f"{where}: has {len(z)} values; this model's z_dim is {z_dim}")
    for k, v in enumerate(z):
        if not _is_number(v):
            raise LayoutError(f"{where}[{k}]: must be a finite number, got {quote(v)}")
        if not abs(v) <= MAX_ABS_Z:
            raise LayoutError(
                f"{where}[{k}]: {quote(v)} is out of range; code values must lie in "
                f"[-{MAX_ABS_Z:g}, {MAX_ABS_Z:g}] (codes are drawn from N(0, 1); the model "
                "computes in float32)"
            )
    return [float(v) for v in z]


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond float's range
        return False


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(v), quote(v))


def _field_name(name: str) -> str:
    """A user's unknown field name, cut short for messages."""
    return name if len(name) <= 40 and name.isprintable() else quote(name)


def load_layout_file(
    path: str | Path, vocab: Vocabulary, z_dim: int | None = None, max_objects: int | None = None
) -> Layout:
    """Read and validate a layout JSON file; errors name the file and the problem. Files over
    :data:`MAX_LAYOUT_FILE_BYTES` are refused (without reading more than that)."""
    path = Path(path)
    data = parse_json(read_bounded(path, MAX_LAYOUT_FILE_BYTES, "layout file"), path)
    _resolve_style_paths(data, path.parent)
    try:
        return parse_layout(data, vocab, z_dim=z_dim, max_objects=max_objects)
    except LayoutError as exc:
        raise LayoutError(f"{path}: {exc}") from None


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``path``; a longer file (or an endless one such as
    ``/dev/zero``) raises :class:`LayoutError` naming the limit, and so does a folder."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise LayoutError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise LayoutError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise LayoutError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise LayoutError(
            f"{what} {path} is larger than the limit of {limit} bytes ({limit / 2**20:g} MB)"
        )
    return data


def parse_json(data: bytes, path: Path) -> Any:
    """Parse JSON bytes read from ``path``; malformed, non-UTF-8 or too deeply nested JSON
    raises :class:`LayoutError` naming the file."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LayoutError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise LayoutError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise LayoutError(f"{path}: JSON nesting too deep") from None


def example_layouts() -> list[Path]:
    """The example layout files shipped with the package (``layout2im/examples/*.json``)."""
    folder = resources.files("layout2im") / "examples"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json"))


def _resolve_style_paths(data: Any, folder: Path) -> None:
    """Make relative ``style.image`` paths of a layout file relative to the file's folder."""
    objects = data.get("objects") if isinstance(data, dict) else None
    for obj in objects if isinstance(objects, list) else []:
        style = obj.get("style") if isinstance(obj, dict) else None
        image = style.get("image") if isinstance(style, dict) else None
        relative = isinstance(image, str) and image.strip() and not Path(image).is_absolute()
        if relative and image[:5].lower() != "data:":
            style["image"] = str(folder / image)


# ----------------------------------------------------------------------------- tensors


@dataclass
class ObjectList:
    """All objects of a batch, flattened in row-major order of the valid slots.

    labels: LongTensor (N,); boxes: FloatTensor (N, 4) normalised xyxy;
    obj_to_img: LongTensor (N,), the image each object belongs to.
    """

    labels: torch.Tensor
    boxes: torch.Tensor
    obj_to_img: torch.Tensor


@dataclass
class LayoutBatch:
    """A batch of B layouts padded to O objects.

    labels: LongTensor (B, O), category rows, 0 in padding slots.
    boxes: FloatTensor (B, O, 4), normalised xyxy, 0 in padding slots.
    mask: BoolTensor (B, O), True for real objects. Real objects are packed at the front of
    each row, in the order the fuser reads them; every row has at least one object.
    """

    labels: torch.Tensor
    boxes: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def from_lists(cls, labels: list[torch.Tensor], boxes: list[torch.Tensor]) -> LayoutBatch:
        """Pad per-image ``labels`` (O_i,) and ``boxes`` (O_i, 4) into one batch."""
        if len(labels) != len(boxes) or not labels:
            raise ValueError("need the same, non-zero number of label and box tensors")
        width = max(len(t) for t in labels)
        if min(len(t) for t in labels) == 0:
            raise ValueError("every layout needs at least one object")
        B = len(labels)
        out_labels = torch.zeros(B, width, dtype=torch.long)
        out_boxes = torch.zeros(B, width, 4, dtype=torch.float32)
        mask = torch.zeros(B, width, dtype=torch.bool)
        for i, (lab, box) in enumerate(zip(labels, boxes, strict=True)):
            n = len(lab)
            out_labels[i, :n] = lab
            out_boxes[i, :n] = box
            mask[i, :n] = True
        return cls(out_labels, out_boxes, mask)

    @property
    def batch_size(self) -> int:
        return self.labels.shape[0]

    @property
    def num_objects(self) -> int:
        return int(self.mask.sum())

    def to(self, device: torch.device | str) -> LayoutBatch:
        return LayoutBatch(self.labels.to(device), self.boxes.to(device), self.mask.to(device))

    def flat(self) -> ObjectList:
        """The valid objects as an :class:`ObjectList` (row-major order)."""
        B, O = self.labels.shape
        obj_to_img = torch.arange(B, device=self.labels.device).unsqueeze(1).expand(B, O)
        return ObjectList(self.labels[self.mask], self.boxes[self.mask], obj_to_img[self.mask])

    def slots(self) -> tuple[ObjectList, torch.Tensor]:
        """Every slot, padding included, as an :class:`ObjectList` of B * O rows (row-major),
        and ``valid`` (B * O,) bool, True for real objects: what the static-shape path reads
        (its shapes depend on B and O only)."""
        B, O = self.labels.shape
        obj_to_img = torch.arange(B, device=self.labels.device).repeat_interleave(O)
        objects = ObjectList(self.labels.reshape(B * O), self.boxes.reshape(B * O, 4), obj_to_img)
        return objects, self.mask.reshape(B * O)

    def padded(self, width: int) -> LayoutBatch:
        """The same layouts padded to ``width`` slots per row (zeros, mask False)."""
        O = self.labels.shape[1]
        if width < O:
            raise ValueError(f"cannot pad {O} object slots to {width}")
        extra = width - O
        return LayoutBatch(
            torch.nn.functional.pad(self.labels, (0, extra)),
            torch.nn.functional.pad(self.boxes, (0, 0, 0, extra)),
            torch.nn.functional.pad(self.mask, (0, extra), value=False),
        )

    def scatter(self, values: torch.Tensor) -> torch.Tensor:
        """Place per-object ``values`` (N, ...) into padded slots: (B, O, ...), zeros elsewhere."""
        B, O = self.labels.shape
        out = values.new_zeros((B, O, *values.shape[1:]))
        out[self.mask] = values
        return out

    def shuffled(
        self, generator: torch.Generator | None = None
    ) -> tuple[LayoutBatch, torch.Tensor]:
        """Permute each row's real objects at random (padding stays at the end).

        Returns the new batch and ``order`` (B, O): new slot j holds old slot ``order[i, j]``.
        """
        B, O = self.labels.shape
        keys = torch.rand(B, O, generator=generator)
        keys = keys.to(self.labels.device).masked_fill(~self.mask, 2.0)
        order = keys.argsort(dim=1)
        gather = order.unsqueeze(-1).expand(B, O, 4)
        batch = LayoutBatch(
            self.labels.gather(1, order), self.boxes.gather(1, gather), self.mask.gather(1, order)
        )
        return batch, order
