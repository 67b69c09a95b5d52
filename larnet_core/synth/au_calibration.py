"""Measuring the action-unit calibration on generated renderings of a real sample photo (see
:mod:`larnet_core.aus.calibration` for what is measured and how it is used). It renders faces with the generator's
action-unit model, so it lives here; the estimators only load its output."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import cv2
import numpy as np

from larnet_core.aus.calibration import AU_NUMBERS, NOISE_FLOOR, Calibration
from larnet_core.aus.features import FEATURE_NAMES, mesh_features
from larnet_core.aus.flow import point_displacements, unmix
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.face.pose import fit_pose
from larnet_core.synth.action_units import apply_action_units, unit_anchors
from larnet_core.synth.landmarks import FaceLandmarks
from larnet_core.synth.face_variants import FaceShape, derived_layer
from larnet_core.synth.backdrops import textured_background
from larnet_core.synth.photo_faces import HeadLayer, head_layer
from larnet_core.synth.scene import composite_layer, head_pose_homography

__all__ = ["ANCHOR_SHIFTS", "EMFACS_COMBINATIONS", "OPEN_MOUTH_COMBINATIONS", "OPEN_LIP_GAP", "MeshRenderings",
           "calibrate", "calibrate_mesh", "fit_mesh", "mesh_renderings"]

#: EMFACS combinations the generator can draw, scored by ``scripts/au_figures.py`` and rendered by
#: :func:`calibrate_mesh`.
EMFACS_COMBINATIONS = [(6, 12), (1, 2), (1, 2, 5), (1, 4, 15), (4, 7), (4, 9), (1, 2, 4, 20), (15, 17), (9, 15)]
#: EMFACS prototypes with the mouth open (Ekman and Friesen's EMFACS; the surprise and fear lists allow 25, 26 or
#: 27): a laugh, a smile with the lips parted, surprise with the jaw dropped (with and without the lips parted, and
#: the lids alone), fear with the jaw dropped, and fear's lids and lip stretch with the lips parted.
OPEN_MOUTH_COMBINATIONS = [(6, 12, 25, 26), (6, 12, 25), (1, 2, 5, 26), (5, 26), (1, 2, 5, 25, 26),
                           (1, 2, 4, 5, 20, 26), (5, 20, 25)]
#: Lip-gap opening (eye distances, ten times its jitter floor) beyond which the per-frame channel reads a face with
#: its model for lips apart (:class:`larnet_core.aus.calibration.Calibration`).
OPEN_LIP_GAP = 0.04
# How strongly the lips-apart model is drawn to the lips-together one where the open renderings say little (a unit
# never rendered with the lips apart keeps its closed-lips response): a ridge on their difference.
_OPEN_SHRINK = 0.3

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


def identities(photos: Sequence[str], face_px: int, shapes: Sequence[FaceShape] = (), mirrored: bool = True,
               mesh_lips: bool = False) -> list[tuple[HeadLayer, bool]]:
    """Each photo at ``face_px`` and the identities ``shapes`` derive from it, plain and mirrored, each with whether
    it is derived (``mesh_lips``: see :func:`~larnet_core.synth.photo_faces.head_layer`)."""
    layers = []
    for name in photos:
        base = head_layer(name, int(face_px), mesh_lips=mesh_lips)
        for layer, derived in [(base, False), *((derived_layer(base, shape), True) for shape in shapes)]:
            layers += [(layer, derived), (layer.mirrored(), derived)] if mirrored else [(layer, derived)]
    return layers


@dataclasses.dataclass
class _Samples:
    """What the renderings of one channel measured: per unit, each rendering's change per unit of intensity, and
    the still face's jitter."""

    columns: list[list[np.ndarray]]
    noise: list[np.ndarray]
    # (unit column, intensity, change) of each unit rendered alone on the photo itself with its handles unmoved
    plain: list[tuple[int, float, np.ndarray]] = dataclasses.field(default_factory=list)

    @classmethod
    def empty(cls) -> "_Samples":
        return cls([[] for _ in AU_NUMBERS], [])

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        response = np.column_stack([np.mean(values, axis=0) for values in self.columns])
        return response, np.maximum(np.sqrt(np.mean(np.square(self.noise), axis=0)), NOISE_FLOOR)


