"""The analysis options the clip and live pages share, shown the same way on both (the fields of
:class:`~larnet_core.video.settings.AnalysisSettings` that mean the same for a clip and a stream)."""

from __future__ import annotations

from typing import Any

from larnet_core.face.inputs import FACE_MODES

__all__ = ["FACE_HELP", "face_mode_select"]

FACE_HELP = ("auto: MediaPipe Face Mesh (478 landmarks) when installed, else MTCNN, else Haar; small face-filled "
             "frames without a detected face are analysed whole. none: the whole frame is the face.")


def face_mode_select(container: Any, key: str, disabled: bool = False) -> str:
    """The face-tracking choice (``AnalysisSettings.face``) in ``container`` (a column or ``st``)."""
    return container.selectbox("Face tracking", FACE_MODES, key=key, help=FACE_HELP, disabled=disabled)
