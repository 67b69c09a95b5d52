"""``larnet spot-eval`` analyses every video with one AnalysisSettings read from ``larnet analyze``'s options: the
intervals it scores are those :func:`analyze_clip` spots with the same settings, and its summary records the
settings, the scoring options and the model, so a score can be reproduced."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from larnet_core.cli import build_parser, main
from larnet_core.errors import LarnetError
from larnet_core.training.spotting_eval import SPOT_EVAL_SETTINGS, SpotEvalOptions, with_dataset_fps
from larnet_core.video.settings import AnalysisSettings

#: Options that change what is spotted, none at its default.
NON_DEFAULT = ["--face", "haar", "--fps", "25", "--max-infer-fps", "5", "--threshold-p", "0.2",
               "--max-seconds", "60", "--backend", "torch"]
INTERVAL_KEYS = ["onset_frame", "apex_frame", "offset_frame", "kind"]


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    from larnet_core.synth import generate_long_videos

    root = tmp_path_factory.mktemp("spot") / "casme_sq"
    generate_long_videos(root, subjects=1, videos_per_subject=1, seed=11, seconds=6.0, write_video=False,
                         workers=1)
    return root


def test_spot_eval_reads_analyze_options_into_the_same_settings():
    parser = build_parser()
    analyze = parser.parse_args(["analyze", "clip.mp4", "--checkpoint", "m.pt", "--out", "r.csv", *NON_DEFAULT])
    spot = parser.parse_args(["spot-eval", "--root", "data", *NON_DEFAULT])
    assert AnalysisSettings.from_args(spot) == AnalysisSettings.from_args(analyze) == AnalysisSettings(
        face="haar", fps=25.0, max_infer_fps=5.0, threshold_p=0.2, max_seconds=60.0, backend="torch")
    # Only the model rate and the frame rate of frame folders default differently: the model only labels
    # intervals here, and the dataset knows its rate.
    defaults = AnalysisSettings.from_args(parser.parse_args(["spot-eval", "--root", "data"]))
    assert defaults == SPOT_EVAL_SETTINGS and defaults.max_infer_fps == 2.0 and defaults.fps is None
    assert with_dataset_fps(defaults, "samm-lv").fps == 200.0
    assert with_dataset_fps(AnalysisSettings(fps=25.0), "samm-lv").fps == 25.0


def test_spot_eval_options_are_checked_once():
    assert SpotEvalOptions().label == "fixed"
    assert SpotEvalOptions(k="auto", loso=True).label == "auto-loso"
    frames = SpotEvalOptions(k=[6, 18])
    assert frames.k == (6, 18) and frames.label == "frames" and frames.to_dict() == {"k": [6, 18], "loso": False,
                                                                                   "iou": 0.5}
    for bad, message in ((dict(k="soon"), "k must be one of auto, fixed"), (dict(k=(0, 18)), "at least 1"),
                         (dict(k="fixed", loso=True), "--loso only changes --k auto"),
                         (dict(iou=0.0), r"--iou must be in \(0, 1\]")):
        with pytest.raises(LarnetError, match=message):
            SpotEvalOptions(**bad)


def test_spot_eval_scores_what_analyze_clip_spots_with_the_same_settings(long_video, tmp_path):
    from larnet_core.data import load_dataset
    from larnet_core.inference import Predictor
    from larnet_core.models import load_checkpoint
    from larnet_core.paths import demo_checkpoint_path
    from larnet_core.video import analyze_clip

    out = tmp_path / "spot.csv"
    assert main(["spot-eval", "--root", str(long_video), "--out", str(out), *NON_DEFAULT]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    settings = AnalysisSettings(**summary["settings"])
    assert settings == AnalysisSettings(face="haar", fps=25.0, max_infer_fps=5.0, threshold_p=0.2,
                                        max_seconds=60.0, backend="torch")
    assert summary["options"] == {"k": "fixed", "loso": False, "iou": 0.5}
    assert summary["params"]["p"] == 0.2 and summary["dataset"] == "casme2-long"
    assert summary["model"]["sha256"] and summary["model"]["backend"] == "torch"
    spotted = pd.read_csv(out.with_name("spot.intervals.csv"))

    (record,) = load_dataset("casme2-long", long_video)
    predictor = Predictor(load_checkpoint(demo_checkpoint_path()), backend=settings.backend)
    analysis = analyze_clip(record.frames[0].parent, predictor, **settings.analyze_kwargs())
    assert analysis.settings["spotting"]["p"] == 0.2 and analysis.meta.fps == 25.0
    expected = analysis.intervals
    assert len(expected) >= 1
    assert spotted[INTERVAL_KEYS].to_dict("records") == expected[INTERVAL_KEYS].to_dict("records")
    assert spotted["label"].tolist() == expected["label"].tolist()
    assert spotted["confidence"].to_numpy() == pytest.approx(expected["confidence"].to_numpy())

    # The settings matter: the defaults spot something else on the same video.
    default = analyze_clip(record.frames[0].parent, predictor,
                           **with_dataset_fps(SPOT_EVAL_SETTINGS, "casme2-long").analyze_kwargs())
    assert default.intervals[INTERVAL_KEYS].to_dict("records") != expected[INTERVAL_KEYS].to_dict("records")
