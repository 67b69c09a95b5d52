"""Reading dataset images: one function, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from larnet_core.errors import DatasetError
# Resizing is part of making model inputs (flow images); the dataset readers use the same function.
from larnet_core.face.flow import resize_to

__all__ = ["read_rgb", "resize_to"]


def read_rgb(path: Path | str) -> np.ndarray:
    """Read an image file as an RGB uint8 array of shape HxWx3.

    Bytes are read with numpy and decoded by OpenCV, so paths with non-ASCII characters work everywhere.

    Raises:
        DatasetError: the file is missing or is not a decodable image; the message names it.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise DatasetError(f"cannot read image {path}: {exc.strerror or exc}; check that the file exists") from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DatasetError(f"cannot decode image {path}: the file is empty or not an image; replace or remove it")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
