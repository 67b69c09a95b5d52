"""Device selection shared by every command: CPU by default, CUDA when present and asked for."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from larnet_core.errors import LarnetError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "DEVICE_CHOICES", "wants_cpu_without_torch"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> "torch.device":
    """Turn ``auto|cpu|cuda[:N]`` into a :class:`torch.device`.

    ``auto`` picks CUDA when available, else the CPU. Asking for CUDA on a machine without it is an error
    rather than a silent fallback, so benchmark figures never come from the wrong device.
    """
    import torch  # here, not at module level: the CLI imports this module just to list the choices

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise LarnetError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
        return torch.device(name)
    raise LarnetError(f"unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}")


# Device nodes of the GPU drivers PyTorch can use: NVIDIA, NVIDIA under WSL 2, AMD ROCm (which torch.cuda runs on).
_GPU_NODES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg", "/dev/kfd")


def _gpu_may_be_present() -> bool:
    if sys.platform == "darwin":
        return False  # PyTorch has no CUDA on macOS (and ``auto`` never picks MPS)
    if not sys.platform.startswith("linux"):
        return True  # no cheap way to tell: let torch answer
    return any(os.path.exists(node) for node in _GPU_NODES)


def wants_cpu_without_torch(device: "str | torch.device") -> bool:
    """Whether ``device`` surely resolves to the CPU, answered without importing torch (about 2 s): ``cpu``, or
    ``auto`` on a machine with no GPU driver. False means "ask :func:`resolve_device`" (it may still be the CPU)."""
    if not isinstance(device, str):
        return getattr(device, "type", None) == "cpu"
    name = (device or "auto").lower()
    return name == "cpu" or (name == "auto" and not _gpu_may_be_present())