def _measure_identity(detector, layer: HeadLayer, rng: np.random.Generator, intensities: Sequence[float],
                      anchor_shifts: Sequence[float], mesh: _Samples | None, flow: _Samples,
                      derived: bool = False) -> None:
    """Render every unit alone on ``layer`` and add what both channels measure (the mesh channel's only when
    ``mesh`` is given; the flow channel's plain renderings only when the layer is not ``derived`` from a photo)."""
    neutral_mesh = _mesh(detector, layer.image)
    if neutral_mesh is None:
        return
    neutral = _measure(neutral_mesh)
    for _ in range(6):
        image = _jittered(layer.image, rng)
        moved = _mesh(detector, image)
        if moved is not None:
            if mesh is not None:
                mesh.noise.append(_measure(moved) - neutral)
            flow.noise.append(point_displacements(layer.image, neutral_mesh, image, moved).ravel())
    mouth_units = _mouth_units()
    renderings = [(column, number, intensity, layer.landmarks, True)
                  for column, number in enumerate(AU_NUMBERS) for intensity in intensities]
    renderings += [(column, number, intensity, _mouth_shifted(layer.landmarks, shift), False)
                   for shift in anchor_shifts for column, number in enumerate(AU_NUMBERS)
                   if number in mouth_units for intensity in intensities]
    for column, number, intensity, landmarks, plain in renderings:
        # The blink is drawn at full closure whatever the intensity: measure it once.
        strength = 1.0 if number == 43 else float(intensity)
        shown = apply_action_units(layer.image, landmarks, {number: strength})
        moved = _mesh(detector, shown)
        if moved is not None:
            if mesh is not None:
                mesh.columns[column].append((_measure(moved) - neutral) / strength)
            change = point_displacements(layer.image, neutral_mesh, shown, moved).ravel()
            flow.columns[column].append(change / strength)
            if plain and not derived:
                flow.plain.append((column, strength, change))


def _flow_gain(response: np.ndarray, noise: np.ndarray, plain: Sequence[tuple[int, float, np.ndarray]]) -> np.ndarray:
    """Per unit, the median of what the flow channel reads of it, per unit of intensity, on its ``plain``
    renderings (alone, handles unmoved), at least 1 (:attr:`~larnet_core.aus.calibration.Calibration.flow_gain`).

    Only over-reading is corrected: a unit that reads less than its strength does so because the unmixing gives
    part of its movement to other units (AU23's to AU14 and AU24), and scaling it up would raise the share it takes
    of other units' movements as well."""
    weights = 1.0 / noise
    weighted = response * weights[:, None]
    ratios: list[list[float]] = [[] for _ in AU_NUMBERS]
    for column, strength, change in plain:
        ratios[column].append(float(unmix(change, weighted, weights)[column]) / strength)
    return np.array([max(1.0, float(np.median(values))) if values else 1.0 for values in ratios])


def _unit_sets(anchor_shifts: Sequence[float]) -> list[tuple[tuple[int, ...], float]]:
    """What the per-frame calibration renders: each unit alone and the combinations, each with its mouth shift."""
    mouth_units = _mouth_units()
    sets = [((number,), 0.0) for number in AU_NUMBERS]
    sets += [((number,), shift) for shift in anchor_shifts for number in AU_NUMBERS if number in mouth_units]
    return sets + [(units, 0.0) for units in EMFACS_COMBINATIONS + OPEN_MOUTH_COMBINATIONS]


