"""Real photos turned in 3-D for tests: the photo's own face mesh (with MediaPipe's depth) is rotated and the
photo's texture warped triangle by triangle onto the rotated, projected mesh, so the face turns as a surface with
relief (the nose moves against the cheeks), not as a flat card. A ring of points around the face oval, a little
behind it, turns the hair and ears with the face; the image's border stays put."""

from __future__ import annotations

import functools

import cv2
import numpy as np
from scipy.spatial import Delaunay

from larnet_core.face import MESH_REGIONS, sample_face_photos
from larnet_core.face.pose import rotation_from_angles

_OVAL = list(MESH_REGIONS["face_oval"])


@functools.lru_cache(maxsize=4)
def photo_mesh(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A sample photo and its ``(478, 3)`` mesh with depth."""
    from larnet_core.face.mesh import MeshFaceDetector

    photo = sample_face_photos()[name]
    detector = MeshFaceDetector(max_faces=1)
    try:
        mesh3d = detector.detect(photo)[0].mesh3d
    finally:
        detector.close()
    return photo, mesh3d


def render_turn(photo: np.ndarray, mesh3d: np.ndarray, yaw: float, pitch: float = 0.0,
                roll: float = 0.0) -> np.ndarray:
    """``photo`` with its face turned by ``yaw``, ``pitch``, ``roll`` degrees (pose.py's conventions)."""
    points = np.asarray(mesh3d, np.float64)[:468]
    height, width = photo.shape[:2]
    face_width = float(np.ptp(points[:, 0]))
    middle = points[:, :2].mean(axis=0)
    oval = points[_OVAL]
    ring = np.column_stack([middle + 1.45 * (oval[:, :2] - middle), oval[:, 2] + 0.25 * face_width])
    points = np.vstack([points, ring])
    centre = points[:468].mean(axis=0) + np.array([0.0, 0.0, 0.3 * face_width])
    moved = (points - centre) @ rotation_from_angles(yaw, pitch, roll).T + centre
    border = np.array([[0, 0, 0], [width - 1, 0, 0], [width - 1, height - 1, 0], [0, height - 1, 0],
                       [width / 2, 0, 0], [width / 2, height - 1, 0], [0, height / 2, 0],
                       [width - 1, height / 2, 0]], dtype=np.float64)
    points, moved = np.vstack([points, border]), np.vstack([moved, border])
    triangles = Delaunay(points[:, :2]).simplices
    # Painter's order: the background triangles, then the face from back to front.
    order = np.argsort(-moved[triangles][:, :, 2].mean(axis=1) - 1e6 * (triangles >= 468).any(axis=1))
    out = photo.copy()
    for triangle in triangles[order]:
        source, target = points[triangle, :2], moved[triangle, :2]
        x0, y0 = np.maximum(np.floor(target.min(axis=0)).astype(int), 0)
        x1, y1 = np.ceil(target.max(axis=0)).astype(int) + 1
        x1, y1 = min(x1, width), min(y1, height)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        local = (target - [x0, y0]).astype(np.float32)
        matrix = cv2.getAffineTransform(source.astype(np.float32), local)
        patch = cv2.warpAffine(photo, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(local).astype(np.int32), 1)
        region = out[y0:y1, x0:x1]
        region[mask.astype(bool)] = patch[mask.astype(bool)]
    return out
