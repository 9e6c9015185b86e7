"""The images a protocol scores: its layouts with their real images, and the generator's images.

Images: the codes of sample ``k`` of layout ``i`` (every object's, drawn together, then the
image code of an architecture with one) come from a generator seeded by
``derived_seed(protocol.seed, i, k)``, each from its architecture's distribution, so a number
does not depend on the batch size or on ``num_images``, and the first ``n`` layouts of a longer
run get exactly the same images. Generated images are turned into uint8 pixels by the
architecture's pixel rule with the protocol's ``rescale``; a protocol with ``jpeg_quality``
then encodes each as a JPEG of that quality and decodes it again (:func:`jpeg_round_trip`), as
code that saved its samples as ``.jpg`` files scored them; every metric reads those pixels.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..architectures import IMAGE_CODE, OBJECT_CODE, Architecture, get_architecture
from ..config import DataConfig
from ..data import build_dataset
from ..layout import LayoutBatch
from ..seeding import derived_seed
from ..visualize import normalize, to_uint8
from ..vocab import Vocabulary
from .protocols import Protocol


@dataclass
class EvalLayouts:
    """The protocol's layouts: per layout ``labels`` (O_i,), ``boxes`` (O_i, 4) normalised
    xyxy, and ``real`` uint8 (L, 3, H, W), the dataset's images of those layouts.
    ``selection``: None for the first ``L`` layouts of the split, else a hash of which
    layouts were kept (see :meth:`subset`)."""

    labels: list[torch.Tensor]
    boxes: list[torch.Tensor]
    real: torch.Tensor
    vocab: Vocabulary
    available: int
    selection: str | None = None
    image_ids: list[int] = field(default_factory=list)  # the real images' ids in the dataset

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int]) -> EvalLayouts:
        """The layouts ``indices`` (positions in this list, increasing), with their real
        images; ``selection`` names them so cached statistics of subsets never mix."""
        idx = list(indices)
        if idx == list(range(len(self))) and self.selection is None:
            return self
        digest = hashlib.sha256(",".join(map(str, idx)).encode()).hexdigest()[:16]
        return EvalLayouts(
            [self.labels[i] for i in idx],
            [self.boxes[i] for i in idx],
            self.real[idx],
            self.vocab,
            self.available,
            f"{len(idx)} of {len(self)} layouts, sha256 {digest}",
            [self.image_ids[i] for i in idx] if self.image_ids else [],
        )


def load_layouts(
    data: DataConfig, image_size: int, protocol: Protocol, num_images: int | None = None
) -> EvalLayouts:
    """The first ``num_images`` (else ``protocol.num_layouts``, else all) layouts of the
    protocol's split, with their real images as uint8."""
    dataset, vocab = build_dataset(data, image_size, split=protocol.split)
    available = len(dataset)
    limit = num_images if num_images is not None else protocol.num_layouts
    n = available if limit is None else min(limit, available)
    labels, boxes, real, ids = [], [], [], []
    for i in range(n):
        item = dataset[i]
        labels.append(item["labels"])
        boxes.append(item["boxes"])
        real.append(torch.from_numpy(to_uint8(item["image"][None], "clamp")[0]).permute(2, 0, 1))
        ids.append(dataset.real_image_id(item["index"]))
    return EvalLayouts(labels, boxes, torch.stack(real), vocab, available, image_ids=ids)


def progress_bar(total: int, desc: str, progress: bool):
    return tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False)


