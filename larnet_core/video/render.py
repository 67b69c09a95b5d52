"""Annotated video export: the clip with its face box, per-frame probabilities, motion and spotted intervals."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np

from larnet_core.errors import Cancelled, VideoError
from larnet_core.video.analysis import ClipAnalysis, probability_columns
from larnet_core.video.limits import VideoLimits
from larnet_core.video.overlay import SYNTHETIC_NOTICE, draw_face_result, draw_motion_trace, draw_notice
from larnet_core.video.reader import ClipSource, open_clip
from larnet_core.video.writer import VideoClipWriter

__all__ = ["render_annotated_video"]

_TRACE_S = 3.0


def render_annotated_video(
    source: ClipSource,
    analysis: ClipAnalysis,
    out: str | Path,
    *,
    max_side: int = 720,
    fps: float | None = None,
    limits: VideoLimits | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Write the clip with its analysis drawn on every frame (H.264 ``.mp4``, or any container PyAV writes).

    Args:
        source: the clip that was analysed (the same file, bytes or folder).
        analysis: its :class:`ClipAnalysis`.
        out: output path; ``.mp4`` (H.264), ``.mkv``, ``.avi`` or ``.webm``.
        max_side: frames are drawn at most this large on their long side.
        fps: playback frame rate; default the clip's (capped at 60 so players keep up with 200 fps clips;
            the video then plays in slow motion, which is what micro-expressions need anyway).
        limits: safety limits for reading the clip again.
        progress, cancel: as for :func:`~larnet_core.video.analyze_clip`.

    Returns:
        The written path.

    Raises:
        VideoError: the clip does not match the analysis, or cannot be read or written.
        Cancelled: ``cancel`` was set; the partial file is removed.
    """
    out = Path(out)
    columns = probability_columns(analysis.class_names)
    box_columns = ["face_x0", "face_y0", "face_x1", "face_y1"]
    # One table per face, one row per frame: row i of each is frame i. The main face gets the bars and the trace.
    main = analysis.main
    others = [t for face_id, t in analysis.tables.items() if face_id != analysis.main_face_id]
    faces = [(t[box_columns].to_numpy(), t[columns].to_numpy(), t["in_interval"].to_numpy()) for t in [main, *others]]
    motion = main["motion"].to_numpy()
    rate = fps or min(analysis.meta.fps, 60.0)
    trace_len = max(2, int(_TRACE_S * analysis.meta.fps))
    writer = VideoClipWriter(out, fps=rate)
    try:
        with writer, open_clip(source, limits, fps=analysis.meta.fps, max_side=max_side) as reader:
            if (reader.meta.width, reader.meta.height) != (analysis.meta.width, analysis.meta.height):
                raise VideoError(f"{reader.meta.name} is {reader.meta.width}x{reader.meta.height} but the analysis is "
                                 f"of a {analysis.meta.width}x{analysis.meta.height} clip; pass the analysed clip")
            scale = reader.scale
            n = len(main)
            for decoded in reader.frames():
                i = decoded.index
                if i >= n:
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"rendering {out.name} was cancelled at frame {i}")
                frame = np.ascontiguousarray(decoded.image)
                for boxes, probs, in_interval in faces[1:]:
                    if np.isfinite(boxes[i]).all():
                        draw_face_result(frame, boxes[i] * scale, analysis.class_names, probs[i],
                                         highlight=bool(in_interval[i]), bars=False)
                boxes, probs, in_interval = faces[0]
                draw_face_result(frame, boxes[i] * scale if np.isfinite(boxes[i]).all() else None,
                                 analysis.class_names, probs[i] if np.isfinite(probs[i]).all() else None,
                                 highlight=bool(in_interval[i]))
                draw_motion_trace(frame, motion[max(0, i - trace_len):i + 1])
                expression = any(bool(face[2][i]) for face in faces)
                row = 0
                if analysis.synthetic:
                    draw_notice(frame, SYNTHETIC_NOTICE, row=row)
                    row += 1
                label = f"frame {i}  {decoded.time_s:.3f} s"
                if expression:
                    label += "  expression"
                draw_notice(frame, label, row=row, colour=(255, 255, 255))
                writer.write(frame)
                if progress is not None and i % 16 == 0:
                    progress(min(i / max(n, 1), 1.0), f"rendering frame {i + 1} of {n}")
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(1.0, "done")
    return out

