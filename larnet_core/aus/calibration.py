"""How each action unit changes the mesh measures, measured on generated faces (never on a dataset being scored).

Each action unit is rendered alone on a real sample photo (:func:`larnet_core.synth.apply_action_units`, the same
displacement model the generated footage uses) at a few intensities and face sizes, plain and mirrored, the units
that hang on the mouth also with its key points moved up and down (where a guessed lip point may put them); the face
mesh of each rendering is pose-normalised and measured (:func:`~larnet_core.aus.features.mesh_features`), and the
change from the neutral photo divided by the intensity is the unit's column of the response matrix. The measures'
noise is their spread over the neutral photo shifted, scaled and rotated by sub-pixel amounts (what the mesh does
between frames of a still face). :class:`~larnet_core.aus.estimate.AuEstimator` unmixes a face's measures with
these (non-negative least squares), so a brow raise is not also read as a lid raise.

The measuring itself is :func:`larnet_core.synth.au_calibration.calibrate` (it renders faces, so it lives with
the generator); ``scripts/calibrate_aus.py`` rebuilds ``larnet_core/aus/data/calibration.json`` (photo: ``grace_hopper``; the
other sample photo, ``astronaut``, is kept for measuring accuracy). A per-frame calibration fitted by least
squares over more renderings, with a second model for faces whose lips are apart
(:func:`~larnet_core.synth.au_calibration.calibrate_mesh`, ``scripts/calibrate_aus.py --lips-apart``), loads and
unmixes too (:class:`Calibration`); it was tried and not adopted (docs/action-units.md, "Fifth look").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from larnet_core.aus.features import FEATURE_NAMES
from larnet_core.aus.names import AU_COLUMNS, AU_NUMBERS

__all__ = ["AU_NUMBERS", "AU_COLUMNS", "CALIBRATION_PATH", "FLOW_CALIBRATION_PATH", "Calibration",
           "load_calibration", "load_flow_calibration"]


CALIBRATION_PATH = Path(__file__).with_name("data") / "calibration.json"
FLOW_CALIBRATION_PATH = Path(__file__).with_name("data") / "flow_calibration.npz"
# Least noise a measure is credited with (a closed mouth's lip gap is exactly 0 on every frame).
NOISE_FLOOR = 0.004


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
        flow_gain: ``(len(AU_NUMBERS),)`` what the flow channel reads, per unit of intensity, of each unit rendered
            alone with its handles where the generator puts them (at least 1; the readings are divided by it). Why:
            the lower-face units' templates are averaged over renderings with the mouth's key points moved
            (:data:`~larnet_core.synth.au_calibration.ANCHOR_SHIFTS`), so they are spread wider and flatter than
            the movement of a mouth that moves where it is, as a real face's does, and that movement reads up to
            1.7 times its strength (AU15) while the brows' units read 1.0; an expression's units are compared with
            each other (:data:`~larnet_core.aus.estimate.RELATIVE_LEVEL`), so they must share one scale. None: 1.
        misfit: ``(len(FEATURE_NAMES),)`` how far the linear model ``response @ intensities`` stays from each
            measure over the calibration renderings (root mean square), counted as noise when unmixing: a
            measure the model fits badly weighs less. None: not measured (zero).
        open_response, open_misfit: the same for faces whose lips are apart (the lip gap opened by more than
            ``open_lip_gap`` eye distances from neutral); None: one model for every face.
        open_lip_gap: where the lips count as apart.

    The stored calibration has one model and no misfit; the two-model one
    (:func:`larnet_core.synth.au_calibration.calibrate_mesh`) was tried and not adopted (docs/action-units.md,
    "Fifth look"). Why two models: the face mesh keeps its inner lip points together while the lips part a little
    and lets them go abruptly when the mouth opens, and with the lips together it drags the upper lip and the
    corners down with a dropped jaw, which they do not follow once the lips are apart. One linear model of both
    reads a laugh's open mouth as an upper-lip raise (AU10) and lid raise (AU05) instead of AU12 with AU25 and
    AU26.
    """

    response: np.ndarray
    noise: np.ndarray
    photos: tuple[str, ...]
    flow_response: np.ndarray | None = None
    flow_noise: np.ndarray | None = None
    flow_gain: np.ndarray | None = None
    misfit: np.ndarray | None = None
    open_response: np.ndarray | None = None
    open_misfit: np.ndarray | None = None
    open_lip_gap: float = float("inf")

    def weighted(self, open_lips: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(response * weights[:, None], weights)`` of the model for closed (or apart) lips, each measure
        weighted by the inverse of its jitter and the model's misfit added in quadrature."""
        response, misfit = ((self.open_response, self.open_misfit) if open_lips and self.open_response is not None
                            else (self.response, self.misfit))
        weights = 1.0 / (self.noise if misfit is None else np.sqrt(np.square(self.noise) + np.square(misfit)))
        return response * weights[:, None], weights

    def save(self) -> None:
        """Write both channels where :func:`load_calibration` and :func:`load_flow_calibration` read them."""
        CALIBRATION_PATH.parent.mkdir(parents=True, exist_ok=True)
        CALIBRATION_PATH.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        if self.flow_response is not None and self.flow_noise is not None:
            gain = np.ones(len(AU_COLUMNS)) if self.flow_gain is None else self.flow_gain
            np.savez_compressed(FLOW_CALIBRATION_PATH, response=self.flow_response.astype(np.float32),
                                noise=self.flow_noise.astype(np.float32), gain=gain.astype(np.float32),
                                aus=np.array(AU_COLUMNS))

    def to_json(self) -> dict:
        document = {"features": list(FEATURE_NAMES), "aus": list(AU_COLUMNS), "photos": list(self.photos),
                    "response": np.round(self.response, 6).tolist(), "noise": np.round(self.noise, 6).tolist()}
        for key in ("misfit", "open_response", "open_misfit"):
            if getattr(self, key) is not None:
                document[key] = np.round(getattr(self, key), 6).tolist()
        if np.isfinite(self.open_lip_gap):
            document["open_lip_gap"] = self.open_lip_gap
        return document


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The stored calibration (``data/calibration.json`` beside this module by default).

    Raises:
        ValueError: the file was made for other measures or action units than this code computes.
    """
    document = json.loads(Path(path or CALIBRATION_PATH).read_text(encoding="utf-8"))
    if tuple(document["features"]) != FEATURE_NAMES or tuple(document["aus"]) != AU_COLUMNS:
        raise ValueError(f"{path or CALIBRATION_PATH} was made for other measures; rebuild it with "
                         "scripts/calibrate_aus.py")
    optional = {key: np.asarray(document[key], dtype=np.float64)
                for key in ("misfit", "open_response", "open_misfit") if key in document}
    return Calibration(np.asarray(document["response"], dtype=np.float64),
                       np.asarray(document["noise"], dtype=np.float64), tuple(document["photos"]), **optional,
                       open_lip_gap=float(document.get("open_lip_gap", float("inf"))))


def load_flow_calibration(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The flow channel's ``(response, noise, gain)`` (``data/flow_calibration.npz`` beside this module by
    default; a file without a gain reads 1 for every unit)."""
    with np.load(Path(path or FLOW_CALIBRATION_PATH)) as stored:
        if tuple(str(a) for a in stored["aus"]) != AU_COLUMNS:
            raise ValueError(f"{path or FLOW_CALIBRATION_PATH} was made for other action units; rebuild it with "
                             "scripts/calibrate_aus.py")
        gain = stored["gain"].astype(np.float64) if "gain" in stored.files else np.ones(len(AU_COLUMNS))
        return (stored["response"].astype(np.float64), np.maximum(stored["noise"].astype(np.float64), NOISE_FLOOR),
                np.maximum(gain, 1.0))
