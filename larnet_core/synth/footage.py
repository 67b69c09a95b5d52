"""Real-looking test footage: faces from real photographs in a scene, entering, leaving, turning, occluded.

Each scenario returns ``(frames, truth)``: ``frames`` is re-iterable (each pass draws the same frames again, one
at a time) and has a length; ``truth`` (:class:`~larnet_core.synth.footage_truth.FootageTruth`) says per frame
which faces are present and where, the shot cuts, the expressions and the head movements. The faces are the
sample photos that installed packages ship (``larnet_core.face.sample_face_photos``), cut out with hair and
shoulders, composited on a textured background, animated with the action-unit deformations of
:mod:`larnet_core.synth` and moved in 2-D (position, scale, roll, and perspective approximations of head turns
and nods: see :mod:`larnet_core.synth.scene`)::

    from larnet_core.synth.footage import face_enters, write_footage

    frames, truth = face_enters(fps=30, size=(640, 360), seconds=5, seed=1)
    write_footage("enters.mp4", frames, fps=30, codec="hevc")
    truth.present()          # per-frame bool: False for the first 2 s

Amplitudes are realistic: a micro-expression moves skin a few pixels on a face about 150 px wide; a turn or
a nod moves the whole face by tens of pixels. Output is deterministic for a seed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from larnet_core.errors import LarnetError
from larnet_core.synth.backdrops import hand_layer, sunglasses_layer, textured_background
from larnet_core.synth.emotions import EMOTIONS, sample_action_units
from larnet_core.synth.footage_truth import (
    ExpressionTruth,
    FootageTruth,
    HeadMovementTruth,
    OcclusionTruth,
    footage_truth,
)
from larnet_core.synth.photo_faces import HeadLayer, available_photos, head_layer
from larnet_core.synth.render import Expression, random_blinks
from larnet_core.synth.scene import ActorPlan, PropPlan, ScenePlan, render_scene
from larnet_core.synth.timing import blink_curve, expression_curve, head_motion, spread_onsets
from larnet_core.video.writer import export_clip_video

__all__ = [
    "FOOTAGE_CODECS",
    "SCENARIOS",
    "Footage",
    "FootageFrames",
    "face_enters",
    "face_leaves",
    "shot_cut",
    "head_turn_and_nod",
    "hand_over_mouth",
    "sunglasses",
    "two_faces",
    "expressions",
    "expression_while_moving",
    "blinking",
    "crying_surprise_laugh",
    "make_footage",
    "footage_truth",
    "write_footage",
    "micro_expression",
    "macro_expression",
    "still_actor",
    "add_expression",
    "add_head_movement",
]

FOOTAGE_CODECS = ("h264", "hevc")
_SAMPLE_PHOTOS = ("grace_hopper", "astronaut")  # what larnet_core.face.sample_face_photos can offer
MICRO_SCALE, MACRO_SCALE = (1.1, 1.5), (2.2, 2.8)


class FootageFrames:
    """The frames of a scene: iterate for RGB uint8 ``(height, width, 3)`` arrays, drawn one at a time; each
    iteration starts again from the first frame and gives the same pixels."""

    def __init__(self, plan: ScenePlan) -> None:
        self.plan = plan

    def __iter__(self) -> Iterator[np.ndarray]:
        return render_scene(self.plan)

    def __len__(self) -> int:
        return self.plan.n_frames


class Footage(NamedTuple):
    """A scenario's output: ``frames, truth = face_enters(...)``."""

    frames: FootageFrames
    truth: FootageTruth


# ----------------------------------------------------------------------------------------------- building blocks


