"""Is the mouth, are the brows, are the eyes covered? A per-frame check of three face regions against the person's
own neutral appearance.

A hand over the mouth (or a cup, a phone, a microphone) does not stop the face mesh: MediaPipe keeps fitting a
mouth where it expects one, and the mouth it invents moves with the occluder. Its geometry then reads as action
units and its motion as an expression; under sunglasses it invents lids (a raised upper lid, AU05). Geometry
cannot tell, so the check looks at the pixels under the mesh.

What it measures, per region (:data:`REGION_POINTS`): the colour (CIE Lab, each point the mean of a 3x3 pixel block)
at mesh-placed points. The mouth: 18 points on the lips' red (halfway between the outer and inner lip contours)
and 27 on the skin around the mouth (philtrum, nasolabial area, chin). The brows: 20 points on the brows and 17 on
the forehead above them. The eyes: 46 on the lid margins and the lids' skin, 44 on the skin around the eyes (the
fold below the brows, under the eyes, the outer corners). The mesh follows the skin, so in an expression the
same points stay on the same tissue and the pattern (red lips against lighter skin, dark brows against the
forehead, lashes against the lids) keeps its shape even when the mouth opens, presses, pulls or smiles, or the
brows rise or frown. Under an occluder every point shows the occluder and the pattern is gone. The score of a
set of points is ``1 - r``, with ``r`` the Pearson correlation across its points between the frame's values and
the neutral's, averaged over the three Lab channels (correlation ignores a change of brightness or contrast: a
light turned on, a face turning towards the window). A channel whose neutral pattern is flat (less than
:data:`MIN_PATTERN_SPREAD` Lab units across the points) is left out; a set whose every channel is flat is never
called occluded. The eyes score the lower of two sets, all their points and the skin around the lids alone, and
the mouth likewise, because an expression can change the lips (a laugh stretches them) or the lids (a blink)
alone, while a cover hides the skin around them too; the mouth also scores each of its sides so and takes the
highest, so that a hand over one corner is found (:data:`REGION_PARTS`).

The neutral is the person's own: each point's median over the frames that show the region (:func:`uncovered_frames`:
the frames agreeing with the pattern most frames show), in a clip over :data:`NEUTRAL_WINDOW_S` centred on the
frame (:func:`occlusion_scores`), live over the last :data:`NEUTRAL_WINDOW_S` (:class:`OcclusionTracker`, which
keeps its neutral's pattern while a third of that past agrees with it). So a cover is found as long as the face
shows for most of the clip (live: two thirds of the last 10 s), even when it is held over most of a frame's
window.

Level: a region scoring above :data:`OCCLUDED_LEVEL` is occluded, set on footage generated from the two shipped
photos (``larnet_core.synth.footage``, written as h264 and read back) and checked on variation it was not set on
(mirrored photos, other light, other occluders, sunglasses): docs/clip-analysis.md has the figures. Covers of the
mouth scored 0.60 and above (a hand over one corner of it included), of the brows 0.56, of the eyes 0.60;
expressions, blinks and head turns up to 28 degrees at most 0.46 (mouth), 0.44 (brows), 0.22 (eyes).
A region found occluded stays so while it scores above :data:`RELEASE_LEVEL` (a held cover's score wavers),
in a clip and live alike.

Cost: 172 x 9 pixel reads and one colour conversion a frame, and live a median over the neutral window now and
then (docs/clip-analysis.md gives the measured time).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
import pandas as pd

__all__ = ["REGION_POINTS", "REGION_PARTS", "OCCLUDED_LEVEL", "MIN_PATTERN_SPREAD", "NEUTRAL_WINDOW_S",
           "AGREEMENT_SAMPLES", "LIVE_AGREEMENT_SAMPLES", "LIVE_KEEP_SHARE", "face_appearance", "occlusion_score",
           "occlusion_scores", "uncovered_frames", "occluded_regions", "OcclusionTracker", "RELEASE_LEVEL",
           "occluded_flags", "is_occluded"]

# Lip contours of MediaPipe's face mesh, corner to corner without the corners: outer and inner, upper and lower.
_OUTER_UPPER = (185, 40, 39, 37, 0, 267, 269, 270, 409)
_INNER_UPPER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
_OUTER_LOWER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
_INNER_LOWER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
#: Skin around the mouth: philtrum and upper lip skin, the nasolabial area beside the mouth, the chin below it.
_AROUND_MOUTH = (164, 165, 391, 167, 393, 92, 322, 186, 410, 57, 287, 43, 273, 106, 335, 182, 406, 83, 313, 18,
                 201, 421, 200, 212, 432, 202, 422)
_BROWS = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
_FOREHEAD = (151, 108, 337, 69, 299, 104, 333, 67, 297, 109, 338, 9, 8, 68, 298, 103, 332)
#: The eyes: the lid margins (the eye contours of MediaPipe's mesh, both eyes), the lids' skin just outside them,
#: and the skin around them (the fold below the brows, under the eyes, the outer corners), which keeps its pattern
#: through a blink while the lids do not.
_LIDS = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7,
         263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249,
         247, 30, 29, 27, 28, 56, 190, 467, 260, 259, 257, 258, 286, 414)
_AROUND_EYES = (113, 225, 224, 223, 222, 221, 189, 342, 445, 444, 443, 442, 441, 413,
                226, 31, 228, 229, 230, 231, 232, 233, 446, 261, 448, 449, 450, 451, 452, 453,
                143, 111, 117, 118, 119, 120, 121, 372, 340, 346, 347, 348, 349, 350)
#: Per region, ``(first, second)`` mesh indices of every sampled point: the point halfway between them (the same
#: index twice for a mesh point itself).
REGION_POINTS: dict[str, tuple[tuple[int, int], ...]] = {
    "mouth": (tuple(zip(_OUTER_UPPER, _INNER_UPPER)) + tuple(zip(_OUTER_LOWER, _INNER_LOWER))
              + tuple((i, i) for i in _AROUND_MOUTH)),
    "brows": tuple((i, i) for i in _BROWS + _FOREHEAD),
    "eyes": tuple((i, i) for i in _LIDS + _AROUND_EYES),
}
#: Per region, groups of sets of its points (indices into the region's points), each set scored on its own: a group
#: scores the lowest of its sets, the region the highest of its groups. The first group of the mouth: all its
#: points, and the skin around the lips alone. A cover hides the lips and the skin around them together, while an
#: expression can reshape the lips alone: a laugh stretches them (on footage of a mirrored photo laughing during a
#: 28-degree turn all the mouth's points scored 0.73, the skin around the lips 0.27). The lips alone are not a set:
#: 18 points of one colour, a white tissue over them scored 0.53 there. The mouth's other two groups are the same
#: for each side of the mouth (with the midline's points): a hand over one corner of the mouth scored 0.31-0.34 on
#: the whole mouth, which kept most of its pattern, and 0.57-0.61 on its side (docs/clip-analysis.md). The eyes:
#: all their points, and the skin around the lids alone (a blink changes the lids alone).
_MOUTH_SIDES = tuple(
    tuple(k for k, (first, _) in enumerate(REGION_POINTS["mouth"]) if first in side)
    for side in ((185, 40, 39, 37, 0, 146, 91, 181, 84, 17, 164, 165, 167, 92, 186, 57, 43, 106, 182, 83, 18, 201,
                  200, 212, 202),
                 (0, 267, 269, 270, 409, 17, 314, 405, 321, 375, 164, 391, 393, 322, 410, 287, 273, 335, 406, 313, 18,
                  421, 200, 432, 422)))
_LIP_POINTS = 2 * len(_OUTER_UPPER)
REGION_PARTS: dict[str, tuple[tuple[np.ndarray, ...], ...]] = {
    "mouth": ((np.arange(len(REGION_POINTS["mouth"])), np.arange(_LIP_POINTS, len(REGION_POINTS["mouth"]))),
              *((np.array(side), np.array([k for k in side if k >= _LIP_POINTS])) for side in _MOUTH_SIDES)),
    "brows": ((np.arange(len(REGION_POINTS["brows"])),),),
    "eyes": ((np.arange(len(REGION_POINTS["eyes"])), np.arange(len(_LIDS), len(REGION_POINTS["eyes"]))),),
}
_ALL = [pair for points in REGION_POINTS.values() for pair in points]
_FIRST = np.array([a for a, _ in _ALL])
_SECOND = np.array([b for _, b in _ALL])
_ENDS = np.cumsum([len(points) for points in REGION_POINTS.values()])
#: Where each region's points are in :func:`face_appearance`'s rows.
_SLICES: dict[str, slice] = {name: slice(int(end) - len(points), int(end))
                             for (name, points), end in zip(REGION_POINTS.items(), _ENDS)}
_BLOCK = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
_BLOCK_ROWS, _BLOCK_COLS = _BLOCK[:, 0, None], _BLOCK[:, 1, None]  # (9, 1): block offsets first, points second

# Live scores every set of points of every region at once: the sets' points in one row order, set after set (each
# set's rows into face_appearance's, where each set starts, and which set each row belongs to); the sets group by
# group, region by region (where each group starts among the sets, where each region starts among the groups).
_SETS = [(name, points) for name in _SLICES for group in REGION_PARTS[name] for points in group]
_SET_ROWS = np.concatenate([np.arange(_SLICES[name].start, _SLICES[name].stop)[points] for name, points in _SETS])
_SET_SIZES = np.array([len(points) for _, points in _SETS])
_SET_STARTS = np.concatenate([[0], np.cumsum(_SET_SIZES)[:-1]])
_SET_OF_ROW = np.repeat(np.arange(len(_SETS)), _SET_SIZES)
_GROUP_STARTS = np.concatenate([[0], np.cumsum([len(group) for name in _SLICES for group in REGION_PARTS[name]])[:-1]])
_REGION_STARTS = np.concatenate([[0], np.cumsum([len(REGION_PARTS[name]) for name in _SLICES])[:-1]])

#: Score (1 - pattern correlation with the neutral) above which a region is occluded (see the module docstring).
OCCLUDED_LEVEL = 0.55
#: A region occluded on the frame before stays occluded while its score is above this (hysteresis): the score of a
#: held cover wavers, and one frame under :data:`OCCLUDED_LEVEL` would read as the occluder leaving and coming back
#: (a hand held over the mouth of the story footage on the astronaut photo, seed 3, scored 0.51 on one frame). Set
#: above the most an uncovered region scored (0.46, the mouth) and under that dip; a region is only found occluded
#: above :data:`OCCLUDED_LEVEL`.
RELEASE_LEVEL = 0.47
#: A Lab channel whose neutral values vary less than this (standard deviation across the points) carries no
#: pattern to compare: grey footage's a* and b*, a face with lips the colour of its skin.
MIN_PATTERN_SPREAD = 1.5
#: The neutral is the median of each point over this many seconds (as the action units' neutral).
NEUTRAL_WINDOW_S = 10.0


def face_appearance(frame_rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """``(points, 3)`` float32 Lab colours (L 0-100, a* and b* about -128..127) of one RGB uint8 frame at every
    region's points (:data:`REGION_POINTS`, in order) of one face's ``(>= 468, 2)`` mesh (frame pixels)."""
    points = np.asarray(mesh, dtype=np.float64)[:, :2]
    centres = 0.5 * (points[_FIRST] + points[_SECOND])
    height, width = frame_rgb.shape[:2]
    xy = np.clip(np.rint(centres).astype(np.intp), 1, [max(1, width - 2), max(1, height - 2)])
    # (9, points): each block's pixel k of every point in row k, so the blocks' sums run over contiguous rows.
    rows = xy[:, 1] + _BLOCK_ROWS
    cols = xy[:, 0] + _BLOCK_COLS
    if height < 3 or width < 3:  # else the centres' clip above already keeps every block inside the frame
        rows, cols = np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)
    if frame_rgb.flags.c_contiguous:  # one gather of whole pixels by flat index: a third of the time of two
        block = np.take(frame_rgb.reshape(height * width, -1), rows * width + cols, axis=0)
    else:
        block = frame_rgb[rows, cols]
    # uint8 times a float32 scalar is float32: the same values as converting first, one array fewer.
    lab = cv2.cvtColor(np.multiply(block, np.float32(1.0 / 255.0)), cv2.COLOR_RGB2Lab)
    return lab.sum(axis=0) / len(_BLOCK)  # each block's mean


def occlusion_score(appearance: np.ndarray, neutral: np.ndarray, region: str | None = None) -> float:
    """``1 - r`` of one region in one frame (``(points, 3)``) against its neutral (see the module docstring); NaN
    when either is missing or the neutral has no pattern. With ``region`` (a key of :data:`REGION_POINTS`), the
    scores of its sets of points (:data:`REGION_PARTS`); without, all the points as one pattern."""
    frames = np.asarray(appearance, dtype=np.float64)[None]
    return float(_region_scores(region, frames, np.asarray(neutral, dtype=np.float64)[None])[0])


def _region_scores(region: str | None, frames: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """A region's scores (:data:`REGION_PARTS`: the highest of its groups', each the lowest of its sets'; a set
    without a pattern left out)."""
    return _combine(region, lambda points: _scores(frames[:, points], neutral[:, points]))


def _combine(region: str | None, score) -> np.ndarray:
    """The region's score from ``score(points)`` of each of its sets (:data:`REGION_PARTS`; without a region, all
    the points as one set)."""
    groups = REGION_PARTS[region] if region in REGION_PARTS else ((slice(None),),)
    with np.errstate(invalid="ignore"):
        return np.fmax.reduce([np.fmin.reduce([score(points) for points in group]) for group in groups])


def _pattern(neutral: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a score needs of ``(n, points, 3)`` neutrals: their centred values, each channel's sum of squares, and
    which channels have a pattern (live keeps it between refreshes of its neutral)."""
    y = neutral - neutral.mean(axis=1, keepdims=True)
    yy = np.einsum("npc,npc->nc", y, y)
    return y, yy, yy >= MIN_PATTERN_SPREAD ** 2 * y.shape[1]  # the neutral's spread (standard deviation) per channel


