"""Render frame sequences: a face, its expressions over time, and the distractors a camera adds.

One function, :func:`render_frames`, serves the CASME II-style clips, the long videos and the sample clips
made from real photographs: it composes per-frame action-unit fields, blinks, head jitter, illumination drift
and sensor noise into one ``cv2.remap`` and a few array operations per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import cv2
import numpy as np

from larnet_core.synth.action_units import AuKey, action_unit_field, format_au_string, remap_with_field
from larnet_core.synth.emotions import EMOTIONS, sample_action_units
from larnet_core.synth.landmarks import FaceLandmarks, landmarks_from_box
from larnet_core.synth.timing import HeadMotion, blink_curve, expression_curve, head_motion, illumination_drift

__all__ = ["Distractors", "Expression", "ClipTruth", "NoiseBank", "pose_matrix", "render_frames", "random_blinks",
           "make_sample_clip"]


@dataclass(frozen=True)
class Distractors:
    """What a camera and a live subject add on top of the expression.

    Attributes:
        noise_sigma: Sensor noise, standard deviation in grey levels.
        jitter_px: Largest head translation within a clip, pixels.
        roll_deg: Largest head roll within a clip, degrees.
        blink_probability: Chance that a clip contains a blink (AU45).
        illumination: Largest relative change of brightness over a clip.
        jpeg_quality: JPEG quality of the written frames.
    """

    noise_sigma: float = 2.5
    jitter_px: float = 0.65
    roll_deg: float = 0.15
    blink_probability: float = 0.25
    illumination: float = 0.025
    jpeg_quality: int = 91

    @classmethod
    def for_difficulty(cls, difficulty: float) -> "Distractors":
        """Distractor strengths for a difficulty in [0, 1] (0.5 gives the defaults above)."""
        d = float(np.clip(difficulty, 0.0, 1.0))
        return cls(
            noise_sigma=1.0 + 3.0 * d,
            jitter_px=0.2 + 0.9 * d,
            roll_deg=0.05 + 0.2 * d,
            blink_probability=0.1 + 0.3 * d,
            illumination=0.01 + 0.03 * d,
            jpeg_quality=int(round(96 - 10 * d)),
        )

    @classmethod
    def none(cls) -> "Distractors":
        """No noise, no motion, no blinks: only the expression changes between frames."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 100)


@dataclass(frozen=True)
class Expression:
    """One expression on a timeline: action units with peak intensities and 0-based frame positions."""

    aus: Mapping[AuKey, float]
    onset: int
    apex: int
    offset: int
    scale: float = 1.0


@dataclass(frozen=True)
class ClipTruth:
    """Ground truth of a rendered clip. Frame positions are 0-based indices into the clip's frames."""

    onset: int
    apex: int
    offset: int
    emotion: str
    aus: dict[AuKey, float] = field(default_factory=dict)
    fps: float = 30.0

    @property
    def au_string(self) -> str:
        """Action units as the coding sheets write them, e.g. ``"6+12"``."""
        return format_au_string(self.aus)

    @property
    def duration_s(self) -> float:
        """Onset-to-offset duration in seconds."""
        return (self.offset - self.onset) / self.fps


def pose_matrix(centre: tuple[float, float], dx: float = 0.0, dy: float = 0.0, scale: float = 1.0,
                roll_deg: float = 0.0) -> np.ndarray:
    """2x3 affine: rotate by ``roll_deg`` and scale about ``centre``, then translate by ``(dx, dy)``."""
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), -float(roll_deg), float(scale))
    matrix[0, 2] += dx
    matrix[1, 2] += dy
    return matrix


