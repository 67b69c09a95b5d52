"""Ground truth of composed footage: who is in which frame and where, cuts, expressions, head movements.

:func:`footage_truth` computes it from a :class:`~larnet_core.synth.scene.ScenePlan`, before anything is drawn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from larnet_core.synth.action_units import AuKey, format_au_string
from larnet_core.synth.scene import ScenePlan

__all__ = ["PRESENT_MIN_VISIBLE", "FaceTruth", "ExpressionTruth", "HeadMovementTruth", "OcclusionTruth",
           "FootageTruth", "footage_truth"]

#: A face counts as present when at least this share of its face box is inside the frame (and in the shot).
PRESENT_MIN_VISIBLE = 0.5


@dataclass(frozen=True, eq=False)
class FaceTruth:
    """One person over the footage. Arrays have one entry per frame.

    Attributes:
        person: 0-based person number (the order the scenario adds people, left to right where side by side).
        photo: The sample photo the face comes from.
        boxes: ``(n_frames, 4)`` face box ``(x0, y0, x1, y1)`` in frame pixels, clipped to the frame; NaN where
            the face is not present.
        visible: ``(n_frames,)`` share of the face box inside the frame (0 when out of the shot).
        landmarks: ``(n_frames, 5, 2)``: eyes, nose tip, mouth corners (MTCNN's order, image-left first) in
            frame pixels; NaN where the face is not present. Expressions move them by a few pixels more.
        occluded: ``(n_frames,)`` True where a prop covers the mouth.
    """

    person: int
    photo: str
    boxes: np.ndarray = field(repr=False)
    visible: np.ndarray = field(repr=False)
    landmarks: np.ndarray = field(repr=False)
    occluded: np.ndarray = field(repr=False)

    @property
    def present(self) -> np.ndarray:
        """``(n_frames,)`` bool: the face is in the shot with at least :data:`PRESENT_MIN_VISIBLE` of it inside."""
        return ~np.isnan(self.boxes[:, 0])


@dataclass(frozen=True)
class ExpressionTruth:
    """One expression: kind ``"micro"`` or ``"macro"``, 0-based frames (intensity 0 at onset and offset, 1 at apex)."""

    person: int
    kind: str
    emotion: str
    aus: dict[AuKey, float]
    onset: int
    apex: int
    offset: int

    @property
    def au_string(self) -> str:
        return format_au_string(self.aus)


@dataclass(frozen=True)
class HeadMovementTruth:
    """A deliberate head movement without expression: ``"turn"`` (yaw) or ``"nod"`` (pitch), 0-based frames.

    ``degrees`` is the peak angle (signed: a positive turn moves the face towards the image's right, a positive
    nod tips it down); the movement goes out from ``start``, peaks at ``peak`` and is back at ``end``.
    """

    person: int
    kind: str
    start: int
    peak: int
    end: int
    degrees: float


@dataclass(frozen=True)
class OcclusionTruth:
    """A prop (``"hand"``) covering a face's mouth from ``start`` to ``end`` (0-based frames, inclusive)."""

    person: int
    kind: str
    start: int
    end: int


@dataclass(frozen=True, eq=False)
class FootageTruth:
    """What a piece of composed footage shows, frame by frame (0-based frame indices throughout).

    Attributes:
        scenario: Name of the scenario that made it.
        fps, width, height, n_frames, seed: As generated.
        faces: One :class:`FaceTruth` per person.
        cuts: Index of the first frame of each new shot (hard cuts).
        expressions: Expressions, in time order.
        head_movements: Head turns and nods, in time order.
        occlusions: Props over a face, in time order.
    """

    scenario: str
    fps: float
    width: int
    height: int
    n_frames: int
    seed: int
    faces: tuple[FaceTruth, ...]
    cuts: tuple[int, ...] = ()
    expressions: tuple[ExpressionTruth, ...] = ()
    head_movements: tuple[HeadMovementTruth, ...] = ()
    occlusions: tuple[OcclusionTruth, ...] = ()

    def present(self, person: int | None = None) -> np.ndarray:
        """``(n_frames,)`` bool: that person (any person when ``None``) is present."""
        if person is not None:
            return self.faces[person].present.copy()
        out = np.zeros(self.n_frames, dtype=bool)
        for face in self.faces:
            out |= face.present
        return out

    def faces_in_frame(self) -> np.ndarray:
        """``(n_frames,)`` int: how many faces are present in each frame."""
        return np.sum([face.present for face in self.faces], axis=0).astype(int) if self.faces else \
            np.zeros(self.n_frames, dtype=int)

    def table(self) -> pd.DataFrame:
        """One row per frame and person: ``frame, time_s, shot, person, photo, present, visible, occluded,
        x0, y0, x1, y1``."""
        shot = np.searchsorted(np.asarray(self.cuts, dtype=int), np.arange(self.n_frames), side="right")
        parts = []
        for face in self.faces:
            parts.append(pd.DataFrame({
                "frame": np.arange(self.n_frames), "time_s": np.arange(self.n_frames) / self.fps, "shot": shot,
                "person": face.person, "photo": face.photo, "present": face.present, "visible": face.visible,
                "occluded": face.occluded, "x0": face.boxes[:, 0], "y0": face.boxes[:, 1],
                "x1": face.boxes[:, 2], "y1": face.boxes[:, 3],
            }))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def intervals(self) -> pd.DataFrame:
        """Expressions and head movements as one table: ``person, kind, emotion, action_units, onset, apex,
        offset, degrees``; expressions have ``kind`` micro/macro, head movements turn/nod."""
        rows = [{"person": e.person, "kind": e.kind, "emotion": e.emotion, "action_units": e.au_string,
                 "onset": e.onset, "apex": e.apex, "offset": e.offset, "degrees": np.nan} for e in self.expressions]
        rows += [{"person": m.person, "kind": m.kind, "emotion": "", "action_units": "", "onset": m.start,
                  "apex": m.peak, "offset": m.end, "degrees": m.degrees} for m in self.head_movements]
        columns = ["person", "kind", "emotion", "action_units", "onset", "apex", "offset", "degrees"]
        return pd.DataFrame(rows, columns=columns).sort_values("onset", kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (frame positions 0-based; per-frame boxes with null where absent)."""
        def boxes(face: FaceTruth) -> list:
            return [None if np.isnan(b[0]) else [round(float(v), 2) for v in b] for b in face.boxes]

        return {
            "scenario": self.scenario, "fps": self.fps, "width": self.width, "height": self.height,
            "n_frames": self.n_frames, "seed": self.seed, "frame_positions": "0-based, inclusive",
            "cuts": list(self.cuts),
            "faces": [{"person": f.person, "photo": f.photo, "present_frames": int(f.present.sum()),
                       "boxes": boxes(f)} for f in self.faces],
            "expressions": [{"person": e.person, "kind": e.kind, "emotion": e.emotion, "action_units": e.au_string,
                             "onset": e.onset, "apex": e.apex, "offset": e.offset} for e in self.expressions],
            "head_movements": [{"person": m.person, "kind": m.kind, "start": m.start, "peak": m.peak,
                                "end": m.end, "degrees": round(m.degrees, 2)} for m in self.head_movements],
            "occlusions": [{"person": o.person, "kind": o.kind, "start": o.start, "end": o.end}
                           for o in self.occlusions],
        }

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path


def footage_truth(plan: ScenePlan, scenario: str, fps: float, seed: int,
                  expressions: Sequence[ExpressionTruth] = (), head_movements: Sequence[HeadMovementTruth] = (),
                  occlusions: Sequence[OcclusionTruth] = ()) -> FootageTruth:
    """Ground truth of a plan: face boxes clipped to the frame, visibility, presence, mouths covered by props."""
    w, h = plan.size
    faces = []
    for person, actor in enumerate(plan.actors):
        raw = actor.face_boxes()
        clipped = np.column_stack([np.clip(raw[:, 0], 0, w), np.clip(raw[:, 1], 0, h),
                                   np.clip(raw[:, 2], 0, w), np.clip(raw[:, 3], 0, h)])
        area = (raw[:, 2] - raw[:, 0]) * (raw[:, 3] - raw[:, 1])
        inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
        visible = np.where(actor.shown, inside / area, 0.0)
        present = visible >= PRESENT_MIN_VISIBLE
        points = actor.points()
        covered = np.zeros(plan.n_frames, dtype=bool)
        mouths = points[:, 3:5].mean(axis=1)
        for prop in plan.props:
            for t in np.nonzero(prop.shown & present)[0]:
                inverse = np.linalg.inv(prop.matrix(int(t)))
                px, py, pz = inverse @ np.array([mouths[t, 0], mouths[t, 1], 1.0])
                ix, iy = int(round(px / pz)), int(round(py / pz))
                if 0 <= iy < prop.alpha.shape[0] and 0 <= ix < prop.alpha.shape[1] and prop.alpha[iy, ix] > 0.5:
                    covered[t] = True
        clipped[~present] = np.nan
        points[~present] = np.nan
        for array in (clipped, visible, points, covered):
            array.setflags(write=False)
        faces.append(FaceTruth(person, actor.layer.name, clipped, visible, points, covered))
    return FootageTruth(
        scenario=scenario, fps=float(fps), width=w, height=h, n_frames=plan.n_frames, seed=int(seed),
        faces=tuple(faces), cuts=plan.cuts,
        expressions=tuple(sorted(expressions, key=lambda e: e.onset)),
        head_movements=tuple(sorted(head_movements, key=lambda m: m.start)),
        occlusions=tuple(sorted(occlusions, key=lambda o: o.start)),
    )
