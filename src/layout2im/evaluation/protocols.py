"""Named evaluation protocols: everything that changes the numbers, fixed and recorded.

A number without its protocol cannot be compared with another. Each preset pins the layouts
(dataset split and how many), how many images are generated per layout and from which seeds,
how generated images become pixels (``rescale``: ``clamp`` de-normalises and clamps,
``minmax`` stretches each image to its own min..max as the original code saved them), whether
the pixels pass through a JPEG file (``jpeg_quality``, as code that saved its samples as
``.jpg`` scored them), how pixels reach the Inception network (bilinear resize to 299,
TF-style or torch-style), the IS splits and logits, how SceneFID crops objects, how image
files of other systems become pixels, and the default metrics. A protocol with
``skill_splits`` scores each split apart (``shapes32-ood``). Results JSON holds
``Protocol.to_dict()``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import ConfigError
from ..errors import quote


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    dataset: str | None  # data.name it is meant for; None: any
    split: str = "val"
    image_size: int | None = None  # the model's image size it expects; None: any
    num_layouts: int | None = None  # layouts of the split used; None: all
    samples_per_layout: int = 1  # images per layout for FID, IS and object accuracy
    diversity_samples: int = 2  # images per layout compared (sample 0 vs 1) for diversity
    seed: int = 0  # z for layout i, sample k ~ N(0, I) from derived_seed(seed, i, k)
    rescale: str = "clamp"  # generated images -> uint8 ("clamp" or "minmax")
    jpeg_quality: int | None = None  # generated uint8 -> JPEG of this quality -> uint8; None: not
    real_images: str = "dataset pixels (uint8 of the dataset at the model's image size)"
    resize: str = "tf-bilinear"  # uint8 -> 299x299 for the Inception networks
    inception_size: int = 299
    is_splits: int = 10
    is_logits: str = "unbiased"  # pool3 @ W (no bias), as the original IS code
    lpips_net: str = "alex-v0.1"
    lpips_input: str = "native size, pixels / 127.5 - 1"
    object_crops: str = "bilinear crops of the boxes at the classifier's input size"
    scene_fid_crop_size: int = 224  # scene-fid: each box cropped to this size, then resize
    scene_fid_crops: str = (
        "each box of every image cropped bilinearly (layers.crop_boxes) to "
        "scene_fid_crop_size, rounded to uint8, then the resize above to the Inception input"
    )
    image_files: str = (
        "scored folders: PNG or JPEG converted to RGB; a square image of another size is "
        "resized to image_size with PIL's bilinear filter (antialiased when shrinking)"
    )
    skill_splits: tuple[str, ...] = ()  # when set: every metric on each split, reported apart
    metrics: tuple[str, ...] = ("fid", "is", "diversity", "object-accuracy")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["metrics"] = list(self.metrics)
        d["skill_splits"] = list(self.skill_splits)
        return d

    def splits(self) -> list[Protocol]:
        """One protocol per split scored: itself, or one per skill split."""
        if not self.skill_splits:
            return [self]
        return [dataclasses.replace(self, split=s, skill_splits=()) for s in self.skill_splits]

    def check_dataset(self, data_name: str) -> None:
        if self.dataset is not None and self.dataset != data_name:
            raise ConfigError(
                f"protocol {self.name!r} is for data.name={self.dataset!r}, but the config has "
                f"data.name={data_name!r}; choose --protocol {default_protocol_name(data_name)}"
            )


_PAPER = dict(
    split="val",
    image_size=64,
    samples_per_layout=1,
    rescale="minmax",
    resize="tf-bilinear",
    is_splits=10,
)

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="paper-coco64",
            description=(
                "Layout2Im paper, COCO-Stuff 2017: every layout of the filtered val2017 split "
                "(about 3,097), one 64x64 image per layout, images min-max rescaled per image "
                "as the original code saved them, bilinear resize to 299 as the TF Inception "
                "graph does (TTUR FID, original IS code with 10 splits), LPIPS diversity "
                "between two samples of each layout, object accuracy on crops of the boxes"
            ),
            dataset="coco",
            **_PAPER,
        ),
        Protocol(
            name="paper-vg64",
            description=(
                "Layout2Im paper, Visual Genome: every layout of the sg2im test split, one "
                "64x64 image per layout, otherwise as paper-coco64"
            ),
            dataset="vg",
            **{**_PAPER, "split": "test"},
        ),
        Protocol(
            name="lostgan-coco64",
            description=(
                "for comparison with LostGAN-era papers on COCO-Stuff: the val layouts, five "
                "64x64 images per layout (five times the images), images clamped (a linear map "
                "to pixels, as tanh-output models save them), SceneFID as these papers report "
                "it, otherwise as paper-coco64"
            ),
            dataset="coco",
            split="val",
            image_size=64,
            samples_per_layout=5,
            rescale="clamp",
            resize="tf-bilinear",
            metrics=("fid", "is", "diversity", "object-accuracy", "scene-fid"),
        ),
        *(
            Protocol(
                name=f"lostgan-v2-{dataset}{size}",
                description=(
                    "LostGAN-v2 as its authors evaluated it (WillSuen/LostGANs test.py, issues "
                    f"3, 5 and 13), {what}: {samples} {size}x{size} image(s) per layout saved as "
                    "their test.py saved them (x * 0.5 + 0.5 stretched per image to its min..max, "
                    "a JPEG of quality 75, decoded again), real images at the generated size, "
                    "bilinear resize to 299 as the TF Inception graph does (TTUR FID, original "
                    "IS code with 10 splits), LPIPS diversity, SceneFID"
                ),
                dataset=dataset,
                split="val",
                image_size=size,
                samples_per_layout=samples,
                rescale="minmax",
                jpeg_quality=75,
                resize="tf-bilinear",
                metrics=("fid", "is", "diversity", "scene-fid"),
            )
            for dataset, size, samples, what in (
                (
                    "coco",
                    128,
                    5,
                    "COCO-Stuff val2017 with stuff annotations, stuff-only images, "
                    "objects of area >= 0.02, 3-8 objects per image",
                ),
                ("coco", 256, 5, "the COCO-Stuff layouts of lostgan-v2-coco128"),
                ("vg", 128, 1, "the Visual Genome val split their test.py reads (val.h5)"),
            )
        ),
        Protocol(
            name="shapes32",
            description=(
                "built-in shapes data: the held-out split (dataset seed + 1, 2,000 layouts by "
                "default), one 32x32 image per layout, clamped; the standard networks where "
                "their files exist, and the dataset's own networks shipped with the package "
                "(object classifier; scene features for fid-shapes and diversity-shapes)"
            ),
            dataset="shapes",
            split="val",
            image_size=32,
            rescale="clamp",
            metrics=(
                "fid",
                "is",
                "diversity",
                "object-accuracy",
                "fid-shapes",
                "diversity-shapes",
            ),
        ),
        Protocol(
            name="shapes32-ood",
            description=(
                "built-in shapes data, layouts the model never saw (in the spirit of "
                "LayoutBench): four skill splits of 300 layouts each, number (1-2 and 9-16 "
                "objects), position (boxes at the edges and corners), size (boxes of at most "
                "4 px and of at least 80% of the image), shape (boxes beyond 4:1), real "
                "images drawn by the shapes renderer; per split object accuracy, layout "
                "fidelity and shapes FID against the real images of the same layouts; "
                "otherwise as shapes32"
            ),
            dataset="shapes",
            split="ood-number",
            image_size=32,
            rescale="clamp",
            skill_splits=("ood-number", "ood-position", "ood-size", "ood-shape"),
            metrics=("object-accuracy", "layout-fidelity", "fid-shapes"),
        ),
        Protocol(
            name="custom",
            description=(
                "any dataset and size: the val layouts, one image per layout, clamped, "
                "TF-style bilinear resize to 299"
            ),
            dataset=None,
        ),
    )
}


def protocol_names() -> list[str]:
    return list(PROTOCOLS)


def default_protocol_name(data_name: str) -> str:
    return {"shapes": "shapes32", "coco": "paper-coco64", "vg": "paper-vg64"}.get(
        data_name, "custom"
    )


def get_protocol(name: str | Protocol | None, data_name: str | None = None) -> Protocol:
    """The preset ``name`` (or the default for ``data_name`` when ``name`` is None)."""
    if isinstance(name, Protocol):
        return name
    if name is None:
        name = default_protocol_name(data_name or "")
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(
            f"unknown protocol {quote(name)}; protocols: {', '.join(protocol_names())}"
        ) from None
