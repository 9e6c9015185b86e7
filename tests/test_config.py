"""A config from a dict: unknown keys are refused, ignored keys are dropped with a warning."""

import logging

import pytest

from layout2im.config import IGNORED_KEYS, Config, ConfigError, from_dict


def test_ignored_keys_load_with_a_warning(caplog):
    assert "train.batch_discriminator_calls" in IGNORED_KEYS
    data = {"train": {"batch_discriminator_calls": True, "batch_size": 4}}
    with caplog.at_level(logging.WARNING, logger="layout2im.config"):
        config = from_dict(Config, data).validate()
    assert config.train.batch_size == 4
    assert "config key train.batch_discriminator_calls is ignored" in caplog.text
    assert data["train"]["batch_discriminator_calls"] is True  # the caller's dict is intact


def test_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match=r"unknown config key train\.batch_discriminator_call;"):
        from_dict(Config, {"train": {"batch_discriminator_call": True}})
    with pytest.raises(ConfigError, match="unknown config key batch_discriminator_calls;"):
        from_dict(Config, {"batch_discriminator_calls": True})  # ignored only under train
