"""What the machine offers: the CPU's model and bfloat16 features, and whether bf16 pays.

``train.amp=auto`` (and ``benchmarks/speed.py --amp auto``) resolve through
:func:`resolve_amp`: bf16 autocast where :func:`bf16_is_fast` says the device runs it fast,
float32 elsewhere.

- CPUs: bf16 pays only with native bf16 instructions, AVX512-BF16 or AMX (measured 1.72x on
  ``paper-coco64`` training with AVX512-BF16, see ``benchmarks/results``). Without them
  oneDNN converts bf16 to float32 around every kernel and the step gets slower, not faster.
- GPUs: bf16 autocast pays only where it has been measured to (:data:`BF16_FAST_GPUS`, name
  substrings); on an H200 it was slower than TF32 for this model at batch 64, so the list starts
  empty and a GPU measurement adds to it.

Every benchmark records :func:`cpu_info` next to its figures: machines of one name differ in
these features from session to session, so a ratio measured on one run carries over, an
absolute time does not.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

import torch

# CPU flags (as /proc/cpuinfo spells them) that give native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")
# GPUs (substrings of torch.cuda.get_device_name) where bf16 autocast was measured faster than
# float32/TF32 for this model's training step; none yet.
BF16_FAST_GPUS: tuple[str, ...] = ()

AMP_CHOICES = ("off", "bf16", "auto")


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    """``{"model": name, "flags": {flag: bool}, "bf16_native": bool, "capability": str}``.

    ``flags`` holds the bf16-related flags (AVX512-BF16, AMX) and AVX2/AVX512F; on systems
    without ``/proc/cpuinfo`` they are unknown (False) and ``capability`` (PyTorch's dispatch
    level, e.g. ``AVX2``) is what is known."""
    model, flags = _read_proc_cpuinfo(Path("/proc/cpuinfo"))
    model = model or platform.processor() or platform.machine()
    wanted = ("avx2", "avx512f", *BF16_CPU_FLAGS)
    found = {flag: flag in flags for flag in wanted}
    return {
        "model": model,
        "flags": found,
        "bf16_native": any(found[f] for f in BF16_CPU_FLAGS),
        "capability": _torch_cpu_capability(),
    }


def _read_proc_cpuinfo(path: Path) -> tuple[str | None, set[str]]:
    """The first ``model name`` and the ``flags`` of a Linux ``/proc/cpuinfo`` (None, {} when
    unreadable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None, set()
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def _torch_cpu_capability() -> str:
    try:
        return torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return "unknown"


def cpu_summary(info: dict | None = None) -> str:
    """One line for result tables: the CPU model and which bf16 features it has (``info``: a
    :func:`cpu_info` record, by default this machine's)."""
    info = info or cpu_info()
    f = info["flags"]
    yes = {True: "yes", False: "no"}
    return (
        f"{info['model']} (AVX512-BF16 {yes[f['avx512_bf16']]}, "
        f"AMX {yes[f['amx_bf16'] or f['amx_tile']]}, AVX2 {yes[f['avx2']]}, "
        f"PyTorch CPU capability {info['capability']})"
    )


def bf16_is_fast(device: torch.device | str) -> bool:
    """Whether bf16 autocast is expected to beat float32 on ``device`` (see the module
    docstring): a CPU with AVX512-BF16/AMX, or a GPU listed in :data:`BF16_FAST_GPUS`."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            return False
        name = torch.cuda.get_device_name(device)
        return any(key in name for key in BF16_FAST_GPUS)
    if device.type == "cpu":
        return cpu_info()["bf16_native"]
    return False


def resolve_amp(amp: str, device: torch.device | str) -> str:
    """``"off"`` or ``"bf16"``: ``amp`` itself, or for ``"auto"`` what :func:`bf16_is_fast`
    says of ``device``."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {amp!r}")
    if amp != "auto":
        return amp
    return "bf16" if bf16_is_fast(device) else "off"
