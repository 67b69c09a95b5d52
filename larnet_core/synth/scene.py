"""Compose footage: photo heads and props placed on a background, frame by frame.

A :class:`ScenePlan` says everything up front (backgrounds and which one each frame shows, each person's
per-frame position, scale, roll, yaw and pitch, expressions, blinks, props, camera noise), so the ground truth is
computed from the plan before a pixel is drawn and :func:`render_scene` only draws it.

Out-of-plane head movements are drawn in 2-D: the face layer is a plane rotated about a pivot behind it (the
neck) and seen by a pinhole camera, which gives the horizontal (yaw) or vertical (pitch) compression, the
trapezoid of perspective and the shift of the face a real turn or nod shows. One ``cv2.warpPerspective`` per
layer and frame, on the frame region the layer covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import cv2
import numpy as np

from larnet_core.synth.photo_faces import HeadLayer
from larnet_core.synth.render import Expression, NoiseBank, render_frames

__all__ = ["head_pose_homography", "ActorPlan", "PropPlan", "ScenePlan", "render_scene", "composite_layer"]

# Camera distance and neck pivot, in face widths: a webcam about 60 cm from a 15 cm wide face, the head turning
# about an axis 0.6 face widths behind the face plane and 0.3 below its centre.
_CAMERA_DISTANCE = 4.0
_PIVOT_DEPTH, _PIVOT_DOWN = 0.6, 0.3


def head_pose_homography(centre: tuple[float, float], position: tuple[float, float], *, scale: float = 1.0,
                         roll_deg: float = 0.0, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
                         face_width: float = 160.0) -> np.ndarray:
    """3x3 homography taking a face layer's pixels to frame pixels.

    Args:
        centre: The layer's face centre (pixels of the layer): the point put at ``position``.
        position: Where the face centre lands in the frame at zero yaw and pitch.
        scale: Size multiplier (closer to or further from the camera).
        roll_deg: In-plane rotation, degrees, positive clockwise on screen.
        yaw_deg: Head turn, degrees; positive moves the face towards the image's right.
        pitch_deg: Nod, degrees; positive tips the face down.
        face_width: Face width in layer pixels; sets the perspective and the pivot.
    """
    f = _CAMERA_DISTANCE * face_width
    yaw, pitch = math.radians(-yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    rotation = rx @ ry
    pivot = np.array([0.0, _PIVOT_DOWN * face_width, _PIVOT_DEPTH * face_width])
    # A point (X, Y) of the face plane goes to rotation @ ((X, Y, 0) - pivot) + pivot + (0, 0, f): linear in
    # (X, Y, 1); dividing by depth (times focal length f) is the homography.
    plane = np.column_stack([rotation[:, 0], rotation[:, 1], pivot - rotation @ pivot + np.array([0.0, 0.0, f])])
    project = np.diag([f, f, 1.0]) @ plane
    to_centre = np.array([[1.0, 0, -centre[0]], [0, 1.0, -centre[1]], [0, 0, 1.0]])
    place = np.vstack([cv2.getRotationMatrix2D((0.0, 0.0), -float(roll_deg), float(scale)), [0.0, 0.0, 1.0]])
    place[0, 2], place[1, 2] = float(position[0]), float(position[1])
    matrix = place @ project @ to_centre
    return matrix / matrix[2, 2]


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.column_stack([pts, np.ones(len(pts))]) @ matrix.T
    return out[:, :2] / out[:, 2:3]


def composite_layer(frame: np.ndarray, image: np.ndarray, alpha: np.ndarray, matrix: np.ndarray) -> None:
    """Blend ``image`` (with coverage ``alpha``) into ``frame`` in place, warped by the 3x3 ``matrix``.

    Only the frame region the warped layer covers is touched.
    """
    fh, fw = frame.shape[:2]
    lh, lw = image.shape[:2]
    corners = _apply(matrix, [(0, 0), (lw, 0), (lw, lh), (0, lh)])
    x0, y0 = (max(0, int(math.floor(v))) for v in corners.min(axis=0))
    x1, y1 = int(math.ceil(corners[:, 0].max())), int(math.ceil(corners[:, 1].max()))
    x1, y1 = min(fw, x1), min(fh, y1)
    if x0 >= x1 or y0 >= y1:
        return
    shift = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]]) @ matrix
    size = (x1 - x0, y1 - y0)
    layer = cv2.warpPerspective(image, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cover = cv2.warpPerspective(alpha, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0.0)
    region = frame[y0:y1, x0:x1].astype(np.float32)
    region += (layer.astype(np.float32) - region) * cover[..., None]
    frame[y0:y1, x0:x1] = (region + 0.5).astype(np.uint8)


@dataclass(eq=False)
class ActorPlan:
    """One person in the footage: a photo head and its per-frame placement.

    Attributes:
        layer: The head (see :func:`~larnet_core.synth.photo_faces.head_layer`).
        x, y: Frame position of the face centre per frame (before yaw/pitch shift it), pixels.
        scale, roll, yaw, pitch: Per-frame size multiplier and angles in degrees (see
            :func:`head_pose_homography`).
        shown: Per-frame: whether the person is in the shot at all (False after a cut away).
        expressions: Expressions on the timeline, in the layer's pixels (as ``render_frames`` takes them).
        eyelids: Per-frame eyelid closure, or None.
    """

    layer: HeadLayer
    x: np.ndarray
    y: np.ndarray
    scale: np.ndarray
    roll: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    shown: np.ndarray
    expressions: tuple[Expression, ...] = ()
    eyelids: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return len(self.x)

    def matrix(self, t: int) -> np.ndarray:
        """Layer-to-frame homography of frame ``t``."""
        return head_pose_homography(self.layer.face_centre, (self.x[t], self.y[t]), scale=self.scale[t],
                                    roll_deg=self.roll[t], yaw_deg=self.yaw[t], pitch_deg=self.pitch[t],
                                    face_width=self.layer.face_size[0])

    def face_boxes(self) -> np.ndarray:
        """``(n_frames, 4)`` bounding boxes ``(x0, y0, x1, y1)`` of the warped face box, not clipped."""
        x0, y0, x1, y1 = self.layer.face_box
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        boxes = np.empty((self.n_frames, 4))
        for t in range(self.n_frames):
            pts = _apply(self.matrix(t), corners)
            boxes[t] = (*pts.min(axis=0), *pts.max(axis=0))
        return boxes

    def points(self) -> np.ndarray:
        """``(n_frames, 5, 2)``: eyes, nose tip and mouth corners (MTCNN's order) in frame pixels."""
        m = self.layer.landmarks
        five = [m.left_eye, m.right_eye, m.nose_tip, m.mouth_left, m.mouth_right]
        return np.stack([_apply(self.matrix(t), five) for t in range(self.n_frames)])


@dataclass(eq=False)
class PropPlan:
    """An object in front of the people (a hand): an image with coverage, moved per frame.

    ``x``/``y`` place the prop's ``anchor`` (a point of ``image``), ``angle`` rotates it about that point
    (degrees, clockwise on screen); ``shown`` says when it is drawn.
    """

    image: np.ndarray
    alpha: np.ndarray
    anchor: tuple[float, float]
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    shown: np.ndarray

    def matrix(self, t: int) -> np.ndarray:
        m = cv2.getRotationMatrix2D(self.anchor, -float(self.angle[t]), 1.0)
        m[0, 2] += self.x[t] - self.anchor[0]
        m[1, 2] += self.y[t] - self.anchor[1]
        return np.vstack([m, [0.0, 0.0, 1.0]])

    def boxes(self) -> np.ndarray:
        """``(n_frames, 4)`` bounding boxes of the prop's covered pixels, not clipped."""
        ys, xs = np.nonzero(self.alpha > 0.5)
        pts = np.array([(xs.min(), ys.min()), (xs.max(), ys.min()), (xs.max(), ys.max()), (xs.min(), ys.max())],
                       dtype=np.float64)
        out = np.empty((len(self.x), 4))
        for t in range(len(self.x)):
            p = _apply(self.matrix(t), pts)
            out[t] = (*p.min(axis=0), *p.max(axis=0))
        return out


@dataclass(eq=False)
class ScenePlan:
    """Everything a piece of footage shows, decided before drawing.

    Attributes:
        size: ``(width, height)``.
        backgrounds: Background images, ``(height, width, 3)`` uint8.
        shot: Per-frame index into ``backgrounds`` (a change is a hard cut).
        actors: People, drawn in order (later ones in front).
        props: Objects drawn over the people.
        noise_sigma: Camera noise, grey levels (0: none).
        seed: Seeds the noise.
    """

    size: tuple[int, int]
    backgrounds: tuple[np.ndarray, ...]
    shot: np.ndarray
    actors: tuple[ActorPlan, ...] = ()
    props: tuple[PropPlan, ...] = ()
    noise_sigma: float = 1.5
    seed: Sequence[int] = (0,)

    @property
    def n_frames(self) -> int:
        return len(self.shot)

    @property
    def cuts(self) -> tuple[int, ...]:
        """0-based indices of the first frame of each new shot."""
        return tuple(int(i) for i in np.nonzero(np.diff(self.shot))[0] + 1)


def _animate(actor: ActorPlan, n_frames: int) -> Iterator[np.ndarray]:
    """The actor's head layer per frame, with its expressions and blinks.

    The expression machinery (``render_frames``) deforms only the face region (the face box with 0.6 face
    widths around it, beyond the reach of every action unit's field), pasted back into the layer.
    """
    layer = actor.layer
    if not actor.expressions and (actor.eyelids is None or not np.any(actor.eyelids)):
        while True:
            yield layer.image
    x0, y0, x1, y1 = layer.face_box
    margin = 0.6 * (x1 - x0)
    lh, lw = layer.image.shape[:2]
    cx0, cy0 = max(0, int(x0 - margin)), max(0, int(y0 - margin))
    cx1, cy1 = min(lw, int(math.ceil(x1 + margin))), min(lh, int(math.ceil(y1 + margin)))
    shift = np.array([[1.0, 0.0, -cx0], [0.0, 1.0, -cy0]])
    expressions = [Expression(e.aus, e.onset, e.apex, e.offset, e.scale) for e in actor.expressions]
    crops = render_frames(np.ascontiguousarray(layer.image[cy0:cy1, cx0:cx1]), layer.landmarks.transformed(shift),
                          n_frames, expressions, eyelids=actor.eyelids)
    for crop in crops:
        head = layer.image.copy()
        head[cy0:cy1, cx0:cx1] = crop
        yield head


def render_scene(plan: ScenePlan) -> Iterator[np.ndarray]:
    """Draw the plan: yield ``plan.n_frames`` RGB uint8 frames of ``plan.size``."""
    w, h = plan.size
    rng = np.random.default_rng(list(plan.seed))
    noise = NoiseBank(rng, (h, w), plan.noise_sigma) if plan.noise_sigma > 0 else None
    streams = [_animate(actor, plan.n_frames) for actor in plan.actors]
    for t in range(plan.n_frames):
        frame = plan.backgrounds[int(plan.shot[t])].copy()
        for actor, stream in zip(plan.actors, streams):
            head = next(stream)
            if actor.shown[t]:
                composite_layer(frame, head, actor.layer.alpha, actor.matrix(t))
        for prop in plan.props:
            if prop.shown[t]:
                composite_layer(frame, prop.image, prop.alpha, prop.matrix(t))
        if noise is not None:
            work = frame.astype(np.float32)
            work += noise.sample(rng)
            work += np.float32(0.5)  # round, not truncate, below
            np.clip(work, 0, 255, out=work)
            frame = work.astype(np.uint8)
        yield frame
