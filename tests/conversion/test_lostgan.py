"""Reading the LostGAN-v2 authors' generator files: resolution and widths from the keys,
``module.`` prefixes, and every refusal naming each problem."""

from __future__ import annotations

import pytest
import torch

from layout2im.conversion.lostgan import read_lostgan_generator
from layout2im.conversion.state_files import ConversionError
from tests.models.lostgan import original_lostgan as orig

TINY_ORIG = {"ch": 2, "mask_ch": 8, "head_ch": 6}


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """Random tiny-width 128 and 256 generators saved as the authors' train.py saves them
    (torch.save of a DataParallel model's state_dict(): ``module.`` prefixes)."""
    folder = tmp_path_factory.mktemp("lostgan")
    out = {}
    for resolution in (128, 256):
        state = orig.random_state(orig.generator_shapes(resolution, **TINY_ORIG), seed=resolution)
        path = folder / f"G_coco_{resolution}.pth"
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
        out[resolution] = (state, path)
    return out


@pytest.mark.parametrize("resolution", [128, 256])
def test_resolution_and_widths_come_from_the_keys(tiny_files, resolution):
    state, path = tiny_files[resolution]
    generator = read_lostgan_generator(path, "coco")
    c = generator.config
    assert (c.resolution, c.channels, c.mask_channels, c.mask_head_channels) == (
        resolution,
        2,
        8,
        6,
    )
    assert not generator.training
    ours = generator.state_dict()
    assert torch.equal(ours["blocks.0.norm1.gamma.parametrizations.weight.original"],
                       state["res1.b1.weight_proj.weight_orig"])  # fmt: skip
    assert torch.equal(ours["mask_blend.0"], state["alpha1"])


def _refusal(state, tmp_path) -> str:
    """The message of the ConversionError that reading ``state`` (saved to a file) raises."""
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ConversionError) as info:
        read_lostgan_generator(path, "coco")
    return str(info.value)


def test_every_missing_unexpected_and_misshaped_key_is_named(tiny_files, tmp_path):
    state, _ = tiny_files[128]
    bad = dict(state)
    del bad["alpha3"], bad["res2.b1.bias_proj.weight_u"]
    bad["res4.conv_mask.0.stages.0.3.weight"] = torch.zeros(1)
    bad["final.0.weight"] = torch.zeros(5)
    message = _refusal(bad, tmp_path)
    assert "is not a LostGAN-v2 128x128 generator for COCO-Stuff" in message
    assert "2 missing key(s): res2.b1.bias_proj.weight_u, alpha3" in message
    assert "1 unexpected key(s): res4.conv_mask.0.stages.0.3.weight" in message
    assert "final.0.weight: (5,) in the file, (2,) expected" in message


def _with_isla_statistics(state, resolution, seed=9):
    """``state`` plus the ISLA-Norms' own statistics of the ICCV 2019 norm module."""
    shapes = orig.generator_shapes(resolution, **TINY_ORIG, isla_buffers=True)
    extra = {k: s for k, s in shapes.items() if k not in state}
    assert len(extra) == 3 * 2 * (5 if resolution == 128 else 6)
    assert all(k.split(".")[1] in ("b1", "b2") and k.count(".") == 2 for k in extra)
    return {**state, **orig.random_state(extra, seed)}


@pytest.mark.parametrize("resolution", [128, 256])
def test_the_iccv2019_isla_norms_statistics_are_read_and_not_used(tiny_files, tmp_path, resolution):
    """A generator saved with the ISLA-Norm that subclassed BatchNorm2d (its own running_mean,
    running_var, num_batches_tracked besides batch_norm2d's) converts to the same weights,
    with or without num_batches_tracked (PyTorch < 0.4.1)."""
    state, path = tiny_files[resolution]
    expected = read_lostgan_generator(path, "coco").state_dict()
    full = _with_isla_statistics(state, resolution)
    older = {k: v for k, v in full.items() if not k.endswith(".b1.num_batches_tracked")}
    older = {k: v for k, v in older.items() if not k.endswith(".b2.num_batches_tracked")}
    for name, variant in (("full", full), ("older", older)):
        saved = tmp_path / f"{name}.pth"
        torch.save({f"module.{k}": v for k, v in variant.items()}, saved)
        ours = read_lostgan_generator(saved, "coco").state_dict()
        assert ours.keys() == expected.keys()
        assert all(torch.equal(ours[k], expected[k]) for k in expected), name


def test_misshaped_or_foreign_isla_tensors_are_still_named(tiny_files, tmp_path):
    state, _ = tiny_files[128]
    bad = _with_isla_statistics(state, 128)
    bad["res2.b1.running_var"] = torch.ones(3)  # res2.b1 has 32 channels at ch 2
    bad["res2.b1.weight"] = torch.ones(32)  # an affine weight neither norm module has
    message = _refusal(bad, tmp_path)
    assert "1 unexpected key(s): res2.b1.weight." in message
    assert "1 shape mismatch(es): res2.b1.running_var: (3,) in the file, (32,) expected" in message
    assert "missing" not in message


def test_a_coco_file_read_as_visual_genome_names_the_embedding(tiny_files):
    _, path = tiny_files[256]
    with pytest.raises(ConversionError) as info:
        read_lostgan_generator(path, "vg")
    message = str(info.value)
    assert "LostGAN-v2 256x256 generator for Visual Genome" in message
    assert "label_embedding.weight: (184, 180) in the file, (179, 180) expected" in message


def test_a_layout2im_file_and_pickled_code_are_refused(tmp_path):
    from tests.conversion import original_networks as layout2im_orig

    path = tmp_path / "netG_coco.pt"
    torch.save(layout2im_orig.random_state(layout2im_orig.generator_shapes(184)), path)
    with pytest.raises(ConversionError, match=r"missing key\(s\): label_embedding.weight"):
        read_lostgan_generator(path, "coco")
    pickled = tmp_path / "whole.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)
    with pytest.raises(ConversionError, match="needs Python code unpickled"):
        read_lostgan_generator(pickled, "coco")
    with pytest.raises(ConversionError, match="--dataset must be one of coco, vg"):
        read_lostgan_generator(pickled, "ade20k")
