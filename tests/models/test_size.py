"""Network sizes counted on the meta device match the real networks, and cost no memory."""

from pathlib import Path

from layout2im.config import ModelConfig
from layout2im.models import ImageDiscriminator, Layout2ImGenerator, ObjectDiscriminator
from layout2im.models.size import generator_module_counts, generator_state_size, parameter_counts
from tests.conftest import tiny_model_config


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_meta_counts_match_the_built_networks():
    config = tiny_model_config()
    g = Layout2ImGenerator(config)
    assert parameter_counts(config) == {
        "generator": _count(g),
        "image_discriminator": _count(ImageDiscriminator(config.image_disc_channels)),
        "object_discriminator": _count(
            ObjectDiscriminator(config.object_disc_channels, config.num_classes)
        ),
    }
    assert generator_module_counts(config) == {n: _count(m) for n, m in g.named_children()}
    assert generator_state_size(config) == sum(t.numel() for t in g.state_dict().values())


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_network_of_gigabytes_is_counted_without_building_it():
    config = ModelConfig(
        decoder_res_blocks=32, decoder_channels=[2048] * 4, crop_encoder_channels=[2048] * 5
    )
    config.validate()
    before = _rss_mb()
    counts = parameter_counts(config)
    state = generator_state_size(config)
    assert counts["generator"] * 4 > 1.9e9  # about 2 GB as float32
    assert state > counts["generator"]  # BatchNorm statistics too
    assert _rss_mb() - before < 200  # counted, not allocated
