"""FACS action units estimated from the face mesh and its skin movement, and FACS rules on their combinations.

These are *estimates*: the pose-normalised face mesh (:mod:`larnet_core.face.pose`) measured against the person's
own neutral face (:mod:`larnet_core.aus.estimate`), and the skin's movement from a neutral frame to an apex
(:mod:`larnet_core.aus.flow`), unmixed into action units with responses measured on generated faces
(:mod:`larnet_core.aus.calibration`), or, for large movements these do not describe, with per-unit mesh
patterns learned on real faces (:mod:`larnet_core.aus.learned_patterns`). They are not the judgement of a
certified FACS coder; docs/action-units.md gives their measured accuracy. Names load lazily (scipy and OpenCV
only when an estimator is used).
"""

from larnet_core._lazy import lazy_exports

_EXPORTS = {
    "AU_COLUMNS": "names", "AU_NUMBERS": "names", "FACE_STATE_COLUMNS": "names", "INTERVAL_AU_COLUMNS": "names",
    "ACTIVE_LEVEL": "estimate", "AuTracker": "estimate", "active_units": "estimate",
    "expression_units": "estimate", "intensities": "estimate",
    "measure_mesh": "estimate", "photo_intensities": "estimate", "running_neutral": "estimate",
    "track_intensities": "estimate",
    "expression_intensities": "flow", "point_displacements": "flow",
    "au_numbers": "rules", "au_string": "rules", "emfacs_label": "rules", "objective_class": "rules",
    "rule_label": "rules",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
