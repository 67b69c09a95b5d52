"""The head's rigid movement removed from the motion crops and their flow, in 3-D.

First each motion crop of a face segment is *registered* on the segment's first one (:func:`registered_patch`):
a homography from this frame's stable mesh points to where they were in the first crop, so a turn's
foreshortening and a nod's perspective are undone before any flow is measured (the lips and brows do not steer
it). Then, for what registration leaves (the relief's parallax, mesh jitter):

The motion crops are aligned with a smoothed similarity (position, size, roll), so what is left of a head turn or
nod between two crops is the face's foreshortening and the parallax of its relief: under a small rotation seen
by a camera far away, each point of the skull moves by ``a0 + a1 x + a2 y + a3 z`` horizontally and the same form
vertically, where ``z`` is its depth. :func:`compensate` fits that model robustly to the flow on a grid inside the
face's outline (the chin and mouth included; the stable points, :data:`RIGID_POINTS`, only when the face is too small
for the grid) and subtracts it everywhere, using a depth map of the face made once per face segment from the mesh's
depth (:func:`rigid_model`). What is left is what the skin did by itself: the expression, read in the
pose-normalised face. A movement of a large part of the face is partly taken for the head's: a jaw drop leaves
the chin moving up; ``rigid_model(..., with_jaw=False)`` leaves the lower face out of the fit (docs/action-units.md
measures both).

How far the stable points still stray from the fitted model (:attr:`Compensation.residual`, crop pixels) says
whether the compensation can be trusted: a turn too fast for the flow to follow, or a hand over the face, leaves
them scattered. Without depth (a mesh without z, or five key points) the model is affine (no ``z`` term).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["JAW_REGION", "RIGID_POINTS", "RigidModel", "rigid_model", "compensate", "registered_patch"]

#: Mesh points the rigid fit uses: the nose bridge, back and tip, the face outline from the temples to the jaw
#: angles, and the top of the forehead (the hairline, above where raised brows fold the skin), so the brows and
#: the mouth lie inside the points rather than beyond them. Not the eye corners (lids and brows tug at them),
#: the lower forehead, the lips or the chin.
RIGID_POINTS = (1, 4, 5, 6, 168, 195, 197, 45, 275, 127, 356, 234, 454, 93, 323, 132, 361, 58, 288, 137, 366,
                10, 109, 338, 67, 297, 103, 332, 54, 284)


@dataclass(frozen=True)
class RigidModel:
    """The stable points of one face segment in its motion crop, and the crop's depth map.

    Attributes:
        points: ``(n, 2)`` crop pixels.
        depth: ``(n,)`` their depth, crop pixels (None: affine model).
        depth_map: ``(size, size)`` depth of every crop pixel (None: affine model).
    """

    points: np.ndarray
    depth: np.ndarray | None
    depth_map: np.ndarray | None
    samples: np.ndarray | None = None

    def design(self, size: int) -> "_Design":
        """The fit's regressors for a ``size`` crop, made on first use and kept (a segment's flows share them)."""
        cache = self.__dict__.setdefault("_designs", {})
        if size not in cache:
            cache[size] = _design(self, size)
        return cache[size]

    def scaled(self, factor: float, size: int) -> "RigidModel":
        """The same model for a crop ``factor`` times the size (the macro scale's smaller crop)."""
        depth_map = None
        if self.depth_map is not None:
            depth_map = cv2.resize(self.depth_map, (size, size), interpolation=cv2.INTER_AREA) * factor
        depth = None if self.depth is None else self.depth * factor
        samples = None if self.samples is None else self.samples * factor
        return RigidModel(self.points * factor, depth, depth_map, samples)


def rigid_model(mesh: np.ndarray, matrix: np.ndarray, size: int, with_jaw: bool = True) -> RigidModel | None:
    """The :class:`RigidModel` of a ``(478, 2 or 3)`` mesh (frame pixels) seen through the 2x3 ``matrix`` (frame ->
    motion crop of ``size`` pixels); ``None`` for a mesh too small to carry the points.

    ``with_jaw=False`` fits the head's movement without the lower face (:data:`JAW_REGION`: the mouth, chin and
    jaw below the nose): a jaw drop or chin raise moves a large part of the face, which the robust fit takes for the
    head's movement (a jaw drop then reads as the chin moving up); without it, the chin's movement relative to the
    rest of the head survives."""
    mesh = np.asarray(mesh, dtype=np.float64)
    if mesh.ndim != 2 or len(mesh) <= max(RIGID_POINTS):
        return None
    crop = mesh[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    index = list(RIGID_POINTS)
    samples = _face_samples(crop[:468], size)
    if not with_jaw:
        samples = _outside(samples, crop[list(JAW_REGION)], size)
    if mesh.shape[1] < 3:
        return RigidModel(crop[index], None, None, samples)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    depth = (mesh[:, 2] - mesh[:468, 2].mean()) * scale
    return RigidModel(crop[index], depth[index], _depth_map(crop[:468], depth[:468], size), samples)


#: The lower face's outline: the nose base, the mouth corners' sides and the jaw from one angle round the chin to
#: the other. The jaw and chin move with AU17, AU25 and AU26, so they are no part of the head's rigid movement.
JAW_REGION = (2, 98, 327, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288)


def _outside(samples: np.ndarray, outline: np.ndarray, size: int) -> np.ndarray:
    """The ``samples`` (crop pixels) outside the convex hull of ``outline``."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(cv2.convexHull(outline.astype(np.float32))).astype(np.int32).reshape(-1, 2), 1)
    cols, rows = (np.clip(samples[:, k].astype(int), 0, size - 1) for k in (0, 1))
    return samples[mask[rows, cols] == 0]


def _face_samples(points: np.ndarray, size: int, step: int = 4) -> np.ndarray:
    """Grid positions (every ``step`` pixels) inside the face, a little in from its outline: where the head's
    movement is fitted (the background and the face's edge against it move differently)."""
    hull = cv2.convexHull(points.astype(np.float32))
    centre = points.mean(axis=0)
    inner = (hull.reshape(-1, 2) - centre) * 0.9 + centre
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
    ys, xs = np.nonzero(mask[::step, ::step])
    return np.column_stack([xs * step, ys * step]).astype(np.float64)


_RIGID_INDEX = np.array(RIGID_POINTS)
_UNIT_CORNERS = np.array([[[0, 0], [1, 0], [1, 1], [0, 1]]], np.float32)  # a crop's corners, times its size


def registered_patch(frame_rgb: np.ndarray, mesh: np.ndarray, anchor: np.ndarray, size: int) -> np.ndarray | None:
    """The grey ``size`` crop of ``frame_rgb`` in which this frame's stable mesh points land on ``anchor`` (their
    crop positions in the segment's first frame, :attr:`RigidModel.points`); ``None`` without a usable fit."""
    mesh = np.asarray(mesh, dtype=np.float64)
    if mesh.ndim != 2 or len(mesh) <= max(RIGID_POINTS):
        return None
    source = mesh[_RIGID_INDEX, :2].astype(np.float32)
    homography, _ = cv2.findHomography(source, np.asarray(anchor, np.float32), 0)
    if homography is None or not np.isfinite(homography).all():
        return None
    # Only the part of the frame the crop covers is converted (and shrunk first when the face is large).
    inverse = np.linalg.inv(homography)
    corners = cv2.perspectiveTransform(_UNIT_CORNERS * np.float32(size), inverse)[0]
    height, width = frame_rgb.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - 2, 0, [width, height])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 2, 0, [width, height])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    region = frame_rgb[y0:y1, x0:x1]
    grey = region if region.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)
    homography = homography @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]])
    scale = float(np.sqrt(abs(np.linalg.det(homography[:2, :2] / homography[2, 2]))))
    if scale < 0.5:  # shrinking by more than 2 aliases texture into motion: pre-shrink with area averaging
        factor = scale * 2
        grey = cv2.resize(grey, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        homography = homography @ np.diag([1.0 / factor, 1.0 / factor, 1.0])
    return cv2.warpPerspective(grey, homography, (size, size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _depth_map(points: np.ndarray, depth: np.ndarray, size: int) -> np.ndarray:
    """Depth of every pixel of a ``size`` crop from the mesh points: a coarse grid of inverse-distance means
    (cheap, and smooth enough: the depth only scales the parallax term), upsampled."""
    coarse = 12
    centres = (np.arange(coarse) + 0.5) * size / coarse
    grid = np.stack(np.meshgrid(centres, centres), axis=-1).reshape(-1, 2)
    distance = np.sqrt(((grid[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)) + 1.0
    nearest = np.argsort(distance, axis=1)[:, :8]
    weights = 1.0 / np.take_along_axis(distance, nearest, axis=1) ** 2
    values = (depth[nearest] * weights).sum(axis=1) / weights.sum(axis=1)
    return cv2.resize(values.reshape(coarse, coarse).astype(np.float32), (size, size),
                      interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Compensation:
    """A flow with the head's rigid movement removed, and how well the rigid model fitted."""

    flow: np.ndarray
    residual: float


_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in _GRIDS:
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        _GRIDS[size] = (xs, ys)
    return _GRIDS[size]


def _terms(x: np.ndarray, y: np.ndarray, z: np.ndarray | None, half: float) -> tuple[list, list]:
    """Regressors of the rigid flow: affine, the two quadratic terms of a plane's perspective, and depth."""
    x, y = (x - half) / half, (y - half) / half
    u = [np.ones_like(x), x, y, x * x, x * y]
    v = [np.ones_like(x), x, y, x * y, y * y]
    if z is not None:
        u.append(z / half)
        v.append(z / half)
    return u, v


def compensate(flow: np.ndarray, model: RigidModel | None, iterations: int = 2) -> Compensation:
    """Remove the head's rigid movement from a crop's dense flow ``(size, size, 2)``; unchanged without a model.

    The movement is fitted robustly (Tukey's biweight, a few reweighted least-squares rounds) on the flow inside
    the face: an expression moves a small part of it and is left out as an outlier, which is how the dominant
    motion of an image is usually estimated."""
    if model is None:
        return Compensation(flow, float("nan"))
    size = flow.shape[0]
    design = model.design(size)
    observed = flow[design.rows, design.cols].astype(np.float64)
    weights = None  # all ones in the first round
    median = 0.0
    coefficients = []
    for _ in range(iterations):
        coefficients = []
        fitted = np.empty_like(observed)
        for k, a in enumerate((design.u, design.v)):
            weighted = a if weights is None else a * weights[:, None]
            c = np.linalg.solve(weighted.T @ a + _DAMPING[a.shape[1]], weighted.T @ observed[:, k])
            coefficients.append(c)
            fitted[:, k] = a @ c
        error = np.hypot(*(fitted - observed).T)
        median = float(_median(error))
        spread = max(1.4826 * median, 0.05)
        r = error / (4.685 * spread)
        weights = np.where(r < 1, (1 - r * r) ** 2, 0.0)
    rigid = np.empty((size * size, 2), np.float32)  # the rigid flow over the whole crop
    rigid[:, 0] = coefficients[0].astype(np.float32) @ design.grid_u
    rigid[:, 1] = coefficients[1].astype(np.float32) @ design.grid_v
    compensated = flow - rigid.reshape(size, size, 2)
    return Compensation(compensated if compensated.dtype == np.float32 else compensated.astype(np.float32), median)


_DAMPING = {n: 1e-9 * np.eye(n) for n in (5, 6)}  # by the number of regressors (without and with depth)


def _median(values: np.ndarray) -> np.floating:
    """``np.median`` of a 1-D float array (the same value, NaN if any is NaN), without its overhead: this runs
    twice for every flow."""
    n = len(values)
    if n == 0:
        return np.median(values)
    half = n // 2
    part = np.partition(values, [half - 1, half, n - 1] if n % 2 == 0 else [half, n - 1])
    if np.isnan(part[-1]):
        return part[-1]
    return part[half] if n % 2 else (part[half - 1] + part[half]) / 2


@dataclass(frozen=True)
class _Design:
    """A rigid model's regressors at its sample points and over the whole crop (made once per segment)."""

    rows: np.ndarray
    cols: np.ndarray
    u: np.ndarray
    v: np.ndarray
    grid_u: np.ndarray
    grid_v: np.ndarray


def _design(model: RigidModel, size: int) -> _Design:
    half = size / 2.0
    with_depth = model.depth_map is not None and model.depth_map.shape[0] == size
    samples = model.samples if model.samples is not None and len(model.samples) >= 12 else model.points
    samples = np.clip(samples, 0, size - 1)
    cols, rows = samples[:, 0].astype(int), samples[:, 1].astype(int)
    z = model.depth_map[rows, cols].astype(np.float64) if with_depth else None
    u, v = _terms(samples[:, 0], samples[:, 1], z, half)
    xs, ys = _grid(size)
    gu, gv = _terms(xs.ravel().astype(np.float64), ys.ravel().astype(np.float64),
                    model.depth_map.ravel().astype(np.float64) if with_depth else None, half)
    return _Design(rows, cols, np.column_stack(u), np.column_stack(v), np.vstack(gu).astype(np.float32),
                   np.vstack(gv).astype(np.float32))