class _Setup:
    """What every scenario starts from: frame count, generator, background, default face size."""

    def __init__(self, scenario: str, code: int, fps: float, size: tuple[int, int], seconds: float, seed: int,
                 face_px: int | None, face_share: float = 0.42) -> None:
        if fps <= 0 or seconds <= 0:
            raise LarnetError(f"fps and seconds must be positive, got fps={fps}, seconds={seconds}")
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 64:
            raise LarnetError(f"footage size {self.size[0]}x{self.size[1]} is too small; use at least 64x64")
        self.scenario, self.fps, self.seed = scenario, float(fps), int(seed)
        self.n = int(round(seconds * fps))
        self.code = code
        self.rng = np.random.default_rng([int(seed), 40, code])
        self.face_px = int(face_px or round(face_share * self.size[1]))

    def frames(self, seconds: float) -> int:
        return int(round(seconds * self.fps))

    def background(self, style: str = "indoor", salt: int = 0) -> np.ndarray:
        return textured_background(self.size, np.random.default_rng([self.seed, 41, self.code, salt]), style)


def _layer(photo: str, face_px: int) -> HeadLayer:
    return head_layer(photo, face_px)


def _ease(u: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero speed at both ends."""
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def still_actor(rng: np.random.Generator, n_frames: int, fps: float, layer: HeadLayer, x: float, y: float,
                wander_px: float = 1.0, blinks: bool = False) -> ActorPlan:
    """A person standing still-ish with the face centre at ``(x, y)``: a slow drift of up to ``wander_px``
    pixels, a little roll, and (``blinks``) a blink every 2-5 s."""
    motion = head_motion(rng, n_frames, fps, wander_px, 0.4, freq_range=(0.05, 0.5))
    lids = random_blinks(rng, n_frames, fps, 0.0, every_s=(2.0, 5.0)) if blinks else None
    n = n_frames
    return ActorPlan(layer=layer, x=x + motion.dx, y=y + motion.dy, scale=np.ones(n), roll=motion.roll,
                     yaw=np.zeros(n), pitch=np.zeros(n), shown=np.ones(n, dtype=bool), eyelids=lids)


def _actor(setup: _Setup, layer: HeadLayer, x: float, y: float, wander_px: float = 1.0,
           blinks: bool = False) -> ActorPlan:
    return still_actor(setup.rng, setup.n, setup.fps, layer, x, y, wander_px, blinks)


def micro_expression(rng: np.random.Generator, fps: float, emotion: str | None = None) -> tuple[str, dict, int, float]:
    """Draw a micro-expression: ``(emotion, action units, length in frames, deformation scale)``.

    Lengths are 0.2 s to just under 0.5 s (and at least 3 frames); the scale makes it move a few pixels.
    """
    emotion = emotion or str(rng.choice([e for e in EMOTIONS if e != "others"]))
    length = int(rng.integers(max(3, math.ceil(0.2 * fps)), max(4, math.ceil(0.5 * fps))))
    return emotion, sample_action_units(emotion, rng, peak=(0.85, 1.0)), length, float(rng.uniform(*MICRO_SCALE))


def macro_expression(rng: np.random.Generator, fps: float, emotion: str | None = None) -> tuple[str, dict, int, float]:
    """Draw a macro-expression (0.8-2 s, about twice a micro-expression's movement), as :func:`micro_expression`."""
    emotion = emotion or str(rng.choice([e for e in EMOTIONS if e != "others"]))
    length = int(rng.integers(math.ceil(0.8 * fps), math.ceil(2.0 * fps) + 1))
    return emotion, sample_action_units(emotion, rng, peak=(0.85, 1.0)), length, float(rng.uniform(*MACRO_SCALE))


def add_expression(actor: ActorPlan, rng: np.random.Generator, kind: str, emotion: str, aus: dict, onset: int,
                   length: int, scale: float, person: int = 0) -> ExpressionTruth:
    """Put an expression of ``length`` frames from ``onset`` on the actor (apex 35-55 % in); return its truth."""
    offset = onset + length - 1
    apex = onset + int(np.clip(round((length - 1) * rng.uniform(0.35, 0.55)), 1, length - 2))
    actor.expressions = actor.expressions + (Expression(dict(aus), onset, apex, offset, scale),)
    return ExpressionTruth(person, kind, emotion, dict(aus), onset, apex, offset)


def add_head_movement(actor: ActorPlan, kind: str, start: int, length: int, degrees: float,
                      person: int = 0) -> HeadMovementTruth:
    """Out to ``degrees`` and back over ``length`` frames (raised cosine, peak in the middle)."""
    end = start + length - 1
    peak = start + (length - 1) // 2
    curve = expression_curve(actor.n_frames, start, peak, end) * degrees
    if kind == "turn":
        actor.yaw = actor.yaw + curve
    elif kind == "nod":
        actor.pitch = actor.pitch + curve
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    return HeadMovementTruth(person, kind, start, peak, end, float(degrees))


def _skin_colour(layer: HeadLayer) -> np.ndarray:
    """Mean colour of the cheek below the image-left eye: the hand gets the same skin."""
    m = layer.landmarks
    x = int(round(0.5 * (m.left_eye[0] + m.mouth_left[0])))
    y = int(round(0.4 * m.left_eye[1] + 0.6 * m.mouth_left[1]))
    r = max(2, int(0.06 * layer.face_size[0]))
    return layer.image[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 3).mean(axis=0)


def _finish(setup: _Setup, plan: ScenePlan, **events) -> Footage:
    return Footage(FootageFrames(plan), footage_truth(plan, setup.scenario, setup.fps, setup.seed, **events))


def _plan(setup: _Setup, backgrounds, shot=None, actors=(), props=(), noise: float = 1.5) -> ScenePlan:
    shot = np.zeros(setup.n, dtype=int) if shot is None else shot
    return ScenePlan(setup.size, tuple(backgrounds), shot, tuple(actors), tuple(props), float(noise),
                     (setup.seed, 42, len(setup.scenario)))


def _check_time(setup: _Setup, needed_s: float) -> None:
    if setup.n < setup.frames(needed_s):
        raise LarnetError(f"the {setup.scenario} scenario needs at least {needed_s:g} s; "
                          f"got {setup.n / setup.fps:g} s")


# ------------------------------------------------------------------------------------------------------ scenarios


def face_enters(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 5.0, seed: int = 0,
                photo: str = "grace_hopper", enter_s: float = 2.0, face_px: int | None = None, noise: float = 1.5,
                blinks: bool = False) -> Footage:
    """Empty background until ``enter_s``; then a face slides in from one side (about 0.8 s) and stays."""
    setup = _Setup("face_enters", 1, fps, size, seconds, seed, face_px)
    _check_time(setup, enter_s + 1.5)
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, blinks=blinks)
    side = -1.0 if setup.rng.random() < 0.5 else 1.0
    start, travel = setup.frames(enter_s), max(2, setup.frames(0.8))
    t = np.arange(setup.n)
    # From fully outside (face box and shoulders past the edge) to the middle of the frame.
    outside = w * 0.5 + layer.image.shape[1] * 0.6
    actor.x = actor.x + side * outside * (1.0 - _ease((t - start) / travel))
    actor.shown = t >= start
    return _finish(setup, _plan(setup, [setup.background("indoor")], actors=[actor], noise=noise))


def face_leaves(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 5.0, seed: int = 0,
                photo: str = "grace_hopper", leave_s: float = 2.0, face_px: int | None = None, noise: float = 1.5,
                blinks: bool = False) -> Footage:
    """A face in the middle; at ``leave_s`` the person walks out of the side of the frame (about 1 s, with a
    slight bob and sway); background only for the rest."""
    setup = _Setup("face_leaves", 2, fps, size, seconds, seed, face_px)
    _check_time(setup, leave_s + 1.5)
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, blinks=blinks)
    side = -1.0 if setup.rng.random() < 0.5 else 1.0
    start, travel = setup.frames(leave_s), max(2, setup.frames(1.0))
    t = np.arange(setup.n)
    u = np.clip((t - start) / travel, 0.0, 1.0)
    outside = w * 0.5 + layer.image.shape[1] * 0.6
    actor.x = actor.x + side * outside * u ** 1.5  # starts slowly, leaves at walking speed
    walking = (u > 0) & (u < 1)
    actor.y = actor.y + walking * 0.03 * setup.face_px * np.abs(np.sin(np.pi * 3 * u))  # steps
    actor.roll = actor.roll + walking * 3.0 * np.sin(np.pi * 3 * u)
    actor.yaw = actor.yaw + side * 20.0 * _ease(u * 3)  # turns towards where they walk
    actor.shown = u < 1.0
    return _finish(setup, _plan(setup, [setup.background("indoor")], actors=[actor], noise=noise))


