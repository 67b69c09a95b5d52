"""The per-frame AU lanes read on every frame of each spotted interval against its neutral frame
(larnet_core.video.interval_lanes): how the readings are blended into the ten-a-second lanes, and what a
micro-expression on a real photo's footage shows in them."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.video.interval_lanes import IntervalReading, with_interval_readings
from markers import needs_mediapipe

UNITS = len(AU_COLUMNS)
AU01, AU12, AU43 = (AU_COLUMNS.index(name) for name in ("AU01", "AU12", "AU43"))


def _reading(neutral, onset, apex, offset, end, value, frames=None):
    frames = np.arange(neutral + 1, end) if frames is None else np.asarray(frames)
    values = np.full((len(frames), UNITS), float(value))
    return IntervalReading(neutral, onset, apex, offset, end, frames, values)


def test_an_interval_takes_its_own_reading_and_blends_at_its_edges():
    lanes = np.full((20, UNITS), 0.2)
    lanes[:, AU43] = 0.7
    out = with_interval_readings(lanes, [_reading(2, 6, 8, 10, 14, 3.0)])
    # Onset to offset: the interval's reading itself; AU43 stays the mesh's.
    assert (out[6:11, AU01] == 3.0).all() and (out[:, AU43] == 0.7).all()
    # From the neutral frame (untouched) to the onset, and from the offset to the end, linear: no step.
    assert out[2, AU01] == 0.2 and out[14, AU01] == 0.2 and (out[15:, AU01] == 0.2).all()
    assert np.allclose(out[2:7, AU01], np.linspace(0.2, 3.0, 5))
    assert np.allclose(out[10:15, AU01], np.linspace(3.0, 0.2, 5))


def test_a_frame_whose_movement_fits_no_units_pattern_reads_no_unit():
    lanes = np.full((20, UNITS), 0.2)
    lanes[:, AU43] = 0.7
    reading = _reading(2, 6, 8, 10, 14, 3.0)
    not_read = np.isin(reading.frames, [8, 9])  # read, but the patterns explain too little (flow.MIN_EXPLAINED)
    reading.values[not_read] = np.nan
    reading = IntervalReading(*[getattr(reading, name) for name in ("neutral", "onset", "apex", "offset", "end",
                                                                    "frames", "values")], not_read)
    out = with_interval_readings(lanes, [reading])
    assert np.isnan(out[8:10, :AU43]).all() and (out[8:10, AU43] == 0.7).all()  # not the ten-a-second lanes
    assert (out[6:8, AU01] == 3.0).all() and (out[10, AU01] == 3.0)
    assert reading.is_not_read(8) and not reading.is_not_read(7) and reading.at(8) is None


def test_a_frame_the_ten_a_second_lanes_did_not_read_takes_the_intervals_reading():
    # The ten-a-second reading there fitted no unit's pattern (NaN); against the interval's neutral frame the
    # movement does: the lanes show what the interval's units say, at its apex above all.
    lanes = np.full((20, UNITS), 0.2)
    lanes[5:12, :AU43] = np.nan
    lanes[:, AU43] = 0.7
    out = with_interval_readings(lanes, [_reading(2, 6, 8, 10, 14, 3.0)])
    assert (out[6:11, AU01] == 3.0).all() and (out[:, AU43] == 0.7).all()
    assert out[5, AU01] == 3.0 and out[11, AU01] == 3.0  # no lane to blend with: the reading itself
    assert np.isnan(out[15:, AU01]).sum() == 0 and np.isnan(out[:5, AU01]).sum() == 0


def test_covered_units_frames_read_nothing_and_overlaps():
    lanes = np.full((20, UNITS), 0.2)
    lanes[5, :] = np.nan  # a cover arriving: nothing is read on this frame but AU43
    lanes[5, AU43] = 0.0
    reading = _reading(2, 4, 7, 9, 11, 2.0)
    reading.values[reading.frames >= 8, AU12] = np.nan  # the mouth covered from frame 8 on
    reading.values[reading.frames == 6] = np.nan  # a frame that could not be read (no mesh)
    blanked = np.zeros(20, dtype=bool)
    blanked[5] = True
    out = with_interval_readings(lanes, [reading], blanked)
    assert np.isnan(out[5, :AU43]).all() and out[5, AU43] == 0.0
    assert (out[6] == 0.2).all()
    assert np.isnan(out[8:11, AU12]).all() and (out[8:10, AU01] == 2.0).all()
    # Two intervals sharing frames: each frame takes the one that weighs most there, then the nearer apex.
    first, second = _reading(0, 2, 4, 8, 10, 1.0), _reading(3, 5, 9, 12, 14, 5.0)
    out = with_interval_readings(np.zeros((16, UNITS)), [first, second])
    assert out[4, AU01] == 1.0 and out[9, AU01] == 5.0  # each apex reads its own interval
    assert out[6, AU01] == 1.0 and out[7, AU01] == 5.0  # both weigh 1: the nearer apex


@pytest.fixture(scope="module")
def micro_lanes(tmp_path_factory, lite_predictor):
    """Two seconds of a real photo (the tuning one) raising its brows as a micro-expression (AU1+AU2+AU25
    rendered at 0.85-0.98 over 8 frames at 30 fps), analysed as a clip."""
    from larnet_core.synth.footage import make_footage, write_footage
    from larnet_core.video import analyze_clip

    footage = make_footage("expressions", seconds=2.0, seed=2, emotions=["surprise"], photo="grace_hopper")
    path = write_footage(tmp_path_factory.mktemp("micro_lanes") / "micro.mp4", footage.frames, footage.truth.fps)
    analysis = analyze_clip(path, lite_predictor, max_infer_fps=10.0)
    return footage.truth.expressions[0], analysis.frames, analysis.intervals


@needs_mediapipe
@pytest.mark.usefixtures("one_torch_thread")
def test_a_micro_expression_peaks_in_the_lanes_at_its_apex_at_the_intervals_reading(micro_lanes):
    from larnet_core.video.recognise import unit_labels

    truth, frames, intervals = micro_lanes
    hit = [r for r in intervals.itertuples() if r.onset_frame <= truth.apex <= r.offset_frame]
    assert len(hit) == 1, intervals[["onset_frame", "apex_frame", "offset_frame", "aus"]]
    interval = hit[0]
    assert interval.aus == "AU1+AU2"
    # At the spotted apex the lanes are the interval's reading: they name the interval's units and rule.
    at_apex = frames.loc[interval.apex_frame, list(AU_COLUMNS)].to_numpy(dtype=np.float64, copy=True)
    at_apex[AU43] = 0.0  # the lids' lane is the mesh's, not the flow's
    assert unit_labels(at_apex) == (interval.aus, interval.rule_label)
    # Each unit read rises to its full height within a frame or two of the rendered apex (a reading ten times a
    # second caught 0.68 of AU1's 0.92 peak here, a frame away from it, and named AU1 alone).
    during = frames.loc[truth.onset:truth.offset]
    for name in ("AU01", "AU02"):
        peak_frame = int(during[name].idxmax())
        assert abs(peak_frame - truth.apex) <= 2, (name, peak_frame, truth.apex)
        assert frames.loc[interval.apex_frame, name] >= 0.95 * during[name].max() >= ACTIVE_LEVEL
    # The units not rendered stay low on every frame.
    rendered = {"AU01", "AU02", "AU25", "AU43"}
    others = [name for name in AU_COLUMNS if name not in rendered]
    assert (frames[others].fillna(0.0) < ACTIVE_LEVEL).all().all(), frames[others].max()[lambda s: s >= 0.5]
