"""Which action units each emotion class shows in the synthetic data, and how they are drawn.

The recipes follow the AU combinations the CASME II authors used to label emotions (happiness AU6+12,
surprise AU1+2, disgust AU9/10 or AU4+7, repression AU14/15/17, sadness AU1+4+15, fear AU1+2+4+20, others
a heterogeneous rest). Some recipes share units on purpose (repression and sadness both use AU15, "others"
can be AU4+7 like disgust), as in the real data, so a classifier cannot reach a perfect score.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from larnet_core.synth.action_units import AuKey

__all__ = ["EMOTIONS", "EMOTION_RECIPES", "OTHERS_POOL", "sample_action_units", "CASME_SQ_EMOTIONS", "to_casme_sq_emotion"]

EMOTIONS: tuple[str, ...] = ("disgust", "fear", "happiness", "others", "repression", "sadness", "surprise")

# (weight, action units) per emotion; weights need not sum to one.
EMOTION_RECIPES: dict[str, tuple[tuple[float, tuple[AuKey, ...]], ...]] = {
    "happiness": ((0.45, (6, 12)), (0.30, (12,)), (0.125, ("R12",)), (0.125, ("L12",))),
    "surprise": ((0.5, (1, 2)), (0.35, (1, 2, 5)), (0.15, (1, 2, 25))),
    "disgust": ((0.25, (9,)), (0.25, (10,)), (0.3, (4, 7)), (0.1, (4, 9)), (0.1, ("L10",))),
    "repression": ((0.3, (14,)), (0.25, (15,)), (0.25, (17,)), (0.1, (15, 17)), (0.1, ("R14",))),
    "sadness": ((0.6, (1, 4, 15)), (0.2, (1, 4)), (0.2, (4, 15))),
    "fear": ((0.6, (1, 2, 4, 20)), (0.2, (1, 2, 4)), (0.2, (4, 20))),
}

# "others" draws one or two units from this pool.
OTHERS_POOL: tuple[AuKey, ...] = (1, 2, 4, 7, 23, 24, 25, "L1", "R2", "L4", "R7")

# CAS(ME)^2 codes emotions in four groups.
CASME_SQ_EMOTIONS: dict[str, str] = {
    "happiness": "positive",
    "disgust": "negative",
    "fear": "negative",
    "repression": "negative",
    "sadness": "negative",
    "surprise": "surprise",
    "others": "others",
}


def to_casme_sq_emotion(emotion: str) -> str:
    """Map a CASME II emotion to CAS(ME)^2's four groups (positive, negative, surprise, others)."""
    return CASME_SQ_EMOTIONS[emotion]


def sample_action_units(
    emotion: str,
    rng: np.random.Generator,
    peak: tuple[float, float] = (0.6, 1.0),
    extra_unit_probability: float = 0.0,
) -> dict[AuKey, float]:
    """Draw the action units (with peak intensities) of one expression of ``emotion``.

    Args:
        emotion: One of :data:`EMOTIONS`.
        rng: Source of randomness (the caller seeds it).
        peak: Range of each unit's peak intensity (1.0 = full micro-expression).
        extra_unit_probability: Chance of adding one unrelated unit from :data:`OTHERS_POOL` (harder data).

    Returns:
        Mapping from action-unit key to intensity, e.g. ``{6: 0.8, 12: 0.9}``.
    """
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; use one of {', '.join(EMOTIONS)}")
    if emotion == "others":
        count = 1 if rng.random() < 0.7 else 2
        picks = rng.choice(len(OTHERS_POOL), size=count, replace=False)
        units: list[AuKey] = [OTHERS_POOL[int(i)] for i in sorted(picks)]
    else:
        recipes = EMOTION_RECIPES[emotion]
        weights = np.array([w for w, _ in recipes], dtype=np.float64)
        index = int(rng.choice(len(recipes), p=weights / weights.sum()))
        units = list(recipes[index][1])
    if extra_unit_probability > 0 and rng.random() < extra_unit_probability:
        candidate = OTHERS_POOL[int(rng.integers(len(OTHERS_POOL)))]
        if _number(candidate) not in {_number(u) for u in units}:
            units.append(candidate)
    return {unit: float(rng.uniform(*peak)) for unit in units}


def _number(key: AuKey) -> int:
    text = str(key).upper().lstrip("LR")
    return int(text)


def unit_numbers(units: Sequence[AuKey]) -> set[int]:
    """Plain AU numbers of a list of keys (``"L12"`` -> 12)."""
    return {_number(u) for u in units}
