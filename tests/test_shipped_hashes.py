"""The shipped model's images, pixel for pixel: sha256 of every sample's bytes, recorded before
generation went through the architecture registry (torch with one thread, as here)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from layout2im import Layout2ImPipeline
from layout2im.layout import example_layouts

RECORDED = {
    "five-shapes.json:0": "af22f961aff6cd3168a55c072a052b405858e9665c3b3a2df2de882311df4582",
    "fixed-seed-diamond.json:1": "63888efbab174af437a01c25d6cbe786fc8c0a41cebc43e173fc96ae049be01d",
    "three-shapes.json:2": "26d7335fd17c3993f03ee25adf554c5ddf724823ac77d576b8d1f669669fc4c1",
}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_shipped_model_images_are_bit_identical(one_thread):
    pipe = Layout2ImPipeline.from_pretrained("shapes32")
    paths = {p.name: p for p in example_layouts()}
    for key, expected in RECORDED.items():
        name, seed = key.split(":")
        result = pipe(json.loads(paths[name].read_text()), num_samples=3, seed=int(seed))
        digest = hashlib.sha256(b"".join(im.tobytes() for im in result.images)).hexdigest()
        assert digest == expected, key
