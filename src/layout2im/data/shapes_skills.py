"""Shapes scenes outside the training distribution, one set per skill (in the spirit of
LayoutBench: each set moves one property of the layouts beyond what the model was trained on,
and keeps the rest as in training).

The training scenes (:mod:`layout2im.data.shapes_render`) hold 3..8 objects whose geometric
mean side is 17%..45% of the image, stretched at most 1.4x, placed inside the image. The skill
splits (``ood-<skill>`` of the shapes dataset) each hold :data:`SKILL_LAYOUTS` scenes; item
``i`` is in variant ``i % 2``:

- ``number``: 1-2 objects (variant 0) or 9-16 objects (variant 1), otherwise as in training;
- ``position``: every object overhangs the image border by 10%..50% of its half side, so its
  box touches an edge (variant 0) or a corner (variant 1);
- ``size``: objects at most :data:`TINY_SIDE` of the image side (4 px at 32 px; variant 0), or
  one object whose box covers at least :data:`LARGE_SIDE` (80%) of the image side in both
  directions, under 0-2 training-size objects (variant 1);
- ``shape``: objects stretched 6x..9x, unrotated, wide (variant 0) or tall (variant 1); every
  drawn box is longer than 4 times its width.

Backgrounds, colours, textures and categories are drawn as in training. Scene ``i`` of skill
``s`` is drawn from scene seed ``scene_seed(SKILL_SEEDS[s], i)``: deterministic, and never a
training (dataset seed 0) or held-out (seeds 1, 2) scene. The occlusion rules of training
scenes hold here too (every object at least 60% visible).
"""

from __future__ import annotations

import math

import numpy as np

from .shapes_render import (
    SHAPE_CATEGORIES,
    Placement,
    Placer,
    Scene,
    ShapeObject,
    render_objects,
    sample_background,
    sample_layout,
    sample_placement,
    sample_texture,
    training_placement,
)

SKILLS: tuple[str, ...] = ("number", "position", "size", "shape")
SKILL_SEEDS: dict[str, int] = {s: 10 + i for i, s in enumerate(SKILLS)}  # dataset seeds
SKILL_LAYOUTS = 300
TINY_SIDE = 0.125  # of the image side: 4 px at 32 px
LARGE_SIDE = 0.8
_LAYOUT_TRIES = 20  # restarts of a scene's placement before one object fewer is tried


def skill_split(skill: str) -> str:
    return f"ood-{skill}"


SKILL_SPLITS: tuple[str, ...] = tuple(skill_split(s) for s in SKILLS)


def _at_border(rng: np.random.Generator, max_size: float, corner: bool) -> Placement:
    p = sample_placement(rng, max_size)
    ex, ey = p.extent()
    # the centre moves beyond the inside position by 10%..50% of the half extent
    out_x, out_y = ex * (1 - rng.uniform(0.1, 0.5)), ey * (1 - rng.uniform(0.1, 0.5))
    on_x = corner or rng.random() < 0.5
    cx = (out_x if rng.random() < 0.5 else 1.0 - out_x) if on_x else p.cx
    on_y = corner or not on_x
    cy = (out_y if rng.random() < 0.5 else 1.0 - out_y) if on_y else p.cy
    return Placement(cx, cy, p.hx, p.hy, p.angle)


def _inside(rng: np.random.Generator, hx: float, hy: float) -> Placement:
    return Placement(rng.uniform(hx, 1.0 - hx), rng.uniform(hy, 1.0 - hy), hx, hy, 0.0)


def _tiny(rng: np.random.Generator) -> Placement:
    side = rng.uniform(0.4, 0.8) * TINY_SIDE  # anti-aliased edges can add a pixel
    squash = math.exp(-abs(rng.uniform(-math.log(1.4), math.log(1.4))))
    hx, hy = (side / 2, side / 2 * squash) if rng.random() < 0.5 else (side / 2 * squash, side / 2)
    return _inside(rng, hx, hy)


