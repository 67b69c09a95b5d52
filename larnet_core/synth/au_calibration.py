"""Measuring the action-unit calibration on generated renderings of a real sample photo (see
:mod:`larnet_core.aus.calibration` for what is measured and how it is used). It renders faces with the generator's
action-unit model, so it lives here; the estimators only load its output."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from larnet_core.aus.calibration import NOISE_FLOOR, AU_NUMBERS, Calibration
from larnet_core.aus.features import mesh_features
from larnet_core.aus.flow import point_displacements
from larnet_core.face.pose import fit_pose
from larnet_core.synth.action_units import apply_action_units
from larnet_core.synth.photo_faces import head_layer

__all__ = ["calibrate"]


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
              intensities: Sequence[float] = (1.5, 3.0), mirrored: bool = True, seed: int = 0) -> Calibration:
    """Measure the response matrix and noise on generated renderings of ``photos`` (see the module docstring)."""
    from larnet_core.face.mesh import MeshFaceDetector  # loads MediaPipe: only when calibrating

    detector = MeshFaceDetector(max_faces=1)
    rng = np.random.default_rng(seed)
    columns: list[list[np.ndarray]] = [[] for _ in AU_NUMBERS]
    flow_columns: list[list[np.ndarray]] = [[] for _ in AU_NUMBERS]
    noise: list[np.ndarray] = []
    flow_noise: list[np.ndarray] = []
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
                    for column, number in enumerate(AU_NUMBERS):
                        for intensity in intensities:
                            # The blink is drawn at full closure whatever the intensity: measure it once.
                            strength = 1.0 if number == 43 else float(intensity)
                            shown = apply_action_units(current.image, current.landmarks, {number: strength})
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
