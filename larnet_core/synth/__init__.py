"""Synthetic micro-expression data: parametric faces, action-unit deformations, CASME II and CAS(ME)^2 sets.

The real datasets are licensed; everything the project trains, tests and demonstrates on can run on what
this package generates. Output is deterministic for a seed. See docs/synthetic-data.md.

Main entry points:

- :func:`generate_dataset` - short 200 fps clips in CASME II's exact layout and coding sheet.
- :func:`generate_long_videos` - long videos with micro- and macro-expressions in CAS(ME)^2's layout.
- :func:`apply_action_units` / :func:`make_sample_clip` - animate any face image (a photograph too).
- :func:`export_clip_video` - write frames as mp4/h264, avi/mjpeg, webm/vp9 or mkv.
"""

from larnet_core.synth.action_units import AU_NAMES, action_unit_field, apply_action_units, format_au_string, parse_au_key
from larnet_core.synth.casme2 import CASME2_CODING_FILE, CASME2_COLUMNS, CASME2_FRAMES_DIR, generate_dataset
from larnet_core.synth.emotions import EMOTIONS, sample_action_units
from larnet_core.synth.face import FaceIdentity, render_face, sample_identity
from larnet_core.synth.landmarks import FaceLandmarks, landmarks_from_box, landmarks_from_five_points
from larnet_core.synth.long_videos import CASME_SQ_CODING_FILE, CASME_SQ_FRAMES_DIR, CASME_SQ_VIDEO_DIR, generate_long_videos
from larnet_core.synth.manifest import GENERATOR_VERSION, NOTICE, SynthManifest
from larnet_core.synth.render import ClipTruth, Distractors, make_sample_clip
from larnet_core.synth.video_writer import VideoClipWriter, export_clip_video

__all__ = [
    "AU_NAMES",
    "CASME2_CODING_FILE",
    "CASME2_COLUMNS",
    "CASME2_FRAMES_DIR",
    "CASME_SQ_CODING_FILE",
    "CASME_SQ_FRAMES_DIR",
    "CASME_SQ_VIDEO_DIR",
    "ClipTruth",
    "Distractors",
    "EMOTIONS",
    "FaceIdentity",
    "FaceLandmarks",
    "GENERATOR_VERSION",
    "NOTICE",
    "SynthManifest",
    "VideoClipWriter",
    "action_unit_field",
    "apply_action_units",
    "export_clip_video",
    "format_au_string",
    "generate_dataset",
    "generate_long_videos",
    "landmarks_from_box",
    "landmarks_from_five_points",
    "make_sample_clip",
    "parse_au_key",
    "render_face",
    "sample_action_units",
    "sample_identity",
]
