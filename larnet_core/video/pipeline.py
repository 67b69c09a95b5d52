"""The per-frame engine shared by clip analysis, live video and ``spot-eval``: frame -> tracked faces -> aligned
model inputs -> motion samples.

:class:`FaceStream` takes frames in order. For each tracked face it keeps the alignment smoother and flow
references (:class:`~larnet_core.face.inputs.InputBuilder`) and a :class:`~larnet_core.video.motion.MotionEngine`;
a shot cut or a lost face ends the face's segment, so nothing is ever compared across it. Recorded clips and live
streams differ only in what they do with the steps: a clip keeps every face's rows and picks the main face at the
end; live follows the main face so far and spots it with
:class:`~larnet_core.video.stream_spotting.TwoScaleStreamingSpotter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np

from larnet_core.face.base import FaceDetection
from larnet_core.face.inputs import InputBuilder, InputConfig, ModelInput
from larnet_core.face.occlusion import face_appearance
from larnet_core.face.tracking import TrackedFace, TrackedFrame
from larnet_core.video.face_state import measure_face
from larnet_core.face.head_compensation import RigidModel, registered_patch, rigid_model
from larnet_core.video.motion import MotionConfig, MotionEngine, MotionSample, aligned_regions, head_pose

__all__ = ["WholeFrame", "FaceStep", "FrameStep", "FaceStream"]


@dataclass(frozen=True)
class WholeFrame:
    """A stand-in face covering the whole frame (``face="none"``, or a face-filled clip without a detection)."""

    box: tuple[float, float, float, float]
    landmarks: None = None
    mesh: None = None
    mesh3d: None = None
    score: float = 1.0

    @property
    def confidence(self) -> float:
        return 1.0


@dataclass
class FaceStep:
    """One face in one frame.

    Attributes:
        face_id: the track id.
        box: face box in working-frame pixels.
        confidence: the tracker's confidence.
        model_input: the model input, when one was asked for this frame.
        samples: motion samples that became final at this frame (for earlier frames of this face).
        matrix: this frame's alignment (working-frame pixels -> model input), computed for every face frame.
        aligned: True when the alignment came from facial key points.
        measure: head pose and mesh measures (:func:`~larnet_core.video.face_state.measure_face`), with a mesh.
        mesh3d: the face's mesh with depth (working-frame pixels), with MediaPipe.
        appearance: the colours of the mouth and brows and the skin around them
            (:func:`~larnet_core.face.occlusion.face_appearance`), with a mesh, for the occlusion check.
        crop: the model-input crop cut this frame (``model_input``'s; a flow checkpoint's also when the model
            does not run on the frame), so nothing cuts it twice.
    """

    face_id: int
    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray | None
    model_input: ModelInput | None = None
    samples: list[MotionSample] = field(default_factory=list)
    matrix: np.ndarray | None = None
    aligned: bool = False
    measure: Any = None
    mesh3d: np.ndarray | None = None
    appearance: np.ndarray | None = None
    crop: np.ndarray | None = None


@dataclass
class FrameStep:
    """What one frame gave: every face, the frame's shot-cut flag, and samples of faces that were not seen."""

    index: int
    faces: list[FaceStep]
    cut: bool
    faces_in_frame: int
    orphan_samples: dict[int, list[MotionSample]] = field(default_factory=dict)

    def light(self) -> Any:
        """This frame as a :class:`~larnet_core.face.tracking.TrackedFrame` without dense landmarks (small enough
        to keep for every frame of a long clip; :func:`~larnet_core.face.tracking.summarize_tracks` reads it)."""
        faces = tuple(TrackedFace(f.face_id, FaceDetection(f.box, f.confidence, f.landmarks), 0)
                      for f in sorted(self.faces, key=lambda f: f.face_id))
        return TrackedFrame(self.index, faces, self.cut)


class _FaceState:
    """One face's motion engines: the micro-expression scale, and the macro scale on a smaller crop."""

    def __init__(self, fps: float, config: MotionConfig) -> None:
        # Fast clips are measured on every step-th frame (MotionConfig.frame_step), counted from a segment's start.
        self.step = config.frame_step(fps)
        self.engine = MotionEngine(fps / self.step, config, step=self.step)
        self.macro = MotionEngine(fps / self.step, config.macro(), scale="macro", step=self.step)
        self.present = False
        self._start = 0
        #: Where the segment's first crop had the stable mesh points: later crops are registered on them.
        self.anchor: np.ndarray | None = None

    @property
    def in_segment(self) -> bool:
        return self.engine.in_segment

    def wants(self, index: int) -> bool:
        """Whether frame ``index`` of a present face is measured (always when it starts a segment)."""
        return not self.engine.in_segment or (index - self._start) % self.step == 0

    def push(self, index: int, patch: np.ndarray | None, pose: np.ndarray | None = None,
             regions=None, rigid: RigidModel | None = None) -> list[MotionSample]:
        if patch is not None and not self.engine.in_segment:
            self._start = index
        out = self.engine.push(index, patch, pose, regions, rigid)
        if patch is None:
            return out + self.macro.push(index, None)
        size = self.macro.config.size
        factor = size / self.engine.config.size
        small = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
        return out + self.macro.push(index, small, None if pose is None else pose * factor, regions,
                                     None if rigid is None else rigid.scaled(factor, size))

    def break_segment(self) -> list[MotionSample]:
        return self.engine.break_segment() + self.macro.break_segment()


