"""Distributed training on PyTorch's own engine: torchrun + DistributedDataParallel.

``torchrun --nproc_per_node=N -m layout2im train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`setup` reads them and joins the process group
(NCCL on GPUs, gloo on CPU). Without them training runs as a single process.
``layout2im train --nproc N`` is a shortcut that re-launches the same command under torchrun on
this machine (:func:`launch_local`).
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from ..devices import parse_device
from ..errors import Layout2ImError

log = logging.getLogger(__name__)


class DistributedError(Layout2ImError, RuntimeError):
    """A distributed run cannot start or lost one of its processes."""


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto", timeout_s: float = 300.0) -> DistEnv:
    """Join the process group when launched by torchrun; pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    chosen = parse_device(device, "train.device")
    if device == "cuda":
        chosen = torch.device("cuda", local_rank % torch.cuda.device_count())
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        try:
            dist.init_process_group(
                backend=backend,
                rank=rank,
                world_size=world_size,
                timeout=datetime.timedelta(seconds=timeout_s),
            )
        except Exception as exc:
            addr = os.environ.get("MASTER_ADDR", "?"), os.environ.get("MASTER_PORT", "?")
            raise DistributedError(
                f"rank {rank}: cannot join the process group at {addr[0]}:{addr[1]} "
                f"({type(exc).__name__}: {exc})"
            ) from None
        log.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, chosen)
    return DistEnv(rank, world_size, local_rank, chosen)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(obj: Any, env: DistEnv) -> Any:
    """Rank 0's ``obj`` on every rank (identity when not distributed)."""
    if not env.distributed:
        return obj
    box = [obj if env.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not env.distributed:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(module: torch.nn.Module, env: DistEnv) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics, spectral-norm vectors).

    DDP broadcasts them at the start of each forward, so after the last step they differ by
    that step's local update; this makes all ranks hold exactly what rank 0 saves."""
    if env.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def launch_local(nproc: int, argv: list[str], master_port: int | None = None) -> int:
    """Run ``layout2im <argv>`` under torchrun with ``nproc`` processes on this machine.

    With ``master_port`` the rendezvous uses that port (checked first, for a clear message);
    otherwise torchrun's ``--standalone`` picks a free one. Returns torchrun's exit code.
    """
    if nproc < 1:
        raise DistributedError(f"--nproc must be at least 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    if master_port is None:
        cmd.append("--standalone")
    else:
        if not port_is_free(master_port):
            raise DistributedError(
                f"port {master_port} is already in use on this machine; choose another "
                "--master-port or leave it out to pick a free one"
            )
        cmd += ["--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={master_port}"]
    cmd += ["-m", "layout2im", *argv]
    log.info("launching: %s", " ".join(cmd))
    return subprocess.call(cmd)
