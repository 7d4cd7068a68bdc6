"""Choosing the device a run uses. No module-level state: the answer is recomputed."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import torch

from nst.errors import SettingsError


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> cuda if available, then mps, then cpu; a named device is checked.

    Raises:
        SettingsError: the named device is not available on this machine.
    """
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SettingsError(
                f"device {name!r} was asked for, but this machine has no usable CUDA GPU; use cpu or auto"
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SettingsError(
                f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return device
    if name == "mps" and not _mps_available():
        raise SettingsError(
            "device 'mps' was asked for, but Apple's Metal backend is not available here; use cpu or auto"
        )
    if name not in ("cpu", "mps"):
        raise SettingsError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return torch.device(name)


def available_devices() -> list[str]:
    """The device names a person can choose here: ``auto``, ``cpu``, then each CUDA GPU and ``mps``.

    Examples:
        >>> available_devices()[:2]
        ['auto', 'cpu']
    """
    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return found


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype VGG19's convolutions run in: ``"auto"`` picks bfloat16 where it is fast.

    Targets, losses, gradients and the picture always stay float32; only the network's
    forward and backward pass run in the lower precision (``torch.autocast``).
    """
    if name == "float32":
        return torch.float32
    if name == "bfloat16":
        return torch.bfloat16
    if name != "auto":
        raise SettingsError(f"unknown precision {name!r}; use auto, float32 or bfloat16")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu" and cpu_has_fast_bfloat16():
        return torch.bfloat16
    return torch.float32  # mps, and processors that would emulate bfloat16 slowly


def cpu_has_fast_bfloat16() -> bool:
    """Whether this processor does bfloat16 arithmetic natively (AVX512-BF16 or AMX).

    Without such units oneDNN emulates bfloat16, which is slower than float32. oneDNN's
    ``ONEDNN_MAX_CPU_ISA`` set below the bfloat16 instructions (``AVX2``, ``AVX512_CORE``)
    counts as not having them: that is how a benchmark plays an AVX2-only laptop here.
    """
    capped = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if capped and capped not in ("ALL", "DEFAULT") and not any(isa in capped for isa in ("BF16", "FP16", "AMX")):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass  # not Linux: be conservative
    return False


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the operating system (glibc's ``malloc_trim``).

    A step allocates and frees about a gigabyte of activations at 1024 px. glibc keeps freed
    blocks that sit between live ones, so without this a long run at that size holds about
    800 MB more than it uses, and the next step's peak lands on top. Returns False where
    the C library has no ``malloc_trim`` (macOS, Windows, musl).
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # noqa: PLC0415  # only where memory is handed back (glibc), once

    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # the C library the process already uses
        return trim
    except (OSError, AttributeError, TypeError):
        return None
