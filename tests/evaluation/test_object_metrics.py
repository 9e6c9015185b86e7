"""reconstruction-colour, diversity-objects and layout-fidelity on small constructed inputs,
and the zero-latent baseline generator."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from layout2im.config import DataConfig
from layout2im.evaluation import ScoringOptions, evaluate_generator, get_metric
from layout2im.evaluation.baselines import ZeroLatentGenerator
from layout2im.evaluation.classifier import load_network
from layout2im.evaluation.context import EvalContext
from layout2im.evaluation.dataset_networks import bundled_network
from layout2im.evaluation.fidelity import WINDOWS, found_in_boxes, window_boxes
from layout2im.evaluation.generation import EvalLayouts, load_layouts
from layout2im.evaluation.object_colours import box_mean_colours, box_pixel_l1, colour_errors
from layout2im.evaluation.protocols import get_protocol
from layout2im.evaluation.registry import MetricSkipped
from layout2im.layout import LayoutBatch
from layout2im.models.layers import box_masks, crop_boxes
from layout2im.pipeline import Layout2ImPipeline
from layout2im.visualize import normalize
from layout2im.vocab import Vocabulary
from tests.conftest import tiny_config

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _scenes():
    """Two 16x16 images of solid boxes on grey (each colour filled one pixel beyond its box,
    so bilinear crops of a box see only its colour); labels, boxes, uint8 (2, 3, 16, 16)."""
    boxes = [
        torch.tensor([[2, 2, 6, 6], [9, 8, 14, 13]]) / 16.0,
        torch.tensor([[4, 3, 12, 11]]) / 16.0,
    ]
    colours = [[RED, GREEN], [BLUE]]
    images = torch.full((2, 3, 16, 16), 128, dtype=torch.uint8)
    for i, (bs, cs) in enumerate(zip(boxes, colours)):
        for b, c in zip(bs, cs):
            x0, y0, x1, y1 = (b * 16).round().long().tolist()
            images[i, :, y0 - 1 : y1 + 1, x0 - 1 : x1 + 1] = torch.tensor(c)[:, None, None]
    labels = [torch.tensor([0, 1]), torch.tensor([2])]
    return labels, boxes, images


class MeanColourAutoencoder(nn.Module):
    """A generator whose code is the mean colour of the object's crop: ``decode`` paints each
    box with ``z[:3]`` on grey. Reconstructions of :func:`_scenes` are exact."""

    def __init__(self, image_size=16, z_dim=4):
        super().__init__()
        self.config = SimpleNamespace(image_size=image_size, z_dim=z_dim, num_classes=3)

    def encode_objects(self, images, layout):
        objects = layout.flat()
        crops = crop_boxes(images, objects.boxes, objects.obj_to_img, 4)
        rgb = crops * torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        rgb = rgb + torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        mu = torch.zeros(len(crops), self.config.z_dim)
        mu[:, :3] = rgb.mean(dim=(2, 3))
        return crops, mu, torch.zeros_like(mu)

    def decode(self, layout, z):
        s = self.config.image_size
        objects = layout.flat()
        out = torch.full((layout.batch_size, 3, s, s), 0.5)
        masks = box_masks(objects.boxes, s, s)  # (N, 1, S, S)
        for n in range(len(z)):
            i = objects.obj_to_img[n]
            out[i] = torch.where(masks[n].bool(), z[n, :3, None, None], out[i])
        return normalize(out)


def _context(labels, boxes, real, fake, generator=None):
    layouts = EvalLayouts(labels, boxes, real, Vocabulary(["a", "b", "c"]), len(labels))
    return EvalContext(get_protocol("custom"), layouts, fake, DataConfig(), generator=generator)


def test_box_mean_colours_and_errors_on_constructed_images():
    _, boxes, images = _scenes()
    colours = box_mean_colours(images, boxes)
    assert colours.shape == (3, 3)
    np.testing.assert_allclose(colours, np.array([RED, GREEN, BLUE]) / 255.0)
    assert colour_errors(colours, colours).tolist() == [0.0, 0.0, 0.0]
    black = torch.zeros_like(images)
    np.testing.assert_allclose(
        colour_errors(box_mean_colours(black, boxes), colours), [1 / 3, 1 / 3, 1 / 3]
    )
    np.testing.assert_allclose(box_pixel_l1(images, black, boxes), [1 / 3, 1 / 3, 1 / 3])
    # half of a box recoloured: half of its pixels differ
    half = images.clone()
    half[1, :, 3:7, 4:12] = 128
    l1 = box_pixel_l1(images, half, boxes)
    assert l1[:2].tolist() == [0.0, 0.0]
    assert l1[2] == pytest.approx(0.5 * (128 + 128 + 127) / 3 / 255)
    with pytest.raises(ValueError, match="2 images but 1 box sets"):
        box_mean_colours(images, boxes[:1])


def test_reconstruction_colour_perfect_wrong_and_zero_latent():
    labels, boxes, real = _scenes()
    grey = torch.full_like(real, 128)
    fake = torch.stack([grey, grey], dim=1)  # samples that ignore the objects' colours
    metric = get_metric("reconstruction-colour")

    perfect = metric.compute(_context(labels, boxes, real, fake, MeanColourAutoencoder()))
    assert perfect["recon_colour_error"] == pytest.approx(0.0, abs=1e-9)
    assert 0 < perfect["recon_pixel_l1"] < 0.1  # only the colour margins around the boxes
    # grey (128) against pure red/green/blue: (127 + 128 + 128) / 3 / 255 on average
    expected_grey = np.mean([(127 + 128 + 128) / 3, (128 + 127 + 128) / 3, (128 + 128 + 127) / 3])
    assert perfect["sampled_colour_error"] == pytest.approx(expected_grey / 255, abs=1e-9)
    assert perfect["objects_reconstructed"] == 3

    baseline = ZeroLatentGenerator(MeanColourAutoencoder())
    zero = metric.compute(_context(labels, boxes, real, fake, baseline))
    # z = 0 paints every box black: the error of black against pure colours is 1/3
    assert zero["recon_colour_error"] == pytest.approx(1 / 3)

    with pytest.raises(MetricSkipped, match="needs the generator"):
        metric.compute(_context(labels, boxes, real, fake))


def test_diversity_objects_zero_for_identical_samples_and_exact_for_a_recolour():
    labels, boxes, real = _scenes()
    metric = get_metric("diversity-objects")
    same = metric.compute(_context(labels, boxes, real, torch.stack([real, real], dim=1)))
    assert same == {
        "ds_object_colour_mean": 0.0,
        "ds_object_colour_std": 0.0,
        "ds_object_pixel_l1_mean": 0.0,
        "ds_object_pixel_l1_std": 0.0,
    }
    swapped = real[:, [1, 2, 0]]  # RGB -> GBR: every pure colour changes two channels fully
    out = metric.compute(_context(labels, boxes, real, torch.stack([real, swapped], dim=1)))
    assert out["ds_object_colour_mean"] == pytest.approx(2 / 3)
    assert out["ds_object_colour_std"] == pytest.approx(0.0)
    assert out["ds_object_pixel_l1_mean"] == pytest.approx(2 / 3)


def test_window_boxes_stay_around_the_box():
    box = torch.tensor([[0.3, 0.4, 0.5, 0.7]])
    wins = window_boxes(box)
    assert wins.shape == (1, len(WINDOWS), 4)
    assert torch.allclose(wins[0, WINDOWS.index((1.0, 0.0, 0.0))], box[0])

    def iou(a, b):
        w = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp(min=0)
        h = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp(min=0)
        inter = w * h
        area = lambda t: (t[2] - t[0]) * (t[3] - t[1])  # noqa: E731
        return inter / (area(a) + area(b) - inter)

    assert min(iou(w, box[0]) for w in wins[0]) > 0.5
    corner = window_boxes(torch.tensor([[0.0, 0.0, 0.2, 0.2]]))
    assert corner.min() == 0.0 and corner.max() <= 1.0  # clipped to the image


@pytest.fixture(scope="module")
def shapes_scenes():
    """The first 12 held-out shapes32 layouts with their real images, and the bundled object
    classifier."""
    data = DataConfig(name="shapes")
    layouts = load_layouts(data, 32, get_protocol("shapes32"), 12)
    net, _ = load_network(bundled_network("shapes", "objects"))
    return data, layouts, net


def test_layout_fidelity_real_images_pass_displaced_and_blank_ones_fail(shapes_scenes):
    data, layouts, _ = shapes_scenes
    metric = get_metric("layout-fidelity")

    def fidelity(fake):
        ctx = EvalContext(get_protocol("shapes32"), layouts, fake[:, None], data)
        return metric.compute(ctx)

    real = layouts.real
    perfect = fidelity(real)  # a "generator" that returns the real image
    assert perfect["layout_fidelity_generated"] == perfect["layout_fidelity_real"]
    assert perfect["layout_fidelity_real"] > 0.9
    assert perfect["objects_generated"] == sum(len(t) for t in layouts.labels)
    # the right objects, drawn half an image away from their boxes
    displaced = fidelity(torch.roll(real, shifts=(16, 16), dims=(2, 3)))
    assert displaced["layout_fidelity_generated"] < 0.3
    blank = fidelity(torch.full_like(real, 128))
    assert blank["layout_fidelity_generated"] < 0.2


def test_found_in_boxes_tolerates_a_small_shift(shapes_scenes):
    _, layouts, net = shapes_scenes
    layout = LayoutBatch.from_lists(layouts.labels, layouts.boxes)
    x = normalize(layouts.real.float() / 255.0)
    found = found_in_boxes(net, x, layout)
    shifted = found_in_boxes(net, torch.roll(x, shifts=1, dims=3), layout)  # one pixel right
    assert found.float().mean() > 0.9
    assert shifted.float().mean() >= found.float().mean() - 0.1
    with torch.no_grad():
        assert not found_in_boxes(net, x, layout, threshold=1.01).any()


@pytest.fixture
def generator(tiny_model_dir):
    return Layout2ImPipeline.from_pretrained(tiny_model_dir).generator


def test_zero_latent_generator_is_deterministic_and_loses_reconstruction(generator):
    data = tiny_config().data
    metrics = ["diversity-objects", "reconstruction-colour"]
    model = evaluate_generator(generator, data, ScoringOptions("custom", metrics, num_images=6))
    zero = ZeroLatentGenerator(generator)
    zero.train()
    base = evaluate_generator(zero, data, ScoringOptions("custom", metrics, num_images=6))
    assert zero.training and generator.training  # mode restored through the wrapper
    m, b = model["metrics"], base["metrics"]
    assert m["diversity-objects"]["values"]["ds_object_colour_mean"] > 0
    assert b["diversity-objects"]["values"]["ds_object_colour_mean"] == 0.0
    assert b["diversity-objects"]["values"]["ds_object_pixel_l1_mean"] == 0.0
    # z is ignored, so the reconstruction is the (only) sample: the same colour error
    rb = b["reconstruction-colour"]["values"]
    assert rb["recon_colour_error"] == rb["sampled_colour_error"]
    rm = m["reconstruction-colour"]["values"]
    assert rm["recon_colour_error"] != rb["recon_colour_error"]
    layout = LayoutBatch.from_lists([torch.tensor([0, 1])], [torch.rand(2, 4).sort(1).values])
    z = torch.randn(2, generator.config.z_dim)
    generator.eval()
    with torch.no_grad():
        assert torch.equal(zero.decode(layout, z), generator.decode(layout, torch.zeros_like(z)))
    assert zero.config is generator.config
