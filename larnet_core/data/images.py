"""Reading dataset images: one function, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from larnet_core.errors import DatasetError

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


def resize_to(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (an int for a square, or (height, width)); area averaging when shrinking."""
    height, width = (size, size) if isinstance(size, int) else size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height < image.shape[0] or width < image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
