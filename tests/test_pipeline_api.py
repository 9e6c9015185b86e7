"""The Python API: model lookup, per-object control (ids, lock, resample, move, style), checks."""

import base64
import copy
import doctest
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import layout2im.model_folder as model_folder_module
from layout2im.layout import LayoutError, LayoutObject
from layout2im.pipeline import Layout2ImPipeline, ModelLoadError, default_model, shipped_models
from layout2im.visualize import normalize
from tests.image_samples import bomb_png, solid_png, split_png, truncated_png

SCENE = {
    "objects": [
        {"id": "sun", "category": "circle", "box": [0.05, 0.05, 0.4, 0.4]},
        {"id": "house", "category": "square", "box": [0.45, 0.4, 0.95, 0.95]},
        {"id": "tree", "category": "triangle", "box": [0.05, 0.5, 0.4, 0.95]},
    ]
}


@pytest.fixture
def pipe(tiny_model_dir):
    return Layout2ImPipeline.from_pretrained(tiny_model_dir)


def _scene():
    return copy.deepcopy(SCENE)


def _pixels(result):
    return np.stack([np.asarray(img) for img in result.images])


# -- loading by folder or shipped name ------------------------------------------------------------


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch):
    folder = tmp_path / "pretrained"
    folder.mkdir()
    monkeypatch.setattr(model_folder_module, "PRETRAINED_DIR", folder)
    return folder


