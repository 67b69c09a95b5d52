"""Action units (FACS) as smooth displacement fields that animate any face image.

Each action unit is a handful of *handles*: a Gaussian bump of displacement centred at a point defined
relative to the landmarks, in the face's own frame (along and across the eye line) and in units of the
eye distance, so the same table animates a 280x340 synthetic face and a 512x512 photograph alike. The fields
of all active units are summed and applied with one ``cv2.remap`` (backward mapping: each output pixel reads
the input at ``p - d(p)``), so skin texture moves with the muscles and optical flow sees the motion.

Intensity 1.0 is a micro-expression at full strength: a few pixels at 280x340 (peak displacement about 4-5 %
of the eye distance). Macro-expressions use 2-3. Much beyond 3 the fields start to fold the image.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Union

import cv2
import numpy as np

from larnet_core.synth.landmarks import FaceLandmarks

__all__ = [
    "AU_NAMES",
    "AuKey",
    "parse_au_key",
    "format_au_string",
    "action_unit_field",
    "apply_action_units",
    "remap_with_field",
    "unit_anchors",
]

AuKey = Union[int, str]

AU_NAMES: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
    43: "eyes closed",
    45: "blink",
}


@dataclass(frozen=True)
class _Handle:
    """One Gaussian bump of displacement.

    ``anchor`` names a point (see ``_anchor``); ``side`` is "pair" (mirrored onto both eyes/brows/mouth
    corners) or "centre". Offsets and sigmas are in eye distances along ``out`` (away from the midline, for
    pairs; along the eye line for centre handles) and ``down`` (across the eye line). ``sigma_up`` and
    ``sigma_down`` let a bump fall off faster below than above its centre (how an eyelid closes: the lid skin
    slides down and the eye opening is squeezed out of sight without folding the image).
    """

    anchor: str
    side: str
    off_out: float
    off_down: float
    sigma_out: float
    sigma_up: float
    sigma_down: float
    move_out: float
    move_down: float


def _pair(anchor, off_out, off_down, sigma_out, sigma_v, move_out, move_down, sigma_down=None) -> _Handle:
    return _Handle(anchor, "pair", off_out, off_down, sigma_out, sigma_v, sigma_down or sigma_v, move_out, move_down)


def _centre(anchor, off_down, sigma_out, sigma_v, move_down) -> _Handle:
    return _Handle(anchor, "centre", 0.0, off_down, sigma_out, sigma_v, sigma_v, 0.0, move_down)


_BLINK = (
    _pair("eye", 0.0, 0.045, 0.22, 0.20, 0.0, 0.13, sigma_down=0.025),
)

# Displacements are in eye distances at intensity 1 (negative move_down = upwards). Values follow the FACS
# descriptions of each unit's appearance change; see docs/synthetic-data.md.
_HANDLES: dict[int, tuple[_Handle, ...]] = {
    1: (_pair("brow_inner", 0.0, -0.02, 0.13, 0.16, -0.005, -0.055), _centre("glabella", -0.12, 0.20, 0.15, -0.025)),
    2: (_pair("brow_outer", 0.0, 0.0, 0.14, 0.16, 0.0, -0.055), _pair("brow_mid", 0.0, 0.0, 0.12, 0.14, 0.0, -0.025)),
    4: (_pair("brow_inner", 0.0, 0.0, 0.13, 0.14, -0.03, 0.04), _pair("brow_mid", 0.0, 0.0, 0.14, 0.12, 0.0, 0.02)),
    5: (_pair("eye", 0.0, -0.12, 0.17, 0.08, 0.0, -0.035, sigma_down=0.06),),
    6: (
        _pair("eye", 0.05, 0.38, 0.20, 0.16, 0.0, -0.045),
        _pair("eye", 0.02, 0.10, 0.16, 0.06, 0.0, -0.02),
        _pair("eye", 0.30, 0.0, 0.08, 0.10, -0.015, 0.0),
    ),
    7: (_pair("eye", 0.0, 0.09, 0.17, 0.05, 0.0, -0.035), _pair("eye", 0.0, -0.09, 0.17, 0.05, 0.0, 0.012)),
    9: (
        _pair("nose_tip", 0.14, -0.32, 0.08, 0.12, 0.0, -0.04),
        _pair("nose_tip", 0.17, 0.0, 0.07, 0.07, 0.0, -0.03),
        _centre("glabella", 0.10, 0.12, 0.10, 0.02),
        _centre("upper_lip", 0.0, 0.20, 0.07, -0.02),
    ),
    10: (
        _centre("upper_lip", 0.0, 0.22, 0.07, -0.045),
        _pair("mouth", -0.10, -0.03, 0.10, 0.07, 0.0, -0.02),
        _pair("nose_tip", 0.17, 0.02, 0.07, 0.07, 0.0, -0.015),
    ),
    12: (_pair("mouth", 0.0, 0.0, 0.12, 0.11, 0.025, -0.04), _pair("mouth", 0.12, -0.22, 0.12, 0.12, 0.01, -0.02)),
    14: (_pair("mouth", 0.02, 0.0, 0.09, 0.09, -0.03, 0.0),),
    15: (_pair("mouth", 0.0, 0.02, 0.11, 0.10, 0.0, 0.045),),
    17: (_centre("chin", 0.0, 0.25, 0.16, -0.045), _centre("lower_lip", 0.0, 0.20, 0.07, -0.025)),
    20: (_pair("mouth", 0.0, 0.0, 0.11, 0.10, 0.045, 0.01),),
    23: (
        _pair("mouth", 0.0, 0.0, 0.09, 0.08, -0.02, 0.0),
        _centre("upper_lip", 0.0, 0.18, 0.06, 0.012),
        _centre("lower_lip", 0.0, 0.18, 0.06, -0.012),
    ),
    24: (_centre("upper_lip", 0.0, 0.20, 0.06, 0.02), _centre("lower_lip", 0.0, 0.20, 0.06, -0.02)),
    25: (_centre("lower_lip", 0.0, 0.22, 0.08, 0.04), _centre("upper_lip", 0.0, 0.20, 0.06, -0.01)),
    26: (_centre("lower_lip", 0.20, 0.35, 0.30, 0.06),),
    43: _BLINK,
    45: _BLINK,
}



def unit_anchors(number: int) -> set[str]:
    """The key points a unit's displacement handles hang on (``{"mouth", "lower_lip"}``, ...)."""
    return {handle.anchor for handle in _HANDLES[int(number)]}


