"""Scoring folders of images: layouts out, images in, the same figures as evaluating the model."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from layout2im.cli import main
from layout2im.config import DataConfig
from layout2im.evaluation import EvalFiles, ScoringOptions, evaluate_generator
from layout2im.evaluation.external import FolderError, export_layouts, score_folder
from layout2im.pipeline import Layout2ImPipeline, default_model, derived_seed
from tests.image_samples import bomb_png

DATA = DataConfig(name="shapes", num_images=640)  # val: 64 held-out layouts
METRICS = ["object-accuracy", "layout-fidelity", "fid-shapes", "diversity-shapes"]
N = 12


@pytest.fixture(scope="module")
def pipe():
    return Layout2ImPipeline.from_pretrained(default_model())


def _files(tmp_path):
    return EvalFiles(cache_dir=str(tmp_path / "cache"))


def _read_layouts(path):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return lines[0], lines[1:]


def draw_folder(pipe, records, folder, samples, seed=0, names=None):
    """Draw every layout of ``records`` with the pipeline, with the codes the evaluation
    draws (layout i, sample k: N(0, I) from derived_seed(seed, i, k)), as PNG files."""
    folder.mkdir(parents=True, exist_ok=True)
    z_dim = pipe.config.z_dim
    for i, record in enumerate(records):
        for k in range(samples):
            g = torch.Generator().manual_seed(derived_seed(seed, i, k))
            z = torch.randn(len(record["objects"]), z_dim, generator=g)
            layout = {
                "objects": [
                    {"category": o["category"], "box": o["box"], "z": z[j].tolist()}
                    for j, o in enumerate(record["objects"])
                ]
            }
            image = pipe(layout, rescale="clamp").images[0]
            name = f"{record['id']}.png" if samples == 1 else f"{record['id']}_{k}.png"
            image.save(folder / (names(name) if names else name))


def test_round_trip_gives_the_figures_of_evaluate_run(pipe, tmp_path):
    header = export_layouts(tmp_path / "layouts.jsonl", DATA, "shapes32", num_images=N)
    assert header["layouts"] == N and header["image_size"] == 32
    _, records = _read_layouts(tmp_path / "layouts.jsonl")
    assert [r["id"] for r in records] == [f"{i:06d}" for i in range(N)]
    first = records[0]["objects"][0]
    assert np.allclose(np.array(first["box"]) * 32, first["box_pixels"])
    assert pipe.vocab.names[first["category_id"]] == first["category"]
    draw_folder(pipe, records, tmp_path / "images", samples=2)

    files = _files(tmp_path)
    model = evaluate_generator(
        pipe.generator,
        DATA,
        ScoringOptions("shapes32", METRICS, num_images=N, files=files),
        vocab=pipe.vocab,
    )
    folder = score_folder(
        tmp_path / "images", DATA, ScoringOptions("shapes32", METRICS, num_images=N, files=files)
    )
    for name in METRICS:
        assert model["metrics"][name]["status"] == "ok"
        a, b = model["metrics"][name]["values"], folder["metrics"][name]["values"]
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), (name, key)
    found = folder["images"]["folder"]
    assert found["layouts_scored"] == N and found["samples_per_layout_found"] == 2
    assert found["missing"]["count"] == 0 and found["resized"] == 0
    assert folder["networks"]["object_classifier"]["sha256"]


@pytest.fixture(scope="module")
def drawn(pipe, tmp_path_factory):
    root = tmp_path_factory.mktemp("drawn")
    export_layouts(root / "layouts.jsonl", DATA, "shapes32", num_images=N)
    _, records = _read_layouts(root / "layouts.jsonl")
    draw_folder(pipe, records, root / "images", samples=1)
    return root / "images"


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_incomplete_folders_are_refused_by_name_unless_allowed(drawn, tmp_path):
    folder = _copy(drawn, tmp_path / "f")
    (folder / "000003.png").unlink()
    (folder / "000004.png").write_bytes(b"not a png")
    Image.new("RGB", (32, 20)).save(folder / "000005.png")
    (folder / "notes.txt").write_text("hello")
    (folder / "000999.png").write_bytes((folder / "000000.png").read_bytes())
    with pytest.raises(FolderError) as info:
        score_folder(folder, DATA, ScoringOptions("shapes32", ["object-accuracy"], num_images=N))
    message = str(info.value)
    assert "1 missing: 000003.png" in message
    assert "1 unreadable: 000004.png" in message
    assert "1 wrong size: 000005.png (wrong size: 32x20" in message
    assert "--allow-missing" in message
    results = score_folder(
        folder,
        DATA,
        ScoringOptions("shapes32", ["object-accuracy"], num_images=N),
        allow_missing=True,
    )
    found = results["images"]["folder"]
    assert found["layouts_scored"] == N - 3 and results["data"]["layouts"] == N - 3
    assert sorted(found["extra"]["names"]) == ["000999.png", "notes.txt"]
    assert results["data"]["layouts_selected"].startswith(f"{N - 3} of {N} layouts")


def test_other_sizes_and_jpeg_are_resized_and_recorded(drawn, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for p in sorted(drawn.iterdir()):
        Image.open(p).resize((64, 64), Image.Resampling.NEAREST).save(
            folder / (p.stem + ".jpg"), quality=95
        )
    results = score_folder(
        folder, DATA, ScoringOptions("shapes32", ["object-accuracy"], num_images=N)
    )
    found = results["images"]["folder"]
    assert found["resized"] == N and found["image_sizes"] == {"64x64": N}
    assert "bilinear" in results["protocol"]["image_files"]
    assert results["metrics"]["object-accuracy"]["status"] == "ok"


def test_hostile_folders_get_clear_errors(drawn, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes((drawn / "000000.png").read_bytes())
    folder = _copy(drawn, tmp_path / "links")
    (folder / "000001.png").unlink()
    os.symlink(outside, folder / "000001.png")
    with pytest.raises(FolderError, match="symbolic link leading outside"):
        score_folder(folder, DATA, ScoringOptions("shapes32", ["object-accuracy"], num_images=N))
    with pytest.raises(FolderError, match="more than 5 entries"):
        score_folder(
            drawn,
            DATA,
            ScoringOptions("shapes32", ["object-accuracy"], num_images=N),
            max_entries=5,
        )
    with pytest.raises(FolderError, match="is not a folder"):
        score_folder(
            tmp_path / "nope", DATA, ScoringOptions("shapes32", ["object-accuracy"], num_images=N)
        )
    bomb = _copy(drawn, tmp_path / "bomb")
    (bomb / "000002.png").write_bytes(bomb_png())
    with pytest.raises(FolderError, match=r"000002.png \(unreadable: more than 16,777,216"):
        score_folder(bomb, DATA, ScoringOptions("shapes32", ["object-accuracy"], num_images=N))
    (bomb / "000002.png").write_bytes(bomb_png(5000, 5000))  # under PIL's own limit
    with pytest.raises(FolderError, match=r"000002.png \(unreadable: 5000x5000, more than"):
        score_folder(bomb, DATA, ScoringOptions("shapes32", ["object-accuracy"], num_images=N))


def test_cli_layouts_and_images(drawn, tmp_path, capsys):
    out = tmp_path / "l.jsonl"
    common = ["--config", "shapes32", "--set", "data.num_images=640", "--num-images", str(N)]
    assert main(["evaluate", "layouts", *common, "--out", str(out)]) == 0
    header, records = _read_layouts(out)
    assert header["command"][:3] == ["layout2im", "evaluate", "layouts"] and len(records) == N
    capsys.readouterr()
    res = tmp_path / "r.json"
    args = ["evaluate", "images", str(drawn), *common, "--metrics", "object-accuracy"]
    assert main([*args, "--out", str(res), "--cache-dir", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert f"scored {N} of {N} layouts" in printed
    saved = json.loads(res.read_text())
    assert saved["protocol"]["name"] == "shapes32" and saved["command"][1:3] == [
        "evaluate",
        "images",
    ]
    assert saved["networks"]["object_classifier"]["sha256"]
    broken = _copy(drawn, tmp_path / "broken")
    (broken / "000000.png").unlink()
    assert main(["evaluate", "images", str(broken), *common, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "1 missing: 000000.png" in err
    assert "Traceback" not in err


def test_skill_split_folders_are_scored_per_split(pipe, tmp_path):
    export_layouts(tmp_path / "ood.jsonl", DATA, "shapes32-ood", num_images=3)
    _, records = _read_layouts(tmp_path / "ood.jsonl")
    assert [r["id"] for r in records[:4]] == [
        "ood-number-000000",
        "ood-number-000001",
        "ood-number-000002",
        "ood-position-000000",
    ]
    for split in ("ood-number", "ood-position", "ood-size", "ood-shape"):
        part = [r for r in records if r["split"] == split]
        draw_folder(pipe, part, tmp_path / "images", samples=1)
    results = score_folder(
        tmp_path / "images", DATA, ScoringOptions("shapes32-ood", ["object-accuracy"], num_images=3)
    )
    assert list(results["splits"]) == ["ood-number", "ood-position", "ood-size", "ood-shape"]
    for part in results["splits"].values():
        assert part["images"]["folder"]["layouts_scored"] == 3
        assert part["metrics"]["object-accuracy"]["status"] == "ok"
