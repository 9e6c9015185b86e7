"""The registered ``lostgan-v2`` architecture, end to end: ``convert-original --architecture
lostgan-v2`` on random original-named tensors, the pipeline's images against the functional
forward of the original (padded as the authors' loaders pad), the authors' pixel rule, codes
(truncation, determinism per seed, sample and id; the image code), masks, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layout2im.architectures import get_architecture
from layout2im.cli.main import main
from layout2im.layout import LayoutBatch
from layout2im.pipeline import Layout2ImPipeline
from tests.models.lostgan import original_lostgan as orig

TINY_ORIG = {"ch": 2, "mask_ch": 8, "head_ch": 6}
SCENE = {
    "objects": [
        {"id": "sky", "category": "sky-other", "box": [0.0, 0.0, 1.0, 0.45]},
        {"id": "grass", "category": "grass", "box": [0.0, 0.5, 1.0, 1.0]},
        {"id": "dog", "category": "dog", "box": [0.3, 0.4, 0.7, 0.9]},
    ]
}


def _lostgan_v2():
    """The architecture's module, imported after the registry has registered the built-in
    architectures in their order."""
    get_architecture("lostgan-v2")
    from layout2im.architectures import lostgan_v2

    return lostgan_v2


def _save_original(path, resolution=128, num_classes=184, seed=0):
    state = orig.random_state(
        orig.generator_shapes(resolution, num_classes, **TINY_ORIG), seed=seed
    )
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    return state


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lostgan-coco")
    state = _save_original(folder / "G_coco.pth")
    out = folder / "model"
    argv = ["convert-original", str(folder / "G_coco.pth"), "--architecture", "lostgan-v2"]
    assert main([*argv, "--dataset", "coco", "--out", str(out)]) == 0
    return state, out


def _vg_vocab(path):
    path.write_text(
        json.dumps({"object_idx_to_name": ["__image__", *(f"thing{i}" for i in range(178))]})
    )
    return path


def test_conversion_states_the_resolution_and_writes_a_lostgan_folder(coco, capsys, tmp_path):
    _, out = coco
    meta = json.loads((out / "config.json").read_text())
    assert meta["architecture"] == "lostgan-v2" and meta["max_objects"] == 8
    assert meta["model"]["resolution"] == 128 and meta["model"]["channels"] == 2
    assert meta["provenance"]["converted_from"] == "the authors' code, WillSuen/LostGANs"
    path = tmp_path / "G_256.pth"
    _save_original(path, 256)
    argv = ["convert-original", str(path), "--architecture", "lostgan-v2", "--dataset", "coco"]
    assert main([*argv, "--out", str(tmp_path / "m256")]) == 0
    assert "LostGAN-v2 256x256 generator (read from the file's keys)" in capsys.readouterr().out
    pipe = Layout2ImPipeline.from_pretrained(tmp_path / "m256")
    assert pipe.image_size == 256 and pipe.architecture.name == "lostgan-v2"


def test_pipeline_images_match_the_original_forward(coco):
    """The folder (safetensors) through the pipeline, with the codes it returns, gives the
    functional original's image for the layout padded as the COCO-Stuff loader pads it."""
    state, out = coco
    pipe = Layout2ImPipeline.from_pretrained(out)
    result = pipe(SCENE, num_samples=2, seed=3)
    layout = pipe.parse(SCENE)
    images, masks = pipe.generate_outputs(layout, result.latents, result.image_latents)
    boxes = torch.tensor([o["box"] for o in SCENE["objects"]], dtype=torch.float64)
    xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)
    padding = torch.tensor([[-0.6, -0.6, 0.5, 0.5]] * 5, dtype=torch.float64)
    bbox = torch.cat([xywh, padding])[None].repeat(2, 1, 1)
    labels = torch.tensor([157, 124, 18] + [0] * 5)[None].repeat(2, 1)
    z = torch.cat([result.latents, torch.zeros(2, 5, 128)], dim=1)
    with torch.no_grad():
        expected, last = orig.forward(state, z, bbox, result.image_latents, labels, 128, 8)
    torch.testing.assert_close(images, expected, rtol=0, atol=2e-5)
    upsampled = torch.nn.functional.interpolate(last, size=128, mode="bilinear")
    torch.testing.assert_close(masks, upsampled[:, :3], rtol=0, atol=2e-5)
    assert result.masks.shape == (2, 3, 128, 128)
    # the saved pixels: test.py's x * 0.5 + 0.5 through scipy's bytescale (min..max per image)
    x = expected[0].permute(1, 2, 0).numpy() * 0.5 + 0.5
    lo, hi = x.min(), x.max()
    want = (((x - lo) * (255.0 / (hi - lo))).clip(0, 255) + 0.5).astype(np.uint8)
    got = np.asarray(result.images[0])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert (got == want).mean() > 0.999