_KEY_RE = re.compile(r"^\s*(?:AU)?\s*([LRB]?)\s*(\d+)\s*$", re.IGNORECASE)


def parse_au_key(key: AuKey) -> tuple[int, str | None]:
    """Split an action-unit key into its number and side.

    ``12`` and ``"12"`` -> ``(12, None)``; ``"L12"`` -> ``(12, "L")`` (the subject's left, on the image's
    right); ``"R12"`` -> ``(12, "R")``.

    Raises:
        ValueError: for keys that are not of that form or name an action unit without a displacement model.
    """
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        number, side = int(key), None
    else:
        match = _KEY_RE.match(str(key))
        if not match:
            raise ValueError(f"action unit {key!r} is not of the form 12, 'L12' or 'R12'")
        side = match.group(1).upper() or None
        side = None if side == "B" else side
        number = int(match.group(2))
    if number not in _HANDLES:
        known = ", ".join(str(n) for n in sorted(_HANDLES))
        raise ValueError(f"action unit {number} has no displacement model; known units: {known}")
    return number, side


def format_au_string(aus: Mapping[AuKey, float] | list[AuKey]) -> str:
    """Write action units the way the CASME II coding sheet does: ``"6+12"``, ``"4+L10"``, ``"R12"``.

    Units are ordered by number; the blink (45) is left out, as the datasets do not code blinks.
    """
    parsed = sorted((parse_au_key(k) for k in aus), key=lambda ns: (ns[0], ns[1] or ""))
    return "+".join(f"{side or ''}{num}" for num, side in parsed if num not in (43, 45))


