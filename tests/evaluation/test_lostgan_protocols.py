"""The LostGAN-v2 protocols: their recorded settings, the JPEG step of the authors' test.py,
and ``evaluate --model`` on a converted folder without ``--config``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layout2im.architectures import get_architecture
from layout2im.cli.main import main
from layout2im.config import load_config
from layout2im.evaluation.generation import generate_images, jpeg_round_trip, load_layouts
from layout2im.evaluation.protocols import get_protocol
from layout2im.layout import LayoutBatch
from layout2im.model_folder import trained_data_config
from layout2im.pipeline import Layout2ImPipeline
from tests.data import fixtures as fx
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


def _vg_with_a_30_object_image(root):
    """A Visual Genome folder whose val image holds 30 objects (the most sg2im's filter
    keeps), 6 of them in relationships; the train image gives the vocabulary and predicate."""
    url = "https://cs.stanford.edu/people/rak248/VG_100K/{}.jpg"
    images = [{"image_id": i, "width": 300, "height": 250, "url": url.format(i)} for i in (1, 2)]
    names = ["man", "tree", "sky"]
    objects = [
        {"image_id": 1, "objects": [fx.vg_object(10 + k, [names[k]], 40 * k, 10, 40, 40)
                                    for k in range(3)]},
        {"image_id": 2, "objects": [fx.vg_object(100 + k, [names[k % 3]], 8 * k, 5 * k, 40, 40)
                                    for k in range(30)]},
    ]  # fmt: skip
    relationships = [
        {"image_id": 1, "relationships": [fx.vg_rel(1, "near", 10, 11)]},
        {"image_id": 2, "relationships": [fx.vg_rel(2 + k, "near", 100 + 2 * k, 101 + 2 * k)
                                          for k in range(3)]},
    ]  # fmt: skip
    splits = {"train": [1], "val": [2], "test": []}
    return fx.write_vg(root, images, objects, relationships, splits)


def test_a_visual_genome_folder_scores_layouts_of_the_authors_test_loader(tmp_path):
    """The converted folder records up to 29 objects per layout (the authors' test loader,
    max_objects=30: relationship objects first), not paper-vg64's 9; the lostgan-v2-vg128
    layouts of a 30-object image carry 29 objects, all 6 related ones among them, through
    generation, laid out in 31 slots with __image__ after them."""
    state = orig.random_state(orig.generator_shapes(128, 179, ch=2, mask_ch=8, head_ch=6), seed=5)
    torch.save(state, tmp_path / "G_vg.pth")
    vocab = tmp_path / "vocab.json"
    vocab.write_text(
        json.dumps({"object_idx_to_name": ["__image__", *(f"thing{i}" for i in range(178))]})
    )
    argv = ["convert-original", str(tmp_path / "G_vg.pth"), "--architecture", "lostgan-v2"]
    folder = tmp_path / "vg-model"
    assert main([*argv, "--dataset", "vg", "--vocab", str(vocab), "--out", str(folder)]) == 0
    meta = json.loads((folder / "config.json").read_text())
    paper = load_config("paper-vg64").model_dump()["data"]
    assert meta["data"].get("preset") is None
    recorded = meta["data"]["config"]
    assert recorded["vg"]["max_objects_used"] == 29 and paper["vg"]["max_objects_used"] == 9
    assert {**recorded, "vg": {**recorded["vg"], "max_objects_used": 9}} == paper
    data = trained_data_config(folder).data

    root = _vg_with_a_30_object_image(tmp_path / "vg")
    fixture = {"splits_json": "splits.json", "min_category_count": 1, "min_predicate_count": 1}
    data = data.model_copy(
        update={"root": str(root), "cache_dir": str(tmp_path / "cache"),
                "vg": data.vg.model_copy(update=fixture)}
    )  # fmt: skip
    protocol = get_protocol("lostgan-v2-vg128")
    layouts = load_layouts(data, 128, protocol)
    assert len(layouts) == 1 and layouts.real.shape == (1, 3, 128, 128)
    labels, boxes = layouts.labels[0], layouts.boxes[0]
    assert labels.shape == (29,) and boxes.shape == (29, 4)
    related = torch.tensor([[8 * k / 300, 5 * k / 250] for k in range(6)])
    assert all(torch.isclose(boxes[:, :2], xy, atol=1e-5).all(1).any() for xy in related)

    pipe = Layout2ImPipeline.from_pretrained(folder)
    assert pipe.max_objects == 30 and pipe.object_limit == 32
    arch = pipe.architecture
    images = generate_images(
        pipe.generator, layouts.labels, layouts.boxes, protocol.samples_per_layout, 0,
        protocol.rescale, architecture=arch, jpeg_quality=protocol.jpeg_quality,
    )  # fmt: skip
    assert images.shape == (1, 1, 3, 128, 128) and images.dtype == torch.uint8
    from layout2im.architectures import lostgan_v2  # after the registry has loaded it

    batch = LayoutBatch.from_lists(layouts.labels, layouts.boxes)
    codes = torch.zeros(1, 29, 128)
    slots, xywh, _, _ = lostgan_v2.original_inputs(pipe.config, batch, codes, torch.zeros(1, 256))
    assert slots.shape == (1, 31) and torch.equal(slots[0, :29], labels)
    assert slots[0, 29:].tolist() == [0, 0] and xywh[0, 29].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert torch.equal(xywh[0, 30], torch.tensor([-0.6, -0.6, 0.5, 0.5]))
