"""Input checks for explanations: images in any common layout, too-small images, and finding the face."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from larnet_core.errors import LarnetError
from larnet_core.face.base import FaceDetection, as_rgb_uint8

__all__ = ["MIN_IMAGE_SIDE", "as_face_image", "face_crop", "read_image"]

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
    from larnet_core.images import read_image_file

    return read_image_file(path, mode=None)


def face_crop(
    image: np.ndarray, face: str = "haar", size: int = 224, margin: float = 0.2, what: str = "the image"
) -> tuple[np.ndarray, FaceDetection | None]:
    """The largest face of a photo, cropped square, or the whole image with ``face="none"``.

    Args:
        image: uint8 photo (grey-scale, RGB or RGBA).
        face: ``haar``, ``mtcnn`` or ``none`` (the image already is a face crop).
        size: side of the square crop in pixels.
        margin: fraction of the face box added on each side.
        what: how to name the image in error messages (e.g. its file name).

    Returns:
        ``(crop, detection)``: RGB uint8 crop and the face found (``None`` with ``face="none"``).

    Raises:
        NoFaceError: the detector found no face.
        LarnetError: the image is not an image or is too small.
    """
    rgb = as_face_image(image, what)
    if face == "none":
        return rgb, None
    from larnet_core.face import build_detector, crop_face, largest_face

    try:
        detector = build_detector(face)
    except ValueError as exc:
        raise LarnetError(f"{exc}, or 'none' to use the whole image") from None
    detection = largest_face(rgb, detector, what)
    crop = crop_face(rgb, detection.box, output_size=(size, size), margin=margin)
    return as_face_image(crop.image, f"the face crop of {what}"), detection
