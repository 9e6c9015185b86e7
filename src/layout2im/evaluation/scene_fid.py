"""SceneFID: the Fréchet Inception Distance between the objects of generated and real images.

Introduced by Sylvain et al., "Object-Centric Image Generation from Layouts" (OC-GAN, AAAI
2021) as an object-centric FID for images of many objects: every object of every image is cut
out along its layout box and the crops of generated images are compared with the crops of the
real images, so a model is judged on each object and not only on the scene as a whole.

Here: each box is cropped bilinearly (:func:`~layout2im.models.layers.crop_boxes`, the crop
the model and the object classifier use) to ``protocol.scene_fid_crop_size`` pixels a side
(224, the crop size of the public SceneFID scripts), rounded to uint8, then fed to the same
pinned Inception network as FID with the protocol's resize to 299. Real crops come from the
real images of the same layouts; their statistics are cached like FID's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..layout import LayoutBatch
from ..models.layers import crop_boxes
from .feature_stats import GaussianStats
from .features import inception_pool3
from .fid import frechet_distance
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .context import EvalContext


@torch.no_grad()
def object_crops_uint8(
    images: torch.Tensor, labels: Sequence[torch.Tensor], boxes: Sequence[torch.Tensor], size: int
) -> torch.Tensor:
    """uint8 (sum O_i, 3, size, size): every box of ``boxes[i]`` (O_i, 4) normalised xyxy cut
    from uint8 image ``images[i]`` (N, 3, H, W), bilinearly resized, rounded; image-major."""
    layout = LayoutBatch.from_lists(list(labels), list(boxes)).to(images.device).flat()
    crops = crop_boxes(images.float(), layout.boxes.float(), layout.obj_to_img, size)
    return crops.round().clamp(0, 255).to(torch.uint8)


def crop_feature_fn(
    net: Callable[[torch.Tensor], torch.Tensor],
    layouts: tuple[list[torch.Tensor], list[torch.Tensor]],
    size: int,
    device: torch.device,
) -> Callable[..., np.ndarray]:
    """A feature function (uint8 images matching ``layouts`` one to one -> float64 (objects,
    D)) that crops every box and runs ``net`` on the crops."""
    labels, boxes = layouts

    def fn(images: torch.Tensor, batch_size: int = 64, progress=None) -> np.ndarray:
        out = []
        per_batch = max(1, batch_size // 8)  # images per batch; each has a few objects
        for start in range(0, images.shape[0], per_batch):
            stop = min(images.shape[0], start + per_batch)
            crops = object_crops_uint8(
                images[start:stop].to(device), labels[start:stop], boxes[start:stop], size
            )
            for c in range(0, crops.shape[0], batch_size):
                out.append(net(crops[c : c + batch_size]).double().cpu().numpy())
            if progress is not None:
                progress(stop - start)
        return np.concatenate(out)

    return fn


@register_metric("scene-fid")
class SceneFID(Metric):
    description = (
        "SceneFID (OC-GAN): FID between the object crops (the layout's boxes) of generated "
        "and real images, Inception-v3 pool3"
    )
    requires = ("inception",)

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net = inception_pool3(ctx)
        proto = ctx.protocol
        size = proto.scene_fid_crop_size
        settings = {
            "resize": proto.resize,
            "inception_size": proto.inception_size,
            "crop_size": size,
            "crops": proto.scene_fid_crops,
        }
        real_fn = crop_feature_fn(net, ctx.layouts_repeated(1), size, ctx.device)
        real = ctx.real_stats("scene-inception", net.sha256, real_fn, settings)
        k = proto.samples_per_layout
        fake_fn = crop_feature_fn(net, ctx.layouts_repeated(k), size, ctx.device)
        fake = GaussianStats.of(ctx.features(fake_fn, ctx.generated(k), "SceneFID crops"))
        return {
            "scene_fid": frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma),
            "objects_generated": float(fake.n),
            "objects_real": float(real.n),
        }
