"""Per-frame head pose, action units and spotting exclusions of one face, for clip analysis and live alike.

The per-frame engine (:class:`~larnet_core.video.pipeline.FaceStream`) measures each face with a mesh
(:func:`measure_face`: pose and mesh measures, about 0.2 ms); a clip keeps the measures
(:class:`FaceStateRows`) and turns them into the table's :data:`~larnet_core.aus.names.FACE_STATE_COLUMNS` at the
end (:func:`face_state_columns`): the pose in degrees, the AU intensities against the face's own neutral (the
median of its measures over :data:`NEUTRAL_WINDOW_S` centred on each frame), and ``excluded``, why a frame is kept
out of spotting:

* ``"head turned beyond 30 degrees"``: the face is seen too much from the side for its motion to be read;
* ``"fast head motion"``: the head moves (``head_moving``), its 3-D pose turns by :data:`FAST_TURN_DEG` or more
  within the scale's reach (:func:`pose_swing`), and the stable points do not follow its fitted rigid movement
  (:mod:`~larnet_core.face.head_compensation`) by more than the fixed limit and more than :data:`RESIDUAL_SPREAD`
  times their usual stray on this face (:func:`residual_limit`): a turn faster than the flow follows (stable points
  that stray while the head keeps still, or hardly turns, were moved by an expression or a blink);
* ``"mesh lost"``: the mesh fits the canonical face badly (occlusion, a face half out of the frame);
* ``"head moving (no mesh)"``: without a mesh nothing is compensated, and a moving head is set aside as before;
* ``"mouth occluded"``, ``"brows occluded"``, ``"eyes occluded"``, ``"brows and eyes occluded"`` ...: something
  covers that region (a hand, a cup, sunglasses; :mod:`larnet_core.face.occlusion`), or covers it within the
  frames the frame's motion is measured against (``reference_s`` either side; the macro scale's 1 s named
  ``mouth occluded (macro scale)``): the mesh invents a mouth, brows or lids under the occluder, and the
  occluder's arrival and departure are motion, not an expression. The covered region's action units
  (:data:`REGION_UNITS`) are NaN on the covered frames themselves (and covered eyes read no blink), which do not
  count in the neutral either; the other units are read from the other measures alone, against the median of the
  frames under the same cover (the mesh fitted around an occluder is out of shape as a whole). A cover removes its
  regions, not always the frame: where it holds over every frame a scale's motion is measured against
  (a steady cover) and leaves counted regions, ``motion_left_out`` names the motion regions it sets aside
  (:data:`COVER_LEAVES_OUT`: for a mouth, the mouth and what the held hand lies over; ``"nose+mouth+cheeks+chin"``,
  with ``" (micro scale)"`` where only the micro scale's shorter reach is steady) and that scale's signal is made
  of the other regions (:func:`kept_motion`): an expression of the brows under a hand held over the mouth is
  spotted. Where the cover arrives or leaves within the reach, the frame stays blanked: the occluder's arrival
  moves the aligned face as a whole (the alignment follows the mesh the hand drags). A brows cover leaves no
  counted region. A table made before ``motion_left_out`` blanks every covered frame, as it did then.

The two head-movement reasons name a scale at their end (``fast head motion (micro scale)``, ``head moving (no
mesh; macro scale)``) when only that scale's flow could not follow the head (its 0.3 s or its 1 s references);
the other scale is spotted there, as live spots each scale on its own samples.

Everything else is spotted, head movement or not: :func:`spotting_signals`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from larnet_core.aus.estimate import intensities, measure_mesh, running_neutral, track_intensities
from larnet_core.aus.held import held_units, person_baseline, shape_units, with_held
from larnet_core.aus.features import FEATURE_NAMES
from larnet_core.aus.flow import FaceCrop
from larnet_core.aus.reference_flow import (FlowSample, choose_references, reference_intensities, sample_crop,
                                            sample_stride)
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.face.occlusion import NEUTRAL_WINDOW_S as OCCLUSION_WINDOW_S, REGION_POINTS, occluded_regions
from larnet_core.result.schema import REGIONS
from larnet_core.video.motion import MotionConfig, combine_regions
from larnet_core.video.blinks import apertures_before, eye_apertures, lids_closing, track_blinks
from larnet_core.video.spotting import MacroSides

__all__ = ["MAX_YAW_DEG", "NEUTRAL_WINDOW_S", "FaceStateRows", "measure_face", "face_state_columns",
           "lanes_off_expressions",
           "spotting_signals", "excluded_reasons", "REGION_UNITS", "occluded_units", "occluded_reason",
           "within_reach", "motion_reach", "pose_swing", "FAST_TURN_DEG", "COVER_LEAVES_OUT", "left_out_regions",
           "kept_motion", "covered_units", "regions_left_out", "covered_in", "cover_blanks", "held_cover",
           "RESIDUAL_SPREAD", "residual_limit", "cover_changing", "macro_sides"]

#: What an ``excluded`` reason that holds for one scale only says, in brackets at its end.
MICRO_ONLY, MACRO_ONLY = "micro scale", "macro scale"
#: The macro scale's limit on the stable points' stray is this much above the micro scale's (both in pixels of
#: their own crop, scaled by the crop sizes): its references are 1 s apart, and a macro-expression alone moves the
#: stable points almost the micro limit between its onset and apex (a smile on a still head: 0.30 px of the
#: 64-pixel crop against a limit of 0.33), so a nod during a smile put its apex out of spotting.
MACRO_ALLOWANCE = 1.5
#: A frame is too fast for the flow only where its stable points stray more than this many times as far as they
#: usually do on this face (the median over its frames; live, over the recent frames), and beyond the fixed limit.
#: Why: the stable points of a real face are not rigid. Hair over the temples, the jaw's outline and the mesh's own
#: jitter on compressed video leave them 0.35 px (micro) and 0.57 px (macro) from the rigid model on a typical
#: frame of a real 640x360 clip, where rendered heads turning and nodding stay at 0.04-0.25 px; the fixed limit
#: alone set aside 26 % of that clip, the laugh's onset among them.
RESIDUAL_SPREAD = 2.5
#: Beyond this yaw or pitch (degrees) the face's motion is not read.
MAX_YAW_DEG = 30.0
#: A frame is too fast for the flow only where the head's 3-D pose also turns by at least this much (degrees: the
#: largest change of yaw, pitch or roll from the frame's, :func:`pose_swing`) within its scale's reach. The stable
#: points' stray and the key points' movement, which the rule read alone before, grow as much when the face itself
#: moves much of its skin: a real broad smile drags the stable points 0.7-1.2 px from the rigid model (0.1-0.2 px
#: usually) while the head nods 4 degrees, and mesh jitter alone puts a real still face's key points over the
#: 1.2 px of a moving head on most frames. Set between that nod, which the flow follows, and a real quick tilt of
#: 17 degrees within 0.3 s, which it does not; a still real face's pose jitters 1.2-1.6 degrees within 0.3 s
#: (docs/action-units.md, "Head motion removed before motion is read").
FAST_TURN_DEG = 5.0
#: The person's neutral is the median of their measures over this many seconds around each frame.
NEUTRAL_WINDOW_S = 10.0
#: RMS distance of the stable points from the fitted canonical face (eye distances) beyond which the mesh is
#: taken as lost (an occlusion pulls points off the face). Photos and rendered turns fit within 0.05.
MAX_POSE_RESIDUAL = 0.1
#: The action units each checked region carries (:mod:`larnet_core.face.occlusion`): not reported while it is
#: covered. The mouth's are read from the lower face (nose wings, lips, jaw), the brows' from the brows, the eyes'
#: from the lids (and a blink is not reported while the eyes are covered).
REGION_UNITS: dict[str, tuple[str, ...]] = {
    "mouth": ("AU09", "AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26"),
    "brows": ("AU01", "AU02", "AU04"),
    "eyes": ("AU05", "AU07", "AU43"),
}
#: The motion regions (:data:`~larnet_core.result.schema.REGIONS`) a steady cover sets aside from the spotting
#: signal: the region itself and those the held occluder reaches (docs/clip-analysis.md). A hand over the mouth
#: lies over the chin and the lower cheeks and against the nose; the brows are clear of it. A hand over the
#: brows crosses the whole face on its way up: it leaves nothing. Sunglasses lie over the eyes and against the
#: brows; the lower face is clear of them.
COVER_LEAVES_OUT: dict[str, tuple[str, ...]] = {
    "mouth": ("nose", "mouth", "cheeks", "chin"),
    "brows": REGIONS,
    "eyes": ("brows", "eyes"),
}
_UPPER_FACE_MEASURES = ("brow", "upper_lid", "lower_lid", "cheek")
#: The mesh measures each region's units are read from.
_REGION_MEASURES = {
    "mouth": np.array([not name.startswith(_UPPER_FACE_MEASURES) for name in FEATURE_NAMES]),
    "brows": np.array([name.startswith("brow") for name in FEATURE_NAMES]),
    "eyes": np.array([name.startswith(("upper_lid", "lower_lid")) for name in FEATURE_NAMES]),
}
_REGION_COLUMNS = {region: np.array([name in units for name in AU_COLUMNS]) for region, units in REGION_UNITS.items()}
_NOT_AU43 = np.array([name != "AU43" for name in AU_COLUMNS])


def occluded_reason(regions) -> str:
    """The ``excluded`` reason of frames where ``regions`` are covered (``"mouth and brows occluded"``)."""
    chosen = set(regions)
    return " and ".join(name for name in REGION_POINTS if name in chosen) + " occluded"


def occluded_units(change: np.ndarray, regions) -> np.ndarray:
    """AU intensities of frames where ``regions`` (names of :data:`REGION_UNITS`) are covered (``change``: their
    measures' change from the neutral, ``(n_features,)`` or ``(n, n_features)``): those regions' measures count as
    unchanged (the mesh invents them under the occluder) and their units are NaN. Clip and live both read covered
    frames this way."""
    change = np.array(change, dtype=np.float64)
    for region in regions:
        change[..., _REGION_MEASURES[region]] = 0.0
    values = intensities(change)
    for region in regions:
        values[..., _REGION_COLUMNS[region]] = np.nan
    return values


def left_out_regions(covered) -> tuple[str, ...]:
    """The motion regions set aside while ``covered`` (names of :data:`COVER_LEAVES_OUT`) are covered, in
    :data:`REGIONS` order."""
    out = {region for name in covered for region in COVER_LEAVES_OUT.get(name, ())}
    return tuple(region for region in REGIONS if region in out)


def regions_left_out(text: str) -> tuple[str, ...]:
    """A ``motion_left_out`` cell (``"nose+mouth"``, ``""``) as region names."""
    return tuple(part for part in str(text or "").split("+") if part in REGIONS)


def kept_motion(regions: np.ndarray, drag_eyes: np.ndarray, left_out,
                weights: np.ndarray | None = None) -> np.ndarray:
    """The spotting value of frames from their region motion (``(n, len(REGIONS))``) without the regions
    ``left_out``: :func:`~larnet_core.video.motion.combine_regions` over the rest (``drag_eyes``: each frame's
    :attr:`~larnet_core.video.motion.MotionSample.drag_eyes`, for the blink's drag on the brows). NaN where no
    counted region is left. Clip and live both read a covered frame this way."""
    values = np.array(regions, dtype=np.float64, ndmin=2)
    weights = np.array(MotionConfig().weight_vector() if weights is None else weights, dtype=np.float32)
    for region in left_out:
        weights[REGIONS.index(region)] = 0.0
    if not (weights > 0).any():
        return np.full(len(values), np.nan)
    dragging = np.broadcast_to(np.asarray(drag_eyes, dtype=np.float64), (len(values),))
    return np.array([combine_regions(row, weights, eyes) for row, eyes in zip(values, dragging)], dtype=np.float64)


def covered_units(values: np.ndarray, regions) -> np.ndarray:
    """AU intensities with the units of the covered ``regions`` (names of :data:`REGION_UNITS`) NaN: an interval
    whose neutral-to-apex movement a cover spoils says nothing about the covered units."""
    values = np.array(values, dtype=np.float64, copy=True)
    for region in regions:
        values[..., _REGION_COLUMNS[region]] = np.nan
    return values


def covered_in(rows: pd.DataFrame) -> tuple[str, ...]:
    """The regions covered on any of a face's per-frame ``rows`` (their ``occluded`` column; none in a table made
    before it, which had no occlusion check)."""
    if "occluded" not in rows.columns:
        return ()
    named = {part for text in rows["occluded"].dropna().astype(str) for part in text.split("+")}
    return tuple(region for region in REGION_UNITS if region in named)


def motion_reach(config: Any, fps: float) -> tuple[int, int]:
    """How many frames either side a frame's micro and macro motion reach (a
    :class:`~larnet_core.video.motion.MotionConfig`'s reference distances at ``fps``)."""
    return config.reference_frames(fps), config.macro().reference_frames(fps)


def within_reach(flags: np.ndarray, reach: int) -> np.ndarray:
    """Frames with a flagged frame at most ``reach`` frames before or after them (their motion is measured
    against those frames)."""
    flags = np.asarray(flags, dtype=bool)
    if reach <= 0 or not flags.any():
        return flags.copy()
    # Counts over the window by cumulative sums ("same" convolution returns the kernel's length when the clip is
    # shorter than the window).
    padded = np.concatenate(([0], np.cumsum(flags.astype(np.int64))))
    index = np.arange(len(flags))
    low = np.clip(index - int(reach), 0, len(flags))
    high = np.clip(index + int(reach) + 1, 0, len(flags))
    return padded[high] - padded[low] > 0


def measure_face(face: Any):
    """The :class:`~larnet_core.aus.estimate.FaceMeasure` of a tracked face with a 3-D mesh, else ``None``."""
    mesh3d = getattr(face, "mesh3d", None)
    if mesh3d is None:
        return None

    try:
        return measure_mesh(mesh3d)
    except (ValueError, np.linalg.LinAlgError):  # a degenerate mesh: no pose for this frame
        return None


class FaceStateRows:
    """One face's measures, frame by frame (kept by clip analysis until its intervals are spotted)."""

    def __init__(self) -> None:
        self.pose: dict[int, tuple[float, float, float, float]] = {}
        self.features: dict[int, np.ndarray] = {}
        self.appearance: dict[int, np.ndarray] = {}  # colours of the checked regions, for the occlusion check
        self.crops: dict[int, FaceCrop] = {}  # the frames whose units are read from the flow (reference_flow)
        # What the AU lanes were made of, kept so that a clip can make them again once its intervals are known
        # (lanes_off_expressions), and each (frame, reference) flow reading, so that it reads only the new pairs.
        self.lane_inputs: _LaneInputs | None = None
        self.readings: dict[tuple[int, int], np.ndarray] = {}
        # Each sampled frame's mouth read from its shape (aus.held.shape_units), and the face's baseline for it
        # (kept for its intervals' readings, larnet_core.video.recognise).
        self.shapes: dict[int, np.ndarray] = {}
        self.held_baseline: np.ndarray | None = None

    def shape_of(self, index: int, crop: FaceCrop) -> np.ndarray:
        """Frame ``index``'s :func:`~larnet_core.aus.held.shape_units`, read once."""
        if index not in self.shapes:
            self.shapes[index] = shape_units(crop)
        return self.shapes[index]

    def add(self, index: int, measure, appearance: np.ndarray | None = None) -> None:
        if appearance is not None:
            self.appearance[index] = np.asarray(appearance, dtype=np.float32)
        if measure is None:
            return
        pose = measure.pose
        self.pose[index] = (pose.yaw, pose.pitch, pose.roll, pose.residual)
        self.features[index] = measure.features

    def add_crop(self, index: int, image: np.ndarray, mesh3d: np.ndarray) -> None:
        """Keep frame ``index``'s grey face crop for the flow (:func:`~larnet_core.aus.reference_flow.sample_crop`)."""
        self.crops[index] = sample_crop(image, mesh3d)


def excluded_reasons(table: pd.DataFrame | dict[str, Any], max_residual_px: float,
                     macro_factor: float, reach: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(reason, micro_excluded, macro_excluded)`` per frame from the pose and motion columns and, where given,
    ``<region>_occluded`` (see the module docstring); ``macro_factor`` is the macro crop's size over the micro crop's,
    ``reach`` the micro and macro scales' reference distances in frames."""
    return _reasons(table, max_residual_px, macro_factor, reach)[:3]


def _reasons(table: pd.DataFrame | dict[str, Any], max_residual_px: float, macro_factor: float,
             reach: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`excluded_reasons` and the ``motion_left_out`` column (see the module docstring)."""
    get = (lambda name: np.asarray(table[name])) if isinstance(table, dict) else (lambda name: table[name].to_numpy())
    n = len(get("motion"))
    yaw = np.asarray(get("pose_yaw"), dtype=np.float64)
    pitch = np.asarray(get("pose_pitch"), dtype=np.float64)
    fit = np.asarray(get("pose_residual"), dtype=np.float64) if _has(table, "pose_residual") else np.full(n, np.nan)
    residual = np.asarray(get("head_residual"), dtype=np.float64)
    residual_macro = np.asarray(get("head_residual_macro"), dtype=np.float64)
    head_moving = np.asarray(get("head_moving"), dtype=bool)
    head_moving_macro = np.asarray(get("head_moving_macro"), dtype=bool)
    has_pose = np.isfinite(yaw)
    turned = has_pose & ((np.abs(yaw) > MAX_YAW_DEG) | (np.abs(pitch) > MAX_YAW_DEG))
    lost = has_pose & (np.nan_to_num(fit) > MAX_POSE_RESIDUAL)
    # A frame's motion is read against frames up to its scale's reference distance away: a cover there spoils it,
    # unless the cover holds over all of them and leaves counted regions (steady: those regions are read).
    covered = {region: np.asarray(get(f"{region}_occluded"), dtype=bool) for region in REGION_POINTS
               if _has(table, f"{region}_occluded")}
    near = {region: (within_reach(flags, reach[0]), within_reach(flags, reach[1])) for region, flags in covered.items()}
    thinning = [region for region in covered if not cover_blanks((region,))]
    steady = [held_cover(covered, scale) if covered else np.zeros(n, dtype=bool) for scale in reach]
    # Stable points that stray while the head keeps still were moved by the face itself (a smile lifts the
    # cheeks' sides, a blink tugs the mesh around the eyes): that is an expression, not a movement too fast.
    # And a face that moves much of its skin moves them too (a broad smile): the head must also turn (FAST_TURN_DEG).
    fast_micro = has_pose & head_moving & (np.nan_to_num(residual) > residual_limit(residual, max_residual_px))
    fast_macro = has_pose & head_moving_macro & (np.nan_to_num(residual_macro) > residual_limit(
        residual_macro, max_residual_px * macro_factor * MACRO_ALLOWANCE))
    roll = np.asarray(get("pose_roll"), dtype=np.float64) if _has(table, "pose_roll") else np.zeros(n)
    angles = np.column_stack([yaw, pitch, roll])
    for fast, scale in ((fast_micro, reach[0]), (fast_macro, reach[1])):
        for index in np.flatnonzero(fast):
            fast[index] = pose_swing(angles, index, scale) >= FAST_TURN_DEG
    no_mesh_micro, no_mesh_macro = ~has_pose & head_moving, ~has_pose & head_moving_macro
    reason = np.full(n, "", dtype=object)
    _name_scales(reason, no_mesh_micro, no_mesh_macro, "head moving (no mesh)")
    _name_scales(reason, fast_micro, fast_macro, "fast head motion")
    occluded_micro = np.zeros(n, dtype=bool)
    occluded_macro = np.zeros(n, dtype=bool)
    for micro_near, macro_near in near.values():
        occluded_micro |= micro_near
        occluded_macro |= macro_near
    for index in np.flatnonzero(occluded_micro | occluded_macro):
        name = occluded_reason(r for r, (mi, ma) in near.items() if mi[index] or ma[index])
        if occluded_micro[index] and occluded_macro[index]:
            reason[index] = name
        else:
            reason[index] = f"{name} ({MICRO_ONLY if occluded_micro[index] else MACRO_ONLY})"
    reason[lost] = "mesh lost"
    reason[turned] = f"head turned beyond {MAX_YAW_DEG:.0f} degrees"
    # Where a steady cover's regions are read, the frame is not excluded at that scale (motion_left_out says so).
    usable = has_pose & ~turned & ~lost
    read_micro = steady[0] & usable & ~fast_micro
    read_macro = steady[1] & usable & ~fast_macro
    micro = turned | lost | fast_micro | no_mesh_micro | (occluded_micro & ~read_micro)
    macro = turned | lost | fast_macro | no_mesh_macro | (occluded_macro & ~read_macro)
    left_out = np.full(n, "", dtype=object)
    for index in np.flatnonzero(read_micro | read_macro):
        regions = "+".join(left_out_regions(r for r in thinning if near[r][0][index] or near[r][1][index]))
        if read_micro[index] and read_macro[index]:
            left_out[index] = regions
        else:
            left_out[index] = f"{regions} ({MICRO_ONLY if read_micro[index] else MACRO_ONLY})"
    return reason, micro, macro, left_out


def pose_swing(angles: np.ndarray, index: int, reach: int) -> float:
    """How far the head turned from frame ``index`` within ``reach`` frames either side: the largest change of its
    yaw, pitch or roll (``angles``, ``(n, 3)`` degrees per frame; frames without a pose, NaN, are skipped)."""
    window = np.asarray(angles, dtype=np.float64)[max(0, index - reach): index + reach + 1]
    change = np.abs(window - np.asarray(angles, dtype=np.float64)[index])
    return float(np.nanmax(change)) if np.isfinite(change).any() else 0.0


def residual_limit(residuals: np.ndarray, fixed_limit: float) -> float:
    """How far a face's stable points may stray from the head's rigid model (crop pixels) before a frame counts as
    too fast for the flow: ``fixed_limit``, or :data:`RESIDUAL_SPREAD` times their usual stray on this face
    (the median of ``residuals``, its frames' values) where that is larger."""
    values = np.asarray(residuals, dtype=np.float64)
    values = values[np.isfinite(values)]
    usual = float(np.median(values)) if len(values) else 0.0
    return max(float(fixed_limit), RESIDUAL_SPREAD * usual)


def held_cover(covered: dict[str, np.ndarray], reach: int) -> np.ndarray:
    """Per frame, whether a cover is within ``reach`` frames and every cover there is steady: it leaves counted
    regions (:func:`cover_blanks`) and holds over every frame from ``reach`` before to ``reach`` after (``covered``:
    per region, which frames have it covered). The regions of such a frame are read without the covered ones
    (:func:`kept_motion`); clip and live both decide a held cover here."""
    flags = {region: np.asarray(values, dtype=bool) for region, values in covered.items()}
    n = len(next(iter(flags.values()))) if flags else 0
    near = {region: within_reach(values, reach) for region, values in flags.items()}
    steady = np.logical_or.reduce(list(near.values())) if near else np.zeros(n, dtype=bool)
    for region, values in flags.items():
        held = ~within_reach(~values, reach) if not cover_blanks((region,)) else np.zeros(n, dtype=bool)
        steady &= ~near[region] | held
    return steady


def cover_blanks(covered) -> bool:
    """Whether covering ``covered`` leaves no counted motion region (the frame is then blanked)."""
    left_out = left_out_regions(covered)
    return not any(weight > 0 for name, weight in MotionConfig().weights.items() if name not in left_out)


def _name_scales(reason: np.ndarray, micro: np.ndarray, macro: np.ndarray, name: str) -> None:
    """Write ``name`` where both scales are out and the name with the scale where only one is (``fast head motion
    (micro scale)``, ``head moving (no mesh; macro scale)``): the other scale's motion is still read there
    (:func:`spotting_signals`)."""
    reason[micro & macro] = name
    for only, other, scale in ((micro, macro, MICRO_ONLY), (macro, micro, MACRO_ONLY)):
        reason[only & ~other] = f"{name[:-1]}; {scale})" if name.endswith(")") else f"{name} ({scale})"


def _has(table, name: str) -> bool:
    return name in table if isinstance(table, dict) else name in table.columns


def regions_occluded(rows: FaceStateRows, n: int, fps: float) -> dict[str, np.ndarray]:
    """Per checked region, which of one face's ``n`` frames have it covered (:mod:`larnet_core.face.occlusion`)."""
    if not rows.appearance:
        return {region: np.zeros(n, dtype=bool) for region in REGION_POINTS}
    shape = next(iter(rows.appearance.values())).shape
    appearance = np.full((n, *shape), np.nan)
    for index, values in rows.appearance.items():
        if index < n:
            appearance[index] = values
    return occluded_regions(appearance, window=max(1, int(round(OCCLUSION_WINDOW_S * fps))))


def face_state_columns(rows: FaceStateRows, columns: dict[str, Any], n: int, fps: float,
                       max_residual_px: float, macro_factor: float,
                       reach: tuple[int, int] = (0, 0)) -> dict[str, np.ndarray]:
    """The :data:`~larnet_core.aus.names.FACE_STATE_COLUMNS` of one face's ``n`` frames, from its measures and
    the motion ``columns`` already made (``head_residual``, ``head_moving`` ...); ``reach``: the micro and macro
    scales' reference distances in frames."""
    pose = np.full((n, 4), np.nan)
    for index, values in rows.pose.items():
        if index < n:
            pose[index] = values
    out: dict[str, np.ndarray] = {"pose_yaw": pose[:, 0], "pose_pitch": pose[:, 1], "pose_roll": pose[:, 2]}
    out["head_residual"] = np.asarray(columns.get("head_residual", np.full(n, np.nan)), dtype=np.float64)
    out["head_residual_macro"] = np.asarray(columns.get("head_residual_macro", np.full(n, np.nan)), dtype=np.float64)
    signals = {**{k: columns[k] for k in ("motion", "head_moving", "head_moving_macro")}, **out,
               "pose_residual": pose[:, 3]}
    covered = regions_occluded(rows, n, fps)
    signals.update({f"{region}_occluded": flags for region, flags in covered.items()})
    occluded = np.logical_or.reduce(list(covered.values())) if covered else np.zeros(n, dtype=bool)
    reason, _, _, left_out = _reasons(signals, max_residual_px, macro_factor, reach)
    out["excluded"], out["motion_left_out"] = reason, left_out
    # The covered frames themselves ("mouth", "mouth+brows"): "excluded" also names the frames a cover's motion
    # reaches.
    out["occluded"] = np.array(["+".join(region for region in covered if covered[region][index]) if hit else ""
                                for index, hit in enumerate(occluded)], dtype=object)
    features = None
    if rows.features:
        width = len(next(iter(rows.features.values())))
        features = np.full((n, width), np.nan)
        for index, values in rows.features.items():
            if index < n:
                features[index] = values
    # Both eyes closing together, each against its own neutral aperture: a wink is not a blink. Covered eyes
    # (sunglasses) have no aperture: the mesh invents their lids.
    eyes_covered = covered.get("eyes", np.zeros(n, dtype=bool))
    lids = None
    if features is not None:
        # Frames seen from far to the side read badly: they neither set the neutral nor get intensities.
        features[np.abs(np.nan_to_num(pose[:, 0])) > MAX_YAW_DEG] = np.nan
        lids = np.where(eyes_covered[:, None], np.nan, features)
        apertures = eye_apertures(lids)
        rows.lane_inputs = _LaneInputs(features, pose, out["occluded"], covered, fps, _first_seen(columns, n),
                                       lids_closing(apertures, apertures_before(apertures, fps)))
        values = _unit_lanes(rows)
    else:
        values = np.full((n, len(AU_COLUMNS)), np.nan)
    for position, name in enumerate(AU_COLUMNS):
        out[name] = values[:, position]
    out["blink"] = track_blinks(lids, columns.get("motion_eyes", np.full(n, np.nan)), fps,
                                max(1, int(round(NEUTRAL_WINDOW_S * fps)))) & ~eyes_covered
    return out


@dataclass(frozen=True)
class _LaneInputs:
    """What a face's AU lanes are made from besides its crops: its mesh measures per frame (``(n, len(
    FEATURE_NAMES))``, NaN where not measured or turned too far), pose, ``occluded`` text and covered regions; per
    frame, whether it is the face's first in view and whether its lids are closing
    (:func:`~larnet_core.video.blinks.lids_closing`): neither is a flow reference, and closing lids are not read."""

    features: np.ndarray
    pose: np.ndarray
    cover: np.ndarray
    covered: dict[str, np.ndarray]
    fps: float
    first_seen: np.ndarray | None = None
    lids_closing: np.ndarray | None = None


def _first_seen(columns: dict[str, Any], n: int) -> np.ndarray | None:
    """Per frame: the face's first frame in view (after an absence or a cut), whose mesh is no flow reference
    (:mod:`larnet_core.aus.reference_flow` says why); None without the columns that say it."""
    if "face_found" not in columns:
        return None
    found = np.asarray(columns["face_found"], dtype=bool)[:n]
    before = np.concatenate([[False], found[:-1]])
    cut = np.asarray(columns.get("shot_cut", np.zeros(n, dtype=bool)), dtype=bool)[:n]
    return found & (~before | cut)


def lanes_off_expressions(rows: FaceStateRows, expressive: np.ndarray) -> np.ndarray | None:
    """The face's AU lanes (``(n, len(AU_COLUMNS))``, as :func:`face_state_columns` makes them) made again with its
    spotted expressions known (``expressive``, per frame: a clip's intervals): they do not set the face's neutral,
    and none of their frames is a flow reference. ``None`` where nothing is expressive (the lanes stand). The flow
    readings already made are reused."""
    expressive = np.asarray(expressive, dtype=bool)
    if rows.lane_inputs is None or not expressive.any():
        return None
    return _unit_lanes(rows, expressive)


def _unit_lanes(rows: FaceStateRows, expressive: np.ndarray | None = None) -> np.ndarray:
    """The AU lanes of :func:`face_state_columns`: the mesh's units against the face's neutral, with the flow's
    where it reads them (:func:`_with_flow_units`); ``expressive`` frames (spotted intervals) set no neutral.

    A face that holds an expression for most of a short clip (a smile held 1.7 s of 2.4 s) has it as its running
    median: against it, the resting face before and after read as its opposite (AU14+AU15 at 5), the smile's own
    frames as the most neutral, and the flow read every frame against the smile. Once the clip's intervals are
    known (:func:`lanes_off_expressions`), they are left out as covered frames are."""
    inputs = rows.lane_inputs
    features, covered, fps = inputs.features, inputs.covered, inputs.fps
    n = len(features)
    occluded = np.logical_or.reduce(list(covered.values())) if covered else np.zeros(n, dtype=bool)
    resting = None if expressive is None else ~np.asarray(expressive, dtype=bool)[:n]
    window = max(1, int(round(NEUTRAL_WINDOW_S * fps)))
    # Covered frames do not set the neutral, and are read without the covered region (occluded_units) against
    # a neutral of their own, the median of the frames under the same cover in the window: the mesh fitted
    # around an occluder is drawn out of shape as a whole. On the story footage (crying_surprise_laugh) a hand
    # over the mouth shrinks the normalised mesh's eye distance by 5 %, and against the uncovered neutral its
    # brows read as AU4 at 1-3 on every covered frame; against the covered frames' median they stay under 0.6.
    values = track_intensities(np.where(occluded[:, None], np.nan, features), window=window, resting=resting)
    for regions in {tuple(r for r in covered if covered[r][i]) for i in np.flatnonzero(occluded)}:
        same = occluded & np.logical_and.reduce([covered[r] == (r in regions) for r in covered])
        neutral = running_neutral(np.where(same[:, None], features, np.nan), window, resting)
        values[same] = occluded_units(features[same] - neutral[same], regions)
    return _with_flow_units(rows, values, expressive)


def _with_flow_units(rows: FaceStateRows, values: np.ndarray, not_reference: np.ndarray | None = None) -> np.ndarray:
    """The per-frame units with those the flow reads (:mod:`larnet_core.aus.reference_flow`) where it reads them:
    on the sampled frames against their references, and between two samples a sampling step apart by linear
    interpolation; the mesh's elsewhere, and AU43 always (a blink is shorter than a sampling step: the mesh reads
    the lids on every frame). Covered regions stay NaN. While a cover arrives or leaves (``cover``, the
    ``occluded`` column, changes within a sampling step) no unit but AU43 is read: the occluder moves the skin
    around it and drags the mesh with it (on generated footage a hand's arrival read as AU14 4.8 from the mesh and
    AU1+AU6 1.3-2.4 from the flow); readings are not spread across a change of cover. Where a reading's movement
    fits no unit's pattern (:func:`~larnet_core.aus.flow.crop_intensities` gives NaN), its frames read no unit but
    AU43. A clip's spotted intervals are read again on every frame once they are known
    (:mod:`larnet_core.video.interval_lanes`), and no frame of them is a reference then (``not_reference``, per
    frame: :func:`lanes_off_expressions`); nor is a face's first frame in view (``first_seen``:
    :mod:`larnet_core.aus.reference_flow` says why), nor a frame whose lids are closing (``lids_closing``), which
    reads no unit but AU43. Where a sample's reference holds a mouth unit, which the flow then cannot see, the
    frame's own is read from the mouth's shape as well, and the larger reading stands (:func:`_held_lanes`)."""
    inputs = rows.lane_inputs
    pose, cover, covered, fps = inputs.pose, inputs.cover, inputs.covered, inputs.fps
    n = len(values)
    stride = sample_stride(fps)
    runs = _runs(cover)
    arriving = cover_changing(cover, fps)
    values = values.copy()
    values[np.ix_(arriving, _NOT_AU43)] = np.nan
    closing = np.zeros(n, dtype=bool) if inputs.lids_closing is None else inputs.lids_closing
    samples = [FlowSample(frame, crop, float(np.nansum(values[frame])), pose[frame, 0], pose[frame, 1],
                          str(cover[frame]), bool(closing[frame])) for frame, crop in sorted(rows.crops.items())
               if frame < n and not arriving[frame] and np.isfinite(values[frame]).any()]
    if not samples:
        return values
    sampled = np.array([s.index for s in samples])
    blocked = np.zeros(n, dtype=bool) if inputs.first_seen is None else inputs.first_seen.copy()
    if not_reference is not None:
        blocked |= not_reference
    references = choose_references(samples, fps, not_reference=blocked[sampled])
    # A sample whose lids are closing is not read: the flow around its eyes is the blink's (against open lids its
    # drag read AU1 and AU9, against other closing lids AU5).
    closing_samples = np.array([s.lids_closing for s in samples], dtype=bool)
    references[closing_samples] = -1
    read = reference_intensities(samples, references, rows.readings)
    flow = _spread(sampled, read, n, stride, runs)
    # A sample the flow read but whose movement fits no unit's pattern (flow.MIN_EXPLAINED) is "not read": its
    # frames are NaN, not the mesh's units, which are no better there; so are a closing sample's.
    unreadable = ((references >= 0) & ~np.isfinite(read).any(axis=1)) | closing_samples
    not_read = _spread(sampled, unreadable[:, None].astype(np.float64), n, stride, runs)[:, 0] > 0
    flow[:, AU_COLUMNS.index("AU43")] = np.nan
    flow[arriving] = np.nan
    for region, flags in covered.items():
        flow[np.ix_(np.asarray(flags, dtype=bool), _REGION_COLUMNS[region])] = np.nan
    out = np.where(np.isfinite(flow), flow, values)
    out[np.ix_(not_read, _NOT_AU43)] = np.nan
    held = _held_lanes(rows, samples, references, n, runs, not_reference)
    held[arriving] = np.nan
    for region, flags in covered.items():
        held[np.ix_(np.asarray(flags, dtype=bool), _REGION_COLUMNS[region])] = np.nan
    return with_held(out, held)


def _held_lanes(rows: FaceStateRows, samples: list[FlowSample], references: np.ndarray, n: int,
                runs: np.ndarray, expressive: np.ndarray | None = None) -> np.ndarray:
    """``(n, len(AU_COLUMNS))``: the mouth units each sampled frame holds where its flow reference holds them
    too (:func:`~larnet_core.aus.held.held_units`, against the face's baseline over its sampled frames with the
    mouth in view, kept in ``rows.held_baseline``), spread between samples as the flow's readings are; NaN
    elsewhere. ``expressive`` (per frame: the clip's spotted intervals) set no baseline, as they set no neutral:
    on a 3 s clip whose generated smile took a sixth of its frames, the smile's frames were its 10th percentile."""
    shapes = np.array([rows.shape_of(s.index, s.crop) for s in samples]).reshape(len(samples), len(AU_COLUMNS))
    in_view = np.array(["mouth" not in s.cover for s in samples], dtype=bool)
    sampled = np.array([s.index for s in samples], dtype=np.int64)
    resting = in_view if expressive is None else in_view & ~np.asarray(expressive, dtype=bool)[sampled]
    baseline = person_baseline(shapes[resting])
    rows.held_baseline = baseline
    held = np.full((len(samples), len(AU_COLUMNS)), np.nan)
    for position, reference in enumerate(np.asarray(references, dtype=np.int64)):
        if reference >= 0 and in_view[position]:
            held[position] = held_units(shapes[position], shapes[reference], baseline)
    # Spread where held and where not alike (a row of the flow's is spread whole): a frame between a sample that
    # holds a unit and one that does not takes it where it is nearer the first.
    read = np.isfinite(shapes).any(axis=1) & (references >= 0) & in_view
    values = np.where(read[:, None], np.nan_to_num(held, nan=0.0), np.nan)
    flags = np.where(read[:, None], np.isfinite(held).astype(np.float64), np.nan)
    stride = sample_stride(rows.lane_inputs.fps)
    spread_values, spread_flags = _spread(sampled, values, n, stride, runs), _spread(sampled, flags, n, stride, runs)
    return np.where(spread_flags >= 0.5, spread_values, np.nan)


def cover_changing(cover: np.ndarray | pd.Series, fps: float) -> np.ndarray:
    """Per frame: a cover arrives or leaves within a sampling step of it (the ``occluded`` text differs a step
    before and a step after). No unit but AU43 is read on these frames (:func:`_with_flow_units` says why)."""
    runs = _runs(np.asarray(cover, dtype=object))
    n, stride = len(runs), sample_stride(fps)
    index = np.arange(n)
    return runs[np.maximum(index - stride, 0)] != runs[np.minimum(index + stride, max(n - 1, 0))]


def _runs(cover: np.ndarray) -> np.ndarray:
    """Per frame, the number of the run of frames with the same cover (``occluded`` text) it belongs to."""
    cover = np.asarray(cover, dtype=object)
    changes = np.zeros(len(cover), dtype=np.int64)
    if len(cover) > 1:
        changes[1:] = cover[1:] != cover[:-1]
    return np.cumsum(changes)


def _spread(frames: np.ndarray, read: np.ndarray, n: int, stride: int, runs: np.ndarray | None = None) -> np.ndarray:
    """``(n, units)`` from readings on ``frames``: linear between two readings at most two steps apart, the nearest
    reading within less than a step of it, NaN elsewhere; never across a change of ``runs`` (per frame, the run of
    frames with one cover it belongs to: :func:`_runs`)."""
    out = np.full((n, read.shape[1]), np.nan)
    have = np.isfinite(read).all(axis=1)
    frames, read = frames[have], read[have]
    if not len(frames):
        return out
    runs = np.zeros(n, dtype=np.int64) if runs is None else np.asarray(runs)
    index = np.arange(n)
    after = np.clip(np.searchsorted(frames, index), 0, len(frames) - 1)
    before = np.clip(after - (frames[after] > index), 0, len(frames) - 1)
    gap = frames[after] - frames[before]
    between = ((frames[before] <= index) & (index <= frames[after]) & (gap <= 2 * stride)
               & (runs[frames[before]] == runs) & (runs[frames[after]] == runs))
    weight = np.where(gap > 0, (index - frames[before]) / np.maximum(gap, 1), 0.0)[:, None]
    out[between] = ((1 - weight) * read[before] + weight * read[after])[between]
    nearest = np.where(np.abs(index - frames[before]) <= np.abs(index - frames[after]), before, after)
    near = ~between & (np.abs(index - frames[nearest]) < stride) & (runs[frames[nearest]] == runs)
    out[near] = read[nearest][near]
    return out


def spotting_signals(table: pd.DataFrame, config: MotionConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The micro and macro motion signals with excluded frames blanked (NaN), for the spotter; on frames where a
    cover set regions aside (``motion_left_out``), both signals are made of the other regions (:func:`kept_motion`,
    with the weights and reference distances of ``config``, the analysis's motion settings; default
    :class:`~larnet_core.video.motion.MotionConfig`) and blanked only where none is left. A table without the
    ``excluded`` column (an analysis made before it) sets aside head movement as it was then; one without
    ``motion_left_out`` blanks covered frames as it did then."""
    if "excluded" not in table.columns:
        return (np.where(table["head_moving"], np.nan, table["motion"].to_numpy()),
                np.where(table["head_moving_macro"], np.nan, table["motion_macro"].to_numpy()))
    reason = table["excluded"].fillna("").astype(str)
    excluded = reason.to_numpy() != ""
    thinned = "motion_left_out" in table.columns and all(f"motion_macro_{r}" in table.columns for r in REGIONS)
    # A reason that names one scale leaves the other scale's motion in: a quick turn may be too fast for the 0.3 s
    # flow at its quickest, yet the 1 s flow of the macro scale follows it.
    micro_out = excluded & ~reason.str.endswith(f"{MACRO_ONLY})").to_numpy()
    macro_out = excluded & ~reason.str.endswith(f"{MICRO_ONLY})").to_numpy()
    micro = table["motion"].to_numpy(dtype=np.float64, copy=True)
    macro = table["motion_macro"].to_numpy(dtype=np.float64, copy=True)
    if thinned:  # a steady cover's frames: the regions it leaves, at the scales motion_left_out names
        left_out = table["motion_left_out"].fillna("").astype(str)
        fps = _table_fps(table)
        config = config or MotionConfig()
        for signal, out, prefix, drag_column, seconds, other in (
                (micro, micro_out, "motion_", "drag_eyes", config.reference_s, MACRO_ONLY),
                (macro, macro_out, "motion_macro_", "drag_eyes_macro", config.macro_reference_s, MICRO_ONLY)):
            read = _thinned_at(left_out, other)
            if not read.any():
                continue
            regions = table[[f"{prefix}{r}" for r in REGIONS]].to_numpy(dtype=np.float64)
            # The brows are measured against the dragging eye movement the engine recorded (the rule is the
            # engine's, combine_regions); a table made before drag_eyes, against the largest eye value of the
            # last k // 2 + 1 frames, as the engine's rule was then.
            dragging = (table[drag_column].to_numpy(dtype=np.float64) if drag_column in table.columns
                        else np.full(len(table), np.nan))
            eyes = pd.Series(regions[:, REGIONS.index("eyes")]).rolling(
                max(1, int(round(seconds * fps)) // 2 + 1), min_periods=1).max().to_numpy()
            dragging = np.where(np.isfinite(dragging), dragging, eyes)
            for text in set(left_out[read]):
                rows = read & (left_out == text).to_numpy()
                signal[rows] = kept_motion(regions[rows], dragging[rows], regions_left_out(text.split(" (")[0]),
                                           config.weight_vector())
                out[rows] = ~np.isfinite(signal[rows])
    return np.where(micro_out, np.nan, micro), np.where(macro_out, np.nan, macro)


def macro_sides(table: pd.DataFrame, config: MotionConfig | None = None, fps: float | None = None
                ) -> MacroSides | None:
    """The macro scale's one-sided movements (:class:`~larnet_core.video.spotting.MacroSides`) the spotter sizes
    macro intervals with; NaN where a cover sets regions aside from the macro signal (the sides are made of every
    region, so an interval does not grow across such frames). None for a table made before the columns. ``fps``:
    the clip's (default: from the table's ``time_s``)."""
    if not all(name in table.columns for name in ("motion_macro_back", "motion_macro_forward")):
        return None
    back = table["motion_macro_back"].to_numpy(dtype=np.float64, copy=True)
    forward = table["motion_macro_forward"].to_numpy(dtype=np.float64, copy=True)
    if "motion_left_out" in table.columns:
        thinned = _thinned_at(table["motion_left_out"].fillna("").astype(str), MICRO_ONLY)
        back[thinned] = forward[thinned] = np.nan
    config = config or MotionConfig()
    return MacroSides(back, forward, config.macro().reference_frames(fps or _table_fps(table)))


def _thinned_at(left_out: pd.Series, other: str) -> np.ndarray:
    """Per frame, whether a steady cover sets regions aside from the signal of the scale that is not ``other``
    (``motion_left_out`` names regions and does not end with ``(<other>)``)."""
    return (left_out != "").to_numpy() & ~left_out.str.endswith(f"{other})").to_numpy()


def _table_fps(table: pd.DataFrame) -> float:
    """The frame rate of a per-frame table from its ``time_s`` (30 without one)."""
    if "time_s" in table.columns and len(table) > 1:
        step = np.nanmedian(np.diff(table["time_s"].to_numpy(dtype=np.float64)))
        if np.isfinite(step) and step > 0:
            return float(1.0 / step)
    return 30.0
