"""Which frames are kept out of spotting and why, and the live history's pose and AU columns (no tracker)."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

from larnet_core.aus.names import AU_COLUMNS
from larnet_core.result import live_result
from larnet_core.result.schema import REGIONS
from larnet_core.video.face_state import (FAST_TURN_DEG, RESIDUAL_SPREAD, excluded_reasons, held_cover,
                                          kept_motion, pose_swing, residual_limit, spotting_signals)
from larnet_core.video.motion import MotionConfig, combine_regions, dragging_eyes


def _columns(**changes) -> dict:
    n = 6
    columns = {"motion": np.full(n, 0.2), "pose_yaw": np.zeros(n), "pose_pitch": np.zeros(n),
               "pose_residual": np.full(n, 0.02), "head_residual": np.full(n, 0.1),
               "head_residual_macro": np.full(n, 0.1), "head_moving": np.zeros(n, bool),
               "head_moving_macro": np.zeros(n, bool)}
    for name, (index, value) in changes.items():
        columns[name] = columns[name].copy()
        columns[name][index] = value
    return columns


def test_frames_are_excluded_only_where_compensation_cannot_be_trusted():
    columns = _columns(pose_yaw=(1, 40.0), head_residual=(2, 0.9), pose_residual=(3, 0.3))
    columns["head_moving"][:] = True  # head movement alone no longer excludes a frame with a mesh
    reason, micro, macro = excluded_reasons(columns, max_residual_px=0.5, macro_factor=2 / 3, reach=(1, 1))
    assert reason.tolist() == ["", "head turned beyond 30 degrees", "fast head motion (micro scale)", "mesh lost", "",
                               ""]
    assert micro.tolist() == [False, True, True, True, False, False]
    assert macro.tolist() == [False, True, False, True, False, False]
    # Without a mesh (no pose) a moving head is set aside as before.
    no_mesh = _columns()
    no_mesh["pose_yaw"] = np.full(6, np.nan)
    no_mesh["head_moving"] = np.array([False, True, False, False, False, False])
    assert excluded_reasons(no_mesh, 0.5, 2 / 3)[0][1] == "head moving (no mesh; micro scale)"


def test_too_fast_is_measured_against_how_far_this_face_usually_strays():
    # A real face's stable points stray 0.6 px on every frame (hair, the jaw's outline, mesh jitter): only the frame
    # well beyond that is too fast. A rendered head strays 0.1 px: the fixed limit holds.
    real = _columns(head_residual=(4, 2.0))
    real["head_residual"][:4] = 0.6
    real["head_residual"][5] = 0.6
    real["head_moving"][:] = True
    real["pose_pitch"][4] = 8.0  # a quick nod
    reason = excluded_reasons(real, max_residual_px=0.5, macro_factor=2 / 3, reach=(1, 1))[0]
    assert reason.tolist() == ["", "", "", "", "fast head motion (micro scale)", ""]
    assert residual_limit(np.full(9, 0.6), 0.5) == pytest.approx(RESIDUAL_SPREAD * 0.6)
    assert residual_limit(np.array([0.1, 0.1, np.nan]), 0.5) == 0.5
    assert residual_limit(np.array([]), 0.5) == 0.5


def test_stable_points_that_stray_while_the_head_hardly_turns_were_moved_by_the_face():
    # A real broad smile drags the stable points 0.7-1.2 px from the rigid model (usually 0.1-0.2 px) while the head
    # nods 4 degrees, and mesh jitter keeps a real face "moving" by the key points' measure on most frames: only a
    # head that also turns FAST_TURN_DEG or more within the scale's reach is too fast for the flow.
    columns = _columns(head_residual=(2, 0.9))
    columns["head_moving"][:] = True
    columns["pose_pitch"][:] = [0.0, 1.0, 2.5, 3.5, 4.0, 4.0]  # the smile's slight nod
    assert excluded_reasons(columns, 0.5, 2 / 3, reach=(2, 2))[0].tolist() == [""] * 6
    columns["pose_pitch"][3] = 2.5 + FAST_TURN_DEG  # a nod quick enough
    assert excluded_reasons(columns, 0.5, 2 / 3, reach=(2, 2))[0][2] == "fast head motion (micro scale)"
    assert excluded_reasons(columns, 0.5, 2 / 3, reach=(0, 0))[0][2] == ""  # no frame to have turned from
    # The largest change of any angle within the reach, frames without a pose skipped.
    angles = np.array([[0.0, 0.0, 0.0], [np.nan, np.nan, np.nan], [1.0, -2.0, 0.5], [9.0, 0.0, 0.0]])
    assert pose_swing(angles, 0, 2) == pytest.approx(2.0)
    assert pose_swing(angles, 0, 3) == pytest.approx(9.0)
    assert pose_swing(angles, 1, 3) == 0.0


def test_spotting_blanks_excluded_frames_and_reads_older_tables_as_before():
    table = pd.DataFrame({"motion": [0.1, 0.2, 0.3], "motion_macro": [0.1, 0.1, 0.1],
                          "head_moving": [True, False, False], "head_moving_macro": [False, False, True],
                          "excluded": ["", "fast head motion", ""]})
    micro, macro = spotting_signals(table)
    assert np.isnan(micro[1]) and micro[0] == 0.1 and np.isnan(macro[1]) and macro[2] == 0.1
    micro, macro = spotting_signals(table.drop(columns=["excluded"]))
    assert np.isnan(micro[0]) and np.isnan(macro[2]) and micro[1] == 0.2


def test_a_held_cover_leaves_its_regions_out_and_arriving_blanks_the_frame():
    # 13 frames, the mouth covered from frame 2 to the end; reach 1 (micro) and 3 (macro).
    n = 13
    columns = _columns()
    columns = {name: np.resize(values, n) for name, values in columns.items()}
    columns["mouth_occluded"] = np.arange(n) >= 2
    columns["brows_occluded"] = np.zeros(n, bool)
    reason, micro, macro = excluded_reasons(columns, 0.5, 2 / 3, reach=(1, 3))
    assert reason[1] == "mouth occluded" and reason[0] == "mouth occluded (macro scale)"
    # Arriving within the reach: out. Held over the whole reach: in (micro from frame 3, macro from frame 5).
    assert micro.tolist() == [False, True, True] + [False] * 10
    assert macro.tolist() == [True] * 5 + [False] * 8
    # A table: brows moved 0.3, mouth 0.9 everywhere; the held frames read the brows alone, at the scales named.
    regions = np.tile([0.3, 0.0, 0.0, 0.9, 0.0, 0.0], (4, 1))
    table = pd.DataFrame({"time_s": np.arange(4) / 30, "motion": 0.9, "motion_macro": 0.9,
                          "head_moving": False, "head_moving_macro": False,
                          "excluded": ["mouth occluded (macro scale)", "mouth occluded", "mouth occluded",
                                       "mouth occluded"],
                          "motion_left_out": ["", "", "nose+mouth+cheeks+chin (micro scale)",
                                              "nose+mouth+cheeks+chin"]})
    for prefix in ("motion_", "motion_macro_"):
        for k, name in enumerate(REGIONS):
            table[f"{prefix}{name}"] = regions[:, k]
    micro, macro = spotting_signals(table)
    assert micro[0] == 0.9 and np.isnan(micro[1]) and np.allclose(micro[2:], 0.3)
    assert np.isnan(macro[:3]).all() and np.isclose(macro[3], 0.3)
    # The analysis's own motion settings weigh the regions left: brows weighted half read half.
    brows_half = MotionConfig(weights={**MotionConfig().weights, "brows": 0.5})
    micro, macro = spotting_signals(table, brows_half)
    assert np.allclose(micro[2:], 0.15) and np.isclose(macro[3], 0.15)
    # A table made before motion_left_out blanks every covered frame as it did then.
    micro, macro = spotting_signals(table.drop(columns=["motion_left_out"]))
    assert np.isnan(micro[1:]).all() and np.isnan(macro).all() and micro[0] == 0.9


def test_kept_motion_is_the_combined_signal_without_the_covered_regions():
    rng = np.random.default_rng(0)
    weights = MotionConfig().weight_vector()
    for values in rng.uniform(0, 1, (20, len(REGIONS))):
        eyes = float(rng.uniform(0, 1))
        assert np.isclose(kept_motion(values[None], [eyes], ())[0], combine_regions(values, weights, eyes))
        without = values.copy()
        without[[REGIONS.index(r) for r in ("nose", "mouth", "cheeks", "chin")]] = 0.0
        assert np.isclose(kept_motion(values[None], [eyes], ("nose", "mouth", "cheeks", "chin"))[0],
                          combine_regions(without, weights, eyes))
    assert np.isnan(kept_motion(np.ones((1, len(REGIONS))), [0.0], REGIONS)[0])


def test_live_history_carries_pose_and_units():
    class Report:
        frame_index, time_s, label, confidence, motion = 0, 0.0, "a", 0.5, 0.1
        probabilities = {"a": 0.5}
        pose, aus = (10.0, -5.0, 2.0), {"AU12": 1.5}

    class Empty:
        frame_index, time_s, label, confidence, motion, probabilities = 1, 0.1, None, None, float("nan"), {}

    frames = live_result([Report(), Empty()], [], ["a"], {}, {}, fps=30.0).frames
    assert frames.loc[0, "pose_yaw"] == 10.0 and frames.loc[0, "AU12"] == 1.5
    assert frames.loc[1, list(AU_COLUMNS)].isna().all() and np.isnan(frames.loc[0, "AU01"])


def test_clip_and_live_decide_a_held_cover_alike():
    from types import SimpleNamespace

    from larnet_core.video.live_face import LiveFaceState

    # The mouth covered on frames 3-14 (a brows cover, which leaves no region, on 17); reach 2.
    n, reach = 20, 2
    mouth = (np.arange(n) >= 3) & (np.arange(n) <= 14)
    brows = np.arange(n) == 17
    clip = held_cover({"mouth": mouth, "brows": brows}, reach)
    assert clip.tolist() == [False] * 5 + [True] * 8 + [False] * 7
    live = LiveFaceState(30.0, 0.5, 2 / 3, reach=(reach, reach))
    live._covered.update({i: tuple(r for r, flags in (("mouth", mouth), ("brows", brows)) if flags[i])
                          for i in range(n)})
    held = [bool(live._held(SimpleNamespace(index=i, scale="micro"))) for i in range(reach, n - reach)]
    assert held == clip[reach:n - reach].tolist()


def test_lids_opening_wide_do_not_drag_the_brows():
    weights = MotionConfig().weight_vector()
    brows, eyes = REGIONS.index("brows"), REGIONS.index("eyes")
    values = np.zeros(len(REGIONS))
    values[brows], values[eyes] = 0.46, 0.99  # the wide eyes' apex on the astronaut photo (macro scale)
    # Lids opening wide (AU5 with AU1+AU2): the eye region's backward flow goes up (-1.03 of 1.04 px on the
    # astronaut's wide eyes): nothing of it drags, and the raised brows count.
    opening = dragging_eyes(0.99, down=-1.027, back=1.037)
    assert opening < 0.01 and combine_regions(values, weights, opening) > 0.45
    # A blink: the flow goes down (the upper lid comes down): all of it drags, and the brows' 0.46 is its drag.
    closing = dragging_eyes(0.99, down=1.0, back=1.01)
    assert closing == 0.99 and combine_regions(values, weights, closing) == 0.0
    # No clear direction (a nod's residue): the whole value drags, as before the direction was measured.
    assert dragging_eyes(0.039, down=0.011, back=0.079) == 0.039
    assert np.isclose(dragging_eyes(0.039, down=-0.02, back=0.08), 0.039 * 0.75)
    assert dragging_eyes(0.5, down=0.2, back=0.0) == 0.5 and dragging_eyes(float("nan"), 1.0, 1.0) == 0.0
    # Unknown (a table made before the drag_eyes columns): the eye value itself, whichever way the lids went.
    assert combine_regions(values, weights, None) == combine_regions(values, weights, float("nan")) == 0.0


def test_a_covered_frame_reads_the_brows_against_the_dragging_eye_movement():
    # The mouth held covered on every frame; the brows rose 0.46 while the eye region moved 0.99.
    n = 4
    regions = np.tile([0.46, 0.99, 0.0, 0.9, 0.0, 0.0], (n, 1))
    table = pd.DataFrame({"time_s": np.arange(n) / 24, "motion": 0.9, "motion_macro": 0.9, "head_moving": False,
                          "head_moving_macro": False, "excluded": "mouth occluded",
                          "motion_left_out": "nose+mouth+cheeks+chin",
                          "drag_eyes": [0.0, 0.0, 0.99, float("nan")],
                          "drag_eyes_macro": [0.0, 0.99, 0.0, float("nan")]})
    for prefix in ("motion_", "motion_macro_"):
        for k, name in enumerate(REGIONS):
            table[f"{prefix}{name}"] = regions[:, k]
    micro, macro = spotting_signals(table)
    # Lids opening (nothing drags): the brows; a blink's drag; not recorded: the eyes of the last frames.
    assert np.allclose(micro, [0.46, 0.46, 0.0, 0.0]) and np.allclose(macro, [0.46, 0.0, 0.46, 0.0])
    # A table made before the columns measures the brows against the eyes, as the engine did then.
    micro, macro = spotting_signals(table.drop(columns=["drag_eyes", "drag_eyes_macro"]))
    assert np.allclose(micro, 0.0) and np.allclose(macro, 0.0)



def test_a_faces_first_frame_in_view_is_marked_after_an_absence_and_a_cut_too():
    # Those frames' meshes are fitted on the face detector's box, not on the previous landmarks: no flow reference.
    from larnet_core.video.face_state import _first_seen

    found = np.array([False, True, True, True, False, True, True, True])
    cut = np.array([False, False, False, False, False, False, False, True])
    first = _first_seen({"face_found": found, "shot_cut": cut}, len(found))
    assert np.flatnonzero(first).tolist() == [1, 5, 7]
    assert _first_seen({}, 3) is None
