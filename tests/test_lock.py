"""Lock on the shipped model: what it keeps (the code, the object's colour largely) and what it
cannot (the fuser mixes every object into the feature map the decoder reads); the figures are
``benchmarks/lock.py``'s, the committed ones ``benchmarks/results/lock_shapes32.md``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from layout2im.pipeline import Layout2ImPipeline, default_model
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
LOCK = load_script(ROOT / "benchmarks" / "lock.py", "lock_benchmark")


@pytest.fixture(scope="module")
def pipe() -> Layout2ImPipeline:
    return Layout2ImPipeline.from_pretrained(default_model())


def test_a_locked_object_keeps_its_code_and_most_of_its_colour(pipe):
    figures = LOCK.measure(pipe, layouts=8, samples=4)
    # resampling the others changes the locked object less than half as much as its own code
    assert figures["locked"] < 0.7 * figures["unlocked"]
    assert figures["locked"] > 0  # the fuser mixes the neighbours in: not 0 by design
    # the other objects change alike whether object 0 is locked or not
    assert figures["others_locked_run"] == pytest.approx(figures["others_unlocked_run"], rel=0.2)

    scene = LOCK.locked(LOCK.held_out_scene(0, 32), pipe, seed=0)
    out = pipe(scene, num_samples=4, seed=5)
    assert all(torch.equal(out.latents[k, 0], out.latents[0, 0]) for k in range(4))


def test_a_sample_does_not_depend_on_the_other_samples_of_its_batch(pipe):
    scene = LOCK.locked(LOCK.held_out_scene(1, 32), pipe, seed=0)
    layout = pipe(scene, num_samples=1, seed=0).layout
    latents = pipe.latents(layout, num_samples=4, seed=3)
    batch = pipe.generate_tensor(layout, latents)
    for k in range(4):
        alone = pipe.generate_tensor(layout, latents[k : k + 1])
        torch.testing.assert_close(alone[0], batch[k], atol=1e-5, rtol=1e-5)


def test_the_committed_figures_are_the_ones_the_docs_show():
    report = json.loads((ROOT / "benchmarks" / "results" / "lock_shapes32.json").read_text())
    f = report["figures"]
    readme = (ROOT / "README.md").read_text()
    page = (ROOT / "src" / "layout2im" / "web" / "static" / "index.html").read_text()
    sentence = LOCK_SENTENCE.format(locked=f["locked"], unlocked=f["unlocked"])
    assert sentence in " ".join(readme.split())
    assert sentence in " ".join(page.split())


LOCK_SENTENCE = (
    "Lock keeps the object's latent code, so its shape and colour stay close, but not its "
    "exact pixels: the model fuses every object into one feature map, so changing the others "
    "still shifts a locked object a little (on the shipped model its box colour changes by "
    "{locked:.3f} when the others are resampled, against {unlocked:.3f} unlocked"
)