def test_codes_are_truncated_and_deterministic_per_seed_sample_and_id(coco):
    _, out = coco
    pipe = Layout2ImPipeline.from_pretrained(out)
    codes = pipe.latent_codes
    assert [c["distribution"] for c in codes.describe()] == ["normal truncated at |x| <= 2"] * 2
    many = codes.objects.sampler.from_seed(0, (20000,))
    assert many.abs().max() <= 2.0 and abs(many.std().item() - 0.8796) < 0.02
    a = pipe(SCENE, num_samples=2, seed=5)
    b = pipe(SCENE, num_samples=2, seed=5)
    assert a.images[1].tobytes() == b.images[1].tobytes()
    assert torch.equal(a.latents, b.latents) and torch.equal(a.image_latents, b.image_latents)
    assert not torch.equal(a.image_latents[0], a.image_latents[1])
    moved = json.loads(json.dumps(SCENE))
    moved["objects"][2]["box"] = [0.0, 0.0, 0.4, 0.4]
    c = pipe(moved, num_samples=2, seed=5)
    assert torch.equal(c.latents[:, :2], a.latents[:, :2])  # ids keep their codes
    assert torch.equal(c.image_latents, a.image_latents)  # one image code per (seed, sample)
    locked = {**SCENE, "image_z": a.image_latents[1].tolist()}
    d = pipe(locked, num_samples=2, seed=9)
    assert torch.equal(d.image_latents[0], a.image_latents[1])


def test_visual_genome_adds_the_image_object_and_pads_to_31(tmp_path, capsys):
    path = tmp_path / "G_vg.pth"
    state = _save_original(path, 128, 179, seed=7)
    argv = ["convert-original", str(path), "--architecture", "lostgan-v2", "--dataset", "vg"]
    vocab = _vg_vocab(tmp_path / "vocab.json")
    assert main([*argv, "--vocab", str(vocab), "--out", str(tmp_path / "vg")]) == 0
    pipe = Layout2ImPipeline.from_pretrained(tmp_path / "vg")
    assert pipe.image_z_dim == 256 and pipe.max_objects == 30
    scene = {"objects": [{"category": "thing0", "box": [0.1, 0.1, 0.6, 0.8]}]}
    result = pipe(scene, seed=1)
    batch = LayoutBatch.from_lists([torch.tensor([1])], [torch.tensor([[0.1, 0.1, 0.6, 0.8]])])
    labels, boxes, z, image_code = _lostgan_v2().original_inputs(
        pipe.config, batch, result.latents, result.image_latents
    )
    assert labels.shape == (1, 31) and labels[0, :2].tolist() == [1, 0]
    assert boxes.dtype == torch.float32 and boxes[0, 1].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert torch.equal(z[0, 1], result.image_latents[0, 128:])
    assert torch.all(boxes[0, 2:] == torch.tensor([-0.6, -0.6, 0.5, 0.5]))
    with torch.no_grad():
        expected, _ = orig.forward(state, z, boxes, image_code, labels, 128, 8)
    images, _ = pipe.generate_outputs(pipe.parse(scene), result.latents, result.image_latents)
    torch.testing.assert_close(images, expected, rtol=0, atol=2e-5)


def test_clamp_pixels_and_unknown_rules():
    to_uint8 = _lostgan_v2().to_uint8
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    assert to_uint8(x, "clamp")[0, :, :, 0].tolist() == [[0, 128], [255, 255]]
    assert to_uint8(torch.zeros(1, 3, 2, 2), "minmax").max() == 0  # flat image: scale 1
    with pytest.raises(ValueError, match="minmax, clamp"):
        to_uint8(x, "imagenet")
    arch = get_architecture("lostgan-v2")
    assert arch.capabilities.names() == ["masks", "image_code"]


def _refused(capsys, argv, *fragments, out=None):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    if out is not None:
        assert not out.exists()


