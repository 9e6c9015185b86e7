"""Converting the authors' networks: equivalence with a functional forward of their code on
original-named tensors, safetensors round trip, and every refusal."""

from __future__ import annotations

import json

import pytest
import torch

from layout2im.cli import main
from layout2im.config import load_config
from layout2im.conversion import convert_original
from layout2im.conversion.vocabularies import coco_stuff_vocabulary
from layout2im.errors import short_path
from layout2im.layout import LayoutBatch, LayoutError
from layout2im.models import ImageDiscriminator, ObjectDiscriminator
from layout2im.pipeline import Layout2ImPipeline
from layout2im.training.checkpoint import load_checkpoint
from tests.conversion import original_networks as orig

K_COCO = 184


@pytest.fixture(scope="module")
def original_files(tmp_path_factory):
    """Random state dicts with the original's names and shapes, saved as the authors' code
    saves them (torch.save of state_dict())."""
    folder = tmp_path_factory.mktemp("original")
    states = {
        "netG": orig.random_state(orig.generator_shapes(K_COCO), seed=1),
        "netD_image": orig.random_state(orig.image_discriminator_shapes(), seed=2),
        "netD_object": orig.random_state(orig.object_discriminator_shapes(K_COCO), seed=3),
    }
    paths = {}
    for name, state in states.items():
        paths[name] = folder / f"iter-300000_{name}.pkl"
        torch.save(state, paths[name])
    return states, paths


@pytest.fixture(scope="module")
def converted(original_files, tmp_path_factory):
    _, paths = original_files
    out = tmp_path_factory.mktemp("converted") / "coco-model"
    result = convert_original(
        paths["netG"],
        "coco",
        out,
        image_discriminator_file=paths["netD_image"],
        object_discriminator_file=paths["netD_object"],
    )
    return result


def _layout():
    boxes = torch.tensor(
        [
            [0.05, 0.1, 0.6, 0.7],
            [0.4, 0.3, 0.95, 0.9],
            [0.0, 0.5, 1.0, 1.0],
            [0.2, 0.2, 0.5, 0.45],
            [0.1, 0.0, 0.9, 0.4],
        ]
    )
    labels = torch.tensor([1, 18, 157, 62, 106])  # person, dog, sky-other, chair, clouds
    obj_to_img = torch.tensor([0, 0, 0, 1, 1])
    return labels, boxes, obj_to_img


def test_converted_generator_equals_the_original_forward(original_files, converted):
    states, _ = original_files
    s = states["netG"]
    labels, boxes, obj_to_img = _layout()
    z = torch.randn(len(labels), 64, generator=torch.Generator().manual_seed(5))
    expected = orig.decode(s, labels, boxes, obj_to_img, z)

    pipe = Layout2ImPipeline.from_pretrained(converted.out)
    g = pipe.generator
    batch = LayoutBatch.from_lists([labels[:3], labels[3:]], [boxes[:3], boxes[3:]])
    with torch.no_grad():
        got = g.decode(batch, z)
        g.fast_paths = frozenset()  # the straightforward computation too
        got_reference = g.decode(batch, z)
    scale = expected.abs().max()
    assert torch.isfinite(expected).all() and scale > 0
    assert (got - expected).abs().max() <= 1e-4 * scale
    assert (got_reference - expected).abs().max() <= 1e-4 * scale

    # the object latent estimator on crops of the generated images
    c = orig.crops(expected, boxes, obj_to_img)
    mu_expected = orig.crop_encoder_mu(s, c, labels)
    with torch.no_grad():
        mu, _ = g.crop_encoder(c, labels)
    assert (mu - mu_expected).abs().max() <= 1e-4 * mu_expected.abs().max()


def test_converted_discriminators_continue_the_classic_spectral_norm(original_files, converted):
    states, _ = original_files
    state = load_checkpoint(converted.checkpoint)
    cfg = load_config("paper-coco64").model
    image_d = ImageDiscriminator(cfg.image_disc_channels, "classic")
    object_d = ObjectDiscriminator(cfg.object_disc_channels, K_COCO, "classic")
    image_d.load_state_dict(state["models"]["image_d"])
    object_d.load_state_dict(state["models"]["object_d"])
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    crops = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    s_img = dict(states["netD_image"])
    s_obj = dict(states["netD_object"])
    for training in (False, True, True):  # eval reads u, v; each training call iterates once
        image_d.train(training)
        object_d.train(training)
        with torch.no_grad():
            (want,) = orig.discriminator(s_img, x, training, ("classifier",))
            want_src, want_cls = orig.discriminator(
                s_obj, crops, training, ("classifier_src", "classifier_cls")
            )
            got = image_d(x)
            got_src, got_cls = object_d(crops)
        torch.testing.assert_close(got, want.view(-1), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got_src, want_src.view(-1), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got_cls, want_cls, rtol=1e-4, atol=1e-5)