def shot_cut(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 6.0, seed: int = 0,
             photo: str = "grace_hopper", cut_s: tuple[float, float] = (2.0, 4.0), face_px: int | None = None,
             noise: float = 1.5, blinks: bool = False) -> Footage:
    """A face shot; a hard cut at ``cut_s[0]`` to a different (outdoor) scene with no face; a cut back to the
    face shot at ``cut_s[1]`` (the face a little to the side of where it was)."""
    setup = _Setup("shot_cut", 3, fps, size, seconds, seed, face_px)
    first, second = setup.frames(cut_s[0]), setup.frames(cut_s[1])
    if not 0 < first < second < setup.n:
        raise LarnetError(f"cuts at {cut_s} s do not fall inside a {setup.n / setup.fps:g} s clip in order")
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, blinks=blinks)
    t = np.arange(setup.n)
    actor.x = actor.x + np.where(t >= second, setup.rng.uniform(-0.08, 0.08) * w, 0.0)
    shot = np.where((t >= first) & (t < second), 1, 0)
    actor.shown = shot == 0
    backgrounds = [setup.background("indoor"), setup.background("outdoor", salt=1)]
    return _finish(setup, _plan(setup, backgrounds, shot=shot, actors=[actor], noise=noise))


def head_turn_and_nod(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 5.0,
                      seed: int = 0, photo: str = "grace_hopper", face_px: int | None = None, noise: float = 1.5,
                      blinks: bool = False) -> Footage:
    """A face that turns (15-25 degrees, 0.5-1.0 s, and back) and later nods (10-18 degrees down, 0.5-0.8 s, and
    back), with no expression: nothing here should be spotted."""
    setup = _Setup("head_turn_and_nod", 4, fps, size, seconds, seed, face_px)
    _check_time(setup, 3.5)
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, blinks=blinks)
    rng = setup.rng
    turn_len = int(rng.integers(setup.frames(0.5), setup.frames(1.0) + 1))
    nod_len = int(rng.integers(setup.frames(0.5), setup.frames(0.8) + 1))
    gap = setup.frames(0.5)
    turn_at, nod_at = spread_onsets(rng, setup.n, [turn_len, nod_len], gap)
    moves = [
        add_head_movement(actor, "turn", turn_at, turn_len, float(rng.choice([-1, 1]) * rng.uniform(15, 25))),
        add_head_movement(actor, "nod", nod_at, nod_len, float(rng.uniform(10, 18))),
    ]
    return _finish(setup, _plan(setup, [setup.background("indoor")], actors=[actor], noise=noise),
                   head_movements=moves)