def _scores(frames: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Scores of ``(n, points, 3)`` frames against ``(n, points, 3)`` neutrals (NaN where either is NaN; live,
    :meth:`OcclusionTracker.scores` computes the same for all the sets at once)."""
    x = frames - frames.mean(axis=1, keepdims=True)
    y, yy, usable = _pattern(neutral)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.einsum("npc,npc->nc", x, y) / np.sqrt(np.einsum("npc,npc->nc", x, x) * yy)
        # NaN where a frame or neutral value is missing (it spreads through every sum) or no channel is usable.
        return 1.0 - np.where(usable, r, 0.0).sum(axis=1) / usable.sum(axis=1)


def occlusion_scores(appearance: np.ndarray, window: int) -> dict[str, np.ndarray]:
    """Per region, the scores of one face's frames (``(n, points, 3)`` of :func:`face_appearance`, NaN rows where it
    had no mesh) against its neutral: each point's median over the uncovered frames (:func:`uncovered_frames`) of
    ``window`` frames centred on each frame."""
    frames = np.asarray(appearance, dtype=np.float64)
    n = len(frames)
    if n == 0:
        return {name: np.zeros(0) for name in REGION_POINTS}
    out = {}
    for name, part in _SLICES.items():
        region = frames[:, part]
        uncovered = uncovered_frames(region, name)
        # A cover held over most of the window would otherwise be its own neutral and read as uncovered.
        kept = np.where(uncovered[:, None, None], region, np.nan).reshape(n, -1)
        neutral = pd.DataFrame(kept).rolling(max(1, int(window)), center=True, min_periods=1).median().to_numpy()
        if uncovered.any():  # a window without any uncovered frame: the clip's uncovered median
            neutral = np.where(np.isfinite(neutral), neutral, np.nanmedian(kept[uncovered], axis=0))
        out[name] = _region_scores(name, region, neutral.reshape(region.shape))
    return out


#: The uncovered frames of a clip are found among this many frames spread over it (:func:`uncovered_frames`);
#: live, among this many of the last 10 s (the agreement of every pair is the costly part of a live refresh).
AGREEMENT_SAMPLES = 150
LIVE_AGREEMENT_SAMPLES = 40
#: Live keeps its neutral's pattern while at least this share of the past window agrees with it.
LIVE_KEEP_SHARE = 1.0 / 3.0


def uncovered_frames(region: np.ndarray, name: str | None = None, samples: int = AGREEMENT_SAMPLES) -> np.ndarray:
    """Which frames of one region's ``(n, points, 3)`` colours (``name``: which region, for its parts) show the
    region itself: those whose pattern agrees (scores at most :data:`OCCLUDED_LEVEL`) with the most agreed-on
    pattern of the frames. Up to ``samples`` frames spread over them are scored against each other;
    the one that agrees with the most others is the face's pattern, and the median of the frames agreeing with it
    the reference every frame is scored against. So the face must be the majority: visible for most of a clip
    (most of the window live); a region without a pattern (every frame flat) has all its frames uncovered."""
    region = np.asarray(region, dtype=np.float64)
    finite = np.isfinite(region).all(axis=(1, 2))
    uncovered = finite.copy()
    rows = np.flatnonzero(finite)
    if len(rows) < 2:
        return uncovered
    sample = region[rows[np.unique(np.linspace(0, len(rows) - 1, max(2, int(samples))).round().astype(int))]]
    scores = _combine(name, lambda points: _pair_scores(sample[:, points]))
    agree = np.nan_to_num(scores, nan=np.inf) <= OCCLUDED_LEVEL
    best = int(np.argmax(agree.sum(axis=1)))
    if not agree[best].any():
        return uncovered
    reference = np.median(sample[agree[best]], axis=0)
    on_reference = _region_scores(name, region, np.broadcast_to(reference, region.shape))
    uncovered &= ~(on_reference > OCCLUDED_LEVEL)  # NaN (no pattern): uncovered
    return uncovered


def _pair_scores(sample: np.ndarray) -> np.ndarray:
    """``(k, k)`` scores of ``k`` frames' patterns against each other (NaN where neither has a usable channel)."""
    centred = sample - sample.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("kpc,kpc->kc", centred, centred))  # (k, 3)
    usable = norms >= MIN_PATTERN_SPREAD * np.sqrt(sample.shape[1])
    pair = usable[:, None, :] & usable[None, :, :]
    # One matrix product per channel (BLAS): the correlations of every pair.
    r = np.stack([centred[..., c] @ centred[..., c].T for c in range(centred.shape[2])], axis=2)
    r /= np.maximum(norms[:, None, :] * norms[None, :, :], 1e-12)
    counted = pair.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, 1.0 - np.where(pair, r, 0.0).sum(axis=2) / counted, np.nan)


