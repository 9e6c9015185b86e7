"""Drawing the synthetic ``shapes`` scenes: procedurally, deterministically, no download.

A scene is a low-contrast background with 3..8 objects drawn on it in order, so later objects
occlude earlier ones. Each object belongs to one of the ten categories in ``SHAPE_CATEGORIES``
(its label is the index in that tuple) and the categories differ only by shape. Everything
else varies within a category, so an object's latent code has something to capture:

- colour: random hue, saturation and value (kept clearly apart from the background colours);
- texture: solid, stripes at a random angle and period, dots, checker, or a two-tone gradient;
- geometry: size (geometric mean of the sides 17%..45% of the image side), aspect ratio
  (stretched up to 1.4x either way) and a small rotation (at most 15 degrees, so a square never
  turns into a diamond);
- background: solid, vertical/horizontal gradient, low-frequency noise or soft stripes, always
  desaturated and low in contrast so the objects stand out.

**Boxes.** Rendering supersamples every pixel (4x4 samples up to 128 px, 2x2 above, and at
least 64 samples across the image) and box-filters them down, which anti-aliases at any image
size. Each sample belongs to the topmost object covering it, or to the background. A pixel is a
*visible pixel* of an object when at least one of its samples belongs to the object, i.e. the
object's visible coverage of the pixel is above 0. The box is the exact tight box of the visible
pixels, normalised xyxy: ``x0 = first column / W``, ``x1 = (last column + 1) / W``, likewise for
y, so ``box * W`` is always an integer pixel box.

Placements are checked on a fixed 64x64 layout grid, so they do not depend on the image size.
A placement is resampled if it would leave an earlier object less than 60% visible, or if an
earlier object's visible box would hinge on a thin sliver or fragment peeking out along an
occluder's edge (such slivers appear and vanish with the resolution). This keeps the boxes of
one seed at different image sizes within about one pixel of the coarser size.

**Seeds.** ``render_scene(seed)`` is deterministic: the same seed gives byte-identical output,
and the scene (categories, placements, colours) does not depend on the image size, so a 32 px
and a 64 px render of one seed show the same scene. ``ShapesDataset(seed=s)`` item ``i`` is
``render_scene(s * SEED_STRIDE + i)`` (see ``scene_seed``): datasets with different ``seed``
values never share a scene as long as they hold at most ``SEED_STRIDE`` (one million) images.
Train with ``seed=0`` and evaluate on held-out scenes with ``seed=1``.
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..schema.config import MAX_IMAGE_SIZE

SHAPE_CATEGORIES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "diamond",
    "hexagon",
    "star",
    "ring",
    "cross",
    "heart",
    "crescent",
)

SEED_STRIDE = 1_000_000  # scene seeds of dataset seed s: s * SEED_STRIDE + index
MIN_IMAGE_SIZE = 8
MAX_OBJECTS = 12  # most objects per scene that still place reliably with little occlusion

_LAYOUT_GRID = 64  # resolution of the size-independent occlusion check
_MIN_VISIBLE_FRACTION = 0.6
_BOX_TOLERANCE = 2  # layout cells
_PLACEMENT_ATTEMPTS = 50
_SIZE_RANGE = (0.17, 0.45)  # geometric mean of the two sides, as a fraction of the image side
_MAX_ASPECT = 1.4
_MAX_ROTATION = math.radians(15.0)
_MIN_COLOUR_DISTANCE = 0.3  # Euclidean RGB distance in [0, 1] units
_TEXTURES = ("solid", "stripes", "dots", "checker", "gradient")


# --- Shapes: inside tests in the object's unit frame, u (right) and v (down) in [-1, 1] ---


def _circle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + v * v <= 1.0


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (v <= 1.0) & (2.0 * np.abs(u) <= v + 1.0)


def _diamond(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs(u) + np.abs(v) <= 1.0


def _hexagon(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.abs(v) <= 1.0) & (np.abs(u) + 0.5 * np.abs(v) <= 1.0)


# Five-pointed star, one point up, outer radius 1, inner radius 1/2. Folding the polar angle into
# one half-spike leaves a half-plane test against the edge from the tip A = (0, 1) to the inner
# vertex B; the edge normal n = (1 - By, Bx) points outwards and n . A = Bx.
_STAR_B = (0.5 * math.sin(math.pi / 5), 0.5 * math.cos(math.pi / 5))
_STAR_N = (1.0 - _STAR_B[1], _STAR_B[0])


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    angle = np.abs(np.mod(np.arctan2(u, -v) + math.pi / 5, 2 * math.pi / 5) - math.pi / 5)
    radius = np.hypot(u, v)
    return radius * (_STAR_N[0] * np.sin(angle) + _STAR_N[1] * np.cos(angle)) <= _STAR_N[1]


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= 0.55**2)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    return ((au <= 1.0) & (av <= 0.36)) | ((au <= 0.36) & (av <= 1.0))


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # (x^2 + y^2 - 1)^3 <= x^2 y^3 with y up, scaled so its extent fills the unit box.
    x, y = 1.14 * u, 0.125 - 1.125 * v
    a = x * x + y * y - 1.0
    return a * a * a <= x * x * y * y * y


def _crescent(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u * u + v * v <= 1.0) & ((u - 0.55) ** 2 + v * v >= 0.8**2)


_SHAPES: tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], ...] = (
    _circle,
    _square,
    _triangle,
    _diamond,
    _hexagon,
    _star,
    _ring,
    _cross,
    _heart,
    _crescent,
)


# --- Scene description (independent of the image size) ---


@dataclass(frozen=True)
class Placement:
    """Centre, half sides and rotation of an object, in normalised image coordinates."""

    cx: float
    cy: float
    hx: float
    hy: float
    angle: float

    def extent(self) -> tuple[float, float]:
        """Half width and half height of the rotated unit box."""
        c, s = abs(math.cos(self.angle)), abs(math.sin(self.angle))
        return c * self.hx + s * self.hy, s * self.hx + c * self.hy


@dataclass(frozen=True)
class Texture:
    """Colouring of an object: ``primary`` where the pattern weight is 0, ``secondary`` at 1."""

    kind: str
    primary: np.ndarray
    secondary: np.ndarray
    angle: float
    period: float
    phase: float

    def colours(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """RGB in [0, 1] at unit-frame points ``u``, ``v`` (N,) -> (N, 3) float32."""
        weight = self._weight(u, v).astype(np.float32)
        return self.primary + weight[:, None] * (self.secondary - self.primary)

    def _weight(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        if self.kind == "solid":
            return np.zeros_like(u)
        along = u * math.cos(self.angle) + v * math.sin(self.angle)
        if self.kind == "gradient":
            return np.clip(0.5 + 0.5 * along, 0.0, 1.0)
        if self.kind == "stripes":
            return np.mod(along / self.period + self.phase, 1.0) < 0.5
        gu = u / self.period + self.phase
        gv = v / self.period + self.phase
        if self.kind == "checker":
            return (np.floor(gu) + np.floor(gv)) % 2
        return (np.mod(gu, 1.0) - 0.5) ** 2 + (np.mod(gv, 1.0) - 0.5) ** 2 <= 0.35**2  # dots


@dataclass(frozen=True)
class ShapeObject:
    category: int
    placement: Placement
    texture: Texture


@dataclass(frozen=True)
class Background:
    """``low + t * (high - low)`` with ``t = 0.5 + 0.5 * sum_i a_i sin(2 pi k_i . p + phi_i)``."""

    low: np.ndarray
    high: np.ndarray
    waves: np.ndarray  # (N, 4): kx, ky (cycles per image), phase, amplitude (sum |a| <= 1)

    def render(self, size: int) -> np.ndarray:
        """Colour at the pixel centres of a ``size`` x ``size`` image -> (size, size, 3) float32."""
        p = (np.arange(size, dtype=np.float32) + 0.5) / size
        kx, ky, phase, amplitude = (self.waves[:, i, None, None] for i in range(4))
        field = amplitude * np.sin(
            2 * math.pi * (kx * p[None, None, :] + ky * p[None, :, None]) + phase
        )
        t = 0.5 + 0.5 * field.sum(axis=0, dtype=np.float32)
        return self.low + t[..., None] * (self.high - self.low)


# --- Sampling a scene ---


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def _waves(
    frequency: ArrayLike, direction: ArrayLike, phase: ArrayLike, amplitude: ArrayLike
) -> np.ndarray:
    """(N, 4) plane waves from N frequencies (cycles per image), directions, phases, amplitudes."""
    kx = np.asarray(frequency) * np.cos(direction)
    ky = np.asarray(frequency) * np.sin(direction)
    return np.stack(np.broadcast_arrays(kx, ky, phase, amplitude), axis=1)


def _solid_waves(rng: np.random.Generator) -> np.ndarray:
    return np.zeros((0, 4))


def _gradient_waves(rng: np.random.Generator) -> np.ndarray:
    # Half a cycle of a sine from trough to peak: a smooth horizontal or vertical ramp.
    direction = rng.choice((0.0, math.pi / 2))
    return _waves([0.5], [direction], [-math.pi / 2], [rng.choice((-1.0, 1.0))])


def _noise_waves(rng: np.random.Generator) -> np.ndarray:
    amplitude = rng.uniform(0.5, 1.0, 4)
    return _waves(
        rng.uniform(0.5, 2.0, 4),
        rng.uniform(0.0, 2 * math.pi, 4),
        rng.uniform(0.0, 2 * math.pi, 4),
        amplitude / amplitude.sum(),
    )


def _stripe_waves(rng: np.random.Generator) -> np.ndarray:
    return _waves(
        rng.uniform(3.0, 7.0, 1),
        rng.uniform(0.0, math.pi, 1),
        rng.uniform(0.0, 2 * math.pi, 1),
        1.0,
    )


_BACKGROUND_WAVES = (_solid_waves, _gradient_waves, _noise_waves, _stripe_waves)


def sample_background(rng: np.random.Generator) -> Background:
    """A low-contrast, desaturated background: two close colours mixed by a few waves."""
    hue = rng.random()
    saturation = rng.uniform(0.0, 0.3)
    value = rng.uniform(0.3, 0.8)
    contrast = rng.uniform(0.08, 0.2)
    low = _hsv(hue, saturation, value - contrast / 2)
    high = _hsv(hue + rng.uniform(-0.05, 0.05), saturation, value + contrast / 2)
    waves = _BACKGROUND_WAVES[rng.integers(len(_BACKGROUND_WAVES))](rng)
    return Background(low, high, waves.astype(np.float32))


def _sample_colour(rng: np.random.Generator, avoid: list[np.ndarray]) -> np.ndarray:
    """A vivid colour at least ``_MIN_COLOUR_DISTANCE`` away from every colour in ``avoid``."""
    avoid = np.stack(avoid)
    while True:
        colour = _hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.45, 1.0))
        if np.sum((avoid - colour) ** 2, axis=1).min() >= _MIN_COLOUR_DISTANCE**2:
            return colour


def sample_texture(rng: np.random.Generator, background: Background) -> Texture:
    """A pattern in two vivid colours, each far from the background's and from each other."""
    kind = _TEXTURES[rng.integers(len(_TEXTURES))]
    primary = _sample_colour(rng, [background.low, background.high])
    secondary = _sample_colour(rng, [background.low, background.high, primary])
    return Texture(
        kind=kind,
        primary=primary,
        secondary=secondary,
        angle=rng.uniform(0.0, math.pi),
        period=rng.uniform(0.35, 0.7),
        phase=rng.random(),
    )


