"""The mouth's units a face holds, read from its mesh's shape against the average face and the person's own
baseline (larnet_core.aus.held), and kept only where the flow's reference holds them too. On real footage:
tests/test_real_video.py and tests/test_live_real_video.py (her held smile and laugh)."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.aus import held
from larnet_core.aus.estimate import ACTIVE_LEVEL
from larnet_core.aus.flow import FaceCrop
from larnet_core.aus.learned_patterns import learned_patterns
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.face.pose import canonical_face

AU12 = AU_COLUMNS.index("AU12")
AU25 = AU_COLUMNS.index("AU25")


def _crop(**units: float) -> FaceCrop:
    """A face crop whose mesh is the canonical face moved by the learned units' patterns, in pixels."""
    patterns, names = learned_patterns()
    face = canonical_face().copy()
    for unit, amount in units.items():
        face[:468, :2] += amount * patterns[:, names.index(unit)].reshape(468, 2)
    return FaceCrop(np.zeros((4, 4), np.uint8), np.eye(2, 3), face * 80.0 + np.array([320.0, 240.0, 0.0]))


def test_the_mouths_shape_reads_the_mouths_units_only():
    neutral, smiling = held.shape_units(_crop()), held.shape_units(_crop(AU12=1.5, AU06=1.0))
    mouth = np.array([name in held.HELD_UNITS for name in AU_COLUMNS])
    assert np.isfinite(smiling[mouth]).all() and np.isnan(smiling[~mouth]).all()  # AU06 is the cheeks': not read
    assert smiling[AU12] - neutral[AU12] >= 2.0, (smiling[AU12], neutral[AU12])


def test_a_face_without_depth_has_no_shape_reading():
    crop = _crop()
    flat = FaceCrop(crop.crop, crop.matrix, crop.mesh[:, :2])
    assert np.isnan(held.shape_units(flat)).all()


def test_the_baseline_is_the_persons_tenth_percentile_once_there_are_enough_readings():
    readings = np.full((100, len(AU_COLUMNS)), np.nan)
    readings[:, AU12] = np.arange(100.0) / 20.0  # 0 ... 4.95
    readings[:5, AU25] = 1.0  # too few to say
    baseline = held.person_baseline(readings)
    assert baseline[AU12] == pytest.approx(np.percentile(readings[:, AU12], held.BASELINE_PERCENTILE))
    assert np.isnan(baseline[AU25])
    assert np.isnan(held.person_baseline(readings[: held.MIN_BASELINE_READINGS - 1])[AU12])


def test_a_unit_is_held_only_where_the_reference_holds_it_too():
    baseline = np.zeros(len(AU_COLUMNS))
    frame = np.zeros(len(AU_COLUMNS))
    frame[[AU12, AU25]] = 3.0
    reference = np.zeros(len(AU_COLUMNS))
    reference[AU12] = ACTIVE_LEVEL + 0.1  # the reference smiles: the flow cannot see the smile
    values = held.held_units(frame, reference, baseline)
    assert values[AU12] == 3.0
    assert np.isnan(values[AU25])  # the reference's lips are together: the flow sees them part
    # Against a baseline of 2.5, the reference's 0.7 is nothing held and the frame's 3.0 is 0.5.
    shifted = np.full(len(AU_COLUMNS), 2.5)
    assert np.isnan(held.held_units(frame, reference, shifted)[AU12])
    reference[AU12] = 3.5
    assert held.held_units(frame, reference, shifted)[AU12] == pytest.approx(0.5)


def test_held_units_raise_the_lanes_and_fill_what_the_flow_did_not_read():
    lanes = np.array([[0.2, np.nan, 1.0], [np.nan, np.nan, np.nan]])
    held_values = np.array([[1.5, 2.0, 0.5], [np.nan, 2.0, np.nan]])
    out = held.with_held(lanes, held_values)
    assert out[0].tolist() == [1.5, 2.0, 1.0]  # the larger of the two
    assert np.isnan(out[1, 0]) and out[1, 1] == 2.0 and np.isnan(out[1, 2])  # not read stays so but where held


def test_a_live_baseline_forgets_the_oldest_readings():
    baseline = held.RunningBaseline(keep=held.MIN_BASELINE_READINGS, every=1)
    reading = np.full(len(AU_COLUMNS), np.nan)
    for value in [4.0] * held.MIN_BASELINE_READINGS + [1.0] * held.MIN_BASELINE_READINGS:
        reading[AU12] = value
        baseline.add(reading.copy())
    assert baseline.value()[AU12] == pytest.approx(1.0)
    baseline.add(np.full(len(AU_COLUMNS), np.nan))  # a frame with no reading counts for nothing
    assert baseline.value()[AU12] == pytest.approx(1.0)
    baseline.reset()
    assert np.isnan(baseline.value()).all()


def test_a_live_baseline_is_worked_out_again_every_few_readings():
    baseline = held.RunningBaseline(keep=100, every=5)
    reading = np.full(len(AU_COLUMNS), np.nan)
    reading[AU12] = 2.0
    for _ in range(held.MIN_BASELINE_READINGS - 1):
        baseline.add(reading.copy())
        assert np.isnan(baseline.value()[AU12])  # too few: worked out on each reading until there is one
    baseline.add(reading.copy())
    assert baseline.value()[AU12] == pytest.approx(2.0)
    reading[AU12] = 0.0
    for count in range(1, 6):
        baseline.add(reading.copy())
        assert baseline.value()[AU12] == pytest.approx(2.0 if count < 5 else 0.0), count


def test_a_reported_expression_leaves_the_live_baseline():
    # A clip's spotted intervals set no baseline; live forgets an event's readings once it is reported.
    baseline = held.RunningBaseline(keep=100)
    reading = np.full(len(AU_COLUMNS), np.nan)
    for frame in range(60):
        reading[AU12] = 0.5 if 20 <= frame < 40 else 3.0  # an expression that lowers the reading, a third of them
        baseline.add(reading.copy(), frame)
    assert baseline.value()[AU12] == pytest.approx(0.5)
    baseline.leave_out(20, 39)
    assert baseline.value()[AU12] == pytest.approx(3.0)
