"""Head pose in 3-D from the face mesh: a rigid fit of stable mesh points to a canonical face.

The MediaPipe Face Mesh gives every point ``x, y`` and a relative depth ``z`` (pixels here, see
:attr:`~larnet_core.face.base.FaceDetection.mesh3d`). A similarity transform (rotation, uniform scale, translation:
Umeyama's least-squares solution, the Kabsch rotation with a scale) of the canonical face's stable points onto the
frame's gives the head's rotation, which :func:`angles_from_rotation` reads as yaw, pitch and roll in degrees.
Mapping the frame's whole mesh back through that transform gives the *pose-normalised* mesh: the face as if seen
from the front at unit size (eye distance 1), where brow heights, lid apertures and lip positions can be compared
between frames however the head turned (:mod:`larnet_core.aus`).

The wheel of MediaPipe ships no canonical face model, so one is built here from the meshes of the neutral frontal
sample photos (:func:`larnet_core.face.sample_face_photos`), made left-right symmetric and turned so that the eye
line is the x axis and the photos' vertical stays vertical (photos taken facing the camera define pitch 0). It is
a small array stored beside this module (``data/canonical_face.npy``); :func:`build_canonical_face` rebuilds it.

Angles (degrees): ``yaw`` > 0 the face turns towards the image's right (the nose moves right), ``pitch`` > 0 it
tips down (the nose moves down), ``roll`` > 0 it rotates clockwise on screen. ``R = Rz(roll) Rx(pitch) Ry(yaw)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CANONICAL_FACE_PATH",
    "STABLE_POINTS",
    "HeadPose",
    "angles_from_rotation",
    "build_canonical_face",
    "canonical_face",
    "fit_pose",
    "rotation_from_angles",
]

CANONICAL_FACE_PATH = Path(__file__).with_name("data") / "canonical_face.npy"

#: Mesh points that move with the skull and hardly with any expression: nose bridge, back and tip, the eyes' inner
#: and outer corners, and the face outline between the temples and the jaw angles. The forehead, brows, lids,
#: lips and chin are left out (expressions move them).
STABLE_POINTS = (1, 4, 5, 6, 168, 195, 197, 133, 362, 33, 263, 127, 356, 234, 454, 93, 323, 132, 361, 58, 288)

# Eye centres (mean of each eye's two corners) give the canonical face its unit: eye distance 1.
_EYE_CORNERS = ((33, 133), (362, 263))
_FACE_POINTS = 468  # the iris points (468-477) are not part of the canonical face


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The 3x3 rotation of a head at ``yaw``, ``pitch``, ``roll`` degrees (image axes: x right, y down, z away
    from the camera), ``Rz(roll) @ Rx(pitch) @ Ry(yaw)``."""
    y, p, r = (math.radians(float(v)) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0.0, -math.sin(y)], [0.0, 1.0, 0.0], [math.sin(y), 0.0, math.cos(y)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), -math.sin(p)], [0.0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
    return rz @ rx @ ry


def angles_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees of a rotation built as :func:`rotation_from_angles` builds it."""
    m = np.asarray(rotation, dtype=np.float64).tolist()
    pitch = math.asin(min(max(m[2][1], -1.0), 1.0))
    yaw = math.atan2(m[2][0], m[2][2])
    roll = math.atan2(-m[0][1], m[1][1])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


@dataclass(frozen=True)
class _Reference:
    """What a fit needs of a reference face's stable points, made once per reference (the canonical face's is kept:
    every frame of every face is fitted to it).

    Attributes:
        points: ``(n, 3)`` the points.
        mean: ``(3,)`` their mean.
        centred: ``(n, 3)`` the points less their mean.
        variance: their mean squared distance from the mean.
        skews: ``(n, 3, 3)`` their cross-product matrices (:func:`_skew`).
        jacobian: ``(2n, 6)`` the image fit's Jacobian with its shift columns (the same every round) filled in.
    """

    points: np.ndarray
    mean: np.ndarray
    centred: np.ndarray
    variance: float
    skews: np.ndarray
    jacobian: np.ndarray


def _reference(points: np.ndarray) -> _Reference:
    """The :class:`_Reference` of ``(n, 3)`` reference points."""
    mean = points.mean(axis=0)
    centred = points - mean
    jacobian = np.zeros((2 * len(points), 6))
    jacobian[:, 4:] = np.tile(np.eye(2), (len(points), 1))
    return _Reference(points, mean, centred, float((centred ** 2).sum() / len(points)), _skew(points), jacobian)


_STABLE = np.array(STABLE_POINTS)
_REFLECT = np.array([1.0, 1.0, -1.0])
_NO_REFLECTION = np.ones(3)
_DAMPING = 1e-9 * np.eye(6)
_IDENTITY = np.eye(3)


@functools.lru_cache(maxsize=1)
def _canonical_reference() -> _Reference:
    return _reference(canonical_face()[_STABLE])


def _det3(m: np.ndarray) -> float:
    """The determinant of a 3x3 matrix (its sign tells a rotation from a reflection), in plain floats."""
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _similarity(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares ``target ~ scale * rotation @ source + translation`` (Umeyama 1991), proper rotation only."""
    reference = _reference(source)
    rotation, scale = _similarity_to(reference, target)
    return rotation, scale, target.mean(axis=0) - scale * rotation @ reference.mean


