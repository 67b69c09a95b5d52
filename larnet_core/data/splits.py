"""Subject-independent splits: leave-one-subject-out folds and a seeded hold-out split.

Every split is by subject, never by clip: the same face in training and test inflates results. A
:class:`Split` checks on construction that no subject and no index is in two parts.

Items can be clip records (or anything with ``.subject`` and ``.dataset``) or a samples table with ``subject``
(and optionally ``dataset``) columns. When items come from several datasets, subjects are keyed
``dataset/subject`` so that equal ids of different datasets stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from larnet_core.data._files import natural_key
from larnet_core.errors import DatasetError

__all__ = ["Split", "Fold", "loso_folds", "holdout_split", "validation_subjects", "subject_keys"]


@dataclass(frozen=True)
class Split:
    """Index lists of the training, validation and test parts, and their subjects.

    Raises:
        ValueError: on construction, when a subject or an index is in two parts (a bug, not a user error).
    """

    name: str
    train_indices: tuple[int, ...]
    test_indices: tuple[int, ...]
    val_indices: tuple[int, ...] = ()
    train_subjects: tuple[str, ...] = ()
    val_subjects: tuple[str, ...] = ()
    test_subjects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for kind, parts in (
            ("subject", (self.train_subjects, self.val_subjects, self.test_subjects)),
            ("index", (self.train_indices, self.val_indices, self.test_indices)),
        ):
            seen: set = set()
            for part in parts:
                overlap = seen.intersection(part)
                if overlap:
                    raise ValueError(f"split {self.name}: {kind}(s) {sorted(overlap)[:5]} in more than one part")
                seen.update(part)


@dataclass(frozen=True)
class Fold(Split):
    """One leave-one-subject-out fold; :attr:`name` is the held-out subject."""


def subject_keys(items: Sequence[Any] | pd.DataFrame) -> list[str]:
    """The subject key of every item (``sub01``, or ``casme2/sub01`` when items span several datasets)."""
    if isinstance(items, pd.DataFrame):
        if "subject" not in items:
            raise ValueError("a samples table needs a 'subject' column to be split by subject")
        subjects = [str(s) for s in items["subject"]]
        datasets = [str(d) for d in items["dataset"]] if "dataset" in items else [""] * len(subjects)
    else:
        subjects = [str(item.subject) for item in items]
        datasets = [str(getattr(item, "dataset", "")) for item in items]
    if len(set(datasets)) > 1:
        # Idempotent: a subject already written "dataset/subject" (a composite samples table) stays as it is.
        return [s if s.startswith(f"{d}/") else f"{d}/{s}" for d, s in zip(datasets, subjects)]
    return subjects


def _indices_by_subject(keys: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return dict(sorted(groups.items(), key=lambda item: natural_key(item[0])))


def _pick(subjects: Sequence[str], fraction: float, rng: np.random.Generator) -> list[str]:
    """A seeded random subset of about ``fraction`` of the subjects: at least one, never all."""
    count = min(max(1, round(fraction * len(subjects))), len(subjects) - 1)
    chosen = rng.permutation(len(subjects))[:count]
    return sorted((subjects[i] for i in chosen), key=natural_key)


def validation_subjects(
    items: Sequence[Any] | pd.DataFrame, train_indices: Sequence[int], fraction: float = 0.1, seed: int = 0
) -> tuple[str, ...]:
    """Subjects to hold out for validation, chosen among the subjects of ``train_indices`` only.

    Validation data must come from training subjects: picking epochs on the test subject inflates results.

    Args:
        items: the records or samples table the indices refer to.
        train_indices: indices of the training part.
        fraction: share of the training subjects to move to validation (at least one, never all).
        seed: seeds the choice; the same inputs always give the same subjects.

    Returns:
        The chosen subject keys, in natural order; empty when ``fraction`` is 0 or there is one training subject.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    keys = subject_keys(items)
    subjects = sorted({keys[i] for i in train_indices}, key=natural_key)
    if fraction == 0.0 or len(subjects) < 2:
        return ()
    return tuple(_pick(subjects, fraction, np.random.default_rng(seed)))


def _make(cls: type[Split], name: str, keys: Sequence[str], test: set[str], val: set[str]) -> Split:
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for index, key in enumerate(keys):
        parts["test" if key in test else "val" if key in val else "train"].append(index)

    def subjects_of(part: str) -> tuple[str, ...]:
        return tuple(sorted({keys[i] for i in parts[part]}, key=natural_key))

    return cls(
        name=name,
        train_indices=tuple(parts["train"]),
        test_indices=tuple(parts["test"]),
        val_indices=tuple(parts["val"]),
        train_subjects=subjects_of("train"),
        val_subjects=subjects_of("val"),
        test_subjects=subjects_of("test"),
    )


def loso_folds(items: Sequence[Any] | pd.DataFrame, val_fraction: float = 0.0, seed: int = 0) -> list[Fold]:
    """Leave-one-subject-out folds: every subject is the test part of exactly one fold.

    Args:
        items: clip records or a samples table.
        val_fraction: when > 0, each fold also moves this share of its training subjects to validation.
        seed: seeds the validation choice (fold ``i`` uses ``(seed, i)``).

    Raises:
        DatasetError: fewer than two subjects.
    """
    keys = subject_keys(items)
    subjects = list(_indices_by_subject(keys))
    if len(subjects) < 2:
        raise DatasetError(
            f"leave-one-subject-out needs at least 2 subjects, found {len(subjects)} ({subjects}); add data"
        )
    folds: list[Fold] = []
    for number, subject in enumerate(subjects):
        train_idx = [i for i, k in enumerate(keys) if k != subject]
        val = set(validation_subjects(items, train_idx, val_fraction, _fold_seed(seed, number)))
        folds.append(_make(Fold, subject, keys, {subject}, val))  # type: ignore[arg-type]
    return folds


def _fold_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def holdout_split(
    items: Sequence[Any] | pd.DataFrame, test_fraction: float = 0.2, seed: int = 0, val_fraction: float = 0.0
) -> Split:
    """A seeded subject-independent train/validation/test split.

    Args:
        items: clip records or a samples table.
        test_fraction: share of the subjects in the test part (at least one, never all).
        seed: the same seed and items always give the same split.
        val_fraction: share of the remaining (training) subjects moved to validation.

    Raises:
        DatasetError: fewer than two subjects (three with a validation part).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction}")
    keys = subject_keys(items)
    subjects = list(_indices_by_subject(keys))
    needed = 3 if val_fraction > 0 else 2
    if len(subjects) < needed:
        raise DatasetError(f"a hold-out split needs at least {needed} subjects, found {len(subjects)}; add data")
    rng = np.random.default_rng(seed)
    test = set(_pick(subjects, test_fraction, rng))
    train_idx = [i for i, k in enumerate(keys) if k not in test]
    val = set(validation_subjects(items, train_idx, val_fraction, seed=seed + 1)) if val_fraction else set()
    return _make(Split, f"holdout-seed{seed}", keys, test, val)
