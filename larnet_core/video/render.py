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
    from larnet_core.synth.video_writer import VideoClipWriter

    out = Path(out)
    table = analysis.frames
    probs = table[probability_columns(analysis.class_names)].to_numpy()
    boxes = table[["face_x0", "face_y0", "face_x1", "face_y1"]].to_numpy()
    in_interval = table["in_interval"].to_numpy()
    # An every-face table has one row per frame and face: draw each frame's own rows, never row i on frame i.
    rows_of_frame = table.groupby("frame", sort=True).indices
    main_rows = _main_face_rows(analysis, rows_of_frame)
    motion = table["motion"].to_numpy()[main_rows]
    rate = fps or min(analysis.meta.fps, 60.0)
    trace_len = max(2, int(_TRACE_S * analysis.meta.fps))
    writer = VideoClipWriter(out, fps=rate)
    try:
        with writer, open_clip(source, limits, fps=analysis.meta.fps, max_side=max_side) as reader:
            if (reader.meta.width, reader.meta.height) != (analysis.meta.width, analysis.meta.height):
                raise VideoError(f"{reader.meta.name} is {reader.meta.width}x{reader.meta.height} but the analysis is "
                                 f"of a {analysis.meta.width}x{analysis.meta.height} clip; pass the analysed clip")
            scale = reader.scale
            n = len(main_rows)
            for decoded in reader.frames():
                i = decoded.index
                if i >= n:
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"rendering {out.name} was cancelled at frame {i}")
                frame = np.ascontiguousarray(decoded.image)
                main = main_rows[i]
                for position in rows_of_frame.get(i, ()):
                    if position != main and np.isfinite(boxes[position]).all():
                        draw_face_result(frame, boxes[position] * scale, analysis.class_names, probs[position],
                                         highlight=bool(in_interval[position]), bars=False)
                main_box = boxes[main] * scale if np.isfinite(boxes[main]).all() else None
                main_probs = probs[main] if np.isfinite(probs[main]).all() else None
                draw_face_result(frame, main_box, analysis.class_names, main_probs,
                                 highlight=bool(in_interval[main]))
                draw_motion_trace(frame, motion[max(0, i - trace_len):i + 1])
                expression = bool(in_interval[rows_of_frame.get(i, [main])].any())
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


def _main_face_rows(analysis: ClipAnalysis, rows_of_frame: dict) -> np.ndarray:
    """Per frame, the table row of the face whose bars and motion trace are drawn: the main face's row where it
    is in view, else the frame's first row."""
    table = analysis.frames
    main_id = int(analysis.settings.get("main_face_id", 0) or 0)
    ids = table["face_id"].to_numpy() if "face_id" in table else np.zeros(len(table), dtype=np.int64)
    out = np.zeros(len(rows_of_frame), dtype=np.int64)
    for frame, positions in rows_of_frame.items():
        if 0 <= int(frame) < len(out):
            chosen = [p for p in positions if ids[p] == main_id]
            out[int(frame)] = chosen[0] if chosen else positions[0]
    return out