def _large(rng: np.random.Generator) -> Placement:
    hx, hy = rng.uniform(LARGE_SIDE / 2 + 0.02, 0.5, size=2)
    return _inside(rng, float(hx), float(hy))


def _stretched(rng: np.random.Generator, wide: bool) -> Placement:
    size = rng.uniform(0.16, 0.24)
    aspect = rng.uniform(6.0, 9.0)
    long, short = 0.5 * size * math.sqrt(aspect), 0.5 * size / math.sqrt(aspect)
    return _inside(rng, long, short) if wide else _inside(rng, short, long)


def _scene_plan(rng: np.random.Generator, skill: str, variant: int) -> tuple[int, Placer]:
    """The object count and the placer of a scene of ``skill``/``variant``."""
    if skill == "number":
        count = rng.integers(1, 3) if variant == 0 else rng.integers(9, 17)
        return int(count), training_placement
    if skill == "position":
        count = rng.integers(3, 7) if variant == 0 else rng.integers(2, 5)
        return int(count), lambda r, m, j: _at_border(r, m, corner=variant == 1)
    if skill == "size":
        if variant == 0:
            return int(rng.integers(3, 9)), lambda r, m, j: _tiny(r)
        count = 1 + rng.integers(0, 3)  # the large object, then 0-2 of training size on it
        return int(count), lambda r, m, j: _large(r) if j == 0 else sample_placement(r, m)
    if skill == "shape":
        return int(rng.integers(2, 6)), lambda r, m, j: _stretched(r, wide=variant == 0)
    raise ValueError(f"unknown skill {skill!r}; skills: {', '.join(SKILLS)}")


def meets_skill(skill: str, variant: int, boxes: np.ndarray) -> bool:
    """Whether a scene's boxes (O, 4) normalised xyxy (as rendered) have its skill's
    property: every box touches an edge (``position`` 0) or a corner (1); every box is at most
    :data:`TINY_SIDE` a side (``size`` 0), or the first spans :data:`LARGE_SIDE` both ways
    (``size`` 1); every box is stretched beyond 4:1 (``shape``)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if skill == "position":
        at_x = (boxes[:, 0] <= 0.0) | (boxes[:, 2] >= 1.0)
        at_y = (boxes[:, 1] <= 0.0) | (boxes[:, 3] >= 1.0)
        return bool((at_x & at_y).all() if variant == 1 else (at_x | at_y).all())
    if skill == "size":
        if variant == 0:
            return bool((np.maximum(w, h) <= TINY_SIDE + 1e-6).all())
        return bool(min(w[0], h[0]) >= LARGE_SIDE)
    if skill == "shape":
        return bool((np.maximum(w / h, h / w) > 4.0).all())
    return True


def render_skill_scene(skill: str, seed: int, index: int, image_size: int) -> Scene:
    """The scene of skill ``skill``, variant ``index % 2``, drawn from scene seed ``seed``,
    rendered at ``image_size``. Deterministic (same arguments, byte-identical scene).

    Scenes are drawn until one :func:`meets_skill` at ``image_size`` (boxes are whole pixels,
    so a shape's drawn box can be shorter than its placement). When a scene's objects cannot
    all be placed in :data:`_LAYOUT_TRIES` tries, one object fewer is tried (``number`` scenes
    keep their count)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    variant = index % 2
    while True:
        background = sample_background(rng)
        count, place = _scene_plan(rng, skill, variant)
        placements = None
        while placements is None:
            for _ in range(_LAYOUT_TRIES):
                categories = rng.integers(len(SHAPE_CATEGORIES), size=count)
                placements = sample_layout(rng, categories, place)
                if placements is not None:
                    break
            if skill != "number":
                count = max(1, count - 1)
        objects = [
            ShapeObject(int(c), p, sample_texture(rng, background))
            for c, p in zip(categories, placements, strict=True)
        ]
        scene = render_objects(background, objects, image_size, return_masks=False)
        if meets_skill(skill, variant, scene.boxes):
            return scene
