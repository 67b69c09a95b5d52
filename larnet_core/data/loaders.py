"""One front door to every dataset loader: :func:`load_dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from larnet_core.data.casme2 import load_casme2
from larnet_core.data.casme2_long import load_casme2_long
from larnet_core.data.casme3 import load_casme3
from larnet_core.data.casme3_long import load_casme3_long
from larnet_core.data.folder import load_folder
from larnet_core.data.records import ClipRecord, LongVideoRecord
from larnet_core.data.samm import load_samm
from larnet_core.data.samm_long import load_samm_long
from larnet_core.data.smic import load_smic

__all__ = ["load_dataset", "DATASET_LOADERS", "dataset_names"]

DATASET_LOADERS: dict[str, Callable[..., list[Any]]] = {
    "casme2": load_casme2,
    "samm": load_samm,
    "smic": load_smic,
    "casme3": load_casme3,
    "casme2-long": load_casme2_long,
    "samm-lv": load_samm_long,
    "casme3-long": load_casme3_long,
    "folder": load_folder,
}


def dataset_names() -> list[str]:
    """Names :func:`load_dataset` accepts."""
    return list(DATASET_LOADERS)


def load_dataset(name: str, root: Path | str, **kwargs: Any) -> list[ClipRecord] | list[LongVideoRecord]:
    """Load a dataset by name.

    Args:
        name: ``casme2``, ``samm``, ``smic``, ``casme3``, ``casme2-long``, ``samm-lv``, ``casme3-long`` or
            ``folder``.
        root: the dataset folder.
        **kwargs: options of that loader (``variant`` for casme2, ``modality`` for smic, ``spreadsheet``, ...).

    Returns:
        Clip records, or long-video records for ``casme2-long``, ``samm-lv`` and ``casme3-long``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
        DatasetError: the data itself is missing or malformed.
    """
    key = name.strip().lower()
    if key not in DATASET_LOADERS:
        raise ValueError(f"unknown dataset {name!r}; valid names are {', '.join(DATASET_LOADERS)}")
    return DATASET_LOADERS[key](Path(root), **kwargs)
