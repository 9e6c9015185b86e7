import json

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrize import remove_parametrizations

from layout2im.cli import main
from layout2im.config import ModelConfig, load_config
from layout2im.layout import LayoutBatch
from layout2im.models import ImageDiscriminator, Layout2ImGenerator, ObjectDiscriminator
from layout2im.models.discriminators import DownBlock
from tests.conftest import tiny_model_config


@pytest.fixture(scope="module")
def paper_generator():
    torch.manual_seed(0)
    return Layout2ImGenerator(ModelConfig(num_classes=184))


def _paper_layout() -> LayoutBatch:
    return LayoutBatch.from_lists(
        [torch.tensor([1, 20, 150]), torch.tensor([5, 183])],
        [
            torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.2, 0.3, 0.9, 1.0], [0.0, 0.6, 1.0, 1.0]]),
            torch.tensor([[0.1, 0.1, 0.4, 0.9], [0.5, 0.0, 1.0, 0.5]]),
        ],
    )


def test_paper_module_shapes(paper_generator):
    g = paper_generator
    layout = _paper_layout()
    objects = layout.flat()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        crops, mu, logvar = g.encode_objects(images, layout)
        assert crops.shape == (5, 3, 32, 32)
        assert mu.shape == logvar.shape == (5, 64)
        maps = g.composer(objects.labels, mu, objects.boxes)
        assert maps.shape == (5, 128, 64, 64)
        feats = g.object_encoder(maps, objects.labels)
        assert feats.shape == (5, 512, 8, 8)  # 64 -> 66 (1x1 conv, padding=1) -> 33 -> 16 -> 8
        fused = g.fuser(feats, layout.mask)
        assert fused.shape == (2, 64, 8, 8)
        images_out = g.decoder(fused)
        assert images_out.shape == (2, 3, 64, 64)
        out = g(images, layout, torch.randn(5, 64))
    assert out.img_rec.shape == out.img_rand.shape == (2, 3, 64, 64)
    assert out.crops_rec.shape == out.crops_rand.shape == (5, 3, 32, 32)
    assert out.mu_rand.shape == out.z_rand.shape == (5, 64)


def test_paper_traps_are_kept(paper_generator):
    g = paper_generator
    first = g.object_encoder.convs[0]
    assert first.kernel_size == (1, 1) and first.padding == (1, 1) and first.bias is None
    assert not any(isinstance(m, nn.Tanh) for m in g.modules())  # no tanh: ImageNet space
    assert isinstance(g.decoder.up[-1], nn.Conv2d) and g.decoder.up[-1].bias is not None
    assert g.crop_encoder.convs[0].kernel_size == (7, 7)


def test_composer_maps_are_constant_in_the_box_and_zero_outside(paper_generator):
    g = paper_generator
    z = torch.randn(1, 64)
    maps = g.composer(torch.tensor([3]), z, torch.tensor([[0.25, 0.5, 0.75, 1.0]]))
    vector = torch.cat([g.composer.embedding.weight[3], z[0]])
    torch.testing.assert_close(maps[0, :, 40, 30], vector)
    assert torch.all(maps[0, :, :32, :] == 0) and torch.all(maps[0, :, :, :16] == 0)


def test_discriminator_shapes():
    torch.manual_seed(0)
    d_img = ImageDiscriminator([64, 128, 256, 512, 1024])
    d_obj = ObjectDiscriminator([64, 128, 256, 512, 1024], num_classes=184)
    assert d_img(torch.randn(3, 3, 64, 64)).shape == (3,)
    src, cls = d_obj(torch.randn(4, 3, 32, 32))
    assert src.shape == (4,) and cls.shape == (4, 184)
    sn = [m for m in d_obj.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert sn and all(hasattr(m, "parametrizations") for m in sn)  # spectral norm everywhere
    assert d_img.head.bias is None and d_obj.head_src.bias is not None


def test_down_block_shortcut_sees_relu_of_its_input():
    block = DownBlock(2, 2, downsample=False)
    for conv in (block.conv1, block.conv2, block.shortcut):
        remove_parametrizations(conv, "weight")  # spectral norm of a zero matrix is undefined
    with torch.no_grad():
        for conv in (block.conv1, block.conv2):
            conv.weight.zero_()
            conv.bias.zero_()
        block.shortcut.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        block.shortcut.bias.zero_()
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(block(x), torch.relu(x))  # not x: the original's in-place ReLU


def test_paper_parameter_counts_via_cli(capsys):
    assert main(["info", "--config", "paper-coco64", "--json"]) == 0
    params = json.loads(capsys.readouterr().out)["params"]
    for key, original in [
        ("generator", 27.7e6),
        ("image_discriminator", 10.1e6),
        ("object_discriminator", 10.3e6),
    ]:
        assert abs(params[key] - original) / original < 0.01, (key, params[key])


def test_vg_preset_builds():
    config = load_config("paper-vg64")
    assert config.model.num_classes == 179 and config.data.name == "vg"
    Layout2ImGenerator(config.model)


def test_tiny_generator_forward_and_decode_shapes(layout_batch):
    g = Layout2ImGenerator(tiny_model_config())
    out = g(torch.randn(2, 3, 16, 16), layout_batch, torch.randn(4, 4))
    assert out.img_rec.shape == (2, 3, 16, 16) and out.crops_real.shape == (4, 3, 8, 8)
    g.eval()
    assert g.decode(layout_batch, torch.randn(4, 4)).shape == (2, 3, 16, 16)


@pytest.mark.parametrize("train", [False, True])
def test_fast_and_reference_computations_agree(layout_batch, train):
    torch.manual_seed(0)
    g = Layout2ImGenerator(tiny_model_config()).train(train)
    z = torch.randn(4, 4, requires_grad=True)
    fast = g.decode(layout_batch, z)
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), z)
    g.computation = "reference"
    reference = g.decode(layout_batch, z)
    (grad_ref,) = torch.autograd.grad(reference.square().sum(), z)
    torch.testing.assert_close(reference, fast, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_ref, grad_fast, rtol=1e-4, atol=1e-5)


def test_training_forward_fast_and_reference_agree_in_outputs_gradients_and_bn_stats(layout_batch):
    # The reference runs in float64: in float32 its own rounding reaches 3e-4 relative in some
    # object encoder weight gradients (sums over every pixel of every composer map).
    torch.manual_seed(0)
    fast = Layout2ImGenerator(tiny_model_config()).train()
    reference = Layout2ImGenerator(tiny_model_config()).train()
    reference.load_state_dict(fast.state_dict())
    reference.computation = "reference"
    reference.double()
    images = torch.randn(2, 3, 16, 16)
    z = torch.randn(4, 4)
    outs, grads = [], []
    for g, dtype in ((fast, torch.float32), (reference, torch.float64)):
        layout = LayoutBatch(layout_batch.labels, layout_batch.boxes.to(dtype), layout_batch.mask)
        out = g(images.to(dtype), layout, z.to(dtype), generator=torch.Generator().manual_seed(1))
        loss = out.img_rec.abs().mean() + out.img_rand.square().mean() + out.mu_rand.sum()
        grads.append(torch.autograd.grad(loss, list(g.parameters())))
        outs.append(out)
    for name in ("img_rec", "img_rand", "crops_rec", "crops_rand", "mu", "logvar", "mu_rand"):
        torch.testing.assert_close(
            getattr(outs[0], name), getattr(outs[1], name).float(), rtol=1e-5, atol=1e-5
        )
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b.float(), rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(
        fast.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(
            a, b.to(a.dtype), rtol=1e-5, atol=1e-6, msg=name
        )  # BN running statistics
