"""Saving and showing evaluation results: the results JSON, the metrics table, the markdown
report."""

from __future__ import annotations

import json
from pathlib import Path

from ..fsutil import portable_paths, write_text


def write_results(results: dict, path: str | Path) -> Path:
    """Write the results JSON atomically, with this machine's folders taken out of its paths
    (:func:`layout2im.fsutil.portable_paths`)."""
    return write_text(path, json.dumps(portable_paths(results), indent=2) + "\n")


def protocol_line(results: dict) -> str:
    p, d, im = results["protocol"], results["data"], results["images"]
    return (
        f"protocol {p['name']}: {d['config']['name']} split {d['split']}, "
        f"{d['layouts']} of {d['layouts_in_split']} layouts, "
        f"{p['samples_per_layout']} image(s) per layout scored "
        f"({im['samples_per_layout_generated']} generated), {d['image_size']}x{d['image_size']}, "
        f"rescale {p['rescale']}, resize {p['resize']} to {p['inception_size']}, "
        f"IS splits {p['is_splits']}, seed {p['seed']}"
    )


def _format_values(name: str, values: dict[str, float]) -> str:
    pairs = []
    keys = list(values)
    done = set()
    for key in keys:
        if key in done:
            continue
        if key.endswith("_mean") and key[: -len("_mean")] + "_std" in values:
            base = key[: -len("_mean")]
            pairs.append(f"{base} {values[key]:.4g} ± {values[base + '_std']:.2g}")
            done |= {key, base + "_std"}
        elif key.startswith("objects_"):
            pairs.append(f"{key} {int(values[key])}")
            done.add(key)
        else:
            pairs.append(f"{key} {values[key]:.4g}")
            done.add(key)
    return "; ".join(pairs)


def format_table(results: dict) -> str:
    """A markdown table of the metrics, with the protocol line above it (for a protocol with
    skill splits: one such table per split)."""
    if "splits" in results:
        return "\n\n".join(format_table(part) for part in results["splits"].values())
    lines = [protocol_line(results), "", "| metric | result | network / note |", "|---|---|---|"]
    nets = results.get("networks", {})
    for name, entry in results["metrics"].items():
        if entry["status"] == "ok":
            note = _network_note(name, nets)
            lines.append(f"| {name} | {_format_values(name, entry['values'])} | {note} |")
        else:
            reason = entry["reason"].replace("|", "\\|")
            lines.append(f"| {name} | skipped | {reason} |")
    return "\n".join(lines)


def _network_note(metric: str, nets: dict) -> str:
    role = {
        "fid": "inception",
        "is": "inception_logits",
        "object-accuracy": "object_classifier",
        "fid-shapes": "scene_features",
        "diversity-shapes": "scene_features",
        "layout-fidelity": "object_classifier",
    }.get(metric)
    if metric == "diversity" and "lpips" in nets:
        return "LPIPS alex v0.1"
    if role and role in nets:
        info = nets[role]
        return f"{Path(info['path']).name} (sha256 {info['sha256'][:12]})"
    return ""


def format_markdown(results: dict) -> str:
    """A markdown report: a heading, the model, command, device and date, then
    :func:`format_table`; paths as :func:`layout2im.fsutil.portable_paths` writes them (the
    report is a file to keep or share)."""
    results = portable_paths(results)
    model = results.get("model", {})
    lines = [
        f"# Evaluation: protocol {results['protocol']['name']}",
        "",
        f"Model: `{model.get('path', '?')}` (model.safetensors sha256 "
        f"`{model.get('weights_sha256', '?')[:16]}...`).",
        f"Command: `{' '.join(results.get('command', []))}`",
        f"Device {results['settings']['device']}, torch {results['settings']['torch']}, "
        f"{results['created']}.",
        "",
        format_table(results),
        "",
    ]
    return "\n".join(lines)


def format_folder_counts(results: dict) -> str:
    """What scoring a folder of images found, a line per split (layouts scored of all, images
    read, samples per layout, resized), then a line per kind of problem with the names."""
    lines = []
    for split, part in results.get("splits", {"": results}).items():
        found = part["images"]["folder"]
        lines.append(
            f"{split + ': ' if split else ''}scored {found['layouts_scored']} of "
            f"{found['layouts']} layouts ({found['images_read']} images, "
            f"{found['samples_per_layout_found']} per layout, {found['resized']} resized)"
        )
        for kind in ("missing", "unreadable", "wrong_size", "extra", "duplicates"):
            if found[kind]["count"]:
                names = ", ".join(found[kind]["names"])
                lines.append(f"  {found[kind]['count']} {kind.replace('_', ' ')}: {names}")
    return "\n".join(lines)
