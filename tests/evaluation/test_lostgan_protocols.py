"""The LostGAN-v2 protocols: their recorded settings, the JPEG step of the authors' test.py,
and ``evaluate --model`` on a converted folder without ``--config``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layout2im.architectures import get_architecture
from layout2im.cli.main import main
from layout2im.evaluation.generation import generate_images, jpeg_round_trip
from layout2im.evaluation.protocols import get_protocol
from layout2im.pipeline import Layout2ImPipeline
from tests.models.lostgan import original_lostgan as orig


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lostgan-eval")
    state = orig.random_state(orig.generator_shapes(128, ch=2, mask_ch=8, head_ch=6), seed=3)
    torch.save(state, folder / "G_coco.pth")
    argv = ["convert-original", str(folder / "G_coco.pth"), "--architecture", "lostgan-v2"]
    assert main([*argv, "--dataset", "coco", "--out", str(folder / "m")]) == 0
    return folder / "m"


@pytest.mark.parametrize(
    ("name", "dataset", "size", "samples"),
    [("lostgan-v2-coco128", "coco", 128, 5), ("lostgan-v2-coco256", "coco", 256, 5),
     ("lostgan-v2-vg128", "vg", 128, 1)],
)  # fmt: skip
def test_settings_are_the_authors(name, dataset, size, samples):
    d = get_protocol(name).to_dict()
    assert (d["dataset"], d["image_size"], d["samples_per_layout"]) == (dataset, size, samples)
    assert (d["rescale"], d["jpeg_quality"], d["resize"]) == ("minmax", 75, "tf-bilinear")
    assert d["split"] == "val" and d["metrics"] == ["fid", "is", "diversity", "scene-fid"]
    assert get_protocol("paper-coco64").jpeg_quality is None


def test_generated_images_pass_through_a_jpeg(converted):
    pipe = Layout2ImPipeline.from_pretrained(converted)
    labels = [torch.tensor([157, 18])]
    boxes = [torch.tensor([[0.0, 0.0, 1.0, 0.5], [0.2, 0.3, 0.7, 0.9]])]
    arch = get_architecture("lostgan-v2")
    plain = generate_images(pipe.generator, labels, boxes, 2, 0, "minmax", architecture=arch)
    saved = generate_images(
        pipe.generator, labels, boxes, 2, 0, "minmax", architecture=arch, jpeg_quality=75
    )
    array = plain[0].permute(0, 2, 3, 1).numpy()
    expected = jpeg_round_trip(np.ascontiguousarray(array), 75)
    assert np.array_equal(saved[0].permute(0, 2, 3, 1).numpy(), expected)
    difference = np.abs(expected.astype(int) - array.astype(int))
    assert 0 < difference.mean() < 12  # a lossy copy of the same picture
    assert np.array_equal(jpeg_round_trip(expected, 75), jpeg_round_trip(expected, 75))


def test_evaluate_model_reads_the_data_the_folder_records(converted, tmp_path, capsys):
    meta = json.loads((converted / "config.json").read_text())
    assert meta["data"]["preset"] == "paper-coco64"
    argv = ["evaluate", "--model", str(converted), "--root", str(tmp_path / "none")]
    assert main([*argv, "--protocol", "lostgan-v2-coco128"]) == 2
    assert "--root not found: " in capsys.readouterr().err  # the data, not --config
    argv[-1] = str(tmp_path)  # a folder without the data: the protocol is refused first
    assert main([*argv, "--protocol", "lostgan-v2-coco256"]) == 2
    assert "this model makes 128x128" in capsys.readouterr().err
