"""Record types: one annotated micro-expression clip, and one long video with its annotated intervals.

Onset, apex and offset are frame NUMBERS as the dataset writes them (CASME II ``img46.jpg`` -> 46), never
positions in a list; the ``*_index`` helpers turn them into positions in :attr:`ClipRecord.frames`.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

__all__ = ["ClipRecord", "LongVideoRecord", "INTERVAL_COLUMNS", "records_to_frame", "empty_intervals"]

# Columns of LongVideoRecord.intervals, in order.
INTERVAL_COLUMNS = ("onset", "apex", "offset", "type", "emotion", "au", "self_report")


@dataclass(frozen=True)
class ClipRecord:
    """One annotated clip of a micro-expression dataset.

    Attributes:
        dataset: loader name (``casme2``, ``samm``, ``smic``, ``casme3``, ``folder``).
        subject: canonical subject id (CASME II ``sub01``, SAMM ``006``, SMIC ``s1``, CAS(ME)^3 ``spNO.1``).
        clip: clip id, unique within the subject (CASME II ``EP02_01f``).
        emotion: the dataset's own emotion label, lower case.
        frames: frame image paths in frame-number order (onset..offset when annotated).
        frame_numbers: the frame number of each path, same length as ``frames``.
        onset, apex, offset: annotated frame numbers, or None where the dataset has none.
        action_units: FACS action units as the dataset writes them (``4+L10``), or "".
        label: class under a label scheme once :func:`larnet_core.data.labels.apply_scheme` has run.
    """

    dataset: str
    subject: str
    clip: str
    emotion: str
    frames: tuple[Path, ...]
    frame_numbers: tuple[int, ...]
    onset: int | None
    apex: int | None
    offset: int | None
    action_units: str = ""
    label: str | None = None

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError(f"clip {self.subject}/{self.clip} has no frames")
        if len(self.frames) != len(self.frame_numbers):
            raise ValueError(
                f"clip {self.subject}/{self.clip}: {len(self.frames)} frames "
                f"but {len(self.frame_numbers)} frame numbers"
            )

    @property
    def key(self) -> str:
        """``dataset/subject/clip``: unique across a composite set, used in messages and tables."""
        return f"{self.dataset}/{self.subject}/{self.clip}"

    @property
    def apex_index(self) -> int:
        """Position of the apex frame in :attr:`frames`; the middle frame when the apex is not annotated."""
        if self.apex is None:
            return (len(self.frames) - 1) // 2
        return self._nearest(self.apex)

    @property
    def onset_index(self) -> int:
        """Position of the onset frame in :attr:`frames`; the first frame when the onset is not annotated."""
        return 0 if self.onset is None else self._nearest(self.onset)

    @property
    def offset_index(self) -> int:
        """Position of the offset frame in :attr:`frames`; the last frame when the offset is not annotated."""
        return len(self.frames) - 1 if self.offset is None else self._nearest(self.offset)

    @property
    def apex_frame(self) -> Path:
        return self.frames[self.apex_index]

    @property
    def onset_frame(self) -> Path:
        return self.frames[self.onset_index]

    def with_label(self, label: str | None) -> "ClipRecord":
        """A copy with :attr:`label` set."""
        return dataclasses.replace(self, label=label)

    def _nearest(self, number: int) -> int:
        # Annotated numbers outside the stored frames (a known CASME II quirk) snap to the closest frame.
        numbers = self.frame_numbers
        pos = bisect.bisect_left(numbers, number)
        if pos == 0:
            return 0
        if pos == len(numbers):
            return len(numbers) - 1
        return pos if numbers[pos] - number < number - numbers[pos - 1] else pos - 1


def empty_intervals() -> pd.DataFrame:
    """An interval table with the right columns and no rows."""
    frame = pd.DataFrame({name: pd.Series(dtype="Int64") for name in INTERVAL_COLUMNS[:3]})
    for name in INTERVAL_COLUMNS[3:]:
        frame[name] = pd.Series(dtype="string")
    return frame


@dataclass(frozen=True, eq=False)
class LongVideoRecord:
    """One long video of a spotting dataset (CAS(ME)^2, SAMM-LV, CAS(ME)^3) and its annotated expression intervals.

    Attributes:
        subject: subject folder name as the dataset writes it (``s15``).
        video: video folder or file stem (``15_0101disgustingteeth``).
        frames: frame paths in frame-number order, or () when only a video file is present.
        frame_numbers: frame number of each path.
        video_path: the video file when the dataset provides one and no frames were found, else None.
        intervals: one row per annotated expression, columns :data:`INTERVAL_COLUMNS` (onset/apex/offset frame
            numbers; type ``micro``/``macro``; emotion, au and self_report text).
        dataset: ``casme2-long``, ``samm-lv`` or ``casme3-long``.
    """

    subject: str
    video: str
    frames: tuple[Path, ...] = ()
    frame_numbers: tuple[int, ...] = ()
    video_path: Path | None = None
    intervals: pd.DataFrame = field(default_factory=empty_intervals)
    dataset: str = "casme2-long"

    def __post_init__(self) -> None:
        if not self.frames and self.video_path is None:
            raise ValueError(f"long video {self.subject}/{self.video} has neither frames nor a video file")
        if len(self.frames) != len(self.frame_numbers):
            raise ValueError(f"long video {self.subject}/{self.video}: frames and frame numbers differ in length")

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.video}"


def records_to_frame(records: Sequence[ClipRecord | LongVideoRecord]) -> pd.DataFrame:
    """A display table with one row per record (paths shortened to counts and the apex file name).

    Clip records give columns dataset, subject, clip, emotion, label, onset, apex, offset, action_units,
    n_frames, apex_file; long-video records give dataset, subject, video, n_frames, video_path, n_intervals,
    n_micro, n_macro.
    """
    rows = []
    for record in records:
        if isinstance(record, LongVideoRecord):
            types = record.intervals["type"] if len(record.intervals) else pd.Series(dtype="string")
            rows.append(
                {
                    "dataset": record.dataset,
                    "subject": record.subject,
                    "video": record.video,
                    "n_frames": len(record.frames),
                    "video_path": str(record.video_path) if record.video_path else "",
                    "n_intervals": len(record.intervals),
                    "n_micro": int((types == "micro").sum()),
                    "n_macro": int((types == "macro").sum()),
                }
            )
        else:
            rows.append(
                {
                    "dataset": record.dataset,
                    "subject": record.subject,
                    "clip": record.clip,
                    "emotion": record.emotion,
                    "label": record.label,
                    "onset": record.onset,
                    "apex": record.apex,
                    "offset": record.offset,
                    "action_units": record.action_units,
                    "n_frames": len(record.frames),
                    "apex_file": record.apex_frame.name,
                }
            )
    frame = pd.DataFrame(rows)
    for name in ("onset", "apex", "offset"):
        if name in frame:
            frame[name] = frame[name].astype("Int64")
    return frame
