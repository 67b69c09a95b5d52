"""Names of the action units estimated and of the per-frame and per-interval columns they fill (no imports, so a
result schema can use them without loading the estimators)."""

from __future__ import annotations

__all__ = ["AU_NUMBERS", "AU_COLUMNS", "FACE_STATE_COLUMNS", "INTERVAL_AU_COLUMNS", "LIVE_FACE_STATE_COLUMNS",
           "live_face_state"]

#: Action units estimated, and their per-frame column names (py-feat's spelling).
AU_NUMBERS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43)
AU_COLUMNS = tuple(f"AU{n:02d}" for n in AU_NUMBERS)

#: Per-frame columns of the head pose (degrees), how well the head's movement was removed from the flow (crop
#: pixels, micro and macro scale), why a frame is kept out of spotting ("" when it is not), and the AU intensities.
FACE_STATE_COLUMNS = ("pose_yaw", "pose_pitch", "pose_roll", "head_residual", "head_residual_macro", "excluded",
                      *AU_COLUMNS)

#: Per-interval fields: the AUs active at the apex (``"AU6+AU12"``), the FACS rules' name for them, and the
#: model's label of the interval's own onset -> apex input.
INTERVAL_AU_COLUMNS = ("aus", "rule_label")

#: The live history's share of them: pose and AU intensities of the followed face.
LIVE_FACE_STATE_COLUMNS = ("pose_yaw", "pose_pitch", "pose_roll", *AU_COLUMNS)


def live_face_state(report: object) -> dict[str, float]:
    """A live frame report's :data:`LIVE_FACE_STATE_COLUMNS` (``pose`` and ``aus`` attributes; NaN without)."""
    pose = getattr(report, "pose", None) or (float("nan"),) * 3
    units = getattr(report, "aus", None) or {}
    row = dict(zip(LIVE_FACE_STATE_COLUMNS[:3], map(float, pose)))
    row.update({name: float(units.get(name, float("nan"))) for name in AU_COLUMNS})
    return row
