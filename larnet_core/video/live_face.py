"""The followed face of a live stream: its pose and action units frame by frame, and which of its motion samples
are kept out of spotting. (An event's own AUs are read as a clip's are: :mod:`larnet_core.video.live_events`.)

The same rules as clip analysis (:mod:`larnet_core.video.face_state`), on the past only: the neutral is the
median of the face's recent measures (:class:`~larnet_core.aus.estimate.AuTracker`), and a motion sample, final
``k`` frames after its frame, is kept out when that frame's head was turned beyond 30 degrees, when the head's
rigid movement could not be removed from its flow, or, without a mesh, when the head moved.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.video.face_state import MAX_POSE_RESIDUAL, MAX_YAW_DEG

__all__ = ["LiveFaceState"]


class LiveFaceState:
    """One followed face's live pose, AUs and exclusions.

    Args:
        fps: the stream's frame rate.
        max_residual_px: :attr:`~larnet_core.video.motion.MotionConfig.max_residual_px`.
        macro_factor: the macro crop's size over the micro crop's.
        keep_s: seconds of per-frame pose and AUs kept (events, final a while after their frames, fall back on the
            per-frame AUs at their apex where the flow cannot be read).
    """

    def __init__(self, fps: float, max_residual_px: float, macro_factor: float, keep_s: float = 12.0) -> None:
        from larnet_core.aus.estimate import AuTracker

        self.fps = float(fps)
        self.max_residual_px = float(max_residual_px)
        self.macro_factor = float(macro_factor)
        self._tracker = AuTracker(fps)
        self._keep = max(8, int(keep_s * fps))
        self._frames: OrderedDict[int, tuple[float, float, float, float, np.ndarray]] = OrderedDict()
        self._face_id: int | None = None

    def update(self, index: int, face_id: int | None,
               measure: Any) -> tuple[tuple[float, float, float] | None, dict[str, float]]:
        """Record this frame of the followed face (``measure``: its pose and mesh measures, or None); returns its
        ``(yaw, pitch, roll)`` and AU intensities (empty without a mesh). A new face starts a new neutral."""
        if face_id != self._face_id:
            self._tracker.reset()
            self._frames.clear()
            self._face_id = face_id
        if measure is None:
            return None, {}
        pose, values = self._tracker.update_measure(measure)
        self._frames[index] = (pose.yaw, pose.pitch, pose.roll, pose.residual, values)
        while len(self._frames) > self._keep:
            self._frames.popitem(last=False)
        return (pose.yaw, pose.pitch, pose.roll), dict(zip(AU_COLUMNS, map(float, values)))

    def excluded(self, sample: Any) -> bool:
        """Whether a final motion sample is kept out of spotting (see the module docstring)."""
        frame = self._frames.get(int(sample.index))
        if frame is None:
            return bool(sample.head_moving)  # no mesh: nothing was compensated
        yaw, pitch, _, fit, _ = frame
        limit = self.max_residual_px * (self.macro_factor if sample.scale == "macro" else 1.0)
        residual = float(getattr(sample, "residual", float("nan")))
        return bool(abs(yaw) > MAX_YAW_DEG or abs(pitch) > MAX_YAW_DEG or fit > MAX_POSE_RESIDUAL
                    or (np.isfinite(residual) and residual > limit))

    def units_at(self, index: int) -> np.ndarray | None:
        """The per-frame AU intensities of frame ``index`` (None when it is not kept or had no mesh)."""
        frame = self._frames.get(int(index))
        return None if frame is None else np.asarray(frame[4], dtype=np.float64)