class NoiseBank:
    """Sensor noise for a stream of frames: each frame gets a random crop of one of two noise fields drawn
    once, fresh-looking noise at a fraction of the cost of drawing it per frame.

    Args:
        rng: Source of the noise (the same generator is passed to :meth:`sample`).
        shape: ``(height, width)`` of the frames.
        sigma: Standard deviation in grey levels.
    """

    _PAD = 16

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        h, w = self.shape
        self._fields = rng.standard_normal((2, h + self._PAD, w + self._PAD, 3), dtype=np.float32)
        self._fields *= np.float32(sigma)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One frame's noise, ``(height, width, 3)`` float32 (a view: add it, do not modify it)."""
        h, w = self.shape
        oy, ox = (int(v) for v in rng.integers(0, self._PAD + 1, 2))
        return self._fields[int(rng.integers(2)), oy:oy + h, ox:ox + w]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Affine ``outer ∘ inner`` (apply ``inner`` first)."""
    o = np.vstack([outer, [0.0, 0.0, 1.0]])
    i = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (o @ i)[:2]


def render_frames(
    base: np.ndarray,
    landmarks: FaceLandmarks,
    n_frames: int,
    expressions: Sequence[Expression] = (),
    eyelids: np.ndarray | None = None,
    motion: HeadMotion | None = None,
    gain: np.ndarray | None = None,
    gradient: np.ndarray | None = None,
    noise_sigma: float = 0.0,
    rng: np.random.Generator | None = None,
    pose: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``n_frames`` RGB uint8 frames of ``base`` animated over time.

    Args:
        base: Neutral face image ``(H, W, 3)`` uint8.
        landmarks: Key points of ``base``.
        n_frames: Number of frames.
        expressions: Expressions on the timeline (their fields are summed where they overlap).
        eyelids: Per-frame eyelid closure (blinks), 0..1.
        motion: Per-frame head translation/roll about the face centre.
        gain: Per-frame brightness factor.
        gradient: Per-frame left-to-right brightness slope (fraction across the frame).
        noise_sigma: Sensor noise in grey levels.
        rng: Source of the noise (required when ``noise_sigma`` > 0).
        pose: Fixed 2x3 affine placing the face in the frame (per-clip position, scale, roll).
    """
    h, w = base.shape[:2]
    pose = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) if pose is None else np.asarray(pose, dtype=np.float64)
    posed = landmarks.transformed(pose)
    centre = np.mean([posed.left_eye, posed.right_eye, posed.nose_tip], axis=0)
    fields = [action_unit_field((h, w), posed, e.aus, e.scale) for e in expressions]
    curves = [expression_curve(n_frames, e.onset, e.apex, e.offset) for e in expressions]
    blink_field = action_unit_field((h, w), posed, {45: 1.0}) if eyelids is not None and np.any(eyelids) else None
    columns = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5)[None, :, None]
    bank = None
    if noise_sigma > 0:
        if rng is None:
            raise ValueError("noise needs an rng")
        bank = NoiseBank(rng, (h, w), noise_sigma)
    displacement = np.zeros((h, w, 2), dtype=np.float32)
    for t in range(n_frames):
        displacement.fill(0.0)
        for fld, curve in zip(fields, curves):
            if curve[t] > 0:
                displacement += np.float32(curve[t]) * fld
        if blink_field is not None and eyelids[t] > 0:
            displacement += np.float32(eyelids[t]) * blink_field
        matrix = pose
        if motion is not None:
            jitter = pose_matrix(centre, motion.dx[t], motion.dy[t], 1.0, motion.roll[t])
            matrix = _compose(jitter, pose)
        frame = remap_with_field(base, displacement, cv2.invertAffineTransform(matrix))
        if bank is None and gain is None and gradient is None:
            yield frame
            continue
        work = frame.astype(np.float32)
        if gain is not None or gradient is not None:
            g = np.float32(1.0 if gain is None else gain[t])
            k = np.float32(0.0 if gradient is None else gradient[t])
            work *= g + k * columns
        work += np.float32(0.5)  # round, not truncate, below
        if bank is not None:
            work += bank.sample(rng)
        np.clip(work, 0, 255, out=work)
        yield work.astype(np.uint8)


