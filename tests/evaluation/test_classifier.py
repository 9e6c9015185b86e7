import json
import os

import pytest
import torch

from layout2im.config import load_config
from layout2im.data import build_dataset
from layout2im.data.collate import batch_layout, collate_layouts
from layout2im.evaluation.classifier import (
    NetworkConfig,
    NetworkLoadError,
    SmallResNet,
    evaluate_network,
    load_network,
    object_crops,
    save_network,
    scene_targets,
    train_network,
)
from layout2im.evaluation.dataset_networks import bundled_network
from layout2im.layout import LayoutBatch
from tests.conftest import tiny_config


def test_save_load_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    net = SmallResNet(NetworkConfig(kind="scenes", num_classes=3, input_size=16, widths=[8, 16]))
    net.eval()
    weights, meta = save_network(net, tmp_path / "net.safetensors", {"vocab": ["a", "b", "c"]})
    assert weights.name == "net.safetensors" and meta.name == "net.json"
    assert oct(weights.stat().st_mode & 0o777) != "0o600"  # not left with temp-file permissions
    back, info = load_network(tmp_path / "net")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(back(x), net(x))
        assert back.features(x).shape == (2, 16)
        assert back(torch.randn(1, 3, 24, 24)).shape == (1, 3 * 17)  # resized to 16
    assert info["vocab"] == ["a", "b", "c"] and info["network"]["kind"] == "scenes"
    with pytest.raises(NetworkLoadError, match="not found"):
        load_network(tmp_path / "missing")
    meta.write_text(json.dumps({"format": "other"}))
    with pytest.raises(NetworkLoadError, match="not a usable evaluation network"):
        load_network(tmp_path / "net")


@pytest.mark.timeout(60)  # opening the FIFO would block
def test_a_fifo_or_folder_as_a_network_file_is_named_for_what_it_is(tmp_path):
    os.mkfifo(tmp_path / "pipe.safetensors")
    (tmp_path / "pipe.json").write_text("{}")
    with pytest.raises(
        NetworkLoadError, match=r"pipe\.safetensors is a FIFO \(named pipe\), not a file"
    ):
        load_network(tmp_path / "pipe")
    (tmp_path / "dir.safetensors").write_bytes(b"")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(NetworkLoadError, match=r"dir\.json is a folder, not a file"):
        load_network(tmp_path / "dir")


def test_scene_targets_and_crops_on_a_constructed_layout():
    layout = LayoutBatch.from_lists(
        [torch.tensor([2, 0]), torch.tensor([1])],
        [
            torch.tensor([[0.0, 0.0, 0.2, 0.2], [0.6, 0.6, 1.0, 1.0]]),
            torch.tensor([[0, 0, 1, 1.0]]),
        ],
    )
    t = scene_targets(layout, num_classes=3, grid=2)
    assert t.shape == (2, 3 * 5)
    assert t[0, :3].tolist() == [1, 0, 1] and t[1, :3].tolist() == [0, 1, 0]
    cells = t[:, 3:].view(2, 3, 4)
    assert cells[0, 2].tolist() == [1, 0, 0, 0]  # category 2, centre (0.1, 0.1): top-left
    assert cells[0, 0].tolist() == [0, 0, 0, 1]  # category 0, centre (0.8, 0.8): bottom-right
    assert cells[1, 1].tolist() == [0, 0, 0, 1]  # centre (0.5, 0.5) falls in the last cell
    images = torch.zeros(2, 3, 8, 8)
    images[0, :, :4, :4] = 1.0
    crops = object_crops(images, layout, 4)
    assert crops.shape == (3, 3, 4, 4)
    assert torch.allclose(crops[0], torch.ones(3, 4, 4))  # box fully inside the bright corner


@pytest.mark.slow
def test_training_a_tiny_object_classifier_learns(tmp_path):
    config = tiny_config()
    result = train_network(
        config, "objects", steps=40, batch_size=8, input_size=8, val_images=16, progress=False
    )
    assert result.meta["training"]["steps"] == 40
    assert result.meta["vocab"][0] == "circle"
    assert 0.0 <= result.meta["val"]["object_accuracy"] <= 1.0
    assert result.meta["training"]["final_loss"] < 2.3  # below chance-level cross-entropy


@pytest.mark.parametrize("kind", ["objects", "scenes"])
def test_bundled_shapes_networks_are_small_and_accurate(kind):
    path = bundled_network("shapes", kind)
    assert path is not None, "the shapes networks ship in layout2im/evaluation/weights"
    size = path.stat().st_size + path.with_suffix(".json").stat().st_size
    assert size < 1_500_000
    net, info = load_network(path)
    assert info["dataset"] == "shapes" and "train-classifier" in info["training"]["command"]
    # objects: top-1 accuracy on held-out crops; scenes: right presence bits (chance ~0.5)
    key = "object_accuracy" if kind == "objects" else "presence_bit_accuracy"
    assert info["val"][key] > (0.98 if kind == "objects" else 0.75)
    # and they really are that good on held-out scenes (a small check)
    config = load_config("shapes32")
    result = evaluate_network(net, config, num_images=48)
    assert result[key] > (0.9 if kind == "objects" else 0.7)
    dataset, _ = build_dataset(config.data, 32, split="val")
    batch = collate_layouts([dataset[i] for i in range(4)])
    with torch.no_grad():
        feats = net.features(batch["images"])
    assert feats.shape == (4, net.feature_dim) and torch.isfinite(feats).all()
    assert batch_layout(batch).num_objects > 0


def test_a_network_given_with_another_suffix_says_what_was_looked_for(tmp_path):
    from layout2im.evaluation.classifier import NetworkLoadError, load_network

    with pytest.raises(NetworkLoadError, match=r"is read from x\.safetensors and x\.json"):
        load_network(tmp_path / "x.pt")
    (tmp_path / "x.pt").write_bytes(b"a PyTorch file")  # there: named for what it is
    with pytest.raises(NetworkLoadError, match=r"x\.pt is not an evaluation network: one is a"):
        load_network(tmp_path / "x.pt")


def test_a_network_with_non_finite_or_non_float_weights_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    net = SmallResNet(NetworkConfig(kind="scenes", num_classes=3, input_size=16, widths=[8, 16]))
    weights, _ = save_network(net, tmp_path / "net", {"vocab": ["a", "b", "c"]})
    state = load_file(str(weights))
    key = next(k for k, v in state.items() if v.is_floating_point())
    for bad, problem in [
        (torch.full_like(state[key], float("nan")), r"holds [\d,]+ NaN"),
        (state[key].to(torch.complex64), "is complex64, expected a floating-point tensor"),
    ]:
        save_file({**state, key: bad}, str(weights))
        with pytest.raises(
            NetworkLoadError, match=rf"net\.safetensors cannot be loaded: '{key}' {problem}"
        ):
            load_network(tmp_path / "net")