def sample_placement(rng: np.random.Generator, max_size: float) -> Placement:
    """A random size (up to ``max_size``), aspect and small rotation, anywhere it fits."""
    size = rng.uniform(_SIZE_RANGE[0], max_size)
    aspect = math.exp(rng.uniform(-math.log(_MAX_ASPECT), math.log(_MAX_ASPECT)))
    hx, hy = 0.5 * size * math.sqrt(aspect), 0.5 * size / math.sqrt(aspect)
    angle = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION)
    ex, ey = Placement(0.0, 0.0, hx, hy, angle).extent()
    return Placement(rng.uniform(ex, 1.0 - ex), rng.uniform(ey, 1.0 - ey), hx, hy, angle)


@dataclass(frozen=True)
class _Footprint:
    """The cells of an object on the layout grid."""

    mask: np.ndarray  # (_LAYOUT_GRID, _LAYOUT_GRID) bool
    rows: slice
    cols: slice
    area: int

    def window(self, margin: int = 2) -> tuple[slice, slice]:
        """The object's region grown by ``margin`` cells."""
        return (
            slice(max(0, self.rows.start - margin), self.rows.stop + margin),
            slice(max(0, self.cols.start - margin), self.cols.stop + margin),
        )

    def near(self, other: _Footprint, margin: int = 2) -> bool:
        """Whether the two objects' regions come within ``margin`` cells of each other."""
        rows, cols = self.window(margin)
        return (
            rows.start < other.rows.stop
            and other.rows.start < rows.stop
            and cols.start < other.cols.stop
            and other.cols.start < cols.stop
        )