def _anchor(lm: FaceLandmarks, name: str, right: bool, down: np.ndarray, iod: float) -> np.ndarray:
    """Image position of a named anchor; ``right`` picks the image-right member of a pair."""
    pick = (lambda a, b: np.asarray(b if right else a, dtype=np.float64))
    if name == "eye":
        return pick(lm.left_eye, lm.right_eye)
    if name == "brow_inner":
        return pick(lm.left_brow_inner, lm.right_brow_inner)
    if name == "brow_outer":
        return pick(lm.left_brow_outer, lm.right_brow_outer)
    if name == "brow_mid":
        return (pick(lm.left_brow_inner, lm.right_brow_inner) + pick(lm.left_brow_outer, lm.right_brow_outer)) / 2
    if name == "mouth":
        return pick(lm.mouth_left, lm.mouth_right)
    if name == "nose_tip":
        return np.asarray(lm.nose_tip, dtype=np.float64)
    if name == "glabella":
        return (np.asarray(lm.left_brow_inner) + np.asarray(lm.right_brow_inner)) / 2.0
    if name == "upper_lip":
        return np.asarray(lm.upper_lip, dtype=np.float64)
    if name == "lower_lip":
        return np.asarray(lm.lower_lip, dtype=np.float64)
    if name == "chin":
        return np.asarray(lm.lower_lip, dtype=np.float64) + down * 0.42 * iod
    raise KeyError(name)


def _add_handle(field: np.ndarray, centre: np.ndarray, along: np.ndarray, down: np.ndarray, handle: _Handle,
                move: np.ndarray, iod: float) -> None:
    """Accumulate one Gaussian bump into ``field`` (H, W, 2), touching only the pixels within 3 sigma."""
    h, w = field.shape[:2]
    reach = 3.0 * max(handle.sigma_out, handle.sigma_up, handle.sigma_down) * iod
    x0, x1 = max(0, int(math.floor(centre[0] - reach))), min(w, int(math.ceil(centre[0] + reach)) + 1)
    y0, y1 = max(0, int(math.floor(centre[1] - reach))), min(h, int(math.ceil(centre[1] + reach)) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float32) - np.float32(centre[0])
    ys = np.arange(y0, y1, dtype=np.float32) - np.float32(centre[1])
    dx, dy = xs[None, :], ys[:, None]
    u = dx * np.float32(along[0]) + dy * np.float32(along[1])
    v = dx * np.float32(down[0]) + dy * np.float32(down[1])
    sigma_v = np.where(v < 0, np.float32(handle.sigma_up * iod), np.float32(handle.sigma_down * iod))
    weight = np.exp(-0.5 * ((u / np.float32(handle.sigma_out * iod)) ** 2 + (v / sigma_v) ** 2))
    field[y0:y1, x0:x1, 0] += weight * np.float32(move[0])
    field[y0:y1, x0:x1, 1] += weight * np.float32(move[1])


