"""FACS rules: what a combination of action units is called by the field's published rules (not a model's output).

Two rule sets:

* the EMFACS prototypes of Ekman and Friesen, the usual AU-to-emotion rules: happiness 6+12, sadness 1+4+15,
  surprise 1+2+5+26, fear 1+2+4+5+7+20+26, anger 4+5+7+23, disgust 9+15+16, contempt 12+14 (unilateral);
* the objective classes of Davison, Merghani and Yap (2018, "Objective classes for micro-facial expression
  recognition", J. Imaging 4(10):119), which group the AU combinations coded in CASME II and SAMM into
  classes I-VII without the self-reported emotion (SAMM's and CAS(ME)^3's sheets carry them).

:func:`rule_label` names a set of active units by both: ``"EMFACS happiness; objective class I"``.
"""

from __future__ import annotations

import re
from typing import Iterable

__all__ = ["EMFACS", "OBJECTIVE_CLASSES", "au_numbers", "au_string", "emfacs_label", "objective_class",
           "rule_label"]

#: EMFACS prototypes, in the order ties are broken.
EMFACS: dict[str, frozenset[int]] = {
    "happiness": frozenset({6, 12}),
    "surprise": frozenset({1, 2, 5, 26}),
    "sadness": frozenset({1, 4, 15}),
    "fear": frozenset({1, 2, 4, 5, 7, 20, 26}),
    "anger": frozenset({4, 5, 7, 23}),
    "disgust": frozenset({9, 15, 16}),
    "contempt": frozenset({12, 14}),
}

# Davison et al. (2018): the AU combinations of each objective class (class VII is everything else).
# AU38 (nostril dilator) and AU40 (sniff) are not estimated here but are kept so dataset codes map exactly.
_OBJECTIVE: dict[str, tuple[tuple[int, ...], ...]] = {
    "I": ((6,), (12,), (6, 12), (6, 7, 12), (7, 12)),
    "II": ((1, 2), (5,), (25,), (1, 2, 25), (25, 26), (5, 24)),
    "III": ((23,), (4,), (4, 7), (4, 5), (4, 5, 7), (17, 24), (4, 6, 7), (4, 38)),
    "IV": ((10,), (9,), (4, 9), (4, 40), (4, 5, 40), (4, 7, 9), (4, 9, 17), (4, 7, 10), (4, 5, 7, 9), (7, 10)),
    "V": ((1,), (15,), (1, 4), (6, 15), (15, 17)),
    "VI": ((1, 2, 4), (20,)),
}
#: The objective classes' AU combinations, as sets.
OBJECTIVE_CLASSES: dict[str, tuple[frozenset[int], ...]] = {
    name: tuple(frozenset(combo) for combo in combos) for name, combos in _OBJECTIVE.items()
}

_NUMBER = re.compile(r"(\d+)")


def au_numbers(units: Iterable[str | int] | str) -> set[int]:
    """Plain AU numbers of names or codes: ``["AU06", "AU12"]``, ``"AU4+AU7"``, ``"4+L10"``, ``"R12"`` ->
    ``{4, 7}`` etc. (sides dropped)."""
    if isinstance(units, str):
        units = [part for part in re.split(r"[+,;/\s]+", units) if part]
    numbers = set()
    for unit in units:
        match = _NUMBER.search(str(unit))
        if match:
            numbers.add(int(match.group(1)))
    return numbers


def au_string(units: Iterable[str | int]) -> str:
    """``"AU6+AU12"`` (AU order; empty when none)."""
    return "+".join(f"AU{n}" for n in sorted(au_numbers(units)))


def emfacs_label(units: Iterable[str | int] | str) -> str | None:
    """The EMFACS prototype the units match best (most overlap against both sets' union, at least a third), or
    ``None``."""
    active = au_numbers(units)
    best, best_score = None, 0.0
    for name, prototype in EMFACS.items():
        score = len(active & prototype) / len(active | prototype) if active else 0.0
        if score > best_score + 1e-9:
            best, best_score = name, score
    return best if best_score >= 1 / 3 - 1e-9 else None


def objective_class(units: Iterable[str | int] | str) -> str:
    """Davison et al.'s objective class (``"I"``-``"VII"``) of a set of units: the class listing exactly that
    combination, else the class whose listed combination covers most of the units (ties: the lower class),
    else ``"VII"`` (others)."""
    active = au_numbers(units)
    if not active:
        return "VII"
    for name, combos in OBJECTIVE_CLASSES.items():
        if active in combos:
            return name
    best, best_size = "VII", 0
    for name, combos in OBJECTIVE_CLASSES.items():
        for combo in combos:
            if combo <= active and len(combo) > best_size:
                best, best_size = name, len(combo)
    return best


def rule_label(units: Iterable[str | int] | str) -> str:
    """Both rules' names for a set of units: ``"EMFACS happiness; objective class I"``; ``""`` without units."""
    active = au_numbers(units)
    if not active:
        return ""
    emotion = emfacs_label(active)
    return f"EMFACS {emotion or 'none'}; objective class {objective_class(active)}"