def _footprint(category: int, placement: Placement) -> _Footprint:
    (rows, cols), inside, _, _ = rasterise(category, placement, _LAYOUT_GRID)
    mask = np.zeros((_LAYOUT_GRID, _LAYOUT_GRID), dtype=bool)
    mask[rows, cols] = inside
    return _Footprint(mask, rows, cols, int(inside.sum()))


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow by one cell (3x3 square)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    grown = out.copy()
    grown[:, 1:] |= out[:, :-1]
    grown[:, :-1] |= out[:, 1:]
    return grown


def _erode(mask: np.ndarray) -> np.ndarray:
    """Shrink by one cell (3x3 square); the grid border does not erode."""
    out = mask.copy()
    out[1:] &= mask[:-1]
    out[:-1] &= mask[1:]
    shrunk = out.copy()
    shrunk[:, 1:] &= out[:, :-1]
    shrunk[:, :-1] &= out[:, 1:]
    return shrunk


def _cell_box(mask: np.ndarray) -> np.ndarray | None:
    """[first row, first col, end row, end col] of a 2-D bool mask, ``None`` when empty."""
    rows, cols = mask.any(axis=1), mask.any(axis=0)
    if not rows.any():
        return None
    ends = [rows.size - rows[::-1].argmax(), cols.size - cols[::-1].argmax()]
    return np.array([rows.argmax(), cols.argmax(), *ends])