class FaceStream:
    """Frames in, per-face steps out (see the module docstring).

    Args:
        input_config: how model inputs are made (:meth:`InputConfig.for_card`).
        fps: the stream's frame rate.
        tracker: a :class:`~larnet_core.face.tracking.FaceTracker`, or ``None`` to treat the whole frame as the
            face (face-filled crops, ``face="none"``).
        motion: motion settings.
        max_faces: faces followed at once (the largest first).
    """

    def __init__(self, input_config: InputConfig, fps: float, tracker: Any | None,
                 motion: MotionConfig | None = None, max_faces: int = 4) -> None:
        self.input_config = input_config
        self.motion_config = motion or MotionConfig()
        self.fps = float(fps)
        self.tracker = tracker
        self.max_faces = int(max_faces)
        self.builder = InputBuilder(input_config, fps)
        self._states: dict[int, _FaceState] = {}
        self._factor = self.motion_config.size / input_config.size
        #: Measure each face's pose and mesh (action units); live turns it off for faces it does not follow.
        self.measure_faces = True

    def step(self, index: int, frame: np.ndarray,
             infer: bool | set[int] | Callable[[dict[int, tuple]], set[int]] = True) -> FrameStep:
        """Process one frame.

        Args:
            index: frame position (increasing by one).
            frame: RGB uint8 frame.
            infer: make model inputs for every face (True), none (False), the given face ids, or the ids a
                function of this frame's ``{face_id: box}`` returns (live picks its followed face that way).
        """
        if self.tracker is None:
            height, width = frame.shape[:2]
            faces = [(0, WholeFrame((0.0, 0.0, float(width), float(height))))]
            cut, n_faces = False, 1
        else:
            tracked = self.tracker.update(frame)
            ranked = sorted(tracked.faces, key=lambda f: -_area(f.box))[: self.max_faces]
            faces = [(f.face_id, f) for f in ranked]
            cut, n_faces = bool(tracked.cut), len(tracked.faces)
        if callable(infer):
            infer = set(infer({face_id: tuple(face.box) for face_id, face in faces}))
        step = FrameStep(index, [], cut, n_faces)
        if cut:
            for face_id, state in self._states.items():
                step.orphan_samples.setdefault(face_id, []).extend(state.break_segment())
                state.present = False
            self.builder.break_face()
        seen = set()
        for face_id, face in faces:
            seen.add(face_id)
            state = self._states.get(face_id)
            if state is None:
                state = self._states[face_id] = _FaceState(self.fps, self.motion_config)
            if not state.present:
                self.builder.break_face(face_id)  # a face back after a gap starts afresh
            matrix, aligned = self.builder.matrix(face, face_id)
            landmarks = getattr(face, "landmarks", None)
            samples: list[MotionSample] = []
            if state.wants(index):
                motion_matrix = matrix * self._factor
                regions = rigid = None
                mesh = getattr(face, "mesh", None)
                if not state.in_segment:
                    mapped = None if mesh is None else np.asarray(mesh) @ motion_matrix[:, :2].T + motion_matrix[:, 2]
                    regions = aligned_regions(mapped, self.motion_config.size)
                    # The head's rigid movement is removed from every flow of the segment (with depth: in 3-D).
                    shape = getattr(face, "mesh3d", None)
                    shape = mesh if shape is None else shape
                    rigid = None if shape is None else rigid_model(shape, motion_matrix, self.motion_config.size)
                    state.anchor = None if rigid is None else rigid.points
                # With a mesh, every crop of the segment is registered on its first one's stable points.
                patch = None
                if state.anchor is not None and mesh is not None:
                    patch = registered_patch(frame, mesh, state.anchor, self.motion_config.size)
                if patch is None:
                    patch = self.builder.motion_patch(frame, matrix)
                pose = head_pose(landmarks, motion_matrix, getattr(face, "mesh", None))
                samples = state.push(index, patch, pose, regions, rigid)
            state.present = True
            want = infer if isinstance(infer, bool) else face_id in infer
            model_input = crop = None
            if want or self.builder.flow:
                # Flow checkpoints need every frame's crop as a possible reference, inferred or not.
                model_input = self.builder.build(frame, face, index, face_id, matrix=(matrix, aligned))
                crop = model_input.crop
                if not want:
                    model_input = None
            mesh = getattr(face, "mesh", None)
            measured = self.measure_faces and mesh is not None
            step.faces.append(FaceStep(face_id, tuple(float(v) for v in face.box), float(_confidence(face)),
                                       landmarks, model_input, samples, matrix, aligned,
                                       measure_face(face) if self.measure_faces else None,
                                       getattr(face, "mesh3d", None),
                                       face_appearance(frame, mesh) if measured else None, crop))
        for face_id, state in self._states.items():
            if face_id in seen:
                continue
            if state.present or state.in_segment:
                step.orphan_samples.setdefault(face_id, []).extend(state.push(index, None))
                state.present = False
        return step

    def finish(self) -> dict[int, list[MotionSample]]:
        """End every face's segment; the samples still waiting, per face."""
        return {face_id: state.break_segment() for face_id, state in self._states.items()}

    def reset(self) -> None:
        self._states.clear()
        self.builder.break_face()
        if self.tracker is not None:
            self.tracker.reset()


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _confidence(face: Any) -> float:
    for name in ("confidence", "score"):
        value = getattr(face, name, None)
        if value is not None:
            return float(value)
    detection = getattr(face, "detection", None)
    return float(getattr(detection, "score", 1.0)) if detection is not None else 1.0