def test_model_folder_round_trip_vocabulary_and_provenance(original_files, converted):
    states, paths = original_files
    out = converted.out
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints",
        "config.json",
        "model.safetensors",
        "vocab.json",
    ]
    meta = json.loads((out / "config.json").read_text())
    assert meta["model"]["spectral_norm"] == "classic"
    assert meta["model"]["output_rescale"] == "minmax"
    assert meta["max_objects"] == 8
    files = meta["provenance"]["files"]
    assert files["generator"]["name"] == paths["netG"].name
    assert meta["provenance"]["original_iteration"] == 300000
    # safetensors -> pipeline -> state dict equals the original tensors, renamed
    pipe = Layout2ImPipeline.from_pretrained(out)
    ours = pipe.generator.state_dict()
    torch.testing.assert_close(
        ours["crop_encoder.convs.4.weight"],
        states["netG"]["crop_encoder.conv5.weight"],
        rtol=0,
        atol=0,
    )
    torch.testing.assert_close(
        ours["decoder.up.9.weight"], states["netG"]["decoder.dc3.weight"], rtol=0, atol=0
    )
    # the vocabulary: row = COCO id, names users type
    vocab = pipe.vocab
    assert len(vocab) == 184 and vocab.names[0] == "__image__"
    assert vocab.index("person") == 1 and vocab.index("toothbrush") == 90
    assert vocab.index("banner") == 92 and vocab.index("wood") == 182
    assert vocab.names[12] is None and vocab == coco_stuff_vocabulary()
    with pytest.raises(LayoutError, match="did you mean 'dog'"):
        pipe({"objects": [{"category": "dgo", "box": [0, 0, 1, 1]}]})
    # the checkpoint: all three networks, no optimiser state
    state = load_checkpoint(converted.checkpoint)
    assert state["step"] == 300000 and "optimizers" not in state
    assert state["vocab"] == vocab.names


def test_module_prefixes_and_pt_files_are_accepted(original_files, tmp_path):
    states, _ = original_files
    path = tmp_path / "netG_coco.pt"
    torch.save({f"module.{k}": v for k, v in states["netG"].items()}, path)
    result = convert_original(path, "coco", tmp_path / "m")
    assert result.checkpoint is None
    assert (
        json.loads((tmp_path / "m" / "config.json").read_text())["provenance"]["original_iteration"]
        is None
    )


def _refused(capsys, argv, *fragments, out=None):
    assert main(argv) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}-")]


