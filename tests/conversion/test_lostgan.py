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


def test_every_missing_unexpected_and_misshaped_key_is_named(tiny_files, tmp_path):
    state, _ = tiny_files[128]
    bad = dict(state)
    del bad["alpha3"], bad["res2.b1.bias_proj.weight_u"]
    bad["res4.conv_mask.0.stages.0.3.weight"] = torch.zeros(1)
    bad["final.0.weight"] = torch.zeros(5)
    path = tmp_path / "bad.pth"
    torch.save(bad, path)
    with pytest.raises(ConversionError) as info:
        read_lostgan_generator(path, "coco")
    message = str(info.value)
    assert "is not a LostGAN-v2 128x128 generator for COCO-Stuff" in message
    assert "2 missing key(s): res2.b1.bias_proj.weight_u, alpha3" in message
    assert "1 unexpected key(s): res4.conv_mask.0.stages.0.3.weight" in message
    assert "final.0.weight: (5,) in the file, (2,) expected" in message


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
