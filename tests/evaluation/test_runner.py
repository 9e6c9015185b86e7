import pytest
import torch

from layout2im.config import ConfigError
from layout2im.evaluation import (
    EvalFiles,
    Metric,
    MetricSkipped,
    ScoringOptions,
    evaluate_generator,
    format_table,
    get_metric,
    metric_names,
    register_metric,
)
from layout2im.evaluation.generation import generate_images
from layout2im.evaluation.registry import UnknownMetricError
from layout2im.evaluation.runner import run_metrics
from layout2im.pipeline import Layout2ImPipeline
from layout2im.vocab import Vocabulary
from tests.conftest import tiny_config


@pytest.fixture
def generator(tiny_model_dir):
    return Layout2ImPipeline.from_pretrained(tiny_model_dir).generator


def _layouts():
    labels = [torch.tensor([0, 3]), torch.tensor([5]), torch.tensor([1, 2, 4])]
    boxes = [
        torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.4, 0.4, 0.9, 0.9]]),
        torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
        torch.tensor([[0.0, 0.0, 0.3, 0.3], [0.3, 0.3, 0.6, 0.6], [0.6, 0.6, 1.0, 1.0]]),
    ]
    return labels, boxes


def test_generation_is_deterministic_batch_independent_and_prefix_stable(generator):
    labels, boxes = _layouts()
    generator.train()
    a = generate_images(generator, labels, boxes, 2, seed=0, rescale="clamp", batch_size=64)
    assert generator.training  # mode restored
    assert a.shape == (3, 2, 3, 16, 16) and a.dtype == torch.uint8
    b = generate_images(generator, labels, boxes, 2, seed=0, rescale="clamp", batch_size=2)
    assert torch.equal(a, b)
    first = generate_images(generator, labels[:1], boxes[:1], 2, seed=0, rescale="clamp")
    assert torch.equal(first[0], a[0])
    assert not torch.equal(a[:, 0], a[:, 1])  # two samples differ
    c = generate_images(generator, labels, boxes, 2, seed=1, rescale="clamp")
    assert not torch.equal(a, c)
    m = generate_images(generator, labels, boxes, 1, seed=0, rescale="minmax")
    assert torch.equal(m[:, 0].amax(dim=(1, 2, 3)), torch.full((3,), 255, dtype=torch.uint8))
    assert torch.equal(m[:, 0].amin(dim=(1, 2, 3)), torch.zeros(3, dtype=torch.uint8))


def test_evaluate_generator_records_protocol_and_skips_missing_files(generator, tmp_path):
    data = tiny_config().data
    files = EvalFiles(
        inception_logits=str(tmp_path / "none.pth"), cache_dir=str(tmp_path / "cache")
    )
    results = evaluate_generator(
        generator,
        data,
        ScoringOptions("custom", ["is", "diversity-shapes"], num_images=5, files=files),
    )
    assert results["protocol"]["name"] == "custom"
    assert results["protocol"]["rescale"] == "clamp"
    assert results["data"]["layouts"] == 5 and results["data"]["split"] == "val"
    assert results["images"] == {
        "generated": 10,
        "samples_per_layout_generated": 2,
        "samples_per_layout_scored": 1,
        "real": 5,
        "rescale": "clamp",
        "seed": 0,
    }
    skipped = results["metrics"]["is"]
    assert skipped["status"] == "skipped"
    assert skipped["reason"].startswith("missing file pt_inception-2015-12-05-6726825d.pth")
    ds = results["metrics"]["diversity-shapes"]
    assert ds["status"] == "ok"
    assert 0 < ds["values"]["ds_shapes_pixel_l1_mean"] < 1
    assert results["networks"]["scene_features"]["sha256"]
    missing = EvalFiles(object_classifier=str(tmp_path / "nope"), use_cache=False)
    r2 = evaluate_generator(
        generator, data, ScoringOptions("custom", ["object-accuracy"], num_images=2, files=missing)
    )
    skipped = r2["metrics"]["object-accuracy"]
    assert skipped["status"] == "skipped"
    assert skipped["reason"].startswith("evaluation network file not found: ")
    assert "nope.safetensors (a network given as" in skipped["reason"]
    assert "is read from nope.safetensors and nope.json" in skipped["reason"]
    table = format_table(results)
    assert table.startswith("protocol custom: shapes split val, 5 of 64 layouts")
    assert "| is | skipped | missing file" in table


def test_evaluate_generator_argument_errors(generator):
    data = tiny_config().data
    with pytest.raises(ConfigError, match=r"protocol 'paper-coco64' is for data\.name='coco'"):
        evaluate_generator(generator, data, ScoringOptions("paper-coco64", ["fid"]))
    with pytest.raises(ConfigError, match="is for 32x32 images; this model makes 16x16"):
        evaluate_generator(generator, data, ScoringOptions("shapes32", ["fid"]))
    with pytest.raises(UnknownMetricError, match="unknown metric 'nope'; metrics: fid"):
        evaluate_generator(generator, data, ScoringOptions("custom", ["nope"]))
    with pytest.raises(ConfigError, match="at least 2"):
        evaluate_generator(generator, data, ScoringOptions("custom", ["fid"], num_images=1))
    other = Vocabulary([f"thing{i}" for i in range(10)])
    with pytest.raises(ConfigError, match="the model's vocabulary"):
        evaluate_generator(
            generator, data, ScoringOptions("custom", ["fid"], num_images=2), vocab=other
        )


def test_registry_custom_metrics_and_skips(generator):
    @register_metric("test-mean-pixel")
    class MeanPixel(Metric):
        requires = ()

        def compute(self, ctx):
            return {"mean_pixel": ctx.generated().float().mean().item(), "real": ctx.real.shape[0]}

    @register_metric("test-always-skips")
    class Skips(Metric):
        def compute(self, ctx):
            raise MetricSkipped("no such network here")

    assert "test-mean-pixel" in metric_names()
    assert isinstance(get_metric("test-mean-pixel"), MeanPixel)
    with pytest.raises(ValueError, match="already registered"):
        register_metric("fid")(MeanPixel)
    options = ScoringOptions("custom", ["test-mean-pixel", "test-always-skips"], num_images=3)
    results = evaluate_generator(generator, tiny_config().data, options)
    assert results["metrics"]["test-mean-pixel"]["values"]["real"] == 3.0
    assert results["metrics"]["test-always-skips"] == {
        "status": "skipped",
        "reason": "no such network here",
    }
    assert run_metrics.__doc__
