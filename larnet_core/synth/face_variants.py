"""More faces from one photo: smooth changes of the face's shape, skin and lighting, key points moved alongside.

The action-unit calibration measures each unit's response on generated renderings. Measured on one photo, the
responses fit that one face's lips and chin (a unit that hangs on the lips moves other mesh points on thinner or
fuller lips), and the packages ship only two face photos, one of which is kept for measuring. A
:class:`FaceShape` derives another identity from the tuning photo alone: the lower face made wider or narrower at
the jaw, the chin longer or shorter, the lips fuller or thinner about the lip line, and the skin brighter, darker,
warmer or lit from one side. The shape changes are one smooth forward displacement field applied to the image
(the generator's own :func:`~larnet_core.synth.action_units.remap_with_field`) and to the key points, so the
action units' handles land where they belong on the derived face.

``scripts/au_figures.py --photo grace_hopper --shapes check`` measures the action-unit estimates on
:data:`CHECK_SHAPES`, identities that no calibration renders: the set choices are made on, the held-out photo being
scored only once a choice is made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from larnet_core.synth.action_units import remap_with_field
from larnet_core.synth.landmarks import FaceLandmarks
from larnet_core.synth.photo_faces import HeadLayer

__all__ = ["FaceShape", "TUNING_SHAPES", "CHECK_SHAPES", "derived_layer", "shape_field"]


@dataclass(frozen=True)
class FaceShape:
    """One derived identity. Zero/one everywhere is the photo itself.

    Attributes:
        name: Short name (appended to the layer's).
        jaw_width: Relative widening of the lower face, reaching its full value at the chin (0.1: 10 % wider;
            negative: narrower). Nothing changes above the nose tip.
        chin_length: Eye distances the chin is moved down, the skin between the lower lip and the chin stretched
            (negative: a shorter chin).
        lip_fullness: Relative thickening of the lips about the line through the mouth corners (0.3: the red of
            both lips about 30 % thicker; negative: thinner). Must stay within (-0.6, 0.6) so the image does not
            fold.
        gain: Brightness factor.
        gamma: Contrast curve exponent (below 1 lifts the shadows).
        side_light: Brightness change per eye distance across the face (positive: brighter on the image's right).
        tint: Per-channel (R, G, B) factors.
    """

    name: str
    jaw_width: float = 0.0
    chin_length: float = 0.0
    lip_fullness: float = 0.0
    gain: float = 1.0
    gamma: float = 1.0
    side_light: float = 0.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)


#: The identities :func:`larnet_core.synth.au_calibration.calibrate` can add to the photo itself (``shapes=``; the
#: stored calibration does not: docs/action-units.md, "Fourth look"). Shape only. Why no skin or lighting change:
#: with the same shapes relit (brighter, darker, lit from one side) the per-frame channel's templates scored 0.44 /
#: 0.49 micro / macro F1 on :data:`CHECK_SHAPES` against 0.56 / 0.56 without.
TUNING_SHAPES = (
    FaceShape("wide-jaw-thin-lips", jaw_width=0.12, lip_fullness=-0.3),
    FaceShape("narrow-jaw-full-lips", jaw_width=-0.1, lip_fullness=0.35),
    FaceShape("long-chin-full-lips", chin_length=0.15, lip_fullness=0.25),
    FaceShape("short-chin-thin-lips", jaw_width=0.06, chin_length=-0.1, lip_fullness=-0.15),
)

#: Identities that choices are checked on and the calibration never renders (shapes between and beyond the tuning
#: ones, with the skin and lighting changed too): the held-out photo is not looked at while choosing.
CHECK_SHAPES = (
    FaceShape("wide-long-full", jaw_width=0.08, chin_length=0.1, lip_fullness=0.45, gain=1.08),
    FaceShape("narrow-short-thin", jaw_width=-0.08, chin_length=-0.06, lip_fullness=-0.4, side_light=0.1,
              tint=(0.95, 1.0, 1.05)),
    FaceShape("long-chin-thin-lips", jaw_width=0.03, chin_length=0.2, lip_fullness=-0.2, gamma=0.9),
)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _face_frame(landmarks: FaceLandmarks) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin (the mouth corners' midpoint), ``along`` and ``down`` unit axes, and the eye distance."""
    along = np.array([np.cos(landmarks.roll), np.sin(landmarks.roll)])
    down = np.array([-along[1], along[0]])
    origin = (np.asarray(landmarks.mouth_left) + np.asarray(landmarks.mouth_right)) / 2.0
    return origin, along, down, landmarks.eye_distance


def _displacement(points: np.ndarray, landmarks: FaceLandmarks, shape: FaceShape) -> np.ndarray:
    """Forward displacement (pixels) of ``points`` (``(..., 2)`` image pixels) under ``shape``."""
    origin, along, down, iod = _face_frame(landmarks)
    rel = (points - origin) / iod
    u, v = rel @ along, rel @ down
    nose = float((np.asarray(landmarks.nose_tip) - origin) @ down / iod)  # negative: above the mouth
    lower = float((np.asarray(landmarks.lower_lip) - origin) @ down / iod)
    # Jaw: a horizontal stretch growing from the nose tip to the chin (about 0.7 below the mouth), fading far out.
    du = shape.jaw_width * u * _smoothstep((v - nose) / (0.75 - nose)) * np.exp(-0.5 * (u / 1.4) ** 2)
    # Chin: the skin below the lower lip stretched, everything beneath moved down by chin_length.
    dv = shape.chin_length * _smoothstep((v - lower) / 0.5) * np.exp(-0.5 * (u / 1.6) ** 2)
    # Lips: a vertical stretch about the lip line, confined to the mouth.
    dv = dv + shape.lip_fullness * v * np.exp(-0.5 * ((u / 0.45) ** 2 + (v / 0.28) ** 2))
    return (du[..., None] * along + dv[..., None] * down) * iod


def shape_field(image_shape: tuple[int, int], landmarks: FaceLandmarks, shape: FaceShape) -> np.ndarray:
    """``(H, W, 2)`` float32 forward displacement field of ``shape`` on an image of ``image_shape``."""
    h, w = int(image_shape[0]), int(image_shape[1])
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), axis=-1)
    return _displacement(grid, landmarks, shape).astype(np.float32)


