"""Run by torchrun in the distributed tests: trains a tiny config, then records a digest of
every tensor of this rank's final models, for the test to compare across ranks."""

import hashlib
import json
import os
import sys
from pathlib import Path

from layout2im.config import load_config
from layout2im.training.loop import train

config_path, out_root, report_dir = sys.argv[1:4]
result = train(load_config(config_path), out_root=out_root, progress=False)
digests = {}
for net in ("generator", "image_d", "object_d"):
    for key, value in getattr(result.trainer, net).state_dict().items():
        data = value.detach().cpu().contiguous().numpy().tobytes()
        digests[f"{net}.{key}"] = hashlib.sha256(data).hexdigest()
report = {"run_dir": str(result.run_dir), "step": result.trainer.step, "digests": digests}
Path(report_dir, f"rank{os.environ['RANK']}.json").write_text(json.dumps(report))
