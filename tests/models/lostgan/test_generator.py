"""LostGAN-v2 generator: the key table against the original's keys, the converted generator
against a functional forward of the original's code, padding, shapes at full size."""

from __future__ import annotations

import pytest
import torch

from layout2im.conversion.lostgan_keys import lostgan_generator_keys, resolution_of
from layout2im.conversion.state_files import map_state_dict
from layout2im.models.lostgan import PADDING_BOX, LostGANConfig, LostGANGenerator
from layout2im.models.lostgan.box_maps import paste_masks, rectangle_masks
from tests.models.lostgan import original_lostgan as orig

TINY = {"channels": 2, "mask_channels": 8, "mask_head_channels": 6}
TINY_ORIG = {"ch": 2, "mask_ch": 8, "head_ch": 6}


def _config(resolution=128, dataset="coco", sizes=TINY):
    return LostGANConfig.for_dataset(dataset, resolution, **sizes)


def _converted(state, config):
    generator = LostGANGenerator(config)
    mapped = map_state_dict(state, lostgan_generator_keys(config), "test", "a LostGAN-v2 generator")
    generator.load_state_dict({**generator.state_dict(), **mapped}, strict=True)
    return generator.eval()


def _layout(num_objects, slots, seed=0):
    """Labels (1, slots), boxes (1, slots, 4) float64 [x0, y0, w, h] padded as the COCO loader
    pads, object codes (1, slots, 128) and an image code (1, 128)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(1, slots, dtype=torch.long)
    labels[0, :num_objects] = torch.randint(1, 184, (num_objects,), generator=g)
    boxes = torch.tensor([PADDING_BOX] * slots, dtype=torch.float64)[None].clone()
    xy = torch.rand(num_objects, 2, generator=g, dtype=torch.float64) * 0.6
    wh = torch.rand(num_objects, 2, generator=g, dtype=torch.float64) * 0.4 + 0.1
    boxes[0, :num_objects] = torch.cat([xy, wh], dim=1)
    boxes[0, 0] = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)  # a whole-image box
    codes = torch.randn(1, slots, 128, generator=g).clamp(-2, 2)
    image_code = torch.randn(1, 128, generator=g).clamp(-2, 2)
    return labels, boxes, codes, image_code


@pytest.mark.parametrize("isla_buffers", [False, True])
@pytest.mark.parametrize("resolution", [128, 256])
def test_key_table_names_every_original_key(resolution, isla_buffers):
    """Every key of the LostGAN-v2 code's generator, and of one built with the ICCV 2019
    ISLA-Norm (its own statistics, read and not used), with its shape."""
    config = _config(resolution)
    shapes = orig.generator_shapes(resolution, **TINY_ORIG, isla_buffers=isla_buffers)
    table = {m.original: m for m in lostgan_generator_keys(config)}
    assert set(shapes) <= set(table)
    assert {k for k, m in table.items() if not m.optional} <= set(shapes)
    assert all(table[k].shape == s for k, s in shapes.items())
    assert resolution_of(shapes) == resolution
    unused = {k for k in shapes if not table[k].ours}
    assert len(unused) == (30 if resolution == 128 else 36) * isla_buffers


@pytest.mark.parametrize("resolution", [128, 256])
def test_full_size_tables_match_the_original_and_our_modules(resolution):
    """The authors' sizes (ch 64): the original's keys, the table and our modules agree on every
    shape; built on the meta device, so nothing is allocated."""
    for dataset, classes in (("coco", 184), ("vg", 179)):
        config = LostGANConfig.for_dataset(dataset, resolution)
        shapes = orig.generator_shapes(resolution, classes)
        assert len(shapes) == {128: 267, 256: 288}[resolution]  # the authors' classes' count
        table = lostgan_generator_keys(config)
        by_original = {m.original: m for m in table}
        assert all(by_original[k].shape == s for k, s in shapes.items())
        with torch.device("meta"):
            ours = LostGANGenerator(config).state_dict()
        assert {m.ours: m.shape for m in table if m.ours} == {
            k: tuple(v.shape) for k, v in ours.items()
        }


@pytest.mark.parametrize("resolution", [128, 256])
def test_converted_generator_matches_the_original_forward(resolution):
    config = _config(resolution)
    state = orig.random_state(orig.generator_shapes(resolution, **TINY_ORIG), seed=resolution)
    generator = _converted(state, config)
    labels, boxes, codes, image_code = _layout(5, 8)
    with torch.no_grad():
        ours = generator(labels, boxes, codes, image_code)
        expected, last_masks = orig.forward(
            state, codes, boxes, image_code, labels, resolution, TINY_ORIG["mask_ch"]
        )
    assert ours.images.shape == (1, 3, resolution, resolution)
    assert expected.abs().max() < 0.999 and expected.std() > 0.05  # not saturated, not flat
    torch.testing.assert_close(ours.images, expected, rtol=0, atol=2e-5)
    upsampled = torch.nn.functional.interpolate(
        last_masks, size=(resolution, resolution), mode="bilinear", align_corners=False
    )
    torch.testing.assert_close(ours.masks, upsampled, rtol=0, atol=2e-5)


def test_padding_objects_contribute_nothing():
    """A padding object's box lies outside the image: its pasted mask and its rectangle are
    zero everywhere, so every mask-weighted sum ignores it and the image is the same (to float
    rounding) with or without the padding. Weights at a trained network's scale (a fresh
    module's unconverged power vectors saturate tanh, where rounding can flip a pixel), seeded
    so that the outcome does not depend on the tests run before."""
    config = _config()
    state = orig.random_state(orig.generator_shapes(128, **TINY_ORIG), seed=4)
    generator = _converted(state, config)
    labels, boxes, codes, image_code = _layout(3, 8, seed=4)
    assert torch.all(rectangle_masks(boxes[:, 3:], 64) == 0)
    assert torch.all(paste_masks(torch.rand(1, 5, 16, 16), boxes[:, 3:], 64) == 0)
    with torch.no_grad():
        padded = generator(labels, boxes, codes, image_code)
        bare = generator(labels[:, :3], boxes[:, :3], codes[:, :3], image_code)
    assert padded.images.abs().max() < 0.999 and padded.images.std() > 0.05
    torch.testing.assert_close(padded.images, bare.images, rtol=0, atol=1e-6)
    assert torch.all(padded.masks[:, 3:] == 0)


def test_rectangles_and_pasting_use_pixel_centres():
    """A box covering the image gives an all-ones rectangle; its pasted mask is the mask
    resampled with corners aligned (the first and last pixels land on the map's corners)."""
    whole = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]], dtype=torch.float64)
    assert torch.all(rectangle_masks(whole, 64) == 1)
    mask = torch.rand(1, 1, 16, 16)
    pasted = paste_masks(mask, whole, 64)
    for corner in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        assert pasted[0, 0][corner] == pytest.approx(mask[0, 0][corner].item(), abs=1e-6)
    half = torch.tensor([[[0.5, 0.0, 0.5, 1.0]]], dtype=torch.float64)
    cols = rectangle_masks(half, 64)[0, 0, 0]
    assert cols[:32].sum() == 0 and cols[32:].sum() == 32