def _stays_clear(footprint: _Footprint, occluders: np.ndarray) -> bool:
    """Whether an object under ``occluders`` keeps a meaningful, resolution-stable box.

    Enough of it must stay visible, and its visible box must not hinge on a thin sliver or
    fragment along an occluder's edge: moving every occluder edge by one cell either way may
    move the box by at most ``_BOX_TOLERANCE`` cells.
    """
    window = footprint.window()  # everything below is local to the object
    mask, occluders = footprint.mask[window], occluders[window]
    if np.count_nonzero(mask & ~occluders) < _MIN_VISIBLE_FRACTION * footprint.area:
        return False
    core = _cell_box(mask & ~_dilate(occluders))
    if core is None:
        return False
    hull = _cell_box(_dilate(mask) & ~_erode(occluders))
    return int(np.abs(hull - core).max()) <= _BOX_TOLERANCE


Placer = Callable[[np.random.Generator, float, int], Placement]
"""Draws a placement for object ``j``: ``(rng, max_size, j) -> Placement``; ``max_size``
shrinks from the top of ``_SIZE_RANGE`` to its bottom over the attempts to place an object."""


def training_placement(rng: np.random.Generator, max_size: float, j: int) -> Placement:
    """The :data:`Placer` of the training scenes: :func:`sample_placement` for every object."""
    return sample_placement(rng, max_size)


def sample_layout(
    rng: np.random.Generator, categories: np.ndarray, place: Placer = training_placement
) -> list[Placement] | None:
    """Place the objects in drawing order on the layout grid; ``None`` if one cannot be placed.

    A placement (drawn by ``place``) is accepted when every earlier object it comes near
    ``_stays_clear``. Later attempts shrink the size range towards the minimum.
    """
    footprints: list[_Footprint] = []
    occluders: list[np.ndarray] = []  # per object: the union of the later objects near it
    placements = []
    for j, category in enumerate(categories):
        for attempt in range(_PLACEMENT_ATTEMPTS):
            shrink = attempt / _PLACEMENT_ATTEMPTS
            max_size = _SIZE_RANGE[1] - shrink * (_SIZE_RANGE[1] - _SIZE_RANGE[0])
            placement = place(rng, max_size, j)
            new = _footprint(category, placement)
            covered = {
                k: occluders[k] | new.mask for k, old in enumerate(footprints) if old.near(new)
            }
            if all(_stays_clear(footprints[k], mask) for k, mask in covered.items()):
                break
        else:
            return None
        for k, mask in covered.items():
            occluders[k] = mask
        footprints.append(new)
        occluders.append(np.zeros_like(new.mask))
        placements.append(placement)
    return placements


