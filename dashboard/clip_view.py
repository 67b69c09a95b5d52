"""What the clip page shows: one analysis result (fresh, or reopened from a saved session) and the clip's bytes.

Kept out of the page script so the page's state survives reruns as one type, and tests can hand the page a result.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from larnet_core.errors import LarnetError
from larnet_core.face.inputs import ModelInput
from larnet_core.result import AnalysisResult
from larnet_core.video.analysis import input_at

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
        """The shown face's table, one row per frame (the main face's until another is picked)."""
        return (self.shown or self.result).main

    @property
    def intervals(self) -> pd.DataFrame:
        return (self.shown or self.result).intervals

    @property
    def class_names(self) -> list[str]:
        return self.result.class_names

    def model_input(self, index: int) -> ModelInput:
        """The model input behind a frame's probabilities (of the shown face), rebuilt from the analysis' own
        settings: whatever model the sidebar shows now, the crop is the one that produced the row.

        Raises:
            LarnetError: the clip was not stored, or the face has no inferred frame.
        """
        if self.data is None:
            raise LarnetError("the clip was not stored with this result, so its frames cannot be shown")
        try:
            return input_at(self.result, self.data, index, self.face_id)
        except ValueError as exc:
            raise LarnetError(f"frame {index} has no model input: {exc}") from None
        except (KeyError, TypeError):  # a table saved before the input record was kept, or a damaged one
            raise LarnetError("this analysis did not record its model inputs; analyse the clip again") from None

    def explainable_by(self, card) -> str | None:
        """None when a model with this card reads this analysis' inputs (same classes, input size and sample
        mode), so its heat map explains the rows; else why not, in one line."""
        size = int(self.result.settings.get("input_size", 0) or 0)
        mode = str(self.result.model.get("sample_mode", "") or "")
        if list(card.class_names) != self.class_names:
            return "the model in the sidebar has other classes than the one that made this analysis"
        if size and int(card.input_size) != size:
            return (f"the model in the sidebar takes {int(card.input_size)} px inputs; this analysis was made with "
                    f"{size} px inputs")
        if mode and str(card.sample_mode) != mode:
            return f"the model in the sidebar reads {card.sample_mode} inputs; this analysis was made from {mode} inputs"
        return None
