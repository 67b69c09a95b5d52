"""Clips and live video: read any clip safely, analyse it (per-frame probabilities, facial motion, spotted
micro-expression intervals, a clip label), render annotated video, and analyse a live stream frame by frame.

Typical use::

    from larnet_core.models import load_checkpoint
    from larnet_core.inference import Predictor
    from larnet_core.video import analyze_clip

    predictor = Predictor(load_checkpoint("assets/models/larnet-lite-demo.pt"))
    analysis = analyze_clip("clip.mp4", predictor, progress=lambda f, msg: print(f"{f:.0%} {msg}"))
    analysis.frames          # one row per frame
    analysis.intervals       # spotted intervals
    analysis.prediction      # the clip's label

Names are imported on first use, so ``import larnet_core.video`` stays cheap; docs/clip-analysis.md explains
the pipeline.
"""

from __future__ import annotations

from larnet_core._lazy import lazy_exports

_EXPORTS = {
    "VideoLimits": "limits",
    "DEFAULT_LIMITS": "limits",
    "ClipMeta": "reader",
    "ClipReader": "reader",
    "DecodedFrame": "reader",
    "VIDEO_EXTENSIONS": "reader",
    "open_clip": "reader",
    "read_video_frames": "reader",
    "frame_at": "reader",
    "ClipAnalysis": "analysis",
    "ClipPrediction": "analysis",
    "FACE_MODES": "analysis",
    "analyze_clip": "analysis",
    "AnalysisSettings": "settings",
    "probability_columns": "analysis",
    "MotionConfig": "motion",
    "MotionEngine": "motion",
    "REGIONS": "motion",
    "SpottingParams": "spotting",
    "spot_intervals": "spotting",
    "render_annotated_video": "render",
    "write_y4m": "y4m",
    "LiveAnalyzer": "live",
    "LiveResult": "live",
    "LiveEvent": "live",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