def test_refusals(coco, tmp_path, capsys):
    state, folder = coco
    out = tmp_path / "out"
    path = tmp_path / "G.pth"
    torch.save(state, path)
    base = ["convert-original", str(path), "--architecture", "lostgan-v2", "--out", str(out)]
    _refused(capsys, [*base, "--dataset", "vg"], "--vocab FILE", out=out)
    vocab = _vg_vocab(tmp_path / "vocab.json")
    _refused(capsys, [*base, "--dataset", "vg", "--vocab", str(vocab)],
             "label_embedding.weight: (184, 180) in the file, (179, 180) expected",
             out=out)  # fmt: skip
    _refused(capsys, [*base, "--dataset", "coco", "--discriminators", str(path), str(path)],
             "--discriminators is for --architecture layout2im", out=out)  # fmt: skip
    bad = dict(state)
    del bad["alpha2"]
    torch.save(bad, path)
    _refused(capsys, [*base, "--dataset", "coco"], "1 missing key(s): alpha2", out=out)
    # the default architecture is still Layout2Im: a LostGAN file is not one
    _refused(capsys, ["convert-original", str(path), "--dataset", "coco", "--out", str(out)],
             "is not a Layout2Im network", out=out)  # fmt: skip
    # training from it says so in one line
    _refused(capsys, ["train", "--config", "shapes32", "--init-from", str(folder), "--out",
                      str(tmp_path / "runs")], "cannot be trained in this library")  # fmt: skip
    # style from a photo is not offered
    pipe = Layout2ImPipeline.from_pretrained(folder)
    with pytest.raises(Exception, match="style"):
        pipe.encode_style(None, [0, 0, 1, 1], "dog")


def test_generate_writes_each_objects_mask(coco, tmp_path, capsys):
    from PIL import Image

    _, folder = coco
    layout = tmp_path / "scene.json"
    layout.write_text(json.dumps(SCENE))
    out = tmp_path / "out"
    argv = ["generate", "--model", str(folder), "--layout", str(layout), "--samples", "2"]
    assert main([*argv, "--seed", "4", "--out", str(out), "--masks"]) == 0
    names = sorted(p.name for p in out.glob("scene-sample*-mask*.png"))
    assert names == [f"scene-sample{k:02d}-mask{j:02d}.png" for k in range(2) for j in range(3)]
    result = Layout2ImPipeline.from_pretrained(folder)(SCENE, num_samples=2, seed=4)
    picture = np.asarray(Image.open(out / "scene-sample01-mask02.png"))
    assert picture.shape == (128, 128) and picture.dtype == np.uint8
    expected = (result.masks[1, 2].clamp(0, 1) * 255).round().numpy()
    assert np.abs(picture.astype(float) - expected).max() <= 1
    capsys.readouterr()
    # an architecture without masks says so, and writes nothing
    from layout2im.layout import example_layouts

    refused = tmp_path / "refused"
    shapes_layout = str(sorted(example_layouts())[0])
    assert main(["generate", "--layout", shapes_layout, "--masks",
                 "--out", str(refused)]) == 2  # fmt: skip
    assert "makes no object masks" in capsys.readouterr().err
    assert not refused.exists() or not any(refused.iterdir())


def test_editor_api_returns_masks_and_takes_the_image_code(coco):
    import base64
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from layout2im.web import create_app

    _, folder = coco
    pipe = Layout2ImPipeline.from_pretrained(folder)
    with TestClient(create_app(pipe, model_name="lostgan"), base_url="http://127.0.0.1:8000") as c:
        info = c.get("/api/info").json()
        assert info["architecture"] == "lostgan-v2" and info["image_size"] == 128
        assert info["capabilities"] == ["masks", "image_code"]
        body = {"layout": SCENE, "num_samples": 2, "seed": 1}
        first = c.post("/api/generate", json=body).json()
        assert len(first["masks"]) == 2 and len(first["masks"][0]) == 3
        mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(first["masks"][1][2]))))
        result = pipe(SCENE, num_samples=2, seed=1)
        expected = (result.masks[1, 2].clamp(0, 1) * 255).round().numpy()
        assert mask.shape == (128, 128) and np.abs(mask - expected).max() <= 1
        # lock the background: the image code of sample 1 in every sample of another seed
        locked = {**SCENE, "image_z": first["image_latents"][1]}
        second = c.post("/api/generate", json={**body, "layout": locked, "seed": 2}).json()
        assert second["image_latents"] == [first["image_latents"][1]] * 2
        assert second["latents"] != first["latents"]
        wrong = {**SCENE, "image_z": [0.0] * 3}
        refused = c.post("/api/generate", json={**body, "layout": wrong})
        assert refused.status_code == 422 and "image_z" in refused.text
