"""Shot-cut detection between consecutive frames: cheap enough to run on every frame of a stream.

A cut changes both *what colours* are in the frame and *where things are*. Each test alone has false alarms that
the other does not share: a head turn or a hand over the mouth moves things about but keeps the colours; a
flickering light changes brightness everywhere but neither hue nor layout. So a cut needs both:

* the hue-saturation histogram of a small thumbnail changes (Bhattacharyya distance >= ``hist_threshold``;
  brightness is left out, so lighting flicker does not count), and
* the thumbnail's layout changes: the zero-mean, unit-variance grey thumbnails of the two frames correlate less
  than ``layout_threshold`` (a brightness or contrast change leaves the correlation at 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CutScore", "ShotCutDetector"]

_THUMB_SIDE = 64  # long side of the thumbnail: enough for colour and coarse layout, ~0.1 ms to compare
_LAYOUT_SIDE = 16  # the layout test compares a blurrier thumbnail, so small motion does not decorrelate it
_HIST_BINS = (16, 8)  # hue, saturation


@dataclass(frozen=True)
class CutScore:
    """How different a frame is from the previous one."""

    hist_distance: float  # Bhattacharyya distance of the hue-saturation histograms, 0 (same) .. 1
    layout_correlation: float  # correlation of the normalised grey thumbnails, -1 .. 1 (1 = same layout)
    cut: bool


class ShotCutDetector:
    """Flags a shot cut between consecutive frames (see the module docstring for the rule).

    Args:
        hist_threshold: smallest hue-saturation histogram distance that can be a cut.
        layout_threshold: a cut also needs the thumbnails' correlation below this.
    """

    def __init__(self, hist_threshold: float = 0.3, layout_threshold: float = 0.5) -> None:
        if not 0.0 < hist_threshold <= 1.0:
            raise ValueError(f"hist_threshold must be in (0, 1], got {hist_threshold}")
        if not -1.0 <= layout_threshold <= 1.0:
            raise ValueError(f"layout_threshold must be in [-1, 1], got {layout_threshold}")
        self.hist_threshold = float(hist_threshold)
        self.layout_threshold = float(layout_threshold)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        """Forget the previous frame: the next one is never a cut."""
        self._previous = None

    def update(self, frame_rgb: np.ndarray) -> CutScore:
        """Compare ``frame_rgb`` (uint8 RGB) with the previous frame given; the first frame is never a cut."""
        current = _signature(frame_rgb)
        previous, self._previous = self._previous, current
        if previous is None:
            return CutScore(0.0, 1.0, False)
        distance = float(cv2.compareHist(previous[0], current[0], cv2.HISTCMP_BHATTACHARYYA))
        correlation = float(np.mean(previous[1] * current[1]))
        cut = distance >= self.hist_threshold and correlation < self.layout_threshold
        return CutScore(distance, correlation, cut)


def _signature(frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Every n-th pixel first (a free view) so the area resize reads a few hundred pixels a side, not 1080p.
    step = max(1, min(frame_rgb.shape[:2]) // (4 * _THUMB_SIDE))
    frame_rgb = np.ascontiguousarray(frame_rgb[::step, ::step])
    height, width = frame_rgb.shape[:2]
    scale = _THUMB_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    thumb = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(_HIST_BINS), [0, 180, 0, 256])
    hist = cv2.normalize(hist, None, alpha=1.0, norm_type=cv2.NORM_L1)
    grey = cv2.cvtColor(thumb, cv2.COLOR_RGB2GRAY)
    layout = cv2.resize(grey, (_LAYOUT_SIDE, _LAYOUT_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    layout -= layout.mean()
    spread = float(layout.std())
    # A flat frame (black, a title card) has no layout: treat it as uncorrelated with anything.
    layout = layout / spread if spread > 1e-3 else np.zeros_like(layout)
    return hist, layout
