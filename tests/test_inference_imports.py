"""Inference loads no training, data, evaluation or CLI code (a fresh interpreter's modules)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
import layout2im
pipe = layout2im.Layout2ImPipeline.from_pretrained("shapes32")
pipe({"objects": [{"category": "circle", "box": [0.1, 0.1, 0.6, 0.6]}]}, seed=0)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("layout2im"))))
"""


def test_generating_imports_no_training_data_evaluation_or_cli():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=300
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "layout2im.pipeline" in loaded and "layout2im.architectures.layout2im" in loaded
    for layer in ("data", "training", "evaluation", "cli", "web"):
        assert not [
            m for m in loaded if m == f"layout2im.{layer}" or m.startswith(f"layout2im.{layer}.")
        ], layer
