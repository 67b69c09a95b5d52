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
    m = np.asarray(rotation, dtype=np.float64)
    pitch = math.asin(float(np.clip(m[2, 1], -1.0, 1.0)))
    yaw = math.atan2(float(m[2, 0]), float(m[2, 2]))
    roll = math.atan2(float(-m[0, 1]), float(m[1, 1]))
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def _similarity(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares ``target ~ scale * rotation @ source + translation`` (Umeyama 1991), proper rotation only."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    covariance = t.T @ s / len(source)
    u, sigma, vt = np.linalg.svd(covariance)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection would fit better; keep a rotation
        sign[2] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = float((s ** 2).sum() / len(source))
    scale = float((sigma * sign).sum() / variance) if variance > 0 else 1.0
    return rotation, scale, mu_t - scale * rotation @ mu_s


def _skew(v: np.ndarray) -> np.ndarray:
    """``(n, 3, 3)`` cross-product matrices of ``(n, 3)`` vectors."""
    out = np.zeros((len(v), 3, 3))
    out[:, 0, 1], out[:, 0, 2], out[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    out[:, 1, 0], out[:, 2, 0], out[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    return out


def _refine_on_image(source: np.ndarray, target_xy: np.ndarray, rotation: np.ndarray, scale: float,
                     iterations: int = 3) -> tuple[np.ndarray, float, np.ndarray]:
    """Refine a rotation and scale so the canonical points, turned and seen along z (weak perspective), land on
    the frame's image points.

    Why: the mesh model's x and y are measured on the image; its z is a guess that leans towards a frontal face,
    so a fit on all three coordinates underestimates turns by about a third. Gauss-Newton on the rotation vector,
    scale and 2-D shift, from the 3-D fit."""
    skews = _skew(source)
    shifts = np.tile(np.eye(2), (len(source), 1))
    shift = target_xy.mean(axis=0) - scale * (source @ rotation.T)[:, :2].mean(axis=0)
    for _ in range(iterations):
        turned = source @ rotation.T
        residual = (scale * turned[:, :2] + shift - target_xy).ravel()
        # d(R (I + [w]x) X)/dw = -R [X]x, rows x and y only.
        d_rotation = -scale * (rotation[:2] @ skews).reshape(-1, 3)
        jacobian = np.column_stack([d_rotation, turned[:, :2].ravel(), shifts])
        step = np.linalg.solve(jacobian.T @ jacobian + 1e-9 * np.eye(6), -jacobian.T @ residual)
        angle = float(np.linalg.norm(step[:3]))
        if angle > 0:
            axis = step[:3] / angle
            k = _skew(axis[None])[0]
            rotation = rotation @ (np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k)
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
    canonical = canonical_face() if reference is None else np.asarray(reference, dtype=np.float64)
    index = list(STABLE_POINTS)
    source, target = canonical[index], points[index]
    rotation, scale, translation = _similarity(source, target)
    rotation, scale, shift = _refine_on_image(source, target[:, :2], rotation, scale)
    # Depth is relative (MediaPipe's z has no origin of its own): centre it as the 3-D fit does.
    translation = np.array([shift[0], shift[1], float((target[:, 2] - scale * source @ rotation[2]).mean())])
    fitted = scale * source @ rotation.T + translation
    residual = float(np.sqrt(((fitted[:, :2] - target[:, :2]) ** 2).sum(axis=1).mean()) / max(scale, 1e-9))
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