def random_blinks(rng: np.random.Generator, n_frames: int, fps: float, probability: float,
                  every_s: tuple[float, float] | None = None) -> np.ndarray:
    """Eyelid curve with random blinks: one with ``probability`` in a short clip, or one every ``every_s``
    seconds (a random interval in that range) in a long video."""
    lids = np.zeros(n_frames, dtype=np.float64)

    def one(start: float) -> None:
        close = max(1.0, rng.uniform(0.06, 0.1) * fps)
        reopen = max(1.0, rng.uniform(0.1, 0.2) * fps)
        np.maximum(lids, blink_curve(n_frames, start, close, reopen, rng.uniform(0.7, 1.0)), out=lids)

    if every_s is None:
        if rng.random() < probability:
            one(rng.uniform(-0.1 * fps, n_frames))
        return lids
    t = rng.uniform(0.0, every_s[1]) * fps
    while t < n_frames:
        one(t)
        t += rng.uniform(*every_s) * fps
    return lids


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and image.max(initial=0) <= 1.0:
            image = image * 255.0
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 16:
        raise ValueError(f"expected an RGB face image of at least 16x16 pixels, got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3])


def make_sample_clip(
    face_image: np.ndarray,
    emotion: str,
    seed: int,
    fps: float = 30.0,
    seconds: float = 2.0,
    landmarks: FaceLandmarks | None = None,
    amplitude: float = 1.0,
    duration: float | None = None,
    distractors: Distractors | None = None,
) -> tuple[list[np.ndarray], ClipTruth]:
    """Animate one micro-expression on any face picture (a photograph or a synthetic face).

    The clip starts neutral, shows one expression of ``emotion`` (action units drawn as in the synthetic
    dataset) and returns to neutral, with a little head jitter and sensor noise.

    Args:
        face_image: RGB image ``(H, W, 3)`` (grey and RGBA are accepted; floats in 0..1 too).
        emotion: One of the seven CASME II emotions.
        seed: Seeds every random choice; the same arguments give the same frames.
        fps: Frame rate of the clip.
        seconds: Clip length.
        landmarks: Key points of the face; ``None`` treats the whole image as the face box
            (:func:`landmarks_from_box`), right for a face-centred crop.
        amplitude: Multiplies the deformation (1.0 = micro-expression, 2-3 = macro-expression).
        duration: Onset-to-offset time in seconds; default a random micro-expression length (0.25-0.45 s).
        distractors: Noise and motion; default mild (noise 1 grey level, 0.3 px jitter, no blink).

    Returns:
        ``(frames, truth)``: RGB uint8 frames and the expression's 0-based onset/apex/offset, emotion and
        action units.
    """
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; use one of {', '.join(EMOTIONS)}")
    base = _as_rgb(face_image)
    h, w = base.shape[:2]
    n_frames = int(round(seconds * fps))
    rng = np.random.default_rng([int(seed), 7])
    length = duration if duration is not None else rng.uniform(0.25, 0.45)
    span = max(2, int(round(length * fps)))
    if span + 2 > n_frames:
        raise ValueError(f"a {seconds} s clip at {fps} fps is too short for a {length:.2f} s expression")
    onset = int(rng.integers(max(1, n_frames // 5), max(2, n_frames - span - 1)))
    apex = onset + max(1, min(span - 1, int(round(span * rng.uniform(0.35, 0.55)))))
    offset = onset + span
    aus = sample_action_units(emotion, rng, peak=(0.8, 1.0))
    marks = landmarks if landmarks is not None else landmarks_from_box((0, 0, w, h))
    dis = distractors or Distractors(noise_sigma=1.0, jitter_px=0.3, roll_deg=0.05, blink_probability=0.0,
                                     illumination=0.0, jpeg_quality=95)
    motion = head_motion(rng, n_frames, fps, dis.jitter_px, dis.roll_deg) if dis.jitter_px > 0 else None
    lids = random_blinks(rng, n_frames, fps, dis.blink_probability)
    gain, gradient = illumination_drift(rng, n_frames, dis.illumination) if dis.illumination > 0 else (None, None)
    frames = list(render_frames(
        base, marks, n_frames, [Expression(aus, onset, apex, offset, amplitude)], eyelids=lids, motion=motion,
        gain=gain, gradient=gradient, noise_sigma=dis.noise_sigma, rng=rng,
    ))
    return frames, ClipTruth(onset, apex, offset, emotion, dict(aus), float(fps))
