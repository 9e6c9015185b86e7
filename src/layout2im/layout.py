"""Layouts: the user-facing JSON format and the padded tensor batch the model reads.

Box format everywhere: normalised ``[x0, y0, x1, y1]`` with ``0 <= x0 < x1 <= 1`` and
``0 <= y0 < y1 <= 1``, origin at the top-left corner of the image.

Layout JSON (what ``layout2im generate --layout`` reads)::

    {"objects": [
        {"category": "circle", "box": [0.1, 0.2, 0.5, 0.9], "seed": 7},
        {"category": "square", "box": [0.5, 0.1, 0.9, 0.6], "z": [0.1, ...]}
    ]}

The schema (pydantic models, every check worded as below) is :mod:`layout2im.schema.layout`;
``image_z`` (a list of floats) optionally gives the image's own code, for architectures that
have one.

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
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .errors import Layout2ImError, join_problems, short_path
from .readers import read_json
from .schema.layout import (
    MAX_ABS_Z,
    MAX_ID_LENGTH,
    LayoutContext,
    box_problem,
    kind,
    layout_problems,
)
from .vocab import Vocabulary

__all__ = [
    "MAX_ABS_Z",
    "MAX_ID_LENGTH",
    "MAX_LAYOUT_FILE_BYTES",
    "Layout",
    "LayoutBatch",
    "LayoutError",
    "LayoutObject",
    "ObjectList",
    "ObjectStyle",
    "example_layouts",
    "load_layout_file",
    "parse_box",
    "parse_layout",
]

MAX_LAYOUT_FILE_BYTES = 16 * 1024 * 1024
"""Layout files larger than this are refused unread (a layout with style images as data:
URLs is a few MB; the editor's server takes 2 MB)."""

_FIELD = re.compile(r"^(objects\[\d+\](?:\.[A-Za-z_]+)*)")


class LayoutError(Layout2ImError, ValueError):
    """A layout is invalid. The message names the object index and the field of every problem
    (``problems``: each on its own, in order)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]

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
    """A list of objects to place in one image; ``image_z``: the image's own code, for
    architectures that have one (its length is checked against the architecture)."""

    objects: list[LayoutObject] = field(default_factory=list)
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

    Raises one :class:`LayoutError` listing every problem in order, each naming the object and
    the field: ``objects[2].box: x1 (0.3) must be greater than x0 (0.5); objects[3].category:
    ...`` (the schema: :mod:`layout2im.schema.layout`).
    """
    data = _plain(data)
    if not isinstance(data, dict):
        raise LayoutError(
            f'a layout must be a JSON object with an "objects" list, got {kind(data)}'
        )
    context = LayoutContext(vocab, z_dim, max_objects, allow_style_files)
    spec, problems = layout_problems(data, context)
    if spec is None:
        raise LayoutError(join_problems(problems), problems)
    objects = [
        LayoutObject(
            category=o.category,
            box=o.box,
            seed=o.seed,
            z=o.z,
            style=None if o.style is None else ObjectStyle(o.style.image, o.style.box),
            id=o.id,
        )
        for o in spec.objects
    ]
    return Layout(objects, image_z=spec.image_z)


def _plain(data: Any) -> Any:
    """A layout given as Python objects (a :class:`Layout`, a list, objects and styles as
    dataclasses) in its JSON form, with styles kept as they are (bytes, PIL images)."""
    if isinstance(data, Layout):
        data = {
            "objects": data.objects,
            **({} if data.image_z is None else {"image_z": data.image_z}),
        }
    if isinstance(data, list):
        data = {"objects": data}
    if isinstance(data, dict) and isinstance(data.get("objects"), list):
        objects = [o.fields() if isinstance(o, LayoutObject) else o for o in data["objects"]]
        for obj in objects:
            style = obj.get("style") if isinstance(obj, dict) else None
            if isinstance(style, ObjectStyle):
                obj["style"] = {"image": style.image, "box": style.box}
        data = {**data, "objects": objects}
    return data


def parse_box(where: str, box: Any) -> tuple[float, float, float, float]:
    """``box`` as a normalised xyxy tuple; :class:`LayoutError` ``{where}: ...`` otherwise."""
    found = box_problem(box)
    if found:
        raise LayoutError(f"{where}: {found}")
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def load_layout_file(
    path: str | Path, vocab: Vocabulary, z_dim: int | None = None, max_objects: int | None = None
) -> Layout:
    """Read and validate a layout JSON file; errors name the file and the problem. Files over
    :data:`MAX_LAYOUT_FILE_BYTES` are refused (without reading more than that), and so are
    FIFOs and devices (see :mod:`layout2im.readers`)."""
    data = read_json(path, MAX_LAYOUT_FILE_BYTES, "layout file", LayoutError)
    path = Path(path)
    _resolve_style_paths(data, path.parent)
    try:
        return parse_layout(data, vocab, z_dim=z_dim, max_objects=max_objects)
    except LayoutError as exc:
        raise LayoutError(f"{short_path(path)}: {exc}", exc.problems) from None


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
