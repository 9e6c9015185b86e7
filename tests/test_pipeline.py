import json

import numpy as np
import pytest
import torch

from layout2im.layout import LayoutError
from layout2im.pipeline import GenerationError, Layout2ImPipeline, ModelLoadError

LAYOUT = {
    "objects": [
        {"category": "circle", "box": [0.1, 0.1, 0.5, 0.5]},
        {"category": "square", "box": [0.4, 0.4, 0.9, 0.9]},
    ]
}


@pytest.fixture
def pipe(tiny_model_dir):
    return Layout2ImPipeline.from_pretrained(tiny_model_dir)


def _pixels(result):
    return [np.asarray(img) for img in result.images]


def test_round_trip_gives_identical_outputs(tmp_path, pipe):
    z = torch.randn(3, 2, 4)
    layout = pipe.parse(LAYOUT)
    before = pipe.generate_tensor(layout, z)
    pipe.save_pretrained(tmp_path / "again")
    again = Layout2ImPipeline.from_pretrained(tmp_path / "again")
    assert again.vocab == pipe.vocab and again.config == pipe.config
    assert torch.equal(again.generate_tensor(layout, z), before)
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [
        "config.json", "model.safetensors", "vocab.json",
    ]  # fmt: skip


def test_same_seed_same_images_different_seed_different_images(pipe):
    a, b, c = (
        pipe(LAYOUT, num_samples=2, seed=5),
        pipe(LAYOUT, num_samples=2, seed=5),
        pipe(LAYOUT, num_samples=2, seed=6),
    )
    assert all(np.array_equal(x, y) for x, y in zip(_pixels(a), _pixels(b), strict=True))
    assert torch.equal(a.latents, b.latents)
    assert not torch.equal(a.latents, c.latents)
    assert not np.array_equal(_pixels(a)[0], _pixels(c)[0])
    assert not torch.equal(a.latents[0], a.latents[1])  # samples differ from each other


def test_torch_generator_is_accepted(pipe):
    a = pipe(LAYOUT, num_samples=2, generator=torch.Generator().manual_seed(1))
    b = pipe(LAYOUT, num_samples=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.latents, b.latents)


def test_object_seed_and_z_fix_that_object_only(pipe):
    layout = json.loads(json.dumps(LAYOUT))
    layout["objects"][0]["seed"] = 42
    layout["objects"][1]["z"] = [0.5, -0.5, 1.0, 0.0]
    result = pipe(layout, num_samples=3, seed=0)
    assert torch.equal(result.latents[0, 0], result.latents[2, 0])
    assert result.latents[:, 1].tolist() == [[0.5, -0.5, 1.0, 0.0]] * 3
    other = pipe(layout, num_samples=1, seed=99)
    assert torch.equal(other.latents[0, 0], result.latents[0, 0])


def test_adding_an_object_keeps_the_other_codes(pipe):
    bigger = {"objects": [*LAYOUT["objects"], {"category": "star", "box": [0.0, 0.6, 0.3, 1.0]}]}
    a, b = pipe(LAYOUT, num_samples=2, seed=3), pipe(bigger, num_samples=2, seed=3)
    assert torch.equal(b.latents[:, :2], a.latents)


def test_images_have_the_model_size(pipe):
    result = pipe(LAYOUT, num_samples=2, seed=0)
    assert [img.size for img in result.images] == [(16, 16), (16, 16)]
    assert result.latents.shape == (2, 2, 4)


def test_bad_inputs(pipe):
    with pytest.raises(LayoutError, match=r"objects\[0\]\.category"):
        pipe({"objects": [{"category": "dog", "box": [0, 0, 1, 1]}]})
    with pytest.raises(GenerationError, match="num_samples must be a positive integer, got 0"):
        pipe(LAYOUT, num_samples=0)


def test_num_samples_has_an_upper_bound_checked_before_any_allocation(pipe, monkeypatch):
    from layout2im.schema.layout import MAX_SAMPLES

    def no_allocation(*args, **kwargs):
        raise AssertionError("allocated before the bound was checked")

    monkeypatch.setattr(torch, "empty", no_allocation)
    for call in (pipe, pipe.latents, pipe.image_latents):
        layout = LAYOUT if call is pipe else pipe.parse(LAYOUT)
        with pytest.raises(GenerationError) as err:
            call(layout, num_samples=10**9)
        assert str(err.value) == (
            f"num_samples must be at most {MAX_SAMPLES} (one batch), got 1000000000; "
            "make several calls for more images"
        )
    monkeypatch.undo()
    assert len(pipe(LAYOUT, num_samples=MAX_SAMPLES, seed=0).images) == MAX_SAMPLES


def test_the_interfaces_share_the_pipeline_bound():
    from layout2im.cli.limits import GENERATE_SAMPLES
    from layout2im.schema.layout import MAX_SAMPLES
    from layout2im.web.app import MAX_SAMPLES as WEB_MAX_SAMPLES

    assert GENERATE_SAMPLES == (1, MAX_SAMPLES)
    assert 1 <= WEB_MAX_SAMPLES <= MAX_SAMPLES
    from layout2im.web.app import create_app

    with pytest.raises(ValueError, match=f"max_samples must be between 1 and {MAX_SAMPLES}"):
        create_app(None, max_samples=MAX_SAMPLES + 1)


def test_from_pretrained_errors(tmp_path, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="model folder not found"):
        Layout2ImPipeline.from_pretrained(tmp_path / "nope")
    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("config.json", "vocab.json"):
        (folder / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(ModelLoadError, match=r"model\.safetensors is missing"):
        Layout2ImPipeline.from_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="unreadable"):
        Layout2ImPipeline.from_pretrained(folder)
    (folder / "model.safetensors").write_bytes((tiny_model_dir / "model.safetensors").read_bytes())
    meta = json.loads((tiny_model_dir / "config.json").read_text())
    meta["model"]["z_dim"] = 8
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="does not match its config: it holds"):
        Layout2ImPipeline.from_pretrained(folder)
    (folder / "config.json").write_text("{")
    with pytest.raises(ModelLoadError, match=r"config\.json: malformed JSON at line 1"):
        Layout2ImPipeline.from_pretrained(folder)
    meta["model"]["z_dim"] = "big"
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"model\.z_dim must be an integer"):
        Layout2ImPipeline.from_pretrained(folder)
