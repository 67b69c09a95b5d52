"""Onset -> apex optical flow and optical strain, the usual input of flow-based micro-expression models.

Two estimators (``method``):

* ``tvl1``: dual TV-L1 (Zach et al. 2007), the field's input (STSTNet, OFF-ApexNet, MEGC baselines), from
  OpenCV's contrib module ``cv2.optflow`` (opencv-contrib-python-headless). About 45 ms per field at 28 px and
  0.3 s at 112 px on one thread, so dataset samples compute it once and cache it
  (:mod:`larnet_core.data.flow_cache`).
* ``farneback``: Farneback's polynomial-expansion flow, 100-300 times faster; the default of this module
  because per-frame clip and live analysis cannot afford TV-L1.

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

from larnet_core.errors import LarnetError

__all__ = ["resize_to", "compute_flow", "compute_flow_image", "FLOW_METHODS", "tvl1_available", "FLOW_SCALE_FLOOR",
           "STRAIN_SCALE_FLOOR", "MIN_FLOW_WORK_SIZE", "FLOW_ENCODING_VERSION"]

FLOW_METHODS = ("tvl1", "farneback")
# Bumped whenever the encoding or the estimator settings change, so cached samples are recomputed.
FLOW_ENCODING_VERSION = 1

# Flow is estimated on frames at least this large, then resized: Farneback's windows need some texture scale.
MIN_FLOW_WORK_SIZE = 112
FLOW_SCALE_FLOOR = 5e-3
STRAIN_SCALE_FLOOR = 1e-2
# Frames are reflect-padded by this many pixels before either estimator: without it the image borders show spurious
# flow of a few tenths of a pixel even between identical frames.
_FLOW_PAD = 16

# Farneback settings: 3-level pyramid, 15 px window, polynomial expansion 5 / 1.2 (OpenCV's documented example).
_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def tvl1_available() -> bool:
    """Whether this OpenCV build has the contrib module with TV-L1 flow."""
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def _check_method(method: str) -> str:
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; use one of {', '.join(FLOW_METHODS)}")
    if method == "tvl1" and not tvl1_available():
        raise LarnetError(
            "TV-L1 optical flow needs OpenCV's contrib module (cv2.optflow), which this OpenCV build lacks: "
            "install opencv-contrib-python-headless instead of opencv-python-headless (requirements.txt pins it), "
            "or pass --flow farneback")
    return method


def _tvl1(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
    # OpenCV's defaults (tau 0.25, lambda 0.15, theta 0.3, 5 scales, 5 warps); one object per call, because
    # the estimator keeps internal buffers and DataLoader workers may call this concurrently.
    return cv2.optflow.DualTVL1OpticalFlow_create().calc(onset, apex, None)


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


def compute_flow(onset_rgb: np.ndarray, apex_rgb: np.ndarray, size: int | tuple[int, int],
                 method: str = "farneback") -> np.ndarray:
    """Dense flow from the onset to the apex frame, and its optical strain, at ``size``.

    Args:
        onset_rgb, apex_rgb: uint8 RGB (or grey) frames of the same face crop; sizes may differ.
        size: output size, an int for a square or (height, width).
        method: ``farneback`` or ``tvl1`` (see the module docstring).

    Returns:
        float32 array HxWx3: u and v in output pixels (positive = right/down), then optical strain.

    Raises:
        LarnetError: ``tvl1`` without OpenCV's contrib module.
    """
    _check_method(method)
    height, width = _hw(size)
    work_h, work_w = max(height, MIN_FLOW_WORK_SIZE), max(width, MIN_FLOW_WORK_SIZE)
    onset = resize_to(_gray(onset_rgb, "onset frame"), (work_h, work_w))
    apex = resize_to(_gray(apex_rgb, "apex frame"), (work_h, work_w))
    onset = cv2.copyMakeBorder(onset, *(_FLOW_PAD,) * 4, cv2.BORDER_REFLECT_101)
    apex = cv2.copyMakeBorder(apex, *(_FLOW_PAD,) * 4, cv2.BORDER_REFLECT_101)
    if method == "tvl1":
        flow = _tvl1(onset, apex)
    else:
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


def compute_flow_image(onset_rgb: np.ndarray, apex_rgb: np.ndarray, size: int | tuple[int, int],
                       method: str = "farneback") -> np.ndarray:
    """Onset -> apex flow (u, v) and optical strain as a uint8 HxWx3 image (encoding in the module docstring).

    Used for the flow sample mode (``tvl1`` by default there) and by the video pipeline for live/clip inference
    of flow models (``farneback``).
    """
    fields = compute_flow(onset_rgb, apex_rgb, size, method)
    u, v, strain = fields[..., 0], fields[..., 1], fields[..., 2]
    scale = max(float(np.abs(u).max()), float(np.abs(v).max()), FLOW_SCALE_FLOOR * min(u.shape))
    strain_scale = max(float(strain.max()), STRAIN_SCALE_FLOOR)
    image = np.empty(fields.shape, dtype=np.uint8)
    image[..., 0] = np.clip(np.rint(128 + 127 * u / scale), 0, 255)
    image[..., 1] = np.clip(np.rint(128 + 127 * v / scale), 0, 255)
    image[..., 2] = np.clip(np.rint(255 * strain / strain_scale), 0, 255)
    return image

def resize_to(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (an int for a square, or (height, width)); area averaging when shrinking."""
    height, width = (size, size) if isinstance(size, int) else size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height < image.shape[0] or width < image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