def _similarity_to(reference: _Reference, target: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`_similarity`'s rotation and scale onto ``target`` of a reference's points."""
    t = target - target.sum(axis=0) / len(target)  # the mean (as ndarray.mean computes it, without its overhead)
    covariance = t.T @ reference.centred / len(target)
    u, sigma, vt = np.linalg.svd(covariance)
    sign = _NO_REFLECTION
    rotation = u @ vt
    if _det3(rotation) < 0:  # a reflection would fit better (u and vt of determinants of opposite signs): rotate
        sign = _REFLECT
        rotation = (u * sign) @ vt
    variance = reference.variance
    scale = float((sigma * sign).sum() / variance) if variance > 0 else 1.0
    return rotation, scale


def _skew(v: np.ndarray) -> np.ndarray:
    """``(n, 3, 3)`` cross-product matrices of ``(n, 3)`` vectors."""
    out = np.zeros((len(v), 3, 3))
    out[:, 0, 1], out[:, 0, 2], out[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    out[:, 1, 0], out[:, 2, 0], out[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    return out


def _refine_on_image(reference: _Reference, target_xy: np.ndarray, rotation: np.ndarray, scale: float,
                     iterations: int = 3) -> tuple[np.ndarray, float, np.ndarray]:
    """Refine a rotation and scale so the reference's points, turned and seen along z (weak perspective), land on
    the frame's image points.

    Why: the mesh model's x and y are measured on the image; its z is a guess that leans towards a frontal face,
    so a fit on all three coordinates underestimates turns by about a third. Gauss-Newton on the rotation vector,
    scale and 2-D shift, from the 3-D fit."""
    source = reference.points
    n = len(source)
    # Means as sums over n: what ndarray.mean computes, without its overhead (these run on every frame).
    shift = target_xy.sum(axis=0) / n - scale * ((source @ rotation.T)[:, :2].sum(axis=0) / n)
    jacobian = reference.jacobian.copy()  # columns: rotation vector (3), scale, shift (2)
    for _ in range(iterations):
        turned = source @ rotation.T
        residual = (scale * turned[:, :2] + shift - target_xy).ravel()
        # d(R (I + [w]x) X)/dw = -R [X]x, rows x and y only.
        jacobian[:, :3] = (-scale * (rotation[:2] @ reference.skews)).reshape(-1, 3)
        jacobian[:, 3] = turned[:, :2].ravel()
        step = np.linalg.solve(jacobian.T @ jacobian + _DAMPING, -jacobian.T @ residual)
        turn = step[:3]
        angle = math.sqrt(float(turn @ turn))  # its norm
        if angle > 0:
            x, y, z = (turn / angle).tolist()
            k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])  # the axis' cross-product matrix
            rotation = rotation @ (_IDENTITY + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k)
        scale, shift = scale + float(step[3]), shift + step[4:]
        if angle < 1e-5:
            break
    return rotation, scale, shift


@dataclass(frozen=True)
class HeadPose:
    """The head's pose in one frame.

    Attributes:
        yaw, pitch, roll: degrees (see the module docstring for the signs).
        rotation: 3x3 rotation from the canonical face to the frame.
        scale: pixels per canonical unit (about the eye distance in pixels).
        translation: ``(3,)`` pixels.
        residual: RMS distance of the stable points from the fitted canonical ones, in eye distances; large when
            the mesh is poor (occlusion, an extreme turn) and the pose should not be trusted.
    """

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray
    scale: float
    translation: np.ndarray
    residual: float

    def normalise(self, mesh3d: np.ndarray) -> np.ndarray:
        """The mesh with this pose removed: canonical orientation, eye distance 1, centred as the canonical face."""
        points = np.asarray(mesh3d, dtype=np.float64)
        return (points - self.translation) @ self.rotation / self.scale


def fit_pose(mesh3d: np.ndarray, reference: np.ndarray | None = None) -> HeadPose:
    """The head pose of one ``(478, 3)`` (or ``(468, 3)``) mesh with depth, in pixels.

    Args:
        mesh3d: the frame's mesh (:attr:`~larnet_core.face.base.FaceDetection.mesh3d`).
        reference: the 3-D face to fit (canonical units); default :func:`canonical_face`.

    Raises:
        ValueError: the mesh is not ``(N >= 468, 3)`` or not finite.
    """
    points = np.asarray(mesh3d, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < _FACE_POINTS or not np.isfinite(points).all():
        raise ValueError(f"fit_pose needs a finite (478, 3) face mesh with depth, got shape {points.shape}")
    fitted_face = (_canonical_reference() if reference is None
                   else _reference(np.asarray(reference, dtype=np.float64)[_STABLE]))
    target = points[_STABLE]
    rotation, scale = _similarity_to(fitted_face, target)
    rotation, scale, shift = _refine_on_image(fitted_face, target[:, :2], rotation, scale)
    # Depth is relative (MediaPipe's z has no origin of its own): centre it as the 3-D fit does.
    scaled = scale * fitted_face.points
    n = len(target)
    translation = np.array([shift[0], shift[1], float((target[:, 2] - scaled @ rotation[2]).sum()) / n])
    fitted = scaled @ rotation.T + translation
    residual = math.sqrt(float(((fitted[:, :2] - target[:, :2]) ** 2).sum(axis=1).sum()) / n) / max(scale, 1e-9)
    yaw, pitch, roll = angles_from_rotation(rotation)
    return HeadPose(yaw, pitch, roll, rotation, scale, translation, residual)


@functools.lru_cache(maxsize=1)
def canonical_face() -> np.ndarray:
    """The canonical neutral face, ``(468, 3)`` in eye distances (read-only): eye line along x, centred on the
    stable points, left-right symmetric."""
    try:
        face = np.load(CANONICAL_FACE_PATH)
    except OSError as exc:  # pragma: no cover - the file ships with the package
        raise FileNotFoundError(f"the canonical face {CANONICAL_FACE_PATH} is missing; reinstall larnet_core or "
                                "rebuild it with larnet_core.face.pose.build_canonical_face()") from exc
    face = np.asarray(face, dtype=np.float64)
    face.flags.writeable = False
    return face


def _frontal(mesh: np.ndarray) -> np.ndarray:
    """A mesh turned so its eye line is +x and the camera's vertical (the frontal photo's) stays in the x-y
    plane, eye distance 1, centred on the stable points."""
    eyes = [mesh[list(pair)].mean(axis=0) for pair in _EYE_CORNERS]
    x_axis = eyes[1] - eyes[0]
    x_axis /= np.linalg.norm(x_axis)
    down = np.array([0.0, 1.0, 0.0])  # the camera's vertical: a photo facing the camera has pitch 0
    y_axis = down - x_axis * (down @ x_axis)
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    turned = mesh @ np.column_stack([x_axis, y_axis, z_axis])
    turned /= np.linalg.norm(eyes[1] - eyes[0])
    return turned - turned[list(STABLE_POINTS)].mean(axis=0)


def _mirror_pairs(face: np.ndarray) -> np.ndarray:
    """For each point, its mirror image's index (nearest point to it reflected about x = 0)."""
    reflected = face * np.array([-1.0, 1.0, 1.0])
    distances = ((reflected[:, None, :2] - face[None, :, :2]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def build_canonical_face(meshes: list[np.ndarray], path: str | Path | None = None) -> np.ndarray:
    """Build (and save, with ``path``) the canonical face from meshes of neutral frontal faces.

    Each ``(>= 468, 3)`` mesh is turned frontal (:func:`_frontal`), the meshes are averaged after a rigid fit to
    the first, and the mean is made left-right symmetric (each point averaged with its mirror partner's
    reflection), so a face looking straight at the camera has yaw and roll 0 whoever built it.
    """
    if not meshes:
        raise ValueError("build_canonical_face needs at least one mesh")
    frontal = [_frontal(np.asarray(m, dtype=np.float64)[:_FACE_POINTS]) for m in meshes]
    first = frontal[0]
    aligned = [first]
    for face in frontal[1:]:
        rotation, scale, translation = _similarity(face[list(STABLE_POINTS)], first[list(STABLE_POINTS)])
        aligned.append(scale * face @ rotation.T + translation)
    mean = np.mean(aligned, axis=0)
    mean = _frontal(mean)
    partner = _mirror_pairs(mean)
    symmetric = (mean + mean[partner] * np.array([-1.0, 1.0, 1.0])) / 2.0
    symmetric = _frontal(symmetric).astype(np.float32)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.save(path, symmetric)
    return symmetric
