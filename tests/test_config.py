"""The config schema: strict types, bounds, unknown keys with a suggestion, old key names read
with a warning (files, checkpoints, ``--set``), ignored keys dropped with a warning."""

import logging

import pytest
import yaml

from layout2im.config import (
    IGNORED_KEYS,
    RENAMED_KEYS,
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    load_config,
)
from layout2im.training.loop import write_run_config
from tests.conftest import tiny_config


def test_ignored_keys_load_with_a_warning(caplog):
    assert "train.batch_discriminator_calls" in IGNORED_KEYS
    data = {"train": {"batch_discriminator_calls": True, "batch_size": 4}}
    with caplog.at_level(logging.WARNING, logger="layout2im.config"):
        config = config_from_dict(data)
    assert config.train.batch_size == 4
    assert "config key train.batch_discriminator_calls is ignored" in caplog.text
    assert data["train"]["batch_discriminator_calls"] is True  # the caller's dict is intact


def test_unknown_keys_are_refused_with_the_closest_key():
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'train.batch_discriminator_call'; did you mean "
        r"train.batch_size\?",
    ):
        config_from_dict({"train": {"batch_discriminator_call": True}})
    with pytest.raises(ConfigError, match="unknown config key 'batch_discriminator_calls';"):
        config_from_dict({"batch_discriminator_calls": True})  # ignored only under train
    with pytest.raises(ConfigError, match=r"valid keys here: data, model, name, train$"):
        config_from_dict({"qqqqqqqqqq": 1})


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batchsize=4", "config key 'train.batchsize'; did you mean train.batch_size?"),
        ("trian.steps=4", "unknown config key 'trian'; did you mean train?"),
        ("train.loss.kll=1", "unknown config key 'train.loss.kll'; did you mean train.loss.kl?"),
        ("train.steps.x=1", "unknown config key 'train.steps.x': train.steps is a value"),
        ("model.z_dim=abc", "model.z_dim must be an integer, got 'abc'"),
        ("model.z_dim='2'", "model.z_dim must be an integer, got '2'"),
        ("model.z_dim=2.0", "model.z_dim must be an integer, got 2.0"),
        ("model.z_dim=true", "model.z_dim must be an integer, got True"),
        ("train.lr=true", "train.lr must be a number, got True"),
        ("train.lr=.nan", "train.lr must be a finite number, got nan"),
        ("train.lr=0", "train.lr must be > 0, got 0"),
        ("train.beta1=1", r"train.beta1 must be in [0, 1), got 1"),
        ("train.tensorboard=1", "train.tensorboard must be true or false, got 1"),
        ("train.device=3", "train.device must be a string, got 3"),
        ("train.eval_metrics=fid", "train.eval_metrics must be a list, got 'fid'"),
        ("train.amp=fp16", "train.amp must be one of off, bf16, auto (got 'fp16')"),
        ("train.loss.gan=wgan", "train.loss.gan must be one of bce, hinge (got 'wgan')"),
        ("train.loss=3", "train.loss must be a mapping, got 3"),
        ("train.batch_size=1", "train.batch_size must be between 2 and 4096, got 1"),
        ("model.fuser_kernel=4", "model.fuser_kernel must be odd, got 4"),
        ("model.crop_size=128", "model.crop_size must be between 4 and model.image_size (32)"),
        ("model.fuser_hidden=[8,x]", "model.fuser_hidden[1] must be an integer, got 'x'"),
        ("data.max_objects=1", "data.max_objects must be >= data.min_objects (3), got 1"),
        ("train.cuda_graphs=true", "train.cuda_graphs needs train.static_shapes=true"),
        ("train.best_metric=fid", "train.best_metric must look like <metric>.<value>"),
    ],
)
def test_overrides_are_type_checked_by_key(override, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(load_config("shapes32"), [override])
    assert message in str(info.value)


def test_every_problem_is_reported_in_one_error():
    with pytest.raises(ConfigError) as info:
        apply_overrides(tiny_config(), ["model.z_dim=a", "train.steps=-1", "data.seed=x"])
    assert str(info.value) == (
        "model.z_dim must be an integer, got 'a'; data.seed must be an integer, got 'x'; "
        "train.steps must be >= 0, got -1"
    )


def test_values_in_messages_are_cut_short():
    with pytest.raises(ConfigError) as info:
        apply_overrides(tiny_config(), [f"model.z_dim={'a' * 10000}"])
    assert len(str(info.value)) < 150


def test_sections_built_directly_raise_config_errors():
    with pytest.raises(ConfigError, match=r"model\.z_dim must be between 1 and 4096, got 0"):
        ModelConfig(z_dim=0)
    with pytest.raises(ConfigError, match=r"train\.steps must be an integer, got '5'"):
        TrainConfig(steps="5")
    config = tiny_config()
    config.train.steps = "5"  # attributes can be set; validate() checks them again
    with pytest.raises(ConfigError, match=r"train\.steps must be an integer, got '5'"):
        config.validate()


def test_yaml_words_for_strings_and_copies():
    config = apply_overrides(tiny_config(), ["train.amp=off", "train.device=cpu"])
    assert config.train.amp == "off" and config.train.device == "cpu"
    copy = config.model_copy(update={"name": "other"})
    assert copy.name == "other" and config.name == "tiny" and copy.model == config.model
    assert config_from_dict(config.model_dump()) == config  # the plain form round-trips
    assert ModelConfig(crop_encoder_channels=(4, 8, 8)).crop_encoder_channels == [4, 8, 8]


OLD_VG_YAML = """
name: old-vg
data:
  name: vg
  root: datasets/vg
  max_objects: 30
  vg_min_image_side: 100
  vg_max_objects_used: 5
  vg_splits_json: splits.json
  stuff_only: false
  val_fraction: 0.1
"""


def test_old_config_files_load_with_each_rename_named(tmp_path, caplog):
    path = tmp_path / "old.yaml"
    path.write_text(OLD_VG_YAML)
    with caplog.at_level(logging.WARNING, logger="layout2im.config"):
        config = load_config(path)
    assert (config.data.vg.min_image_side, config.data.vg.max_objects_used) == (100, 5)
    assert config.data.vg.splits_json == "splits.json"
    assert (config.data.coco.stuff_only, config.data.coco.val_fraction) == (False, 0.1)
    for old in ("vg_min_image_side", "vg_max_objects_used", "vg_splits_json", "stuff_only"):
        new = RENAMED_KEYS[f"data.{old}"]
        assert f"config key data.{old} is now {new}" in caplog.text
    # written back in the current form, it loads without a warning
    write_run_config(tmp_path, config)
    caplog.clear()
    assert load_config(tmp_path / "config.yaml") == config
    assert "is now" not in caplog.text
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["data"]["vg"]["min_image_side"] == 100 and "vg_min_image_side" not in saved["data"]


def test_old_checkpoint_configs_load(caplog):
    # the resolved config a checkpoint stored before the data.coco / data.vg sections
    old = tiny_config().model_dump()
    data = old["data"]
    data.update({f"vg_{k}": v for k, v in data.pop("vg").items()})
    data.update(data.pop("coco"))
    data["vg_min_box_side"] = 16
    data["drop_crowd"] = True
    with caplog.at_level(logging.WARNING, logger="layout2im.config"):
        config = config_from_dict(old)
    assert config.data.vg.min_box_side == 16 and config.data.coco.drop_crowd is True
    assert config.model == tiny_config().model
    assert "config key data.drop_crowd is now data.coco.drop_crowd" in caplog.text
    assert isinstance(DataConfig(vg_min_box_side=3).vg.min_box_side, int)  # from Python too


def test_an_old_and_a_new_name_together_are_refused():
    with pytest.raises(ConfigError, match=r"data\.vg_min_box_side is the old name of data\.vg\."):
        config_from_dict({"data": {"vg_min_box_side": 3, "vg": {"min_box_side": 4}}})


def test_old_keys_in_overrides_map_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="layout2im.config"):
        config = apply_overrides(tiny_config(), ["data.vg_min_box_side=3", "data.drop_crowd=true"])
    assert config.data.vg.min_box_side == 3 and config.data.coco.drop_crowd is True
    assert "config key data.vg_min_box_side is now data.vg.min_box_side" in caplog.text


def test_validating_a_config_imports_no_data_code():
    # config.py and the schema import only errors, readers, threads (which imports only
    # errors) and each other (no cycle through the dataset registry); dataset names are
    # checked where datasets are built
    import ast
    from pathlib import Path

    import layout2im

    package = Path(layout2im.__file__).parent
    for path in [package / "config.py", *sorted((package / "schema").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                allowed = {None, "errors", "readers", "threads", "base", "config", "schema"}
                assert node.module in allowed | {"schema.config"}, (path.name, node.module)


def test_the_config_class_has_no_dataset_names():
    assert Config().data.name == "shapes"
    assert DataConfig(name="not-registered-here").name == "not-registered-here"
