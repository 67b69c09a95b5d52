"""Device selection shared by every command: CPU by default, CUDA when present and asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from larnet_core.errors import LarnetError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "DEVICE_CHOICES"]

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
