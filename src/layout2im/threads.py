"""How many CPU threads torch computes with, and how its idle OpenMP threads wait.

Two settings decide whether a CPU run survives a machine that other work also uses
(``benchmarks/threads.py`` measured both; ``benchmarks/results/threads-cpu.md``):

- **threads**: torch's intra-op threads (``torch.set_num_threads``). torch starts one per core;
  every operation is split between them and waits for the slowest, so when another process
  holds a core, each of the thousands of small operations of a step waits for the thread that
  shares it. :func:`default_threads` is what the tables chose, by the kind of work.
- **the OpenMP wait policy**: torch's CPU kernels run on libgomp, whose idle threads spin on a
  core before sleeping, taking it from the thread they wait for when cores are short.
  ``OMP_WAIT_POLICY=PASSIVE`` makes them sleep at once. libgomp reads the variable once, when
  torch is imported, so it must be in the environment before that: the ``layout2im`` command
  sets it first thing (:func:`prefer_passive_wait`); a program using the library sets it in
  its environment (``OMP_WAIT_POLICY=PASSIVE python train.py``) or in ``os.environ`` before
  ``import torch``.

A value the user gave wins: ``--threads N`` (or ``train.threads``), else ``OMP_NUM_THREADS``,
else :func:`default_threads`; an ``OMP_WAIT_POLICY`` already set is left as it is.

This module imports nothing heavy at import time (torch only inside :func:`use_threads`), so
the command line can import it before torch.
"""

from __future__ import annotations

import os
import sys

from .errors import Layout2ImError, quote

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
PASSIVE = "PASSIVE"
THREADS_VARIABLE = "OMP_NUM_THREADS"
MAX_THREADS = 1024


class ThreadsError(Layout2ImError):
    """A thread count that is not a positive integer (``--threads``, ``train.threads``,
    ``OMP_NUM_THREADS``)."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; all cores where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


TRAIN, GENERATE = "train", "generate"
WORK_KINDS = (TRAIN, GENERATE)


def default_threads(cores: int | None = None, work: str = TRAIN) -> int:
    """Threads to use when the user names none, by the kind of ``work``, as
    ``benchmarks/results/threads-cpu.md`` and ``threads-cpu-idle.md`` measured on 2 cores
    (with the passive wait the command sets):

    - ``"train"``: one per core but one (at least one), leaving a core to the rest of the
      machine. shapes32 steps took 0.29-0.98 s with 1 thread against 0.80-1.12 s with 2 on a
      machine shared with other work, and 2 threads did not beat 1 on an idle one (0.66 against
      0.63 s).
    - ``"generate"`` (generation, serving, scoring): one per core. paper-coco64 generated at
      99 ms per image with 2 threads against 157 ms with 1 on an idle machine, and 160 against
      178 ms with one core busy; only under heavy outside load did 1 thread win (132 against
      193 ms).
    """
    if work not in WORK_KINDS:
        raise ValueError(f"work must be one of {WORK_KINDS}, got {work!r}")
    cores = available_cores() if cores is None else cores
    return max(1, cores - 1) if work == TRAIN else max(1, cores)


def prefer_passive_wait() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already names a policy; it
    takes effect only when torch has not been imported yet. Returns whether it is in effect
    for this process (set here or by the user, before torch)."""
    if WAIT_POLICY_VARIABLE in os.environ:
        return os.environ[WAIT_POLICY_VARIABLE].strip().upper() == PASSIVE
    if "torch" in sys.modules:
        return False
    os.environ[WAIT_POLICY_VARIABLE] = PASSIVE
    return True


def check_threads(value, field: str = "--threads") -> int:
    """``value`` as a thread count (1..MAX_THREADS), or a :class:`ThreadsError` naming
    ``field`` and the value."""
    try:
        threads = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        threads = None
    if type(threads) is not int or not 1 <= threads <= MAX_THREADS:
        raise ThreadsError(
            f"{field}: must be an integer from 1 to {MAX_THREADS}, got {quote(value)}"
        )
    return threads


def requested_threads(threads: int | None = None, work: str = TRAIN) -> int:
    """The thread count to use: ``threads`` when given, else ``OMP_NUM_THREADS`` when set,
    else :func:`default_threads` for ``work``."""
    if threads is not None:
        return check_threads(threads)
    from_env = os.environ.get(THREADS_VARIABLE, "").split(",")[0].strip()
    if from_env:
        return check_threads(from_env, THREADS_VARIABLE)
    return default_threads(work=work)


def use_threads(threads: int | None = None, work: str = TRAIN) -> int:
    """Make torch compute with :func:`requested_threads` ``(threads, work)`` intra-op
    threads; returns the count."""
    import torch

    count = requested_threads(threads, work)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def wait_policy() -> str:
    """The OpenMP wait policy of the environment (``PASSIVE``, ``ACTIVE`` or ``default``)."""
    return os.environ.get(WAIT_POLICY_VARIABLE, "").strip().upper() or "default"


def describe() -> str:
    """One line for logs: ``threads: 1 of 2 cores, OpenMP wait policy PASSIVE``."""
    import torch

    return (
        f"threads: {torch.get_num_threads()} of {available_cores()} cores, "
        f"OpenMP wait policy {wait_policy()}"
    )
