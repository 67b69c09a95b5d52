"""Drawing results onto frames: face box, top class, probability bars, motion trace, notices.

Shared by the annotated-video export and the live analyzer so both look the same. Text is drawn with
OpenCV's Hershey font (ASCII only), which needs no font files.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from larnet_core.result.provenance import SYNTHETIC_SHORT

__all__ = ["SYNTHETIC_NOTICE", "draw_face_result", "draw_notice", "draw_motion_trace", "draw_other_face"]

#: Written on every frame analysed with a model trained on generated faces.
SYNTHETIC_NOTICE = SYNTHETIC_SHORT

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BOX = (0, 220, 90)
_EVENT = (255, 170, 0)
_BAR = (70, 160, 255)
_TEXT = (255, 255, 255)
_SHADE = (0, 0, 0)


def _scale(frame: np.ndarray) -> float:
    return max(0.35, min(frame.shape[0], frame.shape[1]) / 720)


def _text(frame: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour=_TEXT, thickness: int = 1,
          shade: bool = True) -> None:
    text = text.encode("ascii", "replace").decode("ascii")
    if shade:  # a dark outline keeps text readable on any background; not needed on a darkened panel
        # Not anti-aliased: a thick anti-aliased stroke costs four times as much (0.2 ms a line, every live
        # frame), and the outline's edge is hidden under the anti-aliased text.
        cv2.putText(frame, text, origin, _FONT, scale, _SHADE, thickness + 2, cv2.LINE_8)
    cv2.putText(frame, text, origin, _FONT, scale, colour, thickness, cv2.LINE_AA)


def draw_notice(frame: np.ndarray, text: str, row: int = 0, colour=(255, 210, 60)) -> None:
    """Write a one-line notice at the bottom-left of the frame (``row`` 0 is the lowest line), in place.

    The text is shrunk to stay left of the motion trace (the right 35 % of the bottom), so the two never overlap.
    """
    s = _scale(frame)
    line = int(22 * s * 1.4)
    scale = 0.5 * s * 1.2
    room = int(frame.shape[1] * 0.6) - 16
    width = cv2.getTextSize(text, _FONT, scale, 1)[0][0]
    if width > room > 0:
        scale *= room / width
    _text(frame, text, (8, frame.shape[0] - 8 - row * line), scale, colour)


def draw_other_face(frame: np.ndarray, box: Sequence[float], face_id: int) -> None:
    """A thin grey box and the face's id: a face that is tracked but not the one analysed, in place."""
    s = _scale(frame)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    cv2.rectangle(frame, (x0, y0), (x1, y1), (170, 170, 170), 1, cv2.LINE_AA)
    _text(frame, f"face {face_id}", (x0, min(y1 + int(16 * s) + 4, frame.shape[0] - 4)), 0.4 * s * 1.2,
          (200, 200, 200))


def draw_face_result(frame: np.ndarray, box: Sequence[float] | None, class_names: Sequence[str],
                     probabilities: Sequence[float] | None, *, highlight: bool = False,
                     max_bars: int = 7, bars: bool = True) -> None:
    """Draw the face box, the top class with its probability, and a bar per class, in place.

    Args:
        frame: RGB uint8 frame, modified in place.
        box: ``(x0, y0, x1, y1)`` in frame pixels, or None when no face is held.
        class_names: class order of ``probabilities``.
        probabilities: one value per class, or None before the first prediction.
        highlight: draw the box in the event colour (an expression is being spotted).
        max_bars: bars drawn at most (the most probable classes).
        bars: draw the bar panel (False for the other faces of a frame: one panel per frame, the main face's).
    """
    s = _scale(frame)
    colour = _EVENT if highlight else _BOX
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(frame, (x0, y0), (x1, y1), colour, max(1, int(round(2 * s))), cv2.LINE_AA)
    if probabilities is None or len(probabilities) == 0:
        return
    probs = np.asarray(probabilities, dtype=np.float64)
    top = int(np.argmax(probs))
    order = np.argsort(-probs)[:max_bars]
    bar_w, bar_h, gap = int(110 * s), int(12 * s) + 2, int(5 * s) + 2
    x, y = 8, 8
    panel_h = len(order) * (bar_h + gap) + gap
    panel_w = bar_w + int(95 * s)
    if box is not None:
        label, label_scale = f"{class_names[top]} {probs[top]:.0%}", 0.6 * s * 1.2
        (text_w, text_h), _ = cv2.getTextSize(label, _FONT, label_scale, max(1, int(round(s * 1.5))))
        lx, ly = int(box[0]), int(box[1]) - 8
        # Above the box unless that runs off the frame or into the bar panel; then below it.
        if ly - text_h < 4 or (lx < x + panel_w and ly - text_h < y + panel_h):
            ly = min(int(box[3]) + text_h + 8, frame.shape[0] - 4)
        lx = max(4, min(lx, frame.shape[1] - text_w - 4))
        _text(frame, label, (lx, ly), label_scale, colour, max(1, int(round(s * 1.5))))
    if not bars:
        return
    region = frame[y:y + panel_h, x:x + panel_w]
    region[:] = (region * 0.45).astype(np.uint8)  # darken behind the bars so they read on any background
    for row, index in enumerate(order):
        top_y = y + gap + row * (bar_h + gap)
        cv2.rectangle(frame, (x + 4, top_y), (x + 4 + int(bar_w * probs[index]), top_y + bar_h), _BAR, -1)
        _text(frame, f"{class_names[index][:11]} {probs[index]:.2f}", (x + 8 + bar_w, top_y + bar_h - 2), 0.38 * s * 1.2,
              shade=False)


def draw_motion_trace(frame: np.ndarray, values: Sequence[float], threshold: float | None = None,
                      height_fraction: float = 0.12) -> None:
    """Draw a sparkline of recent motion values across the bottom right of the frame, in place."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return
    h, w = frame.shape[:2]
    box_w, box_h = int(w * 0.35), max(12, int(h * height_fraction))
    x0, y0 = w - box_w - 8, h - box_h - 8
    top = max(float(values.max()), threshold or 0.0, 1e-6) * 1.1
    xs = x0 + np.linspace(0, box_w, len(values))
    ys = y0 + box_h - values / top * box_h
    region = frame[y0:y0 + box_h, x0:x0 + box_w]
    region[:] = (region * 0.5).astype(np.uint8)
    points = np.stack([xs, ys], axis=1).round().astype(np.int32)
    cv2.polylines(frame, [points], False, _BOX, 1, cv2.LINE_AA)
    if threshold is not None:
        ty = int(round(y0 + box_h - threshold / top * box_h))
        cv2.line(frame, (x0, ty), (x0 + box_w, ty), _EVENT, 1)
