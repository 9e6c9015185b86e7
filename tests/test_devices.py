"""The one device parser: every command and config that names a device goes through it."""

import pytest
import torch
import yaml

from layout2im.cli import main
from layout2im.devices import DeviceError, parse_device
from layout2im.training.distributed import setup
from tests.conftest import tiny_config

HOSTILE = ["meta", "xla", "mps", "", "cpu;rm -rf /", "cuda:99", "cuda:-1", "cuda:01", "CPU", " cpu"]


def test_cpu_and_existing_cuda_devices_parse():
    assert parse_device("cpu") == torch.device("cpu")
    assert parse_device(torch.device("cpu")) == torch.device("cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for index in range(count):
        assert parse_device(f"cuda:{index}") == torch.device("cuda", index)


@pytest.mark.parametrize("name", HOSTILE)
def test_other_names_are_refused_naming_the_option_and_value(name):
    with pytest.raises(DeviceError, match="--device") as err:
        parse_device(name)
    assert repr(name) in str(err.value)


def test_a_device_beyond_the_count_says_what_exists():
    with pytest.raises(DeviceError, match="cuda:99"):
        parse_device("cuda:99")
    with pytest.raises(DeviceError, match="must be"):
        parse_device(7)  # type: ignore[arg-type]


def test_a_long_device_name_is_quoted_short():
    with pytest.raises(DeviceError) as err:
        parse_device("x" * 100_000)
    assert len(str(err.value)) < 200


@pytest.mark.parametrize("name", ["meta", "cuda:99", "cpu;rm -rf /"])
def test_generate_refuses_a_bad_device_before_writing(tmp_path, tiny_model_dir, capsys, name):
    layout = tmp_path / "layout.json"
    layout.write_text('{"objects": [{"category": "square", "box": [0.1, 0.1, 0.5, 0.5]}]}')
    out = tmp_path / "out"
    argv = ["generate", "--model", str(tiny_model_dir), "--layout", str(layout), "--out", str(out)]
    assert main([*argv, "--device", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "device" in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("name", ["cuda:99", "meta"])
def test_train_refuses_a_bad_device_before_any_run_folder(tmp_path, capsys, name):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(steps=2).model_dump()))
    runs = tmp_path / "runs"
    argv = ["train", "--config", str(config), "--out", str(runs), "--no-progress"]
    assert main([*argv, "--set", f"train.device={name}"]) == 2
    err = capsys.readouterr().err
    assert "train.device" in err and name in err and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())
    with pytest.raises(DeviceError, match=r"train\.device"):
        setup(name)