def hand_over_mouth(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 5.0,
                    seed: int = 0, photo: str = "grace_hopper", cover_s: tuple[float, float] = (1.5, 1.0),
                    face_px: int | None = None, noise: float = 1.5, blinks: bool = False) -> Footage:
    """A hand comes up from below, covers the mouth from ``cover_s[0]`` for ``cover_s[1]`` seconds (following
    the face), and goes down again (about 0.4 s each way). The face stays present throughout."""
    setup = _Setup("hand_over_mouth", 5, fps, size, seconds, seed, face_px)
    _check_time(setup, cover_s[0] + cover_s[1] + 1.0)
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, blinks=blinks)
    hand = _hand_over_mouth(setup, actor, layer, cover_s)
    plan = _plan(setup, [setup.background("indoor")], actors=[actor], props=[hand], noise=noise)
    return _finish(setup, plan, occlusions=_covered(plan, setup))


def _hand_over_mouth(setup: _Setup, actor: ActorPlan, layer: HeadLayer, cover_s: tuple[float, float]) -> PropPlan:
    """A hand of the face's skin that rises from below the frame, covers the mouth from ``cover_s[0]`` for
    ``cover_s[1]`` seconds following the face (its movements must be on ``actor`` already), and goes down again
    (0.4 s each way)."""
    w, h = setup.size
    rng = setup.rng
    length = 1.15 * setup.face_px
    image, alpha, anchor = hand_layer(length, _skin_colour(layer), rng)
    mouths = actor.points()[:, 3:5].mean(axis=1)
    move = max(2, setup.frames(0.4))
    up, hold = setup.frames(cover_s[0]) - move, setup.frames(cover_s[1])
    t = np.arange(setup.n)
    rise = _ease((t - up) / move) - _ease((t - (up + move + hold)) / move)
    below = h + length * 0.8  # anchor there: the hand is out of the frame
    target_x = mouths[:, 0] + 0.38 * length
    hand_x = target_x + (1.0 - rise) * 0.15 * w
    hand_y = mouths[:, 1] + (1.0 - rise) * (below - mouths[:, 1]) + rng.normal(0, 0.3, setup.n)
    angle = rng.uniform(-10, 10) + (1.0 - rise) * 25.0
    shown = (t >= up) & (t < up + 2 * move + hold)
    return PropPlan(image, alpha, anchor, hand_x, hand_y, angle, shown)


