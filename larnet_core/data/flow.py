"""Onset -> apex optical flow and optical strain, the usual input of flow-based micro-expression models.

The field uses TV-L1 flow; OpenCV's TV-L1 lives in the contrib modules, which opencv-python-headless does not
ship, so this module uses Farneback's dense flow (the field's usual fallback).

Encoding of :func:`compute_flow_image`, per image:

* channel 0 = horizontal flow u, channel 1 = vertical flow v: ``128 + 127 * f / s`` rounded, where ``s`` is the
  largest |u| or |v| in the image but at least ``FLOW_SCALE_FLOOR`` x the shorter side. 128 means no motion;
  u and v share one scale so directions are preserved; the floor keeps a still pair from amplifying noise to
  full range.
* channel 2 = optical strain ``sqrt(ux^2 + vy^2 + 0.5 (uy + vx)^2)``: ``255 * e / max(e)`` rounded, with
  ``max(e)`` at least ``STRAIN_SCALE_FLOOR``.
"""

from __future__ import annotations

import cv2
import numpy as np

from larnet_core.data.images import resize_to

__all__ = ["compute_flow", "compute_flow_image", "FLOW_SCALE_FLOOR", "STRAIN_SCALE_FLOOR", "MIN_FLOW_WORK_SIZE"]

# Flow is estimated on frames at least this large, then resized: Farneback's windows need some texture scale.
MIN_FLOW_WORK_SIZE = 112
FLOW_SCALE_FLOOR = 5e-3
STRAIN_SCALE_FLOOR = 1e-2
# Frames are reflect-padded by this many pixels before Farneback: without it the image borders show spurious
# flow of a few tenths of a pixel even between identical frames.
_FLOW_PAD = 16

# Farneback settings: 3-level pyramid, 15 px window, polynomial expansion 5 / 1.2 (OpenCV's documented example).
_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 2 or width < 2:
        raise ValueError(f"flow size must be at least 2x2, got {size!r}")
    return height, width


def _gray(image: np.ndarray, what: str) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"{what} must be a uint8 HxW or HxWx3 RGB image, got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image.reshape(image.shape[:2])


def compute_flow(onset_rgb: np.ndarray, apex_rgb: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Dense flow from the onset to the apex frame, and its optical strain, at ``size``.

    Args:
        onset_rgb, apex_rgb: uint8 RGB (or grey) frames of the same face crop; sizes may differ.
        size: output size, an int for a square or (height, width).

    Returns:
        float32 array HxWx3: u and v in output pixels (positive = right/down), then optical strain.
    """
    height, width = _hw(size)
    work_h, work_w = max(height, MIN_FLOW_WORK_SIZE), max(width, MIN_FLOW_WORK_SIZE)
    onset = resize_to(_gray(onset_rgb, "onset frame"), (work_h, work_w))
    apex = resize_to(_gray(apex_rgb, "apex frame"), (work_h, work_w))
    onset = cv2.copyMakeBorder(onset, *(_FLOW_PAD,) * 4, cv2.BORDER_REFLECT_101)
    apex = cv2.copyMakeBorder(apex, *(_FLOW_PAD,) * 4, cv2.BORDER_REFLECT_101)
    flow = cv2.calcOpticalFlowFarneback(onset, apex, None, **_FARNEBACK)
    flow = np.ascontiguousarray(flow[_FLOW_PAD:-_FLOW_PAD, _FLOW_PAD:-_FLOW_PAD])
    if (work_h, work_w) != (height, width):
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_AREA)
        flow[..., 0] *= width / work_w
        flow[..., 1] *= height / work_h
    u, v = flow[..., 0], flow[..., 1]
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    strain = np.sqrt(ux**2 + vy**2 + 0.5 * (uy + vx) ** 2)
    return np.dstack([u, v, strain]).astype(np.float32)


def compute_flow_image(onset_rgb: np.ndarray, apex_rgb: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Onset -> apex flow (u, v) and optical strain as a uint8 HxWx3 image (encoding in the module docstring).

    Used for the flow sample mode and by the video pipeline for live/clip inference of flow models.
    """
    fields = compute_flow(onset_rgb, apex_rgb, size)
    u, v, strain = fields[..., 0], fields[..., 1], fields[..., 2]
    scale = max(float(np.abs(u).max()), float(np.abs(v).max()), FLOW_SCALE_FLOOR * min(u.shape))
    strain_scale = max(float(strain.max()), STRAIN_SCALE_FLOOR)
    image = np.empty(fields.shape, dtype=np.uint8)
    image[..., 0] = np.clip(np.rint(128 + 127 * u / scale), 0, 255)
    image[..., 1] = np.clip(np.rint(128 + 127 * v / scale), 0, 255)
    image[..., 2] = np.clip(np.rint(255 * strain / strain_scale), 0, 255)
    return image