def _moved_landmarks(landmarks: FaceLandmarks, shape: FaceShape) -> FaceLandmarks:
    """Where each key point lands: ``q`` with ``q - d(q) = p`` (the image's output pixel ``q`` reads the input at
    ``q - d(q)``), solved by fixed-point steps (the field is smooth and small)."""
    points = landmarks.as_array()
    moved = points.copy()
    for _ in range(20):
        moved = points + _displacement(moved, landmarks, shape)
    return FaceLandmarks.from_array(moved)


def _relit(image: np.ndarray, landmarks: FaceLandmarks, shape: FaceShape) -> np.ndarray:
    values = image.astype(np.float32) / 255.0
    values = np.power(values, np.float32(shape.gamma)) * np.float32(shape.gain)
    if shape.side_light:
        origin, along, _, iod = _face_frame(landmarks)
        xs = np.arange(image.shape[1], dtype=np.float32)[None, :]
        ys = np.arange(image.shape[0], dtype=np.float32)[:, None]
        across = ((xs - origin[0]) * along[0] + (ys - origin[1]) * along[1]) / iod
        values = values * np.clip(1.0 + shape.side_light * across, 0.4, 1.6)[..., None]
    values = values * np.asarray(shape.tint, dtype=np.float32)
    return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def derived_layer(layer: HeadLayer, shape: FaceShape) -> HeadLayer:
    """``layer``'s photo as the identity ``shape`` describes, with its key points and face box moved alongside.

    Raises:
        ValueError: a lip fullness that would fold the image.
    """
    if not -0.6 < shape.lip_fullness < 0.6:
        raise ValueError(f"lip_fullness {shape.lip_fullness} folds the image; keep it within (-0.6, 0.6)")
    field = shape_field(layer.image.shape[:2], layer.landmarks, shape)
    image = _relit(remap_with_field(layer.image, field), layer.landmarks, shape)
    alpha = remap_with_field(np.asarray(layer.alpha, np.float32), field)
    marks = _moved_landmarks(layer.landmarks, shape)
    x0, y0, x1, y1 = layer.face_box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], dtype=np.float64)
    moved = corners + _displacement(corners, layer.landmarks, shape)
    box = (float(moved[:, 0].min()), float(moved[:, 1].min()), float(moved[:, 0].max()), float(moved[:, 1].max()))
    image.setflags(write=False)
    alpha.setflags(write=False)
    return replace(layer, name=f"{layer.name}-{shape.name}", image=image, alpha=alpha, landmarks=marks,
                   face_box=box)