def sunglasses(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 5.0, seed: int = 0,
               photo: str = "grace_hopper", worn_s: tuple[float, float] = (1.5, 2.5),
               blinks_s: Sequence[float] = (0.6, 4.4), face_px: int | None = None, noise: float = 1.5) -> Footage:
    """A still-ish face that blinks (at ``blinks_s``) and wears dark sunglasses from ``worn_s[0]`` for
    ``worn_s[1]`` seconds (they appear and go in one frame, following the face). Nothing to spot; the truth's
    occlusion (kind ``"sunglasses"``) is the frames they are worn, over the eyes."""
    setup = _Setup("sunglasses", 11, fps, size, seconds, seed, face_px)
    _check_time(setup, worn_s[0] + worn_s[1])
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, wander_px=0.3)
    _add_blinks(actor, setup, blinks_s)
    eyes = actor.points()[:, :2]
    distance = float(np.linalg.norm(eyes[0, 1] - eyes[0, 0]))
    image, alpha, anchor = sunglasses_layer(distance, setup.rng)
    centre = eyes.mean(axis=1)
    t = np.arange(setup.n)
    start, end = setup.frames(worn_s[0]), setup.frames(worn_s[0] + worn_s[1]) - 1
    roll = np.degrees(np.arctan2(eyes[:, 1, 1] - eyes[:, 0, 1], eyes[:, 1, 0] - eyes[:, 0, 0]))
    glasses = PropPlan(image, alpha, anchor, centre[:, 0], centre[:, 1] + 0.06 * distance, roll,
                       (t >= start) & (t <= end))
    plan = _plan(setup, [setup.background("indoor")], actors=[actor], props=[glasses], noise=noise)
    return _finish(setup, plan, occlusions=[OcclusionTruth(0, "sunglasses", start, end)])


