"""Output pixels: ``minmax`` is exactly what the authors' test.py saved; a model's
``output_rescale`` is the default of the pipeline, the CLI and the editor."""

import json

import numpy as np
import torch

from layout2im.pipeline import Layout2ImPipeline
from layout2im.visualize import IMAGENET_MEAN, IMAGENET_STD, to_uint8


def _sg2im_deprocess_batch(imgs: torch.Tensor) -> np.ndarray:
    """sg2im's imagenet_deprocess_batch(rescale=True), written out: Normalize(0, 1/std),
    Normalize(-mean, 1), (x - min) / (max - min), mul(255).clamp(0, 255).byte()."""
    out = []
    for img in imgs:
        inv_std = torch.tensor([1.0 / s for s in IMAGENET_STD])[:, None, None]
        neg_mean = torch.tensor([-m for m in IMAGENET_MEAN])[:, None, None]
        x = (img - 0.0) / inv_std
        x = (x - neg_mean) / 1.0
        lo, hi = x.min(), x.max()
        x = x.sub(lo).div(hi - lo)
        out.append(x.mul(255).clamp(0, 255).byte())
    return torch.stack(out).permute(0, 2, 3, 1).numpy()


def test_minmax_is_the_originals_saving_rule():
    images = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 1.7
    assert np.array_equal(to_uint8(images, "minmax"), _sg2im_deprocess_batch(images))
    # differs from min-max before de-normalising (the channels have different std)
    x = images.clone()
    lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
    naive = ((x - lo) / (hi - lo) * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert not np.array_equal(naive, to_uint8(images, "minmax"))


def test_the_models_output_rescale_is_the_default(tiny_model_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for f in tiny_model_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    meta = json.loads((folder / "config.json").read_text())
    meta["model"]["output_rescale"] = "minmax"
    (folder / "config.json").write_text(json.dumps(meta))
    layout = {"objects": [{"category": "circle", "box": [0.1, 0.1, 0.6, 0.6]}]}
    plain = Layout2ImPipeline.from_pretrained(tiny_model_dir)
    paper = Layout2ImPipeline.from_pretrained(folder)
    default = paper(layout, seed=0).images[0].tobytes()
    assert default == paper(layout, seed=0, rescale="minmax").images[0].tobytes()
    assert default != paper(layout, seed=0, rescale="clamp").images[0].tobytes()
    assert (
        plain(layout, seed=0).images[0].tobytes()
        == plain(layout, seed=0, rescale="clamp").images[0].tobytes()
    )
