"""Label schemes: which dataset emotions become which training class, and which are dropped.

A scheme's mapping is a table keyed by ``(dataset, emotion)`` or by a plain ``emotion`` (valid for every
dataset); a value of None drops the clip. docs/datasets.md shows each table.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

from larnet_core.data.records import ClipRecord
from larnet_core.errors import DatasetError

__all__ = [
    "LabelScheme",
    "LABEL_SCHEMES",
    "get_scheme",
    "scheme_names",
    "apply_scheme",
    "remap_labels",
]

log = logging.getLogger(__name__)

MappingKey = Union[str, tuple[str, str]]


@dataclass(frozen=True, eq=False)
class LabelScheme:
    """A named class list and the table that maps dataset emotions onto it.

    Attributes:
        name: scheme id (``casme2-7``).
        classes: class names in index order (the model's output order).
        mapping: ``(dataset, emotion)`` or ``emotion`` -> class, or None to drop.
        description: one line for users.
        emotions_of: dataset whose own emotion names the classes are (``casme2`` for the CASME II schemes),
            which is how predictions are remapped into another scheme; None for composite classes.
    """

    name: str
    classes: tuple[str, ...]
    mapping: Mapping[MappingKey, str | None]
    description: str
    emotions_of: str | None = None
    _lookup: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bad = sorted({v for v in self.mapping.values() if v is not None and v not in self.classes})
        if bad:
            raise ValueError(f"scheme {self.name}: mapping targets {bad} are not among its classes {self.classes}")
        object.__setattr__(self, "_lookup", {_norm_key(k): v for k, v in self.mapping.items()})

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def knows(self, dataset: str, emotion: str) -> bool:
        """Whether the table has an entry (a class or a drop) for this emotion."""
        return (dataset.lower(), emotion.lower()) in self._lookup or emotion.lower() in self._lookup

    def map_emotion(self, dataset: str, emotion: str) -> str | None:
        """The class of ``emotion`` from ``dataset``, or None when the scheme drops it.

        Raises:
            KeyError: the scheme has no entry for it (see :meth:`knows`).
        """
        key = (dataset.lower(), emotion.lower())
        if key in self._lookup:
            return self._lookup[key]
        return self._lookup[emotion.lower()]

    def index(self, label: str) -> int:
        """Position of a class in :attr:`classes`."""
        return self.classes.index(label)

    @classmethod
    def identity(cls, classes: Sequence[str], name: str = "folder") -> "LabelScheme":
        """A scheme whose classes are exactly the given emotion names (user folder data)."""
        ordered = tuple(sorted({c.lower() for c in classes}))
        return cls(name, ordered, {c: c for c in ordered}, f"the folder names as classes: {', '.join(ordered)}")


def _norm_key(key: MappingKey) -> MappingKey:
    return (key[0].lower(), key[1].lower()) if isinstance(key, tuple) else key.lower()


_CASME2_7 = ("disgust", "fear", "happiness", "others", "repression", "sadness", "surprise")
_CASME2_5 = ("disgust", "happiness", "others", "repression", "surprise")

_MEGC_3: dict[MappingKey, str | None] = {
    # CASME II (the MEGC 2019 composite: disgust and repression are negative; fear, sadness and others are dropped).
    ("casme2", "disgust"): "negative",
    ("casme2", "repression"): "negative",
    ("casme2", "happiness"): "positive",
    ("casme2", "surprise"): "surprise",
    ("casme2", "fear"): None,
    ("casme2", "sadness"): None,
    ("casme2", "others"): None,
    # SAMM: anger, contempt, disgust, sadness and fear are negative; "Other" is dropped.
    ("samm", "anger"): "negative",
    ("samm", "contempt"): "negative",
    ("samm", "disgust"): "negative",
    ("samm", "sadness"): "negative",
    ("samm", "fear"): "negative",
    ("samm", "happiness"): "positive",
    ("samm", "surprise"): "surprise",
    ("samm", "other"): None,
    # SMIC and user data already use the three classes.
    "negative": "negative",
    "positive": "positive",
    "surprise": "surprise",
}

LABEL_SCHEMES: dict[str, LabelScheme] = {
    scheme.name: scheme
    for scheme in (
        LabelScheme(
            "casme2-7",
            _CASME2_7,
            {e: e for e in _CASME2_7},
            "CASME II's seven estimated emotions, as in the LARNet paper",
            emotions_of="casme2",
        ),
        LabelScheme(
            "casme2-5",
            _CASME2_5,
            {**{e: e for e in _CASME2_5}, "fear": None, "sadness": None},
            "CASME II five classes used by the field; fear and sadness (too few clips) dropped",
            emotions_of="casme2",
        ),
        LabelScheme(
            "megc-3",
            ("negative", "positive", "surprise"),
            _MEGC_3,
            "MEGC composite three classes over SMIC, CASME II and SAMM",
        ),
    )
}


def scheme_names() -> list[str]:
    return list(LABEL_SCHEMES)


def get_scheme(name: str | LabelScheme) -> LabelScheme:
    """The scheme called ``name`` (a LabelScheme passes through).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if isinstance(name, LabelScheme):
        return name
    try:
        return LABEL_SCHEMES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown label scheme {name!r}; valid names are {', '.join(LABEL_SCHEMES)}") from None


def apply_scheme(records: Sequence[ClipRecord], scheme: str | LabelScheme) -> list[ClipRecord]:
    """Label records under a scheme, dropping the emotions it drops.

    Returns:
        New records with :attr:`ClipRecord.label` set, in input order, minus the dropped ones (count logged).

    Raises:
        DatasetError: an emotion the scheme has no entry for (names the clip, the emotion and the scheme).
    """
    scheme = get_scheme(scheme)
    kept: list[ClipRecord] = []
    dropped: Counter[str] = Counter()
    for record in records:
        if not scheme.knows(record.dataset, record.emotion):
            raise DatasetError(
                f"clip {record.key}: emotion {record.emotion!r} is not in label scheme {scheme.name} "
                f"(classes {', '.join(scheme.classes)}); choose a scheme that covers it or relabel the clip"
            )
        label = scheme.map_emotion(record.dataset, record.emotion)
        if label is None:
            dropped[f"{record.dataset}:{record.emotion}"] += 1
        else:
            kept.append(record.with_label(label))
    if dropped:
        log.info("scheme %s dropped %d clip(s): %s", scheme.name, sum(dropped.values()),
                 ", ".join(f"{k} x{v}" for k, v in sorted(dropped.items())))
    return kept


def remap_labels(
    labels: Sequence[str], from_scheme: str | LabelScheme, to_scheme: str | LabelScheme
) -> list[str | None]:
    """Translate class names (e.g. predictions) from one scheme to another: 7 -> 5 -> 3.

    A class of ``from_scheme`` is read as an emotion of its ``emotions_of`` dataset and looked up in
    ``to_scheme`` (casme2-7 ``repression`` -> megc-3 ``negative``, ``fear`` -> None). None means "dropped in
    the target scheme"; the metrics leave such samples out.

    Raises:
        ValueError: a label not in ``from_scheme``, or one the target scheme cannot express
            (megc-3 ``negative`` has no single casme2-7 class).
    """
    source, target = get_scheme(from_scheme), get_scheme(to_scheme)
    if source.name == target.name:
        table = {c: c for c in source.classes}
    else:
        table = {}
        for label in source.classes:
            if not target.knows(source.emotions_of or "", label):
                continue
            table[label] = target.map_emotion(source.emotions_of or "", label)
    result: list[str | None] = []
    for label in labels:
        if label not in source.classes:
            raise ValueError(f"label {label!r} is not a class of scheme {source.name} ({', '.join(source.classes)})")
        if label not in table:
            raise ValueError(f"class {label!r} of scheme {source.name} has no counterpart in scheme {target.name}")
        result.append(table[label])
    return result