def _covered(plan: ScenePlan, setup: _Setup) -> list[OcclusionTruth]:
    """The truth of the hand's cover of person 0: the frames it hides their mouth."""
    truth = footage_truth(plan, setup.scenario, setup.fps, setup.seed)
    covered = np.nonzero(truth.faces[0].occluded)[0]
    return [OcclusionTruth(0, "hand", int(covered[0]), int(covered[-1]))] if len(covered) else []


def two_faces(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 4.0, seed: int = 0,
              photos: tuple[str, str] = ("grace_hopper", "astronaut"), face_px: int | None = None,
              noise: float = 1.5, blinks: bool = False) -> Footage:
    """Two different people side by side (person 0 on the left), each drifting and turning slightly on their
    own. Without scikit-image (no astronaut photo) the second person is the first photo mirrored."""
    setup = _Setup("two_faces", 6, fps, size, seconds, seed, face_px, face_share=0.36)
    w, h = setup.size
    here = available_photos()
    actors = []
    for person, (photo, x) in enumerate(zip(photos, (0.28 * w, 0.72 * w))):
        if photo in here or photo not in _SAMPLE_PHOTOS:  # an unknown name fails in head_layer, saying why
            layer = _layer(photo, setup.face_px)
        else:  # a sample photo whose package is missing: the other person mirrored stands in
            layer = _layer(photos[1 - person], setup.face_px).mirrored()
        actor = _actor(setup, layer, x, h * 0.45, wander_px=3.0, blinks=blinks)
        sway = head_motion(setup.rng, setup.n, setup.fps, 4.0, 0.0, tremor_px=0.0, freq_range=(0.1, 0.4))
        actor.yaw = actor.yaw + sway.dx  # a few degrees of independent turning
        actor.pitch = actor.pitch + 0.5 * sway.dy
        actors.append(actor)
    return _finish(setup, _plan(setup, [setup.background("indoor")], actors=actors, noise=noise))


def expressions(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 4.0, seed: int = 0,
                photo: str = "grace_hopper", emotions: Sequence[str] | None = None, micro: int = 2,
                face_px: int | None = None, noise: float = 1.5, blinks: bool = False) -> Footage:
    """A still-ish face showing ``micro`` micro-expressions (one or two; emotions drawn unless given), at least
    0.6 s apart."""
    setup = _Setup("expressions", 7, fps, size, seconds, seed, face_px)
    if emotions is not None:
        micro = len(emotions)
    if not 1 <= micro <= 2:
        raise LarnetError(f"the expressions scenario shows one or two micro-expressions, not {micro}")
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, wander_px=0.5, blinks=blinks)
    rng = setup.rng
    drawn = [micro_expression(rng, setup.fps, None if emotions is None else emotions[k]) for k in range(micro)]
    gap = setup.frames(0.6)
    lengths = [d[2] for d in drawn]
    if sum(lengths) + gap * (len(lengths) + 1) > setup.n:
        raise LarnetError(f"{micro} micro-expression(s) do not fit in {setup.n / setup.fps:g} s; use more seconds")
    truths = []
    for (emotion, aus, length, scale), onset in zip(drawn, spread_onsets(rng, setup.n, lengths, gap)):
        truths.append(add_expression(actor, rng, "micro", emotion, aus, onset, length, scale))
    return _finish(setup, _plan(setup, [setup.background("indoor")], actors=[actor], noise=noise),
                   expressions=truths)


