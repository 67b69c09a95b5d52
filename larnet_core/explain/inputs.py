"""Input checks for explanations: images in any common layout and too-small images. Finding and aligning the face
is :func:`larnet_core.face.inputs.photo_model_input`, the road every model input takes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from larnet_core.errors import LarnetError
from larnet_core.face.base import as_rgb_uint8
from larnet_core.images import read_image_file

__all__ = ["MIN_IMAGE_SIDE", "as_face_image", "read_image"]

#: Smallest side accepted: the networks downsample by 16 or more, so less leaves nothing to look at.
MIN_IMAGE_SIDE = 16


def as_face_image(image: np.ndarray, what: str = "the image") -> np.ndarray:
    """Check a face crop and return it as ``H x W x 3`` RGB uint8 (grey-scale and RGBA are converted).

    Raises:
        LarnetError: not a uint8 image array, or smaller than :data:`MIN_IMAGE_SIDE` pixels on a side.
    """
    rgb = as_rgb_uint8(image, what)
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise LarnetError(
            f"{what} is only {width}x{height} pixels, too small to explain; use a face crop of at least "
            f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels (faces of 100 px or more give readable maps)"
        )
    return rgb


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as a uint8 array: grey ``H x W``, RGB or RGBA as stored (other modes become RGB).

    The declared size is checked against the pixel limit before decoding (:mod:`larnet_core.images`).

    Raises:
        LarnetError: the file is missing, too large, or is not a readable image.
    """
    return read_image_file(path, mode=None)
