"""Spot, then recognise, on a clip: every interval's frames are read in one pass of one opened reader, decoded as
the analysis decoded them, and the file is hashed once per analysis."""

from __future__ import annotations

import numpy as np
import pytest

from larnet_core.video import reader as reader_module
from larnet_core.video.reader import frame_at, frames_at


@pytest.fixture(scope="module")
def two_expressions(tmp_path_factory):
    """A 3 s, 320x240 h264 clip of a real photo showing two micro-expressions."""
    from larnet_core.synth.footage import make_footage, write_footage

    footage = make_footage("expressions", seconds=3.0, seed=7, micro=2, size=(320, 240))
    return write_footage(tmp_path_factory.mktemp("two") / "two.mp4", footage.frames, footage.truth.fps)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """A 12 s, 30 fps clip of changing noise (every frame different), long enough for a seek between frames."""
    from larnet_core.synth.footage import write_footage

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frames = [np.roll(base, 3 * i, axis=1) for i in range(360)]
    return write_footage(tmp_path_factory.mktemp("long") / "long.mp4", frames, 30.0)


def _count_opens_and_hashes(monkeypatch) -> dict[str, int]:
    counts = {"opens": 0, "hashes": 0}
    init, sha = reader_module.ClipReader.__init__, reader_module.sha256_input

    def counting_init(self, *args, **kwargs):
        counts["opens"] += 1
        init(self, *args, **kwargs)

    def counting_sha(*args, **kwargs):
        counts["hashes"] += 1
        return sha(*args, **kwargs)

    monkeypatch.setattr(reader_module.ClipReader, "__init__", counting_init)
    monkeypatch.setattr(reader_module, "sha256_input", counting_sha)
    return counts


def test_frames_at_reads_what_frame_at_reads_in_one_opening(long_clip, monkeypatch):
    wanted = [0, 5, 6, 40, 330, 359]  # a run near the start, and one after a gap long enough to seek over
    expected = {i: frame_at(long_clip, i, max_side=120) for i in wanted}
    counts = _count_opens_and_hashes(monkeypatch)
    got = frames_at(long_clip, [359, 6, 0, 40, 5, 330, 6, 9999], max_side=120, sha256="ab" * 32)
    assert counts == {"opens": 1, "hashes": 0}
    assert sorted(got) == wanted  # a frame beyond the end is left out
    for index in wanted:
        assert got[index].shape == (90, 120, 3)
        np.testing.assert_array_equal(got[index], expected[index])
    assert frames_at(long_clip, []) == {}


def test_frames_at_reads_an_image_sequence(tmp_path):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((40, 50, 3), 40 * i, np.uint8))
    got = frames_at(folder, [4, 1, 7], fps=30.0)
    assert sorted(got) == [1, 4]
    np.testing.assert_array_equal(got[4], frame_at(folder, 4, fps=30.0))


def test_recognise_reads_the_clip_once_and_hashes_it_once(two_expressions, lite_predictor, monkeypatch):
    from larnet_core.video import analyze_clip

    counts = _count_opens_and_hashes(monkeypatch)
    analysis = analyze_clip(two_expressions, lite_predictor)
    assert len(analysis.intervals) >= 2, analysis.intervals
    # One opening to analyse the clip, one to read every interval's neutral, onset and apex frames; one hash.
    assert counts == {"opens": 2, "hashes": 1}
    assert analysis.prediction.source == "interval"
    assert analysis.intervals["label"].notna().all()


def test_an_interval_is_read_with_the_checkpoints_own_flow(two_expressions, tmp_path):
    """Per-frame inputs use Farneback (fast enough per frame); each spotted interval's onset -> apex input uses the
    flow the checkpoint was trained on (TV-L1 here), as the model saw it in training."""
    import dataclasses

    from larnet_core.face.flow import compute_flow_image
    from larnet_core.face.inputs import warp_crop
    from larnet_core.inference import Predictor
    from larnet_core.models import ModelCard, load_checkpoint, save_checkpoint
    from larnet_core.video import analyze_clip

    classes = ["negative", "positive", "surprise"]
    card = dataclasses.replace(ModelCard.for_preset("larnet-lite", classes), sample_mode="flow", flow="tvl1")
    predictor = Predictor(load_checkpoint(save_checkpoint(card.build(), card, tmp_path / "tvl1.pt")))
    analysis = analyze_clip(two_expressions, predictor)
    assert len(analysis.intervals), "the clip's expressions should be spotted"
    table = analysis.main.set_index("frame", drop=False)
    size = card.input_size
    for interval in analysis.intervals.itertuples():
        onset, apex = int(interval.onset_frame), int(interval.apex_frame)
        crops = [warp_crop(frame_at(two_expressions, i), _matrix(table.loc[i]), size) for i in (onset, apex)]
        by_method = {method: predictor.predict_proba([compute_flow_image(*crops, size, method)])[0]
                     for method in ("tvl1", "farneback")}
        assert interval.confidence == pytest.approx(float(np.max(by_method["tvl1"])), abs=1e-5)
        assert not np.allclose(by_method["tvl1"], by_method["farneback"], atol=1e-5)


def _matrix(row) -> np.ndarray:
    from larnet_core.face.inputs import ModelInput

    return ModelInput.matrix_from_record(row)