def expression_while_moving(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 5.0,
                            seed: int = 0, photo: str = "grace_hopper", aus: dict | None = None, kind: str = "micro",
                            movement: str | None = "turn", degrees: float = 20.0, face_px: int | None = None,
                            noise: float = 1.5, blinks_s: Sequence[float] = ()) -> Footage:
    """One expression of known action units (default 6+12) in the middle of the clip, shown while the head turns
    (``movement="turn"``, ``degrees`` of yaw) or nods (``"nod"``), the movement starting before the expression's
    onset and ending after its offset; ``movement=None`` keeps the head still. ``kind``: ``micro`` (0.3 s, the
    generated micro-expressions' strength) or ``macro`` (1 s, about twice it). ``blinks_s``: a blink (about
    0.25 s) starting at each of these times (not in the truth: a blink is not an expression)."""
    if kind not in ("micro", "macro"):
        raise LarnetError(f"kind must be micro or macro, not {kind!r}")
    if movement not in (None, "turn", "nod"):
        raise LarnetError(f"movement must be turn, nod or None, not {movement!r}")
    setup = _Setup("expression_while_moving", 8, fps, size, seconds, seed, face_px)
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, wander_px=0.3)
    length = setup.frames(0.3 if kind == "micro" else 1.0)
    onset = (setup.n - length) // 2
    scale = float(np.mean(MICRO_SCALE if kind == "micro" else MACRO_SCALE))
    units = dict(aus) if aus else {6: 1.0, 12: 1.0}
    truths = [add_expression(actor, setup.rng, kind, "unknown", units, onset, length, scale)]
    _add_blinks(actor, setup, blinks_s)
    moves = []
    if movement is not None:
        span = length + 2 * setup.frames(0.3)
        if span > setup.n:
            raise LarnetError(f"the movement around the expression needs {span / setup.fps:.1f} s; use more seconds")
        moves.append(add_head_movement(actor, movement, onset - setup.frames(0.3), span, float(degrees)))
    return _finish(setup, _plan(setup, [setup.background("indoor")], actors=[actor], noise=noise),
                   expressions=truths, head_movements=moves)


def blinking(*, fps: float = 30.0, size: tuple[int, int] = (640, 360), seconds: float = 5.0, seed: int = 0,
             photo: str = "grace_hopper", blinks_s: Sequence[float] = (0.8, 2.2, 3.6), face_px: int | None = None,
             noise: float = 1.5) -> Footage:
    """A still-ish face that only blinks (about 0.25 s each, starting at ``blinks_s``): no expression, nothing
    to spot (the truth has no expressions: the datasets do not code blinks)."""
    setup = _Setup("blinking", 9, fps, size, seconds, seed, face_px)
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, wander_px=0.3)
    _add_blinks(actor, setup, blinks_s)
    return _finish(setup, _plan(setup, [setup.background("indoor")], actors=[actor], noise=noise))


#: The story of :func:`crying_surprise_laugh`, in seconds: (onset, length) of each expression, the hand's cover
#: (from, for), the head movements (start, length, degrees) and the blinks. A raised cosine peaks at each
#: expression's apex, so every expression spans a second and more: macro-expressions.
STORY_SADNESS, STORY_WIDE_EYED, STORY_LAUGH = (1.4, 1.6), (5.9, 1.3), (9.4, 1.5)
STORY_COVER = (5.0, 3.0)
STORY_TURN, STORY_NOD = (1.1, 2.2, 16.0), (9.1, 2.1, 11.0)
STORY_BLINKS = (0.6, 4.1, 11.5)


