"""Feeding a video file to the live analyser frame by frame, as a camera would (shared by the live tests)."""

from __future__ import annotations

from pathlib import Path

import cv2


def stream_file(analyzer, path: str | Path, fps: float) -> list:
    """Run every frame of ``path`` through ``analyzer.process`` at ``fps`` timestamps, then ``finish`` it; returns
    each frame's result (the second item ``process`` returns)."""
    capture = cv2.VideoCapture(str(path))
    results = []
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            results.append(analyzer.process(frame[..., ::-1].copy(), index / fps)[1])
            index += 1
    finally:
        capture.release()
    analyzer.finish()
    return results
