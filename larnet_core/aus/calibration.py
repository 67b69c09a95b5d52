"""How each action unit changes the mesh measures, measured on generated faces (never on a dataset being scored).

Each action unit is rendered alone on a real sample photo (:func:`larnet_core.synth.apply_action_units`, the same
displacement model the generated footage uses) at a few intensities and face sizes, plain and mirrored; the face
mesh of each rendering is pose-normalised and measured (:func:`~larnet_core.aus.features.mesh_features`), and the
change from the neutral photo divided by the intensity is the unit's column of the response matrix. The measures'
noise is their spread over the neutral photo shifted, scaled and rotated by sub-pixel amounts (what the mesh does
between frames of a still face). :class:`~larnet_core.aus.estimate.AuEstimator` unmixes a face's measures with
these (non-negative least squares), so a brow raise is not also read as a lid raise.

``scripts/calibrate_aus.py`` rebuilds ``larnet_core/aus/data/calibration.json`` (photo: ``grace_hopper``; the
other sample photo, ``astronaut``, is kept for measuring accuracy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from larnet_core.aus.features import FEATURE_NAMES, mesh_features
from larnet_core.aus.names import AU_COLUMNS, AU_NUMBERS

__all__ = ["AU_NUMBERS", "AU_COLUMNS", "CALIBRATION_PATH", "FLOW_CALIBRATION_PATH", "Calibration", "calibrate",
           "load_calibration", "load_flow_calibration"]


CALIBRATION_PATH = Path(__file__).with_name("data") / "calibration.json"
FLOW_CALIBRATION_PATH = Path(__file__).with_name("data") / "flow_calibration.npz"
# Least noise a measure is credited with (a closed mouth's lip gap is exactly 0 on every frame).
_NOISE_FLOOR = 0.004


@dataclass(frozen=True)
class Calibration:
    """Response of each mesh measure to one unit of each action unit, and the measures' noise.

    Attributes:
        response: ``(len(FEATURE_NAMES), len(AU_NUMBERS))`` change of each measure per unit of intensity.
        noise: ``(len(FEATURE_NAMES),)`` spread of each measure on a still neutral face (eye distances).
        photos: the photos it was measured on.
        flow_response: ``(936, len(AU_NUMBERS))``: the same for the skin displacement at each mesh point
            (:func:`larnet_core.aus.flow.point_displacements`, x and y interleaved).
        flow_noise: ``(936,)`` its spread on a still neutral face.
    """

    response: np.ndarray
    noise: np.ndarray
    photos: tuple[str, ...]
    flow_response: np.ndarray | None = None
    flow_noise: np.ndarray | None = None

    def save(self) -> None:
        """Write both channels where :func:`load_calibration` and :func:`load_flow_calibration` read them."""
        CALIBRATION_PATH.parent.mkdir(parents=True, exist_ok=True)
        CALIBRATION_PATH.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        if self.flow_response is not None and self.flow_noise is not None:
            np.savez_compressed(FLOW_CALIBRATION_PATH, response=self.flow_response.astype(np.float32),
                                noise=self.flow_noise.astype(np.float32), aus=np.array(AU_COLUMNS))

    def to_json(self) -> dict:
        return {"features": list(FEATURE_NAMES), "aus": list(AU_COLUMNS), "photos": list(self.photos),
                "response": np.round(self.response, 6).tolist(), "noise": np.round(self.noise, 6).tolist()}


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The stored calibration (``data/calibration.json`` beside this module by default).

    Raises:
        ValueError: the file was made for other measures or action units than this code computes.
    """
    document = json.loads(Path(path or CALIBRATION_PATH).read_text(encoding="utf-8"))
    if tuple(document["features"]) != FEATURE_NAMES or tuple(document["aus"]) != AU_COLUMNS:
        raise ValueError(f"{path or CALIBRATION_PATH} was made for other measures; rebuild it with "
                         "scripts/calibrate_aus.py")
    return Calibration(np.asarray(document["response"], dtype=np.float64),
                       np.asarray(document["noise"], dtype=np.float64), tuple(document["photos"]))


def load_flow_calibration(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The flow channel's ``(response, noise)`` (``data/flow_calibration.npz`` beside this module by default)."""
    with np.load(Path(path or FLOW_CALIBRATION_PATH)) as stored:
        if tuple(str(a) for a in stored["aus"]) != AU_COLUMNS:
            raise ValueError(f"{path or FLOW_CALIBRATION_PATH} was made for other action units; rebuild it with "
                             "scripts/calibrate_aus.py")
        return stored["response"].astype(np.float64), np.maximum(stored["noise"].astype(np.float64), _NOISE_FLOOR)


def _mesh(detector, image: np.ndarray) -> np.ndarray | None:
    faces = detector.detect(image)
    return None if not faces or faces[0].mesh3d is None else faces[0].mesh3d


def _measure(mesh: np.ndarray) -> np.ndarray:
    from larnet_core.face.pose import fit_pose

    return mesh_features(fit_pose(mesh).normalise(mesh))


def _jittered(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-1.5, 1.5)), float(rng.uniform(0.98, 1.02)))
    matrix[:, 2] += rng.uniform(-0.7, 0.7, 2)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def calibrate(photos: Sequence[str] = ("grace_hopper",), face_px: Sequence[int] = (150, 220),
              intensities: Sequence[float] = (1.5, 3.0), mirrored: bool = True, seed: int = 0) -> Calibration:
    """Measure the response matrix and noise on generated renderings of ``photos`` (see the module docstring)."""
    from larnet_core.face.mesh import MeshFaceDetector
    from larnet_core.synth.action_units import apply_action_units
    from larnet_core.synth.photo_faces import head_layer

    from larnet_core.aus.flow import point_displacements

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
    return Calibration(response, np.maximum(spread, _NOISE_FLOOR), tuple(photos), flow_response,
                       np.maximum(flow_spread, _NOISE_FLOOR))
