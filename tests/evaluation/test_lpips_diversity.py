import sys
import types

import numpy as np
import pytest
import torch

from layout2im.evaluation import weight_files
from layout2im.evaluation.diversity import feature_distance, pixel_l1
from layout2im.evaluation.lpips import LPIPS, alexnet_features, summarize, uint8_to_signed
from layout2im.evaluation.object_accuracy import accuracy

LIN = weight_files.wheel_file(*weight_files.LPIPS_LIN_ALEX.wheel)


def _random_alexnet_state(seed=0) -> dict:
    torch.manual_seed(seed)
    feats = alexnet_features()
    for m in feats:
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
            torch.nn.init.uniform_(m.bias, -0.1, 0.1)
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(2, 2)  # ignored
    return state


def _lin_state(seed=1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g)
        for k, c in enumerate((64, 192, 384, 256, 256))
    }


def test_lpips_is_zero_for_identical_images_symmetric_and_positive():
    net = LPIPS()
    net.load_weights(_random_alexnet_state(), _lin_state())
    net.eval()
    a = torch.rand(3, 3, 64, 64) * 2 - 1
    b = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(net(a, a), torch.zeros(3), atol=1e-7)
        d_ab, d_ba = net(a, b), net(b, a)
    assert torch.allclose(d_ab, d_ba) and (d_ab > 0).all()
    assert torch.equal(
        uint8_to_signed(torch.tensor([0, 255], dtype=torch.uint8)), torch.tensor([-1.0, 1.0])
    )


@pytest.mark.skipif(LIN is None, reason="lpips 0.1.4 wheel not installed (make venv: --no-deps)")
def test_lpips_matches_the_official_implementation(monkeypatch):
    """The official lpips package (its own forward, normalisation, scaling and the shipped v0.1
    linear layers) with torchvision stubbed to hand it our AlexNet with random weights gives
    the same distances as our implementation with the same weights."""
    alex_state = _random_alexnet_state(3)

    def alexnet(*args, **kwargs):
        model = types.SimpleNamespace(features=alexnet_features())
        model.features.load_state_dict(
            {k[9:]: v for k, v in alex_state.items() if k[:9] == "features."}
        )
        return model

    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(alexnet=alexnet)
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", tv.models)
    before = set(sys.modules)
    try:
        import lpips as official

        ref_net = official.LPIPS(net="alex", version="0.1", verbose=False).eval()
    finally:
        for name in set(sys.modules) - before:
            if name == "lpips" or name.startswith("lpips."):
                del sys.modules[name]
    ours = LPIPS()
    ours.load_weights(alex_state, torch.load(LIN, map_location="cpu", weights_only=True))
    ours.eval()
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    b = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        expected = ref_net(a, b).flatten()
        got = ours(a, b)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_lpips_missing_backbone_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(weight_files.MissingWeightsError) as err:
        LPIPS.from_files()
    msg = str(err.value)
    assert msg.startswith("missing file alexnet-owt-7be5be79.pth (AlexNet ImageNet weights")
    assert "sha256 prefix 7be5be79" in msg and "--lpips-weights" in msg
    with pytest.raises(
        weight_files.MissingWeightsError, match=str(tmp_path / "alexnet-owt-7be5be79.pth")
    ):
        LPIPS.from_files(tmp_path)


def test_diversity_and_accuracy_on_constructed_cases():
    black = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    white = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    half = black.clone()
    half[..., :2] = 255  # half of the pixels differ fully
    assert np.allclose(pixel_l1(black, white), 1.0)
    assert np.allclose(pixel_l1(black, half), 0.5)
    assert np.allclose(pixel_l1(white, white), 0.0)
    fa = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    fb = np.array([[0.0, 5.0], [4.0, 0.0], [0.0, -1.0]])
    assert np.allclose(feature_distance(fa, fb), [np.sqrt(2), 0.0, 2.0])
    assert summarize(np.array([0.1, 0.3]), "ds") == pytest.approx({"ds_mean": 0.2, "ds_std": 0.1})
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    with pytest.raises(ValueError):
        accuracy([], [])
