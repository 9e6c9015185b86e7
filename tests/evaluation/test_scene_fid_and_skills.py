"""SceneFID and the shapes32-ood protocol."""

import pytest
import torch

from layout2im.config import DataConfig
from layout2im.evaluation import (
    EvalFiles,
    ScoringOptions,
    evaluate_generator,
    format_table,
    get_protocol,
)
from layout2im.evaluation.context import EvalContext
from layout2im.evaluation.generation import load_layouts
from layout2im.evaluation.registry import get_metric
from layout2im.evaluation.scene_fid import object_crops_uint8
from layout2im.pipeline import Layout2ImPipeline, default_model


def test_object_crops_cut_the_boxes():
    image = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    image[0, 0, :4, :4] = 200  # red top-left quarter
    labels = [torch.tensor([0, 1])]
    boxes = [torch.tensor([[0.0, 0.0, 0.375, 0.375], [0.625, 0.625, 1.0, 1.0]])]
    crops = object_crops_uint8(image, labels, boxes, 5)
    assert crops.shape == (2, 3, 5, 5) and crops.dtype == torch.uint8
    assert (crops[0, 0] == 200).all() and (crops[1] == 0).all()


class MeanColourNet:
    """A stand-in for Inception: per-channel means and spreads of a crop (6 features)."""

    sha256 = "0" * 64

    def __call__(self, x):
        x = x.float()
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def _context(fake, layouts, tmp_path):
    proto = get_protocol("shapes32")
    options = ScoringOptions(files=EvalFiles(cache_dir=str(tmp_path)))
    ctx = EvalContext(proto, layouts, fake, DataConfig(name="shapes"), options)
    ctx.network("inception", MeanColourNet)  # stands in for the FID network
    return ctx


def test_scene_fid_is_zero_for_the_real_objects_and_grows_with_damage(tmp_path):
    layouts = load_layouts(DataConfig(name="shapes"), 32, get_protocol("shapes32"), 40)
    metric = get_metric("scene-fid")
    same = metric.compute(_context(layouts.real[:, None], layouts, tmp_path))
    assert same["scene_fid"] == pytest.approx(0.0, abs=1e-6)
    assert same["objects_generated"] == same["objects_real"] == sum(map(len, layouts.labels))
    dimmed = (layouts.real.float() * 0.7).to(torch.uint8)[:, None]
    worse = metric.compute(_context(dimmed, layouts, tmp_path))
    assert worse["scene_fid"] > 1.0
    cached = list((tmp_path / "real-stats").glob("shapes-val-scene-inception-*.npz"))
    assert len(cached) == 1  # the real crops' statistics were cached once


def test_shapes32_ood_scores_each_skill_split(tmp_path):
    pipe = Layout2ImPipeline.from_pretrained(default_model())
    results = evaluate_generator(
        pipe.generator,
        DataConfig(name="shapes"),
        ScoringOptions(
            "shapes32-ood",
            ["object-accuracy"],
            num_images=4,
            files=EvalFiles(cache_dir=str(tmp_path)),
        ),
        vocab=pipe.vocab,
    )
    splits = ["ood-number", "ood-position", "ood-size", "ood-shape"]
    assert list(results["splits"]) == splits
    assert results["protocol"]["skill_splits"] == splits
    assert results["data"]["layouts"] == dict.fromkeys(splits, 4)
    for split, part in results["splits"].items():
        assert part["data"]["split"] == split and part["protocol"]["name"] == "shapes32-ood"
        values = part["metrics"]["object-accuracy"]["values"]
        assert 0.0 <= values["object_acc_generated"] <= 1.0
    table = format_table(results)
    assert table.count("protocol shapes32-ood") == 4 and "ood-size" in table
