"""The model shipped inside the package (``layout2im/pretrained/shapes32``)."""

import json

import pytest
import torch

from layout2im.config import DataConfig
from layout2im.data.shapes import SHAPE_CATEGORIES
from layout2im.evaluation import ScoringOptions, evaluate_generator
from layout2im.layout import example_layouts, load_layout_file
from layout2im.pipeline import DEFAULT_MODEL, PRETRAINED_DIR, Layout2ImPipeline, default_model

SHIPPED = PRETRAINED_DIR / DEFAULT_MODEL


def test_the_default_model_is_shipped_small_and_safetensors_only():
    assert default_model() == SHIPPED
    names = sorted(p.name for p in SHIPPED.iterdir())
    assert names == ["config.json", "model.safetensors", "vocab.json"]
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) <= 20 * 2**20
    meta = json.loads((SHIPPED / "config.json").read_text())
    assert meta["model"]["image_size"] == 32
    assert json.loads((SHIPPED / "vocab.json").read_text())["names"] == list(SHAPE_CATEGORIES)


def test_the_shipped_model_generates_every_example_layout_deterministically():
    pipe = Layout2ImPipeline.from_pretrained(DEFAULT_MODEL)
    for path in example_layouts():
        layout = load_layout_file(path, pipe.vocab, pipe.config.z_dim, pipe.max_objects)
        a = pipe(layout, num_samples=3, seed=5)
        b = pipe(layout, num_samples=3, seed=5)
        assert [i.tobytes() for i in a.images] == [i.tobytes() for i in b.images]
        assert a.images[0].size == (32, 32)
        assert a.images[0].tobytes() != a.images[1].tobytes()  # the codes matter


@pytest.mark.slow
def test_the_shipped_model_draws_recognisable_objects_on_held_out_layouts():
    """A regression guard, not the benchmark (benchmarks/quality_shapes.py is): the bundled
    classifier recognises most generated objects on 100 held-out layouts
    (chance is 10%; benchmarks/results/quality_shapes32.md has the full-size figure)."""
    pipe = Layout2ImPipeline.from_pretrained(DEFAULT_MODEL)
    torch.manual_seed(0)
    results = evaluate_generator(
        pipe.generator,
        DataConfig(name="shapes"),
        ScoringOptions("shapes32", ["object-accuracy"], device="cpu", num_images=100),
    )
    values = results["metrics"]["object-accuracy"]["values"]
    assert values["object_acc_generated"] > 0.8  # 90.9% on 1,000 layouts
    assert values["object_acc_real"] > 0.95