def occluded_regions(appearance: np.ndarray, window: int) -> dict[str, np.ndarray]:
    """Per region, which frames are occluded (:func:`occlusion_scores` above :data:`OCCLUDED_LEVEL`, or above
    :data:`RELEASE_LEVEL` right after an occluded frame)."""
    return {name: occluded_flags(np.nan_to_num(scores, nan=0.0))
            for name, scores in occlusion_scores(appearance, window).items()}


def occluded_flags(scores: np.ndarray) -> np.ndarray:
    """Which frames of a run of one region's scores are occluded: above :data:`OCCLUDED_LEVEL`, or above
    :data:`RELEASE_LEVEL` with the frame before occluded (:func:`is_occluded` frame by frame, as live)."""
    scores = np.asarray(scores, dtype=np.float64)
    out = scores > OCCLUDED_LEVEL
    # Only the frames between the two levels depend on the frame before: walk the runs of them.
    between = np.flatnonzero(~out & (scores > RELEASE_LEVEL))
    for index in between:
        out[index] = index > 0 and bool(out[index - 1])
    return out


def is_occluded(score: float, before: bool) -> bool:
    """One frame of a region: occluded at a ``score`` above :data:`OCCLUDED_LEVEL`, or above :data:`RELEASE_LEVEL`
    when the frame ``before`` was."""
    return bool(score > OCCLUDED_LEVEL or (before and score > RELEASE_LEVEL))


