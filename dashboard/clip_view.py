"""What the clip page shows: one analysis result (fresh, or reopened from a saved session) and the clip's bytes.

Kept out of the page script so the page's state survives reruns as one type, and tests can hand the page a result.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from larnet_core.results import AnalysisResult

__all__ = ["ClipView"]


@dataclass
class ClipView:
    """What the page shows: an analysis result (fresh, or reopened from a saved session) and the clip's bytes."""

    result: AnalysisResult
    data: bytes | None
    session_id: str = ""
    face_id: int | None = None   # the face shown, for an analysis of every face
    shown: AnalysisResult | None = None  # the picked face's rows and intervals, for an analysis of every face

    @property
    def name(self) -> str:
        return self.result.meta.name

    @property
    def frames(self) -> pd.DataFrame:
        return (self.shown or self.result).frames

    @property
    def intervals(self) -> pd.DataFrame:
        return (self.shown or self.result).intervals

    @property
    def class_names(self) -> list[str]:
        return self.result.class_names
