"""Real face photos that installed packages already ship, for tests and the dashboard's sample picker."""

from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["sample_face_photos"]

log = logging.getLogger(__name__)


def sample_face_photos() -> dict[str, np.ndarray]:
    """Load the face photos shipped with matplotlib and scikit-image; nothing is downloaded.

    Returns:
        ``{"grace_hopper": (600, 512, 3), "astronaut": (512, 512, 3)}`` uint8 RGB arrays (fresh copies).
        A photo whose package is missing is left out: ``grace_hopper`` comes with matplotlib (a runtime
        dependency), ``astronaut`` with scikit-image (a test dependency only).
    """
    return {name: photo.copy() for name, photo in _load_all().items()}


@functools.lru_cache(maxsize=1)
def _load_all() -> dict[str, np.ndarray]:
    photos = {}
    for name, loader in (("grace_hopper", _grace_hopper), ("astronaut", _astronaut)):
        try:
            photo = loader()
        except (ImportError, OSError, ValueError) as exc:  # package or file absent: offer what is there
            log.info("sample face photo %s is not available: %s", name, exc)
            continue
        photo.flags.writeable = False
        photos[name] = photo
    return photos


def _grace_hopper() -> np.ndarray:
    path = _matplotlib_sample("grace_hopper.jpg")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _matplotlib_sample(file_name: str) -> Path:
    import matplotlib  # lazy: matplotlib only to find the sample photos it ships

    try:
        from matplotlib import cbook  # lazy: matplotlib only to find the sample photos it ships

        return Path(cbook.get_sample_data(file_name, asfileobj=False))
    except (AttributeError, TypeError, ValueError, OSError):
        # get_sample_data's signature has changed over releases; the file itself lives in mpl-data.
        path = Path(matplotlib.get_data_path()) / "sample_data" / file_name
        if not path.is_file():
            raise OSError(f"{file_name} is not in matplotlib's sample data at {path.parent}")
        return path


def _astronaut() -> np.ndarray:
    data = importlib.import_module("skimage.data")
    return np.ascontiguousarray(data.astronaut(), dtype=np.uint8)
