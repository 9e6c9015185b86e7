"""A second architecture, registered in a test, goes through the pipeline, the editor's API,
evaluation and `train --init-from` with no edit to any of them."""

from __future__ import annotations

import json

import pytest
import torch
from fastapi.testclient import TestClient

from layout2im.architectures import register_architecture, unregister_architecture
from layout2im.data import build_dataset
from layout2im.evaluation import evaluate_model
from layout2im.layout import LayoutError
from layout2im.model_folder import trained_data, write_model_folder
from layout2im.pipeline import Layout2ImPipeline
from layout2im.training.checkpoint import CheckpointError
from layout2im.web import create_app
from tests.architectures import stand_in
from tests.conftest import tiny_config

SCENE = {
    "objects": [
        {"id": "sun", "category": "circle", "box": [0.0, 0.0, 0.5, 0.5]},
        {"id": "house", "category": "square", "box": [0.5, 0.25, 1.0, 1.0]},
    ]
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    register_architecture(stand_in.ARCHITECTURE)
    config = tiny_config()
    _, vocab = build_dataset(config.data, 16)
    torch.manual_seed(0)
    generator = stand_in.StandInGenerator(stand_in.StandInConfig(num_classes=len(vocab)))
    out = tmp_path_factory.mktemp("stand-in") / "model"
    write_model_folder(
        out, stand_in.ARCHITECTURE, generator, vocab, max_objects=8, data=trained_data(config)
    )
    yield out
    unregister_architecture(stand_in.NAME)


@pytest.fixture(scope="module")
def pipe(folder):
    return Layout2ImPipeline.from_pretrained(folder)


def test_the_pipeline_samples_every_declared_code_and_returns_masks(pipe):
    assert pipe.architecture.name == "stand-in" and pipe.image_z_dim == 3
    out = pipe(SCENE, num_samples=3, seed=0)
    assert [im.size for im in out.images] == [(16, 16)] * 3
    assert out.latents.shape == (3, 2, 4) and out.image_latents.shape == (3, 3)
    assert float(out.latents.abs().max()) <= 2.0 and float(out.image_latents.abs().max()) <= 2.0
    assert out.masks.shape == (3, 2, 16, 16)
    assert float(out.masks[0, 0, :8, :8].min()) == 1.0 and float(out.masks[0, 0, 8:].max()) == 0.0
    again = pipe(SCENE, num_samples=3, seed=0)
    assert [a.tobytes() for a in again.images] == [b.tobytes() for b in out.images]
    assert torch.equal(again.image_latents, out.image_latents)
    assert not torch.equal(out.image_latents[0], out.image_latents[1])  # per sample
    # moving the house keeps the sun's code and every image code
    moved = {"objects": [SCENE["objects"][0], {**SCENE["objects"][1], "box": [0.6, 0.6, 1, 1]}]}
    other = pipe(moved, num_samples=3, seed=0)
    assert torch.equal(other.latents[:, 0], out.latents[:, 0])
    assert torch.equal(other.image_latents, out.image_latents)


def test_the_layout_image_z_locks_the_background(pipe):
    locked = pipe({**SCENE, "image_z": [0.5, -1.0, 0.25]}, num_samples=2, seed=4)
    assert torch.equal(locked.image_latents, torch.tensor([[0.5, -1.0, 0.25]] * 2))
    free = pipe(SCENE, num_samples=2, seed=4)
    assert torch.equal(locked.latents, free.latents)
    assert locked.images[0].tobytes() != free.images[0].tobytes()
    with pytest.raises(LayoutError, match=r"image_z: has 2 values; this model's image code has 3"):
        pipe({**SCENE, "image_z": [0.0, 1.0]})


def test_what_the_architecture_lacks_is_refused(pipe, tiny_model_dir):
    styled = {
        "objects": [{**SCENE["objects"][0], "style": {"image": "x.png", "box": [0, 0, 1, 1]}}]
    }
    with pytest.raises(LayoutError, match=r"objects\[0\]\.style: the stand-in architecture"):
        pipe(styled)
    with pytest.raises(LayoutError, match="style: the stand-in architecture cannot"):
        pipe.encode_style(b"png", [0, 0, 1, 1], "circle")
    layout2im = Layout2ImPipeline.from_pretrained(tiny_model_dir)
    with pytest.raises(LayoutError, match="image_z: the layout2im architecture has no image code"):
        layout2im({**SCENE, "image_z": [0.0] * 3})
    assert layout2im(SCENE).image_latents is None and layout2im(SCENE).masks is None


def test_the_editor_api_describes_the_architecture(pipe):
    app = create_app(pipe, model_name="stand-in")
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        info = client.get("/api/info").json()
        assert info["architecture"] == "stand-in"
        assert info["capabilities"] == ["masks", "image_code"]
        truncated = "normal truncated at |x| <= 2"
        assert info["latent_codes"] == [
            {"name": "z", "per": "object", "dim": 4, "distribution": truncated},
            {"name": "image_z", "per": "image", "dim": 3, "distribution": truncated},
        ]
        assert info["image_size"] == 16 and info["z_dim"] == 4
        body = client.post("/api/generate", json={"layout": SCENE, "num_samples": 2, "seed": 0})
        assert body.status_code == 200, body.text
        assert torch.equal(
            torch.tensor(body.json()["image_latents"]), pipe(SCENE, 2, seed=0).image_latents
        )
        refused = client.post(
            "/api/style", files={"file": ("a.png", b"x")}, data={"category": "circle"}
        )
        assert refused.status_code == 422 and "stand-in" in refused.json()["error"]


def test_a_folder_of_it_is_scored(folder, tmp_path):
    from layout2im.evaluation import EvalFiles, ScoringOptions

    options = ScoringOptions(
        protocol="custom",
        metrics=["diversity-shapes", "reconstruction-colour"],
        num_images=4,
        files=EvalFiles(cache_dir=str(tmp_path / "cache")),
    )
    results = evaluate_model(folder, tiny_config().data, options)
    assert results["model"]["architecture"] == "stand-in"
    assert results["images"]["generated"] == 8
    assert results["metrics"]["diversity-shapes"]["status"] == "ok"
    skipped = results["metrics"]["reconstruction-colour"]
    assert skipped["status"] == "skipped" and "needs the generator" in skipped["reason"]


def test_init_from_says_it_cannot_be_trained(folder):
    from layout2im.training.init_from import initialise_from
    from layout2im.training.trainer import Trainer

    config = tiny_config()
    _, vocab = build_dataset(config.data, config.model.image_size)
    with pytest.raises(CheckpointError, match="its architecture, stand-in, cannot be trained"):
        initialise_from(Trainer(config, vocab), folder)


def test_evaluate_scores_its_folder_with_no_config(folder, tmp_path, capsys, monkeypatch):
    from layout2im.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))  # the real-statistics cache
    out = tmp_path / "results.json"
    args = ["evaluate", "--model", str(folder), "--protocol", "custom", "--no-progress",
            "--metrics", "diversity-shapes", "--num-images", "4", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    results = json.loads(out.read_text())
    assert results["model"]["architecture"] == "stand-in"
    assert results["data"]["config"]["name"] == "shapes"
    assert results["metrics"]["diversity-shapes"]["status"] == "ok"
