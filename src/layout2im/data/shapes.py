"""The built-in synthetic ``shapes`` dataset: scenes drawn on demand (no download).

Item ``i`` of ``ShapesDataset(seed=s)`` is the scene of seed ``scene_seed(s, i)``, drawn by
:mod:`layout2im.data.shapes_render` (which documents the scenes, boxes and seeds);
:mod:`layout2im.data.shapes_export` writes scenes as a COCO-format folder.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..config import DataConfig
from ..vocab import Vocabulary
from .images import to_imagenet_tensor
from .inspect import inspect_shapes
from .registry import DatasetEntry, register_dataset
from .shapes_render import (
    MAX_OBJECTS,
    SEED_STRIDE,
    SHAPE_CATEGORIES,
    Scene,
    check_dataset_args,
    check_image_size,
    check_object_counts,
    render_scene,
    scene_seed,
)
from .shapes_skills import SKILL_LAYOUTS, SKILL_SEEDS, SKILL_SPLITS, render_skill_scene

__all__ = [
    "MAX_OBJECTS",
    "SEED_STRIDE",
    "SHAPE_CATEGORIES",
    "Scene",
    "ShapesDataset",
    "build_shapes",
    "render_scene",
    "scene_seed",
]


class ShapesDataset(Dataset):
    """``num_images`` scenes; item ``i`` is ``render_scene(scene_seed(seed, i), ...)``.

    Items are dicts: ``image`` (3, H, W) float32 ImageNet-normalised, ``labels`` (O,) int64,
    ``boxes`` (O, 4) float32 normalised xyxy, ``index`` int. With ``cache=True`` rendered scenes
    are kept in memory (per process, so each DataLoader worker fills its own cache).
    """

    def __init__(
        self,
        num_images: int,
        image_size: int = 64,
        seed: int = 0,
        min_objects: int = 3,
        max_objects: int = 8,
        cache: bool = True,
    ):
        check_dataset_args(num_images, seed)
        check_image_size(image_size)
        check_object_counts(min_objects, max_objects)
        self.num_images = num_images
        self.image_size = image_size
        self.seed = seed
        self.min_objects = min_objects
        self.max_objects = max_objects
        self._cache: dict[int, Scene] | None = {} if cache else None

    @property
    def categories(self) -> tuple[str, ...]:
        return SHAPE_CATEGORIES

    def __len__(self) -> int:
        return self.num_images

    def scene(self, index: int) -> Scene:
        """The uint8 scene of item ``index`` (cached when the dataset caches)."""
        if not 0 <= index < self.num_images:
            raise IndexError(f"index {index} out of range for {self.num_images} images")
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        scene = self.render(scene_seed(self.seed, index))
        if self._cache is not None:
            self._cache[index] = scene
        return scene

    def real_image_id(self, index: int) -> int:
        """The scene seed of item ``index`` (``render_scene`` of it draws the item)."""
        return scene_seed(self.seed, index)

    def render(self, seed: int) -> Scene:
        """The scene of scene seed ``seed`` at this dataset's image size."""
        return render_scene(seed, self.image_size, self.min_objects, self.max_objects)

    def __getitem__(self, index: int) -> dict:
        scene = self.scene(index)
        return {
            "image": to_imagenet_tensor(scene.image),
            "labels": torch.tensor(scene.labels),  # copies: the cached scene stays intact
            "boxes": torch.tensor(scene.boxes),
            "index": index,
        }


class ShapesSkillDataset(ShapesDataset):
    """The ``ood-<skill>`` split: :data:`~layout2im.data.shapes_skills.SKILL_LAYOUTS` scenes
    outside the training distribution in one property; item ``i`` is
    ``render_skill_scene(skill, scene_seed(SKILL_SEEDS[skill], i), i, image_size)`` (see
    :mod:`layout2im.data.shapes_skills`)."""

    def __init__(self, skill: str, image_size: int = 64, cache: bool = True):
        if skill not in SKILL_SEEDS:
            raise ValueError(f"unknown skill {skill!r}; skills: {', '.join(SKILL_SEEDS)}")
        super().__init__(SKILL_LAYOUTS, image_size, SKILL_SEEDS[skill], cache=cache)
        self.skill = skill

    def render(self, seed: int) -> Scene:
        index = seed - scene_seed(self.seed, 0)
        return render_skill_scene(self.skill, seed, index, self.image_size)


def build_shapes(
    cfg: DataConfig, image_size: int, split: str = "train"
) -> tuple[ShapesDataset, Vocabulary]:
    """The ``split`` of the shapes dataset of ``cfg``: ``train`` holds ``cfg.num_images``
    scenes of dataset seed ``cfg.seed``; the held-out ``val`` and ``samples`` (seed + 1) and
    ``test`` (seed + 2) hold a tenth as many (at least 64)."""
    if split in SKILL_SPLITS:
        return ShapesSkillDataset(split.removeprefix("ood-"), image_size), Vocabulary(
            SHAPE_CATEGORIES
        )
    held_out = split != "train"
    seed = {"train": cfg.seed, "test": cfg.seed + 2}.get(split, cfg.seed + 1)
    dataset = ShapesDataset(
        num_images=cfg.num_images if not held_out else max(64, cfg.num_images // 10),
        image_size=image_size,
        seed=seed,
        min_objects=cfg.min_objects,
        max_objects=cfg.max_objects,
    )
    return dataset, Vocabulary(SHAPE_CATEGORIES)


register_dataset(
    DatasetEntry(
        name="shapes",
        description="built-in synthetic scenes of ten shape categories, drawn on demand",
        splits=("train", "val", "test", "samples", *SKILL_SPLITS),
        eval_split="val",
        build=build_shapes,
        inspect=inspect_shapes,
    )
)
