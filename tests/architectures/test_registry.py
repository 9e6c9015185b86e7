"""The architecture registry: lookup, "did you mean", listing, and the entry's own checks."""

from __future__ import annotations

import dataclasses

import pytest

from layout2im.architectures import (
    Capabilities,
    LatentCode,
    LatentCodes,
    UnknownArchitectureError,
    architecture_names,
    get_architecture,
    register_architecture,
)
from layout2im.errors import Layout2ImError
from layout2im.seeding import Normal
from tests.architectures import stand_in


def test_layout2im_is_built_in_with_its_codes_and_capabilities():
    assert architecture_names()[0] == "layout2im"
    entry = get_architecture("layout2im")
    from layout2im.config import ModelConfig

    described = entry.describe(ModelConfig())
    assert described["latent_codes"] == [
        {"name": "z", "per": "object", "dim": 64, "distribution": "standard normal"}
    ]
    assert described["capabilities"] == ["style", "trainable"]
    assert described["rescale_modes"] == ["clamp", "minmax"]


def test_an_unknown_name_is_a_clear_error_with_a_suggestion():
    with pytest.raises(UnknownArchitectureError, match=r"'layoutim'; did you mean 'layout2im'\?"):
        get_architecture("layoutim")
    with pytest.raises(Layout2ImError, match=r"unknown architecture 7 \(architectures: layout2im"):
        get_architecture(7)


def test_names_are_unique_and_entries_consistent():
    register_architecture(stand_in.ARCHITECTURE)  # again: the same entry is fine
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_architecture(dataclasses.replace(stand_in.ARCHITECTURE))
    finally:
        from layout2im.architectures import unregister_architecture

        unregister_architecture(stand_in.NAME)
    with pytest.raises(ValueError, match="style goes with encode_style"):
        dataclasses.replace(stand_in.ARCHITECTURE, capabilities=Capabilities(style=True))
    with pytest.raises(ValueError, match="per-image code is named 'image_z'"):
        LatentCodes(LatentCode("z", 4), LatentCode("w", 4, Normal(2.0)))
    no_image = dataclasses.replace(stand_in.ARCHITECTURE, capabilities=Capabilities(masks=True))
    with pytest.raises(ValueError, match="image_code capability disagree"):
        no_image.codes(stand_in.StandInConfig())
