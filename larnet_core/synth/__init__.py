"""Synthetic micro-expression data: parametric faces, action-unit deformations, CASME II and CAS(ME)^2 sets.

The real datasets are licensed; everything the project trains, tests and demonstrates on can run on what
this package generates. Output is deterministic for a seed. See docs/synthetic-data.md.

Main entry points:

- :func:`generate_dataset` - short 200 fps clips in CASME II's exact layout and coding sheet.
- :func:`generate_long_videos` - long videos with micro- and macro-expressions in CAS(ME)^2's layout.
- :func:`apply_action_units` / :func:`make_sample_clip` - animate any face image (a photograph too).
- clips are written with :func:`larnet_core.video.writer.export_clip_video` (mp4/h264 or HEVC, avi/mjpeg,
  webm/vp9 or mkv).
- :mod:`larnet_core.synth.footage` - real-looking test footage composed from real face photos (a face entering,
  leaving, a shot cut, head turns and nods, a hand over the mouth, two faces, expressions) with per-frame truth.
- :func:`generate_photo_long_videos` - CAS(ME)^2-layout long videos of real photographed faces, with
  expression-free head movements listed apart from the coded expressions.
"""

from larnet_core.synth.action_units import AU_NAMES, action_unit_field, apply_action_units, format_au_string, parse_au_key
from larnet_core.synth.casme2 import CASME2_CODING_FILE, CASME2_COLUMNS, CASME2_FRAMES_DIR, generate_dataset
from larnet_core.synth.emotions import EMOTIONS, sample_action_units
from larnet_core.synth.face import FaceIdentity, render_face, sample_identity
from larnet_core.synth.footage import SCENARIOS, Footage, make_footage, write_footage
from larnet_core.synth.footage_truth import ExpressionTruth, FaceTruth, FootageTruth, HeadMovementTruth, OcclusionTruth
from larnet_core.synth.landmarks import FaceLandmarks, landmarks_from_box, landmarks_from_five_points
from larnet_core.synth.long_videos import CASME_SQ_CODING_FILE, CASME_SQ_FRAMES_DIR, CASME_SQ_VIDEO_DIR, generate_long_videos
from larnet_core.synth.manifest import GENERATOR_VERSION, NOTICE, SynthManifest
from larnet_core.synth.photo_faces import HeadLayer, head_layer, photo_landmarks
from larnet_core.synth.photo_long_videos import generate_photo_long_videos, load_head_movements
from larnet_core.synth.render import ClipTruth, Distractors, make_sample_clip

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
    "ExpressionTruth",
    "FaceIdentity",
    "FaceLandmarks",
    "FaceTruth",
    "Footage",
    "FootageTruth",
    "GENERATOR_VERSION",
    "HeadLayer",
    "HeadMovementTruth",
    "NOTICE",
    "OcclusionTruth",
    "SCENARIOS",
    "SynthManifest",
    "action_unit_field",
    "apply_action_units",
    "format_au_string",
    "generate_dataset",
    "generate_long_videos",
    "generate_photo_long_videos",
    "head_layer",
    "landmarks_from_box",
    "landmarks_from_five_points",
    "load_head_movements",
    "make_footage",
    "make_sample_clip",
    "parse_au_key",
    "photo_landmarks",
    "render_face",
    "sample_action_units",
    "sample_identity",
    "write_footage",
]