def test_refusals_name_every_problem_and_write_nothing(original_files, tmp_path, capsys):
    states, paths = original_files
    out = tmp_path / "out"
    g = dict(states["netG"])
    del g["decoder.c4.bias"], g["layout_encoder.bn2.embed.weight"]
    g["extra.weight"] = torch.zeros(1)
    g["decoder.c0.weight"] = torch.zeros(128, 64, 3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(g, bad)
    _refused(
        capsys,
        ["convert-original", str(bad), "--dataset", "coco", "--out", str(out)],
        "2 missing key(s): layout_encoder.bn2.embed.weight, decoder.c4.bias",
        "1 unexpected key(s): extra.weight",
        "decoder.c0.weight: (128, 64, 3, 3) in the file, (256, 64, 3, 3) expected",
        out=out,
    )
    # a VG vocabulary size against a COCO model's file: shape mismatches named
    vocab = tmp_path / "vocab.json"
    vocab.write_text(
        json.dumps({"object_idx_to_name": ["__image__"] + [f"c{i}" for i in range(178)]})
    )
    _refused(
        capsys,
        [
            "convert-original",
            str(paths["netG"]),
            "--dataset",
            "vg",
            "--vocab",
            str(vocab),
            "--out",
            str(out),
        ],
        "layout_encoder.embedding.weight: (184, 64) in the file, (179, 64) expected",
        out=out,
    )
    # VG without its vocabulary: says exactly what is missing
    _refused(
        capsys,
        ["convert-original", str(paths["netG"]), "--dataset", "vg", "--out", str(out)],
        "--vocab FILE",
        "--vg-root DIR",
        "cannot be guessed",
        out=out,
    )
    vocab.write_text(json.dumps({"object_idx_to_name": ["__image__", "a"]}))
    _refused(
        capsys,
        [
            "convert-original",
            str(paths["netG"]),
            "--dataset",
            "vg",
            "--vocab",
            str(vocab),
            "--out",
            str(out),
        ],
        "has 2 rows",
        out=out,
    )
    # pickled code: a whole module object, as torch.save(model) writes
    pickled = tmp_path / "whole-model.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)
    _refused(
        capsys,
        ["convert-original", str(pickled), "--dataset", "coco", "--out", str(out)],
        "needs Python code unpickled",
        "weights_only=True",
        out=out,
    )
    # not a torch file, missing file, not a state dict
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    _refused(capsys, ["convert-original", str(junk), "--dataset", "coco", "--out", str(out)],
             "state-dict file", "junk.pt is unreadable (damaged", out=out)  # fmt: skip
    _refused(capsys, ["convert-original", str(tmp_path / "nope.pt"), "--dataset", "coco",
                      "--out", str(out)], "GENERATOR not found", out=out)  # fmt: skip
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    _refused(capsys, ["convert-original", str(tensor), "--dataset", "coco", "--out", str(out)],
             "not a state dict", out=out)  # fmt: skip
    # only one discriminator; a discriminator file of the wrong network
    _refused(capsys, ["convert-original", str(paths["netG"]), "--dataset", "coco", "--out",
                      str(out), "--discriminators", str(paths["netD_object"]),
                      str(paths["netD_object"])],
             "image discriminator", "missing key(s): classifier.weight_orig", out=out)  # fmt: skip
    # --out that is not a model folder is left alone
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    _refused(capsys, ["convert-original", str(paths["netG"]), "--dataset", "coco", "--out",
                      str(other)], "other files than a model's")  # fmt: skip
    assert (other / "todo.txt").read_text() == "keep me"


def test_cli_converts_and_reconverts_in_place(original_files, tmp_path, capsys):
    _, paths = original_files
    out = tmp_path / "coco"
    argv = ["convert-original", str(paths["netG"]), "--dataset", "coco", "--out", str(out)]
    argv += ["--discriminators", str(paths["netD_image"]), str(paths["netD_object"])]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "generator 27.68M" in printed and "training checkpoint" in printed
    assert main(argv) == 0  # a converted folder (with checkpoints/) may be replaced
    assert (out / "checkpoints" / "ckpt-00300000.pt").is_file()
    capsys.readouterr()
    # the converted folder reads as a run folder for `average` (one checkpoint: the same model)
    assert main(["average", str(out), "--out", str(tmp_path / "avg")]) == 0
    a = Layout2ImPipeline.from_pretrained(tmp_path / "avg").generator.state_dict()
    b = Layout2ImPipeline.from_pretrained(out).generator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


from tests.data.test_coco128 import COCO128  # noqa: E402


@pytest.mark.skipif(
    not COCO128.is_dir(), reason="set LAYOUT2IM_COCO128 to the 128-image COCO sample"
)
def test_coco_thing_names_are_cocos():
    categories = json.loads((COCO128 / "annotations" / "instances_train2017.json").read_text())
    vocab = coco_stuff_vocabulary()
    for c in categories["categories"]:
        assert vocab.names[c["id"]] == c["name"]


def test_vg_root_without_visual_genome_is_refused(original_files, tmp_path, capsys):
    _, paths = original_files
    out = tmp_path / "out"
    argv = ["convert-original", str(paths["netG"]), "--dataset", "vg", "--out", str(out)]
    assert main([*argv, "--vg-root", str(tmp_path / "no-vg")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()
    vocab = tmp_path / "x.json"
    vocab.write_text("{}")
    assert main([*argv, "--vg-root", str(tmp_path), "--vocab", str(vocab)]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["coco", "vg"])
def test_a_missing_file_points_to_the_authors_weights_before_the_vocabulary(
    tmp_path, capsys, dataset
):
    from layout2im.cli import main

    missing = tmp_path / f"netG_{dataset}.pt"
    assert (
        main(["convert-original", str(missing), "--dataset", dataset, "--out", str(tmp_path / "m")])
        == 2
    )
    err = capsys.readouterr().err
    assert err == (
        f"error: GENERATOR not found: {short_path(missing)}; the authors' trained generators "
        "(netG_coco.pt, netG_vg.pt) are linked from the README of https://github.com/zhaobozb/layout2im\n"
    )
    assert not (tmp_path / "m").exists()
