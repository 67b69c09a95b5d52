"""FACS action units estimated from the face mesh and its skin movement, and FACS rules on their combinations.

These are *estimates*: the pose-normalised face mesh (:mod:`larnet_core.face.pose`) measured against the person's
own neutral face (:mod:`larnet_core.aus.estimate`), and the skin's movement from a neutral frame to an apex
(:mod:`larnet_core.aus.flow`), unmixed into action units with responses measured on generated faces
(:mod:`larnet_core.aus.calibration`). They are not the judgement of a certified FACS coder; docs/action-units.md
gives their measured accuracy.
"""

from larnet_core.aus.calibration import AU_COLUMNS, AU_NUMBERS
from larnet_core.aus.estimate import (
    ACTIVE_LEVEL,
    AuTracker,
    active_units,
    intensities,
    measure_mesh,
    photo_intensities,
    track_intensities,
)
from larnet_core.aus.flow import expression_intensities, point_displacements
from larnet_core.aus.rules import au_numbers, au_string, emfacs_label, objective_class, rule_label

__all__ = [
    "ACTIVE_LEVEL",
    "AU_COLUMNS",
    "AU_NUMBERS",
    "AuTracker",
    "active_units",
    "au_numbers",
    "au_string",
    "emfacs_label",
    "expression_intensities",
    "intensities",
    "measure_mesh",
    "objective_class",
    "photo_intensities",
    "point_displacements",
    "rule_label",
    "track_intensities",
]
