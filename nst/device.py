"""Choosing the device a run uses. No module-level state: the answer is recomputed."""

from __future__ import annotations

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


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