def sample_scene(
    seed: int, min_objects: int, max_objects: int
) -> tuple[Background, list[ShapeObject]]:
    """The background and objects (category, placement, texture, in drawing order) of the
    scene of ``seed``: ``min_objects..max_objects`` of them, independent of the image size."""
    rng = np.random.Generator(np.random.PCG64(seed))
    background = sample_background(rng)
    count = rng.integers(min_objects, max_objects + 1)
    categories = rng.integers(len(SHAPE_CATEGORIES), size=count)
    placements = None
    while placements is None:  # start the layout over in the rare case that an object won't fit
        placements = sample_layout(rng, categories)
    return background, [
        ShapeObject(int(category), placement, sample_texture(rng, background))
        for category, placement in zip(categories, placements)
    ]


# --- Rendering ---


def rasterise(
    category: int, placement: Placement, n: int
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate an object on the sample centres ``(i + 0.5) / n`` of an ``n`` x ``n`` grid.

    Returns the (rows, cols) region of the grid around the object, the inside mask over that
    region and the unit-frame coordinates ``u``, ``v`` of the region's samples.
    """
    ex, ey = placement.extent()
    rows = slice(max(0, int((placement.cy - ey) * n)), min(n, math.ceil((placement.cy + ey) * n)))
    cols = slice(max(0, int((placement.cx - ex) * n)), min(n, math.ceil((placement.cx + ex) * n)))
    dx = (np.arange(cols.start, cols.stop, dtype=np.float32) + 0.5) / n - placement.cx
    dy = (np.arange(rows.start, rows.stop, dtype=np.float32) + 0.5) / n - placement.cy
    c, s = math.cos(placement.angle), math.sin(placement.angle)
    u = (c * dx[None, :] + s * dy[:, None]) / placement.hx
    v = (c * dy[:, None] - s * dx[None, :]) / placement.hy
    return (rows, cols), _SHAPES[category](u, v), u, v


def supersampling(image_size: int) -> int:
    """Samples per pixel side: 4 up to 128 px, 2 above, and at least 64 samples across."""
    return 2 if image_size > 128 else max(4, -(-64 // image_size))


@functools.lru_cache(maxsize=8)
def _pixel_of_sample(image_size: int, factor: int) -> np.ndarray:
    """Row-major index of the output pixel of every sample, (n, n) with n = image_size * factor."""
    pixel = np.arange(image_size * factor) // factor
    index = pixel[:, None] * image_size + pixel[None, :]
    index.setflags(write=False)
    return index


def _box_downsample(samples: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks: (n, n, C) -> (n / factor, n / factor, C)."""
    rows = sum(samples[i::factor] for i in range(factor))
    return sum(rows[:, j::factor] for j in range(factor)) / factor**2


def _tight_boxes(masks: np.ndarray) -> np.ndarray:
    """(O, H, W) non-empty bool masks -> (O, 4) normalised xyxy tight boxes, float32."""
    _, height, width = masks.shape
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    y0, y1 = rows.argmax(axis=1), height - rows[:, ::-1].argmax(axis=1)
    x0, x1 = cols.argmax(axis=1), width - cols[:, ::-1].argmax(axis=1)
    return (np.stack([x0, y0, x1, y1], axis=1) / [width, height, width, height]).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Scene:
    """One rendered scene.

    ``image``: (H, W, 3) uint8 RGB. ``labels``: (O,) int64 indices into ``SHAPE_CATEGORIES``,
    in drawing order (later objects occlude earlier ones). ``boxes``: (O, 4) float32 normalised
    xyxy tight boxes of the visible pixels. ``masks``: (O, H, W) bool visible pixels, only when
    rendered with ``return_masks=True``.
    """

    image: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray | None = None


def draw_samples(objects: list[ShapeObject], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw the objects in order on an ``n`` x ``n`` sample grid.

    Returns the (n, n, 3) float32 object colours (0 on background samples) and the (n, n) owner
    of every sample: 0 for the background, ``k + 1`` for object ``k``.
    """
    colours = np.zeros((n, n, 3), dtype=np.float32)
    owner = np.zeros((n, n), dtype=np.intp)
    for k, obj in enumerate(objects):
        region, inside, u, v = rasterise(obj.category, obj.placement, n)
        colours[region][inside] = obj.texture.colours(u[inside], v[inside])
        owner[region][inside] = k + 1
    return colours, owner


def _owner_counts(owner: np.ndarray, image_size: int, factor: int, layers: int) -> np.ndarray:
    """(H, W, layers) number of samples of every pixel owned by each layer (0: background)."""
    keys = _pixel_of_sample(image_size, factor) * layers + owner
    counts = np.bincount(keys.ravel(), minlength=image_size * image_size * layers)
    return counts.reshape(image_size, image_size, layers)


def render_objects(
    background: Background, objects: list[ShapeObject], image_size: int, return_masks: bool
) -> Scene:
    """Draw ``objects`` in order over ``background`` at ``image_size`` x ``image_size``
    (supersampled, then box-filtered); the boxes are the tight boxes of each object's visible
    pixels, the (O, H, W) masks come with ``return_masks``."""
    factor = supersampling(image_size)
    colours, owner = draw_samples(objects, image_size * factor)
    counts = _owner_counts(owner, image_size, factor, len(objects) + 1)

    background_coverage = counts[..., :1].astype(np.float32) / factor**2
    colour = _box_downsample(colours, factor) + background_coverage * background.render(image_size)
    masks = np.moveaxis(counts[..., 1:] > 0, -1, 0)
    if not masks.any(axis=(1, 2)).all():  # not seen in practice: objects are large enough
        raise RuntimeError(f"an object has no visible pixel at {image_size} px")
    return Scene(
        image=np.rint(np.clip(colour, 0.0, 1.0) * 255).astype(np.uint8),
        labels=np.array([obj.category for obj in objects], dtype=np.int64),
        boxes=_tight_boxes(masks),
        masks=masks if return_masks else None,
    )


def check_image_size(image_size: int) -> None:
    """Raise ``ValueError`` outside :data:`MIN_IMAGE_SIZE` to ``model.image_size``'s bound
    (:data:`~layout2im.schema.config.MAX_IMAGE_SIZE`), before any image is allocated."""
    if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, got {image_size}"
        )


def check_object_counts(min_objects: int, max_objects: int) -> None:
    """Raise ``ValueError`` unless ``1 <= min_objects <= max_objects <= MAX_OBJECTS``."""
    if not 1 <= min_objects <= max_objects <= MAX_OBJECTS:
        raise ValueError(
            f"need 1 <= min_objects <= max_objects <= {MAX_OBJECTS}, "
            f"got min_objects={min_objects}, max_objects={max_objects}"
        )


def check_dataset_args(num_images: int, seed: int) -> None:
    """Raise ``ValueError`` for a dataset size outside ``1..SEED_STRIDE`` or a negative seed."""
    if not 1 <= num_images <= SEED_STRIDE:
        raise ValueError(f"num_images must be in 1..{SEED_STRIDE}, got {num_images}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")


def render_scene(
    seed: int,
    image_size: int = 64,
    min_objects: int = 3,
    max_objects: int = 8,
    return_masks: bool = False,
) -> Scene:
    """Render the scene of ``seed`` (a non-negative int) at ``image_size`` x ``image_size``.

    Deterministic: the same arguments give byte-identical output, and the scene itself does not
    depend on ``image_size``. The scene holds ``min_objects..max_objects`` objects. With
    ``return_masks=True`` the scene also carries the (O, H, W) bool visible-pixel masks that
    the boxes are the tight boxes of.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    check_image_size(image_size)
    check_object_counts(min_objects, max_objects)
    background, objects = sample_scene(seed, min_objects, max_objects)
    return render_objects(background, objects, image_size, return_masks)


def scene_seed(seed: int, index: int) -> int:
    """Scene seed of item ``index`` of the dataset with ``seed``: ``seed * SEED_STRIDE + index``."""
    return seed * SEED_STRIDE + index