def action_unit_field(
    shape: tuple[int, int],
    landmarks: FaceLandmarks,
    aus: Mapping[AuKey, float],
    scale: float = 1.0,
) -> np.ndarray:
    """Forward displacement field (pixels) of a set of action units.

    Args:
        shape: ``(height, width)`` of the image the landmarks belong to.
        landmarks: Key points of the face.
        aus: Intensity per action unit, e.g. ``{6: 1.0, 12: 1.0}`` or ``{"L12": 0.8}``; 1.0 is a
            micro-expression at full strength. A unilateral unit (``L``/``R``) moves only that side; the
            midline handles of a unilateral unit move at half strength.
        scale: Multiplies every intensity (the blink, 43/45, excepted: 1.0 always closes the eye).

    Returns:
        Float32 array ``(height, width, 2)``: where each pixel's content moves, ``[..., 0]`` = x.
    """
    h, w = int(shape[0]), int(shape[1])
    field = np.zeros((h, w, 2), dtype=np.float32)
    iod = landmarks.eye_distance
    if iod <= 0:
        raise ValueError("landmarks have coincident eyes; cannot size the deformation")
    along = np.array([math.cos(landmarks.roll), math.sin(landmarks.roll)])
    down = np.array([-along[1], along[0]])
    for key, intensity in aus.items():
        number, side = parse_au_key(key)
        strength = float(intensity) * (1.0 if number in (43, 45) else float(scale))
        if strength == 0.0:
            continue
        for handle in _HANDLES[number]:
            if handle.side == "centre":
                centre = _anchor(landmarks, handle.anchor, False, down, iod) + down * handle.off_down * iod
                move = down * handle.move_down * iod * strength * (0.5 if side else 1.0)
                _add_handle(field, centre, along, down, handle, move, iod)
                continue
            # Subject's left ("L") is the image's right.
            for right in (False, True):
                if (side == "L" and not right) or (side == "R" and right):
                    continue
                out = along if right else -along
                centre = (_anchor(landmarks, handle.anchor, right, down, iod)
                          + (out * handle.off_out + down * handle.off_down) * iod)
                move = (out * handle.move_out + down * handle.move_down) * iod * strength
                _add_handle(field, centre, out, down, handle, move, iod)
    return field


def remap_with_field(image: np.ndarray, field: np.ndarray, inverse_affine: np.ndarray | None = None,
                     interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp ``image`` by a forward displacement field, optionally composed with a global affine motion.

    The output pixel ``p`` reads the input at ``A^-1 (p - d(p))``: the face deforms in the output frame and
    the whole head moves by ``A`` (used for sub-pixel head jitter, so a frame is interpolated only once).
    """
    h, w = field.shape[:2]
    grid_x = np.arange(w, dtype=np.float32)[None, :]
    grid_y = np.arange(h, dtype=np.float32)[:, None]
    px = grid_x - field[..., 0]
    py = grid_y - field[..., 1]
    if inverse_affine is None:
        map_x, map_y = px, py
    else:
        a = np.asarray(inverse_affine, dtype=np.float32).reshape(2, 3)
        map_x = a[0, 0] * px + a[0, 1] * py + a[0, 2]
        map_y = a[1, 0] * px + a[1, 1] * py + a[1, 2]
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REFLECT)


def apply_action_units(
    image: np.ndarray,
    landmarks: FaceLandmarks,
    aus: Mapping[AuKey, float],
    scale: float = 1.0,
) -> np.ndarray:
    """Deform a face image as if the given action units were active.

    Works on any face picture (a photograph, a synthetic face), grey or colour, uint8 or float: the
    landmarks place and size the deformation. With all intensities 0 the image comes back unchanged.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array.
        landmarks: Key points of the face in ``image``'s pixel coordinates (see ``landmarks_from_box``).
        aus: Intensity per action unit (``{12: 1.0}``, ``{"L12": 0.7, 6: 0.5}``); 1.0 = full micro-expression.
        scale: Multiplies every intensity except the blink's.

    Returns:
        The deformed image, same shape and dtype.

    Example:
        >>> import numpy as np
        >>> from larnet_core.synth import apply_action_units, landmarks_from_box
        >>> face = np.zeros((120, 100, 3), np.uint8)
        >>> apply_action_units(face, landmarks_from_box((0, 0, 100, 120)), {12: 1.0}).shape
        (120, 100, 3)
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {image.shape}")
    field = action_unit_field(image.shape[:2], landmarks, aus, scale=scale)
    if not np.any(field):
        return image.copy()
    return remap_with_field(image, field)