def crying_surprise_laugh(*, fps: float = 24.0, size: tuple[int, int] = (640, 360), seconds: float = 12.0,
                          seed: int = 0, photo: str = "grace_hopper", face_px: int | None = None,
                          noise: float = 1.5) -> Footage:
    """A moving, expressive face (the times are :data:`STORY_SADNESS` and the rest): the head sways a few degrees
    throughout; a sadness (AU1+4+15) while the head turns; a hand comes up over the mouth and, under it, the brows
    rise and the eyes widen (AU1+2+5, surprise or fear); the hand goes down; a laugh (AU6+12+25+26) while the
    head nods; three blinks. The truth has the three expressions (macro), the cover and the two movements."""
    setup = _Setup("crying_surprise_laugh", 10, fps, size, seconds, seed, face_px)
    _check_time(setup, STORY_LAUGH[0] + STORY_LAUGH[1] + 0.5)
    layer = _layer(photo, setup.face_px)
    w, h = setup.size
    actor = _actor(setup, layer, w * 0.5, h * 0.42, wander_px=2.0)
    rng = setup.rng
    sway = head_motion(rng, setup.n, setup.fps, 3.0, 0.0, tremor_px=0.0, freq_range=(0.1, 0.4))
    actor.yaw = actor.yaw + sway.dx  # a few degrees of turning and nodding all along
    actor.pitch = actor.pitch + 0.5 * sway.dy
    scale = float(np.mean(MACRO_SCALE))
    truths = [add_expression(actor, rng, "macro", emotion, aus, setup.frames(start), setup.frames(length), scale)
              for emotion, aus, (start, length) in (
                  ("sadness", {1: 1.0, 4: 1.0, 15: 1.0}, STORY_SADNESS),
                  ("surprise", {1: 1.0, 2: 1.0, 5: 1.0}, STORY_WIDE_EYED),
                  ("happiness", {6: 1.0, 12: 1.0, 25: 1.0, 26: 0.8}, STORY_LAUGH))]
    moves = [add_head_movement(actor, kind, setup.frames(start), setup.frames(length), degrees)
             for kind, (start, length, degrees) in (("turn", STORY_TURN), ("nod", STORY_NOD))]
    _add_blinks(actor, setup, STORY_BLINKS)
    hand = _hand_over_mouth(setup, actor, layer, STORY_COVER)
    plan = _plan(setup, [setup.background("indoor")], actors=[actor], props=[hand], noise=noise)
    return _finish(setup, plan, expressions=truths, head_movements=moves, occlusions=_covered(plan, setup))


def _add_blinks(actor: ActorPlan, setup: _Setup, blinks_s: Sequence[float]) -> None:
    """A full blink (closing in 0.08 s, open again 0.17 s later) starting at each time of ``blinks_s``."""
    if not len(blinks_s):
        return
    lids = np.zeros(setup.n) if actor.eyelids is None else np.asarray(actor.eyelids, dtype=np.float64).copy()
    for start in blinks_s:
        if not 0 <= start * setup.fps < setup.n:
            raise LarnetError(f"a blink at {start:g} s falls outside the {setup.n / setup.fps:g} s clip")
        curve = blink_curve(setup.n, start * setup.fps, max(1.0, 0.08 * setup.fps), max(1.0, 0.17 * setup.fps))
        np.maximum(lids, curve, out=lids)
    actor.eyelids = lids


SCENARIOS: dict[str, Callable[..., Footage]] = {
    "face_enters": face_enters,
    "face_leaves": face_leaves,
    "shot_cut": shot_cut,
    "head_turn_and_nod": head_turn_and_nod,
    "hand_over_mouth": hand_over_mouth,
    "sunglasses": sunglasses,
    "two_faces": two_faces,
    "expressions": expressions,
    "expression_while_moving": expression_while_moving,
    "blinking": blinking,
    "crying_surprise_laugh": crying_surprise_laugh,
}


def make_footage(name: str, **options) -> Footage:
    """Run a scenario by name (a key of :data:`SCENARIOS`) with keyword options (fps, size, seconds, seed, ...)."""
    if name not in SCENARIOS:
        raise LarnetError(f"unknown footage scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name](**options)


def write_footage(path: str | Path, frames: Iterable[np.ndarray], fps: float, codec: str = "h264") -> Path:
    """Encode frames as ``.mp4`` (or ``.mkv``) with H.264 (libx264) or HEVC (libx265), via PyAV.

    Raises:
        LarnetError: a codec other than ``h264``/``hevc``.
        VideoError: as :func:`~larnet_core.video.writer.export_clip_video`.
    """
    if codec not in FOOTAGE_CODECS:
        raise LarnetError(f"footage codec {codec!r} is not supported; use one of {', '.join(FOOTAGE_CODECS)}")
    return export_clip_video(frames, path, fps=fps, codec=codec)
