"""LBP-TOP features (Zhao & Pietikainen 2007): uniform LBP histograms on three orthogonal planes.

A clip is a grey volume T x H x W. Every interior voxel gets three 8-neighbour LBP codes, one per plane
(XY: space; XT: horizontal motion; YT: vertical motion), each mapped to the 59 uniform-pattern bins. The face
is cut into a ``grid x grid`` block layout; each block and plane gives one normalised histogram, and the
feature vector is their concatenation: ``3 * grid * grid * 59`` values.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

__all__ = ["uniform_lbp_table", "lbp_top_codes", "lbp_top_histogram", "clip_volume", "N_UNIFORM_BINS"]

N_UNIFORM_BINS = 59
# Neighbour offsets around the circle of radius 1 (8 points), in order.
_CIRCLE = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def uniform_lbp_table() -> np.ndarray:
    """256 -> 59 lookup: each of the 58 uniform patterns (at most two 0/1 transitions, circularly) gets its
    own bin, all other patterns share bin 58."""
    table = np.full(256, N_UNIFORM_BINS - 1, dtype=np.int64)
    next_bin = 0
    for code in range(256):
        bits = [(code >> k) & 1 for k in range(8)]
        transitions = sum(bits[k] != bits[(k + 1) % 8] for k in range(8))
        if transitions <= 2:
            table[code] = next_bin
            next_bin += 1
    return table


_TABLE = uniform_lbp_table()


def lbp_top_codes(volume: np.ndarray, time_radius: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform-bin LBP codes of every interior voxel on the XY, XT and YT planes.

    Args:
        volume: float or uint8 array T x H x W with T >= 2 * time_radius + 1 and H, W >= 3.
        time_radius: distance in frames of the temporal neighbours (XT, YT planes).

    Returns:
        Three int arrays of shape (T - 2 rt) x (H - 2) x (W - 2) with values in [0, 59).
    """
    vol = np.asarray(volume, dtype=np.float32)
    t_len, height, width = vol.shape
    rt = int(time_radius)
    if t_len < 2 * rt + 1 or height < 3 or width < 3:
        raise ValueError(f"LBP-TOP needs at least {2 * rt + 1} frames of 3x3 pixels, got a {vol.shape} volume")
    centre = vol[rt:t_len - rt, 1:height - 1, 1:width - 1]

    def shifted(dt: int, dy: int, dx: int) -> np.ndarray:
        return vol[rt + dt:t_len - rt + dt, 1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx]

    planes = {"xy": lambda a, b: (0, a, b), "xt": lambda a, b: (a * rt, 0, b), "yt": lambda a, b: (a * rt, b, 0)}
    codes = []
    for plane in ("xy", "xt", "yt"):
        code = np.zeros(centre.shape, dtype=np.int64)
        for bit, (a, b) in enumerate(_CIRCLE):
            code |= (shifted(*planes[plane](a, b)) >= centre).astype(np.int64) << bit
        codes.append(_TABLE[code])
    return codes[0], codes[1], codes[2]


def lbp_top_histogram(volume: np.ndarray, grid: int = 4, time_radius: int = 1) -> np.ndarray:
    """The LBP-TOP feature vector of a grey clip volume: ``3 * grid * grid * 59`` L1-normalised values."""
    feats = []
    for codes in lbp_top_codes(volume, time_radius):
        _, height, width = codes.shape
        ys = np.linspace(0, height, grid + 1).astype(int)
        xs = np.linspace(0, width, grid + 1).astype(int)
        for i in range(grid):
            for j in range(grid):
                block = codes[:, ys[i]:ys[i + 1], xs[j]:xs[j + 1]]
                hist = np.bincount(block.ravel(), minlength=N_UNIFORM_BINS).astype(np.float32)
                feats.append(hist / max(1.0, hist.sum()))
    return np.concatenate(feats)


def clip_volume(frames_rgb: Sequence[np.ndarray], size: int = 64, max_frames: int = 24) -> np.ndarray:
    """Grey T x size x size volume of a clip's frames, at most ``max_frames`` spread evenly over the clip
    (a one-frame clip is repeated so the temporal planes exist)."""
    if not frames_rgb:
        raise ValueError("a clip needs at least one frame")
    picks = np.unique(np.linspace(0, len(frames_rgb) - 1, min(len(frames_rgb), max_frames)).round().astype(int))
    grey = [cv2.resize(cv2.cvtColor(frames_rgb[i], cv2.COLOR_RGB2GRAY), (size, size), interpolation=cv2.INTER_AREA)
            for i in picks]
    while len(grey) < 3:
        grey.append(grey[-1])
    return np.stack(grey).astype(np.float32)