@torch.no_grad()
def generate_images(
    generator,
    labels: Sequence[torch.Tensor],
    boxes: Sequence[torch.Tensor],
    samples: int,
    seed: int,
    rescale: str,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    progress: bool = False,
    architecture: Architecture | None = None,
    jpeg_quality: int | None = None,
) -> torch.Tensor:
    """uint8 images (L, samples, 3, H, W) of ``generator`` (of ``architecture``, default
    ``layout2im``; used in eval mode and restored afterwards) for the layouts
    ``labels``/``boxes``, by the architecture's ``generate`` and pixel rule (then through a
    JPEG of ``jpeg_quality`` when given, see :func:`jpeg_round_trip`). The codes of image
    ``(i, k)`` come from one generator seeded by ``derived_seed(seed, i, k)``: the per-object
    codes (O_i, dim) first, then the image code (dim,) for an architecture with one."""
    architecture = architecture or get_architecture("layout2im")
    architecture.check_rescale(rescale)
    spec = architecture.codes(generator.config)
    device = torch.device(device)
    was_training = generator.training
    generator.eval()
    per_batch = max(1, batch_size // samples)
    out = []
    try:
        with progress_bar(len(labels) * samples, "generate", progress) as bar:
            for start in range(0, len(labels), per_batch):
                idx = range(start, min(len(labels), start + per_batch))
                lab = [labels[i] for i in idx for _ in range(samples)]
                box = [boxes[i] for i in idx for _ in range(samples)]
                z, image_z = [], []
                for i in idx:
                    for k in range(samples):
                        draw = torch.Generator().manual_seed(derived_seed(seed, i, k))
                        shape = (len(labels[i]), spec.objects.dim)
                        z.append(spec.objects.sampler.sample(shape, draw))
                        if spec.image is not None:
                            image_z.append(spec.image.sampler.sample((spec.image.dim,), draw))
                layout = LayoutBatch.from_lists(lab, box).to(device)
                codes = {OBJECT_CODE: layout.scatter(torch.cat(z).to(device))}
                if spec.image is not None:
                    codes[IMAGE_CODE] = torch.stack(image_z).to(device)
                images, _ = architecture.generate(generator, layout, codes)
                array = architecture.to_uint8(images, rescale)
                if jpeg_quality is not None:
                    array = jpeg_round_trip(array, jpeg_quality)
                pixels = torch.from_numpy(array).permute(0, 3, 1, 2)
                out.append(pixels.reshape(len(idx), samples, *pixels.shape[1:]))
                bar.update(len(lab))
    finally:
        generator.train(was_training)
    return torch.cat(out)


def jpeg_round_trip(pixels: np.ndarray, quality: int) -> np.ndarray:
    """uint8 images (N, H, W, 3) encoded as baseline JPEGs of ``quality`` with PIL's defaults
    (4:2:0 chroma subsampling; what ``scipy.misc.imsave`` wrote for a ``.jpg`` name, quality
    75) and decoded again. Returns uint8 (N, H, W, 3)."""
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[i] = np.asarray(decoded.convert("RGB"))
    return out


@torch.no_grad()
def reconstruct_images(
    generator,
    labels: Sequence[torch.Tensor],
    boxes: Sequence[torch.Tensor],
    real: torch.Tensor,
    rescale: str,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    progress: bool = False,
) -> torch.Tensor:
    """uint8 (L, 3, H, W): the layouts ``labels``/``boxes`` generated with each object's code
    set to the posterior mean ``mu`` that ``generator.encode_objects`` estimates from its box in
    the real image (uint8 ``real`` (L, 3, H, W)). Eval mode while running, mode restored."""
    device = torch.device(device)
    was_training = generator.training
    generator.eval()
    out = []
    try:
        with progress_bar(len(labels), "reconstruct", progress) as bar:
            for start in range(0, len(labels), batch_size):
                stop = min(len(labels), start + batch_size)
                layout = LayoutBatch.from_lists(labels[start:stop], boxes[start:stop]).to(device)
                x = normalize(real[start:stop].to(device).float() / 255.0)
                _, mu, _ = generator.encode_objects(x, layout)
                images = generator.decode(layout, mu)
                out.append(torch.from_numpy(to_uint8(images, rescale)).permute(0, 3, 1, 2))
                bar.update(stop - start)
    finally:
        generator.train(was_training)
    return torch.cat(out)
