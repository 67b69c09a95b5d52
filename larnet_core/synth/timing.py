"""Time courses: expression intensity (onset -> apex -> offset), blinks, head motion, illumination drift."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["expression_curve", "blink_curve", "HeadMotion", "head_motion", "illumination_drift", "spread_onsets"]


def expression_curve(n_frames: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Intensity per frame of one expression: 0 up to ``onset``, a raised-cosine rise to exactly 1 at
    ``apex``, a raised-cosine fall back to 0 at ``offset``, 0 after. Indices are 0-based frame positions.

    The curve is 1 only at the apex, so the apex frame of the ground truth is the frame of peak motion.
    """
    if not 0 <= onset < apex < offset:
        raise ValueError(f"need 0 <= onset < apex < offset, got {onset}, {apex}, {offset}")
    t = np.arange(n_frames, dtype=np.float64)
    curve = np.zeros(n_frames, dtype=np.float64)
    rise = (t >= onset) & (t <= apex)
    curve[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - onset) / (apex - onset))
    fall = (t > apex) & (t <= offset)
    curve[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - apex) / (offset - apex))
    return curve


def blink_curve(n_frames: int, start: float, close_frames: float, open_frames: float, depth: float = 1.0) -> np.ndarray:
    """Eyelid closure per frame (1 = shut): a quick close then a slower reopening, as real blinks do."""
    t = np.arange(n_frames, dtype=np.float64) - start
    curve = np.zeros(n_frames, dtype=np.float64)
    closing = (t >= 0) & (t < close_frames)
    curve[closing] = np.sin(0.5 * np.pi * t[closing] / close_frames) ** 2
    opening = (t >= close_frames) & (t < close_frames + open_frames)
    curve[opening] = np.cos(0.5 * np.pi * (t[opening] - close_frames) / open_frames) ** 2
    return curve * depth


@dataclass(frozen=True)
class HeadMotion:
    """Per-frame global head motion: translation in pixels and roll in degrees."""

    dx: np.ndarray
    dy: np.ndarray
    roll: np.ndarray


def _smooth_wander(rng: np.random.Generator, n_frames: int, fps: float, amplitude: float,
                   freq_range: tuple[float, float]) -> np.ndarray:
    """Sum of three random sinusoids, scaled so its largest excursion is ``amplitude``."""
    t = np.arange(n_frames, dtype=np.float64) / fps
    signal = np.zeros(n_frames, dtype=np.float64)
    for _ in range(3):
        f = rng.uniform(*freq_range)
        signal += rng.uniform(0.3, 1.0) * np.sin(2 * math.pi * f * t + rng.uniform(0, 2 * math.pi))
    peak = float(np.abs(signal).max()) if n_frames else 0.0
    return signal * (amplitude / peak) if peak > 0 else signal


def head_motion(rng: np.random.Generator, n_frames: int, fps: float, shift_px: float, roll_deg: float,
                tremor_px: float = 0.05, freq_range: tuple[float, float] = (0.3, 3.0)) -> HeadMotion:
    """Slow wander of the head (sub-pixel to ``shift_px``) with a little per-frame tremor."""
    scale = rng.uniform(0.5, 1.0)
    dx = _smooth_wander(rng, n_frames, fps, shift_px * scale, freq_range) + rng.normal(0, tremor_px, n_frames)
    dy = _smooth_wander(rng, n_frames, fps, shift_px * scale * 0.8, freq_range) + rng.normal(0, tremor_px, n_frames)
    roll = _smooth_wander(rng, n_frames, fps, roll_deg * scale, freq_range)
    return HeadMotion(dx=dx, dy=dy, roll=roll)


def illumination_drift(rng: np.random.Generator, n_frames: int, amount: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame global gain and left-to-right gradient, drifting linearly by up to ``amount`` (fraction)."""
    t = np.linspace(-0.5, 0.5, n_frames) if n_frames > 1 else np.zeros(n_frames)
    gain = 1.0 + rng.uniform(-amount, amount) * t * 2 + rng.uniform(-amount, amount) * 0.5
    gradient = rng.uniform(-amount, amount) * 2 * t + rng.uniform(-0.05, 0.05)
    return gain, gradient


def spread_onsets(rng: np.random.Generator, n_frames: int, lengths: list[int], gap: int) -> list[int]:
    """0-based onsets for consecutive, non-overlapping events of ``lengths`` frames (in the given order), at
    least ``gap`` frames apart and from both ends of the video, the slack spread at random.

    The caller makes sure they fit: ``sum(lengths) + gap * (len(lengths) + 1) <= n_frames``.
    """
    free = n_frames - sum(lengths) - gap * (len(lengths) + 1)
    if free < 0:
        raise ValueError(f"{len(lengths)} events of {sum(lengths)} frames with gaps of {gap} do not fit "
                         f"in {n_frames} frames")
    # Sorted cut points split the slack into the extra gap before each event.
    cuts = np.sort(rng.integers(0, free + 1, len(lengths)))
    onsets, cursor, previous_cut = [], 0, 0
    for length, cut in zip(lengths, cuts):
        onset = cursor + gap + int(cut) - previous_cut
        previous_cut = int(cut)
        onsets.append(onset)
        cursor = onset + length
    return onsets
