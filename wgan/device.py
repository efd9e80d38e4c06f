"""Choosing the training device and sizing CPU thread pools to the CPU quota actually available."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch


def available_cpus() -> int:
    """CPUs this process may really use: the affinity mask, capped by a cgroup v2/v1 CPU quota.

    os.cpu_count() reports the host's CPUs; inside a container with a 2-core quota PyTorch would start
    one thread per host CPU, and 16 threads on 2 cores made training 4.2x slower (docs/performance.md).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; anything else is checked and returned as a torch.device."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but this PyTorch build sees no CUDA GPU")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device 'mps' asked for, but Apple's Metal backend is not available here")
    return device


def configure_cpu_threads(limit: int | None = None) -> int:
    """Set torch's intra-op threads to the CPU quota (or `limit`, if smaller) and return the number used.

    An explicit OMP_NUM_THREADS in the environment is the user's choice and caps the count too.
    """
    threads = available_cpus() if limit is None else max(1, min(limit, available_cpus()))
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        threads = min(threads, int(os.environ["OMP_NUM_THREADS"]))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def describe_device(device: torch.device) -> str:
    """A human-readable name: the GPU model, or 'CPU (n threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"