class OcclusionTracker:
    """Live: each frame's regions against the median of the recent past's uncovered frames (those agreeing with
    the pattern most of the past shows, :func:`uncovered_frames`, as in a clip).

    Args:
        fps: frames a second of the stream.
        window_s: how much past the neutral is the median of.
        every: keep one frame in ``every`` in the history.
        refresh: recompute the neutral every ``refresh`` frames kept (2 s at 30 fps by default): the neutral
            drifts slowly, and its refresh (about 2 ms: the median and the agreement of the past's frames) runs on
            the frame's own time, so it is kept off all but one frame in 60.
        warmup: frames kept before any frame is judged (before that nothing is occluded).
    """

    def __init__(self, fps: float = 30.0, window_s: float = NEUTRAL_WINDOW_S, every: int = 3, refresh: int = 20,
                 warmup: int = 5) -> None:
        self.every = max(1, int(every))
        self.refresh = max(1, int(refresh))
        self.warmup = max(1, int(warmup))
        self._history: deque[np.ndarray] = deque(maxlen=max(self.warmup, int(window_s * fps / self.every)))
        self._neutral: np.ndarray | None = None  # (points, 3): per region, the median of its uncovered history
        # The neutral's pattern (:func:`_pattern`) of every set, in the sets' row order: centred values, each
        # set's sums of squares and usable channels, and how many channels each set has usable.
        self._pattern: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._count = 0
        self._kept = 0
        self._occluded: dict[str, bool] = {}  # the last frame's regions (RELEASE_LEVEL)

    def reset(self) -> None:
        self._history.clear()
        self._neutral = None
        self._pattern = None
        self._count = 0
        self._kept = 0
        self._occluded = {}

    def update(self, appearance: np.ndarray | None) -> dict[str, bool]:
        """The regions occluded in this frame's :func:`face_appearance` (none without one or while warming up).
        Every frame enters the history, covered or not: a stream that starts covered finds the face once it shows
        for most of the window."""
        if appearance is None:
            self._occluded = {}
            return {}
        values = np.asarray(appearance, dtype=np.float64)
        occluded = {name: is_occluded(score, self._occluded.get(name, False))
                    for name, score in self.scores(values).items()}
        self._occluded = occluded
        if self._count % self.every == 0 and np.isfinite(values).all():
            self._history.append(values)
            self._kept += 1
            if len(self._history) >= self.warmup and (self._neutral is None or self._kept % self.refresh == 0):
                self._neutral = self._uncovered_median(np.asarray(self._history))
                patterns = [_pattern(self._neutral[None, _SLICES[name]][:, points]) for name, points in _SETS]
                usable = np.concatenate([pattern[2] for pattern in patterns])
                self._pattern = (np.concatenate([pattern[0][0] for pattern in patterns]),
                                 np.concatenate([pattern[1] for pattern in patterns]), usable, usable.sum(axis=1))
        self._count += 1
        return occluded

    def _uncovered_median(self, history: np.ndarray) -> np.ndarray:
        """Per region, the median of the history's frames that show it. Live sees only the past: while at least
        :data:`LIVE_KEEP_SHARE` of the history agrees with the current neutral (scores at most
        :data:`RELEASE_LEVEL` against it), those frames make the next one
        (a cover must be held over twice as long as the face showed before it to become the neutral; a stream
        that starts covered finds the face once it shows for two thirds of the window); else the majority rule of
        a clip (:func:`uncovered_frames`)."""
        neutral = np.empty(history.shape[1:])
        for name, part in _SLICES.items():
            region = history[:, part]
            uncovered = np.zeros(len(region), dtype=bool)
            if self._neutral is not None:
                current = _region_scores(name, region, np.broadcast_to(self._neutral[part], region.shape))
                # Only frames clearly uncovered (at most the most an uncovered region scored): a cover that grazes
                # a region (sunglasses' rim over the brows, 0.51-0.53) made the next neutral when counted as shown.
                uncovered = ~(np.nan_to_num(current, nan=0.0) > RELEASE_LEVEL)
            if uncovered.mean() < LIVE_KEEP_SHARE:
                uncovered = uncovered_frames(region, name, LIVE_AGREEMENT_SAMPLES)
            neutral[part] = np.median(region[uncovered] if uncovered.any() else region, axis=0)
        return neutral

    def scores(self, values: np.ndarray) -> dict[str, float]:
        """Per region, :func:`occlusion_score` against the kept neutral; empty before there is a neutral or for a
        frame with a missing value, and without the regions whose neutral has no pattern."""
        if self._pattern is None:
            return {}
        # What :func:`_scores` and :func:`_combine` compute set by set, for all the sets in one pass (this runs on
        # every frame of every face: one set at a time cost nine times the calls).
        y, yy, usable, counted = self._pattern
        x = np.asarray(values, dtype=np.float64)[_SET_ROWS]
        x = x - (np.add.reduceat(x, _SET_STARTS) / _SET_SIZES[:, None])[_SET_OF_ROW]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.add.reduceat(x * y, _SET_STARTS) / np.sqrt(np.add.reduceat(x * x, _SET_STARTS) * yy)
            sets = 1.0 - np.where(usable, r, 0.0).sum(axis=1) / counted
        regions = np.fmax.reduceat(np.fmin.reduceat(sets, _GROUP_STARTS), _REGION_STARTS)
        return {name: float(score) for name, score in zip(_SLICES, regions) if np.isfinite(score)}
