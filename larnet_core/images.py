"""Decoding untrusted images: the one function the CLI, the dashboard pages and frame archives use.

A PNG of 48 KB can declare 20000 x 20000 pixels and cost gigabytes once decoded. So the header is read first
and the pixel count checked against the limit before a single pixel is decoded; only common photo formats are
opened (Pillow would otherwise also try EPS, which runs Ghostscript, and dozens of rare formats); and every
decoder failure, whatever its type, becomes one :class:`~larnet_core.errors.ImageError` (or the caller's
error type) that names the image and says what to do.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from larnet_core.errors import ImageError, LarnetError
from larnet_core.paths import read_input

__all__ = ["IMAGE_FORMATS", "MAX_IMAGE_PIXELS", "MAX_IMAGE_FILE_BYTES", "decode_image", "read_image_file"]

#: Pillow formats that are opened at all.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
#: Pixels (width x height) an image may declare: the same bound as one video frame (8K UHD).
MAX_IMAGE_PIXELS = 7680 * 4320
#: Size of an image file read from disk.
MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024


def decode_image(data: bytes, what: str, *, max_pixels: int = MAX_IMAGE_PIXELS, mode: str | None = "RGB",
                 error: type[LarnetError] = ImageError) -> np.ndarray:
    """Decode encoded image bytes to a uint8 array, checking the declared size before decoding.

    Args:
        data: The encoded image (PNG, JPEG, BMP, TIFF, WebP or GIF; the first frame of an animation).
        what: How to name the image in messages (e.g. its file name).
        max_pixels: Largest width x height accepted.
        mode: ``"RGB"`` gives ``H x W x 3``; None keeps grey ``H x W``, RGB and RGBA as stored and converts other
            modes to RGB (or RGBA when they carry transparency).
        error: The error type raised.

    Raises:
        error: not an image of an accepted format, damaged, or more than ``max_pixels`` pixels.
    """
    if not data:
        raise error(f"{what} is empty (0 bytes); upload or pick an image file")
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            width, height = image.size
            if width < 1 or height < 1:
                raise error(f"{what} declares a size of {width}x{height} pixels; the file is damaged")
            if width * height > max_pixels:
                raise error(f"{what} declares {width}x{height} pixels, above the {max_pixels:,}-pixel limit; "
                            "downscale it before using it here")
            image = _upright(image)
            image = _to_8_bit(image)
            wanted = mode or _kept_mode(image)
            converted = image if image.mode == wanted else image.convert(wanted)
            return np.asarray(converted, dtype=np.uint8).copy()
    except LarnetError:
        raise
    except Image.DecompressionBombError:  # Pillow's own bound, above ours unless the caller raised max_pixels
        raise error(f"{what} declares more pixels than the {max_pixels:,}-pixel limit (a decompression bomb?); "
                    "downscale it before using it here") from None
    except UnidentifiedImageError:
        raise error(f"{what} is not a readable image (not one of the accepted formats: {', '.join(IMAGE_FORMATS)}); "
                    "use a PNG or JPEG file") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise many types (OSError, SyntaxError, struct.error ...)
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise error(f"{what} is not a readable image ({detail}); use a PNG or JPEG file "
                    f"({', '.join(IMAGE_FORMATS)} are accepted)") from None


def _upright(image):
    """The image turned as its EXIF orientation says (a phone photo taken sideways is stored sideways)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - damaged EXIF is not worth refusing the picture for
        return image
    return ImageOps.exif_transpose(image) if orientation not in (None, 1) else image


def _to_8_bit(image):
    """Grey images of more than 8 bits scaled to 0-255 (Pillow's own conversion clips them, so a 16-bit frame
    would come out white). 16-bit integers are divided by 257; floats in [0, 1] multiplied by 255; other ranges
    are stretched from their minimum to their maximum."""
    if image.mode.startswith("I;16"):
        values = np.asarray(image).astype(np.float32) / 257.0
    elif image.mode in ("I", "F"):
        values = np.asarray(image).astype(np.float64)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if not (np.isfinite(low) and np.isfinite(high)):
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
            low, high = float(values.min()), float(values.max())
        if image.mode == "I" and low >= 0 and high <= 65535:
            values = values / 257.0
        elif image.mode == "F" and low >= 0 and high <= 1.0:
            values = values * 255.0
        elif high > low:
            values = (values - low) * (255.0 / (high - low))
        else:
            values = np.zeros_like(values)
    else:
        return image
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _kept_mode(image) -> str:
    if image.mode in ("L", "RGB", "RGBA"):
        return image.mode
    return "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"


def read_image_file(path: str | Path, what: str | None = None, *, max_pixels: int = MAX_IMAGE_PIXELS,
                    mode: str | None = "RGB", max_bytes: int = MAX_IMAGE_FILE_BYTES,
                    error: type[LarnetError] = ImageError) -> np.ndarray:
    """Read and decode an image file with :func:`decode_image`'s checks, after checking the file's size.

    Raises:
        error: missing, too large, or not a decodable image within the limits.
    """
    what = what or str(path)
    data = read_input(path, f"image {what}", max_bytes=max_bytes, error=error)
    return decode_image(data, what, max_pixels=max_pixels, mode=mode, error=error)
