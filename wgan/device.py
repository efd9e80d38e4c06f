"""Choosing the training device and sizing CPU thread pools to the CPU quota actually available."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch


def available_cpus() -> int:
    """CPUs this process may really use: the affinity mask, capped by a cgroup v2/v1 CPU quota.

    os.cpu_count() reports the host's CPUs; inside a container with a 2-core quota PyTorch would start
    one thread per host CPU, and threads that outnumber the cores wait on each other at every operation.
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


_configured_threads: int | None = None


def pick_device_or_best(name: str) -> tuple[torch.device, str | None]:
    """`pick_device(name)`, or the best device found with a one-line warning when `name` is not usable here."""
    try:
        return pick_device(name), None
    except (RuntimeError, ValueError) as error:
        return pick_device("auto"), f"{error}; using the best device found instead."


def configure_cpu_threads(limit: int | None = None) -> int:
    """Set torch's intra-op threads to the CPU quota (or `limit`, if smaller), once per process.

    An explicit OMP_NUM_THREADS in the environment is the user's choice and caps the count too. Later
    calls change nothing and return the count chosen first: every session of a Streamlit server shares
    the process's thread pool, so no session may resize it for the others.
    """
    global _configured_threads
    if _configured_threads is not None:
        return _configured_threads
    threads = available_cpus() if limit is None else max(1, min(limit, available_cpus()))
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        threads = min(threads, int(os.environ["OMP_NUM_THREADS"]))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    _configured_threads = threads
    return threads


def cpu_has_fast_bf16() -> bool:
    """True on x86 CPUs with bf16 matrix instructions, AMX (Intel) or AVX512-BF16 (AMD Zen 4 and later), read
    from /proc/cpuinfo (so Linux only): there bf16 autocast trains faster than fp32 (benchmarks/bench.py
    measures it); without them bf16 is emulated and slower, so False there and wherever it cannot be told."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = next((line.split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def describe_device(device: torch.device) -> str:
    """A human-readable name: the GPU model, or 'CPU (n threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


# glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
_allocator_tuned: bool | None = None
_arenas_limited: bool | None = None


def _mallopt() -> Any | None:
    """glibc's mallopt through ctypes; None elsewhere (macOS, Windows, musl)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap how many malloc arenas glibc creates, for a server that runs each visitor in its own thread.

    glibc gives threads their own arenas (up to 8 per core), and each keeps the memory its thread freed,
    so a shared Streamlit server's footprint grows with the visitors it has had. A few arenas shared by
    every session thread return that memory to common use. Affects arenas created from now on; once per
    process; glibc only. Returns whether it applied.
    """
    global _arenas_limited
    if _arenas_limited is None:
        mallopt = _mallopt()
        _arenas_limited = bool(mallopt is not None and mallopt(_M_ARENA_MAX, arenas))
    return _arenas_limited


def tune_cpu_allocator() -> bool:
    """Keep freed activation memory in the process instead of handing it back to the kernel every step.

    glibc's malloc serves each activation of tens of MB with a fresh mmap (or trims the heap after it is
    freed), so every training step page-faults its memory in again: about two million faults per 50
    steps at batch 512. Raising the mmap and trim thresholds lets the same memory be reused (the effect
    of the MALLOC_*_ environment variables, set from inside the process). The process keeps up to 512 MB
    it no longer uses, so only what owns the process calls this: the command line's `train`, the
    benchmarks, a local (single-user) Training page; never a shared server. Once per process; glibc only
    (elsewhere, or with WGAN_MALLOC_TUNING=0, nothing changes). Returns whether it applied.
    """
    global _allocator_tuned
    if _allocator_tuned is not None:
        return _allocator_tuned
    _allocator_tuned = False
    if os.environ.get("WGAN_MALLOC_TUNING", "1") == "0":
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    _allocator_tuned = bool(
        mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum: blocks under 32 MB come from the heap
        and mallopt(_M_TRIM_THRESHOLD, 512 << 20)  # return memory to the kernel only past 512 MB free
        and mallopt(_M_TOP_PAD, 64 << 20)  # grow the heap in 64 MB steps
    )
    return _allocator_tuned
