"""The other tools' side of ``benchmarks/fid_crosscheck.py``: torch-fidelity 0.4.0 and
pytorch-fid 0.3.0 on the same image folders and the same Inception weights.

Runs in the cross-check environment (``make crosscheck-venv``: torch, torchvision,
torch-fidelity, pytorch-fid, scipy), never beside layout2im (torchvision does not import
beside layout2im's torch), so it imports nothing of layout2im. ``fid_crosscheck.py`` starts it
as ``PYTHON fid_crosscheck_worker.py WORK``; ``WORK/request.json`` says what to compute::

    {"generated": "WORK/generated", "real": "WORK/real",   # folders of 000000.png, ...
     "weights": "WORK/inception-torchvision.pth",          # default_1.pt, torchvision names
     "batch_size": 50, "subset": 50,
     "ours": {"tf-bilinear": {"generated": "...npy", "real": "...npy"}, "torch-bilinear": ...}}

and it writes ``WORK/worker.json`` (figures, versions, the strict weight-loading check) and
the pool3 features (float64 .npy, one row per image in file-name order) under
``WORK/features/``. Nothing is downloaded: both tools get the weights file given.

- torch-fidelity: ``calculate_metrics(input1=generated, input2=real, fid=True)``, end to end
  from the folders, with ``feature_extractor_weights_path``; its features are read back from
  its own cache (``cache_root`` inside WORK), so the images pass through Inception once.
- pytorch-fid: ``calculate_fid_given_paths([generated, real], ...)``, end to end, with its
  weight download answered by the given file and ``get_activations`` wrapped to keep the
  features it returns.
- pytorch-fid's network fed this harness's scaling ``(pixel - 128) / 128`` instead of its
  ``2 * pixel / 255 - 1`` (``normalize_input=False``), on the first ``subset`` generated images:
  how much of the difference to ``torch-bilinear`` is the scaling.
- Each tool's Fréchet distance on the harness's own features (``ours``): how much of a
  difference is the distance computation rather than the features.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import PIL
import scipy
import torch
from PIL import Image

FID_DIMS = 2048


def write_atomic(path: Path, write) -> None:
    """``write(tmp)`` then rename to ``path``. (layout2im.fsutil.atomic_write is not importable
    in this environment; this is the same rename-into-place.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_features(work: Path, name: str, features) -> str:
    array = np.asarray(features, dtype=np.float64)
    path = work / "features" / f"{name}.npy"
    write_atomic(path, lambda tmp: np.save(tmp, array))
    return str(path.relative_to(work))


def image_files(folder: str) -> list[Path]:
    return sorted(Path(folder).glob("*.png"))


def torch_fidelity_side(request: dict, work: Path) -> dict:
    import torch_fidelity
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    weights = request["weights"]
    # The constructor loads the file with load_state_dict (strict); load it again and report.
    extractor = FeatureExtractorInceptionV3("inception-v3-compat", [str(FID_DIMS)], weights)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    keys = extractor.load_state_dict(state, strict=True)
    del extractor
    cache = work / "torch-fidelity-cache"
    metrics = torch_fidelity.calculate_metrics(
        input1=request["generated"],
        input2=request["real"],
        fid=True,
        cuda=False,
        batch_size=request["batch_size"],
        save_cpu_ram=True,  # no DataLoader workers
        verbose=False,
        feature_extractor_weights_path=weights,
        cache=True,
        cache_root=str(cache),
        input1_cache_name="generated",
        input2_cache_name="real",
    )
    features = {}
    for side in ("generated", "real"):
        (path,) = cache.glob(f"{side}-*-features-{FID_DIMS}.pt")
        features[side] = torch.load(path, map_location="cpu", weights_only=True).double().numpy()
    ours = request["ours"]["tf-bilinear"]
    stats = [
        fid_features_to_statistics(torch.from_numpy(np.load(work / ours[s])))
        for s in ("generated", "real")
    ]
    on_ours = fid_statistics_to_metric(stats[0], stats[1], False)
    return {
        "version": torch_fidelity.__version__,
        "fid": float(metrics["frechet_inception_distance"]),
        "strict_load": {
            "missing": list(keys.missing_keys),
            "unexpected": list(keys.unexpected_keys),
        },
        "features": {s: save_features(work, f"torch-fidelity-{s}", f) for s, f in features.items()},
        "fid_of_our_features": float(on_ours["frechet_inception_distance"]),
    }


def pytorch_fid_side(request: dict, work: Path) -> dict:
    import pytorch_fid
    from pytorch_fid import fid_score, inception

    state = torch.load(request["weights"], map_location="cpu", weights_only=True)

    def given_weights(url, *args, **kwargs):  # fid_inception_v3's download, answered locally
        return state

    inception.load_state_dict_from_url = given_weights
    recorded = []
    get_activations = fid_score.get_activations

    def recording(files, *args, **kwargs):
        features = get_activations(files, *args, **kwargs)
        recorded.append((list(files), features))
        return features

    fid_score.get_activations = recording
    try:
        fid = fid_score.calculate_fid_given_paths(
            [request["generated"], request["real"]],
            request["batch_size"],
            "cpu",
            FID_DIMS,
            num_workers=0,
        )
    finally:
        fid_score.get_activations = get_activations
    names = [[Path(f).name for f in files] for files, _ in recorded]
    if names != [[f.name for f in image_files(request[s])] for s in ("generated", "real")]:
        raise RuntimeError(
            "pytorch-fid read other files than the folders' PNGs, or in another order"
        )
    features = {"generated": recorded[0][1], "real": recorded[1][1]}

    ours = request["ours"]["torch-bilinear"]
    mine = [np.load(work / ours[s]) for s in ("generated", "real")]
    stats = [(f.mean(axis=0), np.cov(f, rowvar=False)) for f in mine]
    on_ours = fid_score.calculate_frechet_distance(*stats[0], *stats[1])

    # its network, fed (pixel - 128) / 128 instead of its own 2 * pixel / 255 - 1
    net = inception.InceptionV3(
        [inception.InceptionV3.BLOCK_INDEX_BY_DIM[FID_DIMS]], normalize_input=False
    )
    net.eval()
    files = image_files(request["generated"])[: request["subset"]]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    x = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() - 128.0) / 128.0
    step = request["batch_size"]
    with torch.no_grad():
        ttur = torch.cat([net(x[i : i + step])[0] for i in range(0, len(x), step)])
    return {
        "version": pytorch_fid.__version__,
        "fid": float(fid),
        "features": {s: save_features(work, f"pytorch-fid-{s}", f) for s, f in features.items()},
        "fid_of_our_features": float(on_ours),
        "ttur_scaling_features": save_features(
            work, "pytorch-fid-ttur-scaling-generated", ttur.flatten(1)
        ),
        "ttur_scaling_images": len(files),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: fid_crosscheck_worker.py WORK", file=sys.stderr)
        return 2
    work = Path(argv[0])
    request = json.loads((work / "request.json").read_text())
    torch.manual_seed(0)
    import torchvision

    report = {
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pillow": PIL.__version__,
        },
        "threads": torch.get_num_threads(),
        "torch-fidelity": torch_fidelity_side(request, work),
        "pytorch-fid": pytorch_fid_side(request, work),
    }
    text = json.dumps(report, indent=2) + "\n"
    write_atomic(work / "worker.json", lambda tmp: tmp.write_text(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