def _fit(truth: np.ndarray, change: np.ndarray, weights: np.ndarray,
         prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares responses ``(n_features, n_units)`` of ``change`` ``(n, n_features)`` on ``truth``
    ``(n, n_units)`` (one weight per rendering), and each measure's root-mean-square misfit; with ``prior``, a ridge
    towards it."""
    gram = (truth * weights[:, None]).T @ truth
    projected = (truth * weights[:, None]).T @ change
    if prior is not None:
        gram = gram + _OPEN_SHRINK * np.eye(len(gram))
        projected = projected + _OPEN_SHRINK * prior.T
    response = np.linalg.lstsq(gram, projected, rcond=None)[0].T
    misfit = np.sqrt(np.average(np.square(change - truth @ response.T), axis=0, weights=weights))
    return response, misfit


@dataclasses.dataclass
class MeshRenderings:
    """What the per-frame calibration's renderings measured: per rendering the rendered intensities ``(n,
    n_units)``, the change of the mesh measures ``(n, n_features)``, whether the mouth's key points were moved and
    whether the face was composited into a frame; and the still face's jitter ``(m, n_features)`` (and whether
    framed)."""

    truth: np.ndarray
    change: np.ndarray
    shifted: np.ndarray
    framed: np.ndarray
    jitter: np.ndarray
    jitter_framed: np.ndarray


def _framed(layer: HeadLayer, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """How footage shows ``layer``: composited onto a textured background (a 16:9 frame whose height the face fills
    to 42 %, the footage's default) with the face centre where the footage scenarios put it."""
    x0, y0, x1, y1 = layer.face_box
    height = int(round(max(x1 - x0, y1 - y0) / 0.42))
    width = int(round(height * 16 / 9))
    background = textured_background((width, height), rng, "indoor")
    matrix = head_pose_homography(layer.face_centre, (width * 0.5, height * 0.42))

    def frame(image: np.ndarray) -> np.ndarray:
        out = background.copy()
        composite_layer(out, image, layer.alpha, matrix)
        return out

    return frame


def mesh_renderings(photos: Sequence[str] = ("grace_hopper",), face_px: Sequence[int] = (150, 220),
                    intensities: Sequence[float] = (0.75, 1.5, 2.25, 3.0),
                    anchor_shifts: Sequence[float] = ANCHOR_SHIFTS, seed: int = 0,
                    views: Sequence[str] = ("photo", "framed")) -> MeshRenderings:
    """Render ``photos`` (plain and mirrored, at ``face_px``) with each unit alone at ``intensities`` (the mouth
    units also with the mouth's key points moved by ``anchor_shifts``) and the EMFACS combinations with and without
    the mouth open, and measure the mesh of each, in each of ``views``: ``photo`` (the photo as it is) and
    ``framed`` (the head composited into a frame as footage shows it, :func:`_framed`). Why both: the face mesh
    reads a head cut out onto a background differently from the photo itself (with templates measured on the
    photo, a laugh read AU10 at 0.6 on the photo and at 1.5 once composited into a frame), and the per-frame
    channel reads photos and footage alike."""
    parts = [_mesh_renderings_in_view(photos, face_px, intensities, anchor_shifts, seed, view == "framed")
             for view in views]
    return MeshRenderings(*(np.concatenate([getattr(part, name) for part in parts])
                            for name in ("truth", "change", "shifted", "framed", "jitter", "jitter_framed")))


def _mesh_renderings_in_view(photos: Sequence[str], face_px: Sequence[int], intensities: Sequence[float],
                             anchor_shifts: Sequence[float], seed: int, framed: bool) -> MeshRenderings:
    detector = MeshFaceDetector(max_faces=1)
    rng = np.random.default_rng(seed)
    truths, changes, shifted, jitter = [], [], [], []
    try:
        for size in face_px:
            for layer, _ in identities(photos, int(size)):
                show = _framed(layer, rng) if framed else (lambda image: image)
                neutral_image = show(layer.image)
                neutral_mesh = _mesh(detector, neutral_image)
                if neutral_mesh is None:
                    continue
                neutral = _measure(neutral_mesh)
                for _ in range(6):
                    moved = _mesh(detector, _jittered(neutral_image, rng))
                    if moved is not None:
                        jitter.append(_measure(moved) - neutral)
                for units, shift in _unit_sets(anchor_shifts):
                    landmarks = _mouth_shifted(layer.landmarks, shift) if shift else layer.landmarks
                    for intensity in ([1.0] if units == (43,) else intensities):  # the blink is drawn fully closed
                        shown = _mesh(detector, show(apply_action_units(layer.image, landmarks,
                                                                        {unit: intensity for unit in units})))
                        if shown is not None:
                            truth = np.zeros(len(AU_NUMBERS))
                            truth[[AU_NUMBERS.index(unit) for unit in units]] = intensity
                            truths.append(truth)
                            changes.append(_measure(shown) - neutral)
                            shifted.append(bool(shift))
    finally:
        detector.close()
    if not jitter or not truths:
        raise RuntimeError("no face mesh found on the calibration photos; is mediapipe installed?")
    return MeshRenderings(np.asarray(truths), np.asarray(changes), np.asarray(shifted),
                          np.full(len(truths), framed), np.asarray(jitter), np.full(len(jitter), framed))


def fit_mesh(renderings: MeshRenderings, photos: Sequence[str] = ("grace_hopper",),
             open_lip_gap: float = OPEN_LIP_GAP) -> Calibration:
    """The per-frame channel's calibration from its renderings (least squares, each measure's misfit kept):

    * lips together: the photo's own renderings (not framed) of the units alone whose lip gap stayed within
      ``open_lip_gap``, the mouth units' shifted placements at half weight (they stand for faces whose lips the
      generator's key points miss; four of them weighed fully cost the true placement);
    * lips apart: every rendering whose lip gap opened beyond it, framed or not, the combinations included (a
      laugh, a fearful or surprised open mouth), drawn to the first model where they say little.

    Each choice was made on the tuning photo, its derived check identities and its footage (docs/action-units.md):
    with the combinations or the framed renderings in the first model, a still face under a hand read as a frown
    far more often; without the framed renderings in the second, a laugh in footage read as an upper-lip raise."""
    truth, change = renderings.truth, renderings.change
    apart = change[:, FEATURE_NAMES.index("lip_gap")] > open_lip_gap
    alone = (truth > 0).sum(axis=1) == 1
    closed = alone & ~apart & ~renderings.framed
    weights = np.where(renderings.shifted, 0.5, 1.0)
    response, misfit = _fit(truth[closed], change[closed], weights[closed])
    open_response, open_misfit = (_fit(truth[apart], change[apart], np.ones(int(apart.sum())), response)
                                  if apart.any() else (None, None))
    jitter = renderings.jitter[~renderings.jitter_framed] if (~renderings.jitter_framed).any() else renderings.jitter
    spread = np.maximum(np.sqrt(np.mean(np.square(jitter), axis=0)), NOISE_FLOOR)
    return Calibration(response, spread, tuple(photos), misfit=misfit, open_response=open_response,
                       open_misfit=open_misfit, open_lip_gap=float(open_lip_gap) if apart.any() else float("inf"))


def calibrate_mesh(photos: Sequence[str] = ("grace_hopper",), anchor_shifts: Sequence[float] = ANCHOR_SHIFTS,
                   **options) -> Calibration:
    """The per-frame (mesh) channel's calibration alone (no flow): :func:`mesh_renderings` fitted by
    :func:`fit_mesh` (``options``: ``face_px``, ``intensities``, ``seed``, ``views`` of the former). Tried and not
    adopted: it reads a laugh in footage right, but lost per-frame F1 on the held-out photo (docs/action-units.md,
    "Fifth look"); the stored per-frame calibration is :func:`calibrate`'s."""
    return fit_mesh(mesh_renderings(photos, anchor_shifts=anchor_shifts, **options), photos)


def calibrate(photos: Sequence[str] = ("grace_hopper",), face_px: Sequence[int] = (150, 220),
              intensities: Sequence[float] = (1.5, 3.0), mirrored: bool = True, seed: int = 0,
              anchor_shifts: Sequence[float] = ANCHOR_SHIFTS, shapes: Sequence[FaceShape] = (),
              mesh_from_shapes: bool = False, mesh_lips: bool = False) -> Calibration:
    """Measure the response matrices and noise on generated renderings of ``photos`` (see the module docstring);
    the units that hang on the mouth are also rendered with its key points moved by each of ``anchor_shifts``.

    ``shapes`` adds identities derived from the photos (other jaws, chins and lips:
    :data:`~larnet_core.synth.face_variants.TUNING_SHAPES`) to the interval (flow) channel's renderings, and to the
    per-frame (mesh) channel's with ``mesh_from_shapes``; ``mesh_lips`` places the generator's lip points from the
    face mesh. The stored calibration uses none of them (tried together with a redrawn AU17 and AU23 and not
    adopted: docs/action-units.md, "Fourth look")."""
    detector = MeshFaceDetector(max_faces=1)
    rng = np.random.default_rng(seed)
    mesh, flow = _Samples.empty(), _Samples.empty()
    try:
        for size in face_px:
            for layer, derived in identities(photos, int(size), shapes, mirrored, mesh_lips):
                _measure_identity(detector, layer, rng, intensities, anchor_shifts,
                                  mesh if mesh_from_shapes or not derived else None, flow, derived)
    finally:
        detector.close()
    if not mesh.noise or not all(mesh.columns):
        raise RuntimeError("no face mesh found on the calibration photos; is mediapipe installed?")
    response, spread = mesh.matrices()
    flow_response, flow_spread = flow.matrices()
    return Calibration(response, spread, tuple(photos), flow_response, flow_spread,
                       _flow_gain(flow_response, flow_spread, flow.plain))