def test_safetensors_round_trip_gives_the_same_images(tmp_path):
    from safetensors.torch import load_file, save_file

    config = _config(256)
    generator = LostGANGenerator(config).eval()
    state = {k: v.detach().contiguous() for k, v in generator.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    again = LostGANGenerator(config).eval()
    again.load_state_dict(load_file(str(tmp_path / "model.safetensors")), strict=True)
    labels, boxes, codes, image_code = _layout(4, 8, seed=2)
    with torch.no_grad():
        a = generator(labels, boxes, codes, image_code)
        b = again(labels, boxes, codes, image_code)
        c = again(labels, boxes, codes, image_code)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert torch.equal(b.images, c.images)  # eval mode: deterministic, no state changes


def test_visual_genome_config_follows_its_loader():
    config = LostGANConfig.for_dataset("vg", 128)
    assert (config.num_classes, config.object_slots, config.max_real_objects) == (179, 31, 30)
    assert config.image_object and config.box_dtype == "float32"
    coco = LostGANConfig.for_dataset("coco", 256)
    assert (coco.num_classes, coco.object_slots, coco.image_object) == (184, 8, False)
    assert coco.block_channels == (1024, 1024, 512, 512, 256, 128, 64)
    with pytest.raises(ValueError, match="coco or vg"):
        LostGANConfig.for_dataset("ade20k")


@pytest.mark.parametrize("resolution", [128, 256])
def test_bf16_autocast_stays_close_to_float32(resolution):
    """bf16 autocast (the pipeline's amp="bf16") changes the images by rounding only: about
    1.5% relative error at these random weights (measured 1.5% at 128, 1.7% at 256)."""
    config = _config(resolution)
    state = orig.random_state(orig.generator_shapes(resolution, **TINY_ORIG), seed=resolution)
    generator = _converted(state, config)
    inputs = _layout(5, 8)
    with torch.no_grad():
        full = generator(*inputs).images
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = generator(*inputs).images.float()
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
    assert ((half - full).norm() / full.norm()).item() < 0.04