def test_no_shipped_models_says_so(shipped_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert shipped_models() == []
    with pytest.raises(ModelLoadError, match="this version of layout2im ships no models"):
        Layout2ImPipeline.from_pretrained("shapes32")
    with pytest.raises(ModelLoadError, match=r"no model is shipped.*pass --model"):
        default_model()
    with pytest.raises(ModelLoadError, match="model folder not found"):
        Layout2ImPipeline.from_pretrained("runs/none/model")


def test_shipped_models_load_by_name(shipped_dir, tiny_model_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_model_dir, shipped_dir / "tiny")
    (shipped_dir / "notes").mkdir()  # not a model: ignored
    assert shipped_models() == ["tiny"]
    assert default_model() == shipped_dir / "tiny"  # the only one is the default
    pipe = Layout2ImPipeline.from_pretrained("tiny")
    assert pipe.config == Layout2ImPipeline.from_pretrained(tiny_model_dir).config
    with pytest.raises(ModelLoadError, match="shipped models: tiny"):
        Layout2ImPipeline.from_pretrained("tinny")
    shutil.copytree(tiny_model_dir, shipped_dir / "other")
    with pytest.raises(ModelLoadError, match="several models are shipped"):
        default_model()
    shutil.copytree(tiny_model_dir, shipped_dir / model_folder_module.DEFAULT_MODEL)
    assert default_model() == shipped_dir / model_folder_module.DEFAULT_MODEL


def test_an_existing_folder_wins_over_a_shipped_name(shipped_dir, tiny_model_dir, monkeypatch):
    shutil.copytree(tiny_model_dir, shipped_dir / "model")
    monkeypatch.chdir(tiny_model_dir.parent)
    local = Layout2ImPipeline.from_pretrained(tiny_model_dir.name)  # a folder here
    assert local.config.z_dim == 4


# -- reproducibility and per-object control ----------------------------------------------------


def test_seed_reproduces_and_the_returned_seed_replays_a_random_call(pipe):
    a, b = pipe(_scene(), num_samples=3, seed=11), pipe(_scene(), num_samples=3, seed=11)
    assert a.seed == 11
    assert np.array_equal(_pixels(a), _pixels(b)) and torch.equal(a.latents, b.latents)
    drawn = pipe(_scene(), num_samples=2)  # no seed: one is drawn and returned
    replay = pipe(_scene(), num_samples=2, seed=drawn.seed)
    assert np.array_equal(_pixels(drawn), _pixels(replay))
    g1 = pipe(_scene(), num_samples=2, generator=torch.Generator().manual_seed(3))
    g2 = pipe(_scene(), num_samples=2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(g1.latents, g2.latents) and g1.seed == g2.seed


def test_latents_are_a_complete_description_of_the_images(pipe):
    result = pipe(_scene(), num_samples=3, seed=2)
    again = pipe.generate_tensor(result.layout, result.latents)
    expected = np.stack([np.asarray(img) for img in pipe.to_pil(again)])
    assert np.array_equal(expected, _pixels(result))


def test_lock_one_object_while_the_others_change(pipe):
    first = pipe(_scene(), num_samples=4, seed=0)
    locked = _scene()
    locked["objects"][1]["z"] = first.latents[2, 1].tolist()  # the house of sample 2
    second = pipe(locked, num_samples=4, seed=1)
    for k in range(4):
        assert torch.equal(second.latents[k, 1], first.latents[2, 1])
    assert not torch.equal(second.latents[:, 0], first.latents[:, 0])  # the others changed
    assert not torch.equal(second.latents[0, 0], second.latents[1, 0])
    # Sample 2 of the first call, rebuilt from the locked code and the seed-0 codes:
    rebuilt = pipe(locked, num_samples=4, seed=0)
    assert np.array_equal(np.asarray(rebuilt.images[2]), np.asarray(first.images[2]))


def test_resample_one_object_by_giving_it_a_new_id(pipe):
    before = pipe(_scene(), num_samples=2, seed=5)
    edited = _scene()
    edited["objects"][2]["id"] = "tree~1"
    after = pipe(edited, num_samples=2, seed=5)
    assert torch.equal(after.latents[:, :2], before.latents[:, :2])
    assert not torch.equal(after.latents[:, 2], before.latents[:, 2])
    assert not np.array_equal(_pixels(after), _pixels(before))


def test_move_remove_add_and_reorder_keep_every_other_objects_code(pipe):
    base = pipe(_scene(), num_samples=3, seed=9)
    codes = {key: base.latents[:, j] for j, key in enumerate(base.layout.object_keys())}

    moved = _scene()
    moved["objects"][0]["box"] = [0.5, 0.0, 0.9, 0.3]
    removed = _scene()
    del removed["objects"][1]
    added = _scene()
    added["objects"].insert(0, {"id": "cloud", "category": "ring", "box": [0.6, 0.0, 1.0, 0.3]})
    reordered = _scene()
    reordered["objects"].reverse()
    for layout in (moved, removed, added, reordered):
        result = pipe(layout, num_samples=3, seed=9)
        for j, key in enumerate(result.layout.object_keys()):
            if key in codes:
                assert torch.equal(result.latents[:, j], codes[key]), (layout, key)
    moved_result = pipe(moved, num_samples=3, seed=9)
    assert not np.array_equal(_pixels(moved_result), _pixels(base))  # and the image changed


def test_without_ids_the_index_is_the_identity(pipe):
    plain = [{k: v for k, v in o.items() if k != "id"} for o in SCENE["objects"]]
    a = pipe({"objects": plain}, num_samples=2, seed=4)
    b = pipe({"objects": plain[1:]}, num_samples=2, seed=4)  # remove the first object
    assert not torch.equal(b.latents[:, 0], a.latents[:, 1])  # codes shift with the indices
    with_int_ids = [dict(o, id=j) for j, o in enumerate(plain)]
    c = pipe({"objects": with_int_ids}, num_samples=2, seed=4)
    assert torch.equal(c.latents, a.latents)  # an integer id j is the same as index j


def test_python_objects_are_accepted(pipe):
    objects = [LayoutObject(**{k: v for k, v in o.items()}) for o in _scene()["objects"]]
    assert torch.equal(pipe(objects, seed=1).latents, pipe(_scene(), seed=1).latents)


def test_object_seed_fixes_its_code_across_calls_and_samples(pipe):
    scene = _scene()
    scene["objects"][0]["seed"] = 123
    a, b = pipe(scene, num_samples=3, seed=0), pipe(scene, num_samples=2, seed=77)
    assert torch.equal(a.latents[0, 0], a.latents[2, 0]) and torch.equal(
        a.latents[0, 0], b.latents[1, 0]
    )


def test_input_checks_name_the_object_and_field(pipe):
    scene = _scene()
    scene["objects"][2]["id"] = "sun"
    with pytest.raises(
        LayoutError, match=r"objects\[2\]\.id: 'sun' is already the id of objects\[0\]"
    ):
        pipe(scene)
    scene = _scene()
    scene["objects"][1]["style"] = {"image": solid_png((0, 0, 0)), "box": [0.5, 0, 0.2, 1]}
    with pytest.raises(LayoutError, match=r"objects\[1\]\.style\.box \(id 'house'\): x1 \(0\.2"):
        pipe(scene)
    with pytest.raises(ValueError, match="num_samples"):
        pipe(_scene(), num_samples=True)
    with pytest.raises(ValueError, match="seed must be an integer"):
        pipe(_scene(), seed=-1)


# -- style from a reference image -----------------------------------------------------------------


def _expected_code(pipe, color, category):
    """The estimator's mean for a crop that is ``color`` everywhere, computed without the
    pipeline's resize and crop code (a solid image's crop is solid)."""
    size = pipe.config.crop_size
    pixels = torch.tensor(color, dtype=torch.float32)[:, None, None] / 255.0
    crop = normalize(pixels.expand(3, size, size))[None]
    label = torch.tensor([pipe.vocab.index(category)])
    with torch.no_grad():
        mu, _ = pipe.generator.crop_encoder(crop, label)
    return mu[0]


def test_style_code_is_the_estimators_mean_of_the_boxed_crop(pipe):
    red, blue = (255, 0, 0), (0, 0, 255)
    code_red = pipe.encode_style(solid_png(red), [0.1, 0.2, 0.6, 0.9], "circle")
    assert torch.allclose(code_red, _expected_code(pipe, red, "circle"), atol=1e-5)
    assert not torch.allclose(code_red, _expected_code(pipe, blue, "circle"), atol=1e-3)
    assert not torch.allclose(code_red, _expected_code(pipe, red, "star"), atol=1e-3)
    # The box picks the region: left quarter of a red|blue image is red, right quarter blue.
    both = split_png(red, blue)
    assert torch.allclose(pipe.encode_style(both, [0, 0, 0.25, 1], "circle"), code_red, atol=1e-5)
    right = pipe.encode_style(both, [0.75, 0, 1, 1], "circle")
    assert torch.allclose(right, _expected_code(pipe, blue, "circle"), atol=1e-5)


def test_style_in_a_layout_is_used_as_the_code(pipe, tmp_path):
    data = split_png((255, 255, 0), (0, 128, 255))
    path = tmp_path / "ref.png"
    path.write_bytes(data)
    code = pipe.encode_style(data, [0.5, 0, 1, 1], "square")
    sources = [
        data,
        str(path),
        Image.open(path),
        "data:image/png;base64," + base64.b64encode(data).decode(),
    ]
    plain = pipe(_scene(), num_samples=2, seed=3)
    for source in sources:
        scene = _scene()
        scene["objects"][1]["style"] = {"image": source, "box": [0.5, 0, 1, 1]}
        styled = pipe(scene, num_samples=2, seed=3)
        assert torch.allclose(styled.latents[0, 1], code) and torch.allclose(
            styled.latents[1, 1], code
        )
        assert torch.equal(styled.latents[:, [0, 2]], plain.latents[:, [0, 2]])
    given = _scene()
    given["objects"][1]["z"] = code.tolist()
    assert np.array_equal(_pixels(pipe(given, num_samples=2, seed=3)), _pixels(styled))


@pytest.mark.parametrize(
    "image, message",
    [
        (b"not an image at all", r"objects\[0\]\.style\.image: not an image"),
        (truncated_png(), r"objects\[0\]\.style\.image: truncated or corrupt PNG"),
        (bomb_png(), r"objects\[0\]\.style\.image: image declares too many pixels"),
        ("missing.png", r"objects\[0\]\.style\.image: image file not found"),
    ],
)
def test_bad_style_images_name_the_object(pipe, image, message):
    scene = _scene()
    scene["objects"][0]["style"] = {"image": image, "box": [0, 0, 1, 1]}
    with pytest.raises(LayoutError, match=message):
        pipe(scene)


def test_docstring_example_runs(tiny_model_dir):
    finder = doctest.DocTestFinder()
    tests = finder.find(Layout2ImPipeline.__call__, "Layout2ImPipeline.__call__")
    assert tests and tests[0].examples, "the example is missing"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        test.globs.update(
            model_dir=tiny_model_dir, Layout2ImPipeline=Layout2ImPipeline, torch=torch
        )
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted >= 10 and results.failed == 0
