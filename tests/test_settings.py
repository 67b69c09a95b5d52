"""One set of analysis settings for larnet analyze, larnet batch and the clip page, and one face-mode check."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from larnet_core.batch import BatchSettings
from larnet_core.cli._options import add_analysis_arguments
from larnet_core.errors import LarnetError
from larnet_core.face.inputs import InputConfig, photo_model_input
from larnet_core.video import AnalysisSettings, analyze_clip
from larnet_core.video.spotting import SpottingParams


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_analysis_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_cli_options_batch_and_analyze_share_one_settings_type():
    assert BatchSettings is AnalysisSettings
    assert AnalysisSettings.from_args(parse()) == AnalysisSettings()
    settings = AnalysisSettings.from_args(parse("--face", "none", "--all-faces", "--threshold-p", "0.35",
                                                "--max-frames", "90", "--max-infer-fps", "0"))
    kwargs = settings.analyze_kwargs()
    assert kwargs["face"] == "none" and kwargs["all_faces"] and kwargs["max_infer_fps"] is None
    assert kwargs["spotting"] == SpottingParams(p=0.35) and kwargs["limits"].max_frames == 90
    with pytest.raises(Exception):
        settings.face = "auto"  # frozen: a result's settings cannot change under it


def test_an_unknown_face_mode_is_the_same_message_everywhere(lite_predictor):
    messages = []
    for call in (lambda: AnalysisSettings(face="eyes"),
                 lambda: analyze_clip(b"not a clip", lite_predictor, face="eyes"),
                 lambda: photo_model_input(np.zeros((64, 64, 3), np.uint8), InputConfig(), "eyes")):
        with pytest.raises(LarnetError) as caught:
            call()
        messages.append(str(caught.value))
    assert len(set(messages)) == 1 and "use one of auto, mediapipe, mtcnn, haar, none" in messages[0]
