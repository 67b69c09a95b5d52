"""Synthetic long videos for spotting, written exactly in CAS(ME)^2's on-disk format.

Layout::

    OUT/rawpic/s15/15_0101spoiledmilk/img1.jpg ... imgN.jpg
    OUT/rawvideo/s15/15_0101spoiledmilk.mp4            (optional, h264)
    OUT/CAS(ME)^2code_final.xlsx
    OUT/synthetic.json

The coding workbook mirrors the real one: a first sheet with no header and the columns participant,
expression name, onset, apex, offset, action units, estimated emotion (positive/negative/surprise/others),
type ("micro-expression"/"macro-expression"), self-reported emotion; then "naming rule1" (folder number,
folder name, participant) and "naming rule2" (video code, expression name, video name) that link the sheet
to the folders. Frames are numbered from 1, as in rawpic; onset/apex/offset use those numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from pathlib import Path
import shutil
from typing import Any

import numpy as np
import pandas as pd

from larnet_core.errors import DatasetError, LarnetError
from larnet_core.synth._io import ProgressCallback, run_tasks, save_workbook, write_jpeg
from larnet_core.synth.action_units import AuKey, format_au_string
from larnet_core.synth.casme2 import _neutral_face, amplitude_for_difficulty, check_amplitude, subject_identity
from larnet_core.synth.emotions import EMOTIONS, sample_action_units, to_casme_sq_emotion
from larnet_core.synth.face import FaceIdentity
from larnet_core.synth.manifest import SynthManifest
from larnet_core.synth.render import Distractors, Expression, random_blinks, render_frames
from larnet_core.synth.timing import HeadMotion, head_motion, illumination_drift, spread_onsets
from larnet_core.video.writer import VideoClipWriter

__all__ = ["CASME_SQ_FRAMES_DIR", "CASME_SQ_VIDEO_DIR", "CASME_SQ_CODING_FILE", "STIMULI", "generate_long_videos"]

CASME_SQ_FRAMES_DIR = "rawpic"
CASME_SQ_VIDEO_DIR = "rawvideo"
CASME_SQ_CODING_FILE = "CAS(ME)^2code_final.xlsx"
CODING_SHEET, NAMING_SUBJECTS, NAMING_VIDEOS = "CASFEcode_final", "naming rule1", "naming rule2"
MICRO_MAX_S, MACRO_MIN_S, MACRO_MAX_S = 0.5, 0.5, 4.0

# Fictitious stimulus videos in CAS(ME)^2's naming style: (code, video name, expression name, main emotion).
STIMULI: tuple[tuple[str, str, str, str], ...] = (
    ("0101", "spoiledmilk", "disgust1", "disgust"),
    ("0102", "crawlinginsects", "disgust2", "disgust"),
    ("0401", "scarystairs", "fear1", "fear"),
    ("0402", "darkhallway", "fear2", "fear"),
    ("0502", "puppyplay", "happy1", "happiness"),
    ("0503", "comedysketch", "happy2", "happiness"),
    ("0505", "babylaugh", "happy3", "happiness"),
    ("0507", "magictrick", "surprise1", "surprise"),
    ("0508", "farewell", "sad1", "sadness"),
    ("0601", "awkwardinterview", "repress1", "repression"),
)


@dataclass(frozen=True)
class _Event:
    kind: str  # "micro-expression" | "macro-expression"
    emotion: str
    aus: tuple[tuple[AuKey, float], ...]
    onset: int  # 0-based
    apex: int
    offset: int
    scale: float


@dataclass(frozen=True)
class _VideoTask:
    frames_dir: str
    video_file: str | None
    identity: FaceIdentity
    size: tuple[int, int]
    face_fraction: float
    fps: float
    n_frames: int
    events: tuple[_Event, ...]
    distractors: Distractors
    seed: tuple[int, ...]


def _head_moves(rng: np.random.Generator, n: int, fps: float, base: HeadMotion, size_px: float) -> HeadMotion:
    """Add a few deliberate head movements (a smooth shift and back over 0.5-1.5 s): spotting distractors."""
    dx, dy, roll = base.dx.copy(), base.dy.copy(), base.roll.copy()
    t = np.arange(n, dtype=np.float64)
    for _ in range(int(rng.integers(1, 3))):
        centre, width = rng.uniform(0, n), rng.uniform(0.5, 1.5) * fps
        bump = np.exp(-0.5 * ((t - centre) / (width / 4)) ** 2)
        dx += bump * rng.uniform(-1, 1) * size_px
        dy += bump * rng.uniform(-1, 1) * size_px * 0.6
        roll += bump * rng.uniform(-1, 1) * 1.5
    return HeadMotion(dx=dx, dy=dy, roll=roll)


def _render_video(task: _VideoTask) -> int:
    base, marks = _neutral_face(task.identity, task.size, task.face_fraction)
    rng = np.random.default_rng(list(task.seed))
    dis, n, fps = task.distractors, task.n_frames, task.fps
    motion = head_motion(rng, n, fps, dis.jitter_px * 2.0, dis.roll_deg * 3.0, freq_range=(0.05, 0.6))
    motion = _head_moves(rng, n, fps, motion, 0.02 * min(task.size))
    lids = random_blinks(rng, n, fps, 0.0, every_s=(2.0, 6.0))
    gain, gradient = illumination_drift(rng, n, dis.illumination)
    expressions = [Expression(dict(e.aus), e.onset, e.apex, e.offset, e.scale) for e in task.events]
    folder = Path(task.frames_dir)
    folder.mkdir(parents=True, exist_ok=True)
    writer = VideoClipWriter(task.video_file, fps=fps, codec="h264") if task.video_file else None
    try:
        frames = render_frames(base, marks, n, expressions, eyelids=lids, motion=motion, gain=gain,
                               gradient=gradient, noise_sigma=dis.noise_sigma, rng=rng)
        for index, frame in enumerate(frames):
            write_jpeg(folder / f"img{index + 1}.jpg", frame, dis.jpeg_quality)
            if writer is not None:
                writer.write(frame)
    finally:
        if writer is not None:
            writer.close()
    return n


def _place_events(rng: np.random.Generator, n_frames: int, fps: float, micro: int, macro: int,
                  emotion_hint: str, scale: float, difficulty: float) -> list[_Event]:
    """Non-overlapping micro- and macro-expressions at random times, with gaps of at least 0.3 s."""
    micro_min = max(3, math.ceil(fps / 25))  # frames from onset to offset, inclusive
    micro_max = math.ceil(MICRO_MAX_S * fps) - 1  # strictly shorter than 0.5 s
    macro_min = math.floor(MACRO_MIN_S * fps) + 2
    macro_max = max(macro_min, min(int(MACRO_MAX_S * fps), n_frames // 4))
    kinds = ["micro-expression"] * micro + ["macro-expression"] * macro
    rng.shuffle(kinds)
    lengths = [int(rng.integers(micro_min, micro_max + 1)) if k.startswith("micro")
               else int(rng.integers(macro_min, macro_max + 1)) for k in kinds]
    gap = math.ceil(0.3 * fps)
    while kinds and sum(lengths) + gap * (len(kinds) + 1) > n_frames:
        kinds.pop()  # video too short for all: keep what fits
        lengths.pop()
    events = []
    for kind, length, onset in zip(kinds, lengths, spread_onsets(rng, n_frames, lengths, gap)):
        offset = onset + length - 1
        apex = onset + int(np.clip(round((length - 1) * rng.uniform(0.3, 0.6)), 1, length - 2))
        emotion = emotion_hint if rng.random() < 0.6 else EMOTIONS[int(rng.integers(len(EMOTIONS)))]
        aus = sample_action_units(emotion, rng, peak=(0.6, 1.0), extra_unit_probability=0.3 * difficulty)
        strength = scale if kind.startswith("micro") else scale * rng.uniform(2.0, 2.6)
        events.append(_Event(kind, emotion, tuple(aus.items()), onset, apex, offset, float(strength)))
    return events


def _write_coding_workbook(table: pd.DataFrame, subjects: list[tuple[int, str, int]], path: Path) -> None:
    # lazy: openpyxl only for the .xlsx annotation sheet
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = CODING_SHEET
    for row in table.itertuples(index=False):
        au = row.action_units
        sheet.append([int(row.subject), row.video, int(row.onset), int(row.apex), int(row.offset),
                      int(au) if au.isdigit() else au, row.emotion, row.type, row.self_report])
    naming_subjects = workbook.create_sheet(NAMING_SUBJECTS)
    for number, folder, participant in subjects:
        naming_subjects.append([number, folder, participant])
    naming_videos = workbook.create_sheet(NAMING_VIDEOS)
    for code, name, expression, _ in STIMULI:
        naming_videos.append([code, expression, name])
    save_workbook(workbook, path)


def _prepare_output(out: Path, overwrite: bool) -> None:
    targets = [out / CASME_SQ_FRAMES_DIR, out / CASME_SQ_VIDEO_DIR, out / CASME_SQ_CODING_FILE]
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} is a file; give a folder to write the synthetic set into")
    if any(t.exists() for t in targets) and not overwrite:
        raise DatasetError(f"{out} already holds a CAS(ME)^2 set ({CASME_SQ_FRAMES_DIR}/ or {CASME_SQ_CODING_FILE}); "
                           "choose an empty folder or pass --overwrite to replace it")
    for target in targets:
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate_long_videos(
    out: str | Path,
    subjects: int = 4,
    videos_per_subject: int = 3,
    seed: int = 0,
    *,
    seconds: float = 8.0,
    fps: float = 30.0,
    size: tuple[int, int] = (320, 240),
    face_fraction: float = 0.72,
    micro_per_video: tuple[int, int] = (2, 3),
    macro_per_video: tuple[int, int] = (1, 2),
    difficulty: float = 0.5,
    amplitude: float = 1.0,
    write_video: bool = True,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> SynthManifest:
    """Generate long videos with embedded micro- and macro-expressions, in CAS(ME)^2's layout.

    Each video shows one subject for ``seconds``, with blinks every 2-6 s, slow head wander and one or two
    deliberate head movements, and non-overlapping expressions at random times: micro-expressions last
    1/25-1/2 s (strictly under 0.5 s), macro-expressions 0.5-4 s at 2-2.6x the deformation.

    Args:
        out: Output folder (created).
        subjects: Number of subjects (folders s15, s16, ... with occasional gaps, as the real numbering has).
        videos_per_subject: Videos per subject, one per stimulus (at most ``len(STIMULI)``).
        seed: Seeds everything; same seed and parameters give the same bytes.
        seconds: Length of each video.
        fps: Frame rate (CAS(ME)^2: 30).
        size: Frame ``(width, height)``.
        face_fraction: Share of the frame height the face spans (the rest is background, neck, shoulders).
        micro_per_video: Inclusive range of micro-expressions per video.
        macro_per_video: Inclusive range of macro-expressions per video.
        difficulty: 0..1, as for :func:`generate_dataset`.
        amplitude: Extra multiplier on the deformation.
        write_video: Also write each video as h264 mp4 under ``rawvideo/``.
        workers: Processes (default min(2, CPU count)); the output does not depend on it.
        progress: Called as ``progress(frames_done, frames_total)``, per finished video.
        overwrite: Replace an existing CAS(ME)^2 set in ``out`` instead of refusing.

    Returns:
        The manifest, with one row per expression in ``manifest.table``.
    """
    out = Path(out)
    size = (int(size[0]), int(size[1]))
    _check_long_options(subjects, videos_per_subject, fps, seconds, size, face_fraction, difficulty)
    check_amplitude(amplitude)
    _prepare_output(out, overwrite)
    distractors = Distractors.for_difficulty(difficulty)
    scale = amplitude_for_difficulty(difficulty, amplitude)
    n_frames = int(round(seconds * fps))
    subject_rows = _subject_numbers(seed, subjects)
    tasks, rows = _plan_long_set(out, seed, subject_rows, videos_per_subject, n_frames, float(fps), size,
                                 float(face_fraction), (micro_per_video, macro_per_video), scale, difficulty,
                                 distractors, write_video)
    run_tasks(_render_video, tasks, workers, progress, weights=[t.n_frames for t in tasks])
    return _write_coded_set(out, seed, rows, subject_rows, {
        "subjects": subjects, "videos_per_subject": videos_per_subject, "seconds": float(seconds),
        "fps": float(fps), "size": list(size), "face_fraction": float(face_fraction),
        "micro_per_video": list(micro_per_video), "macro_per_video": list(macro_per_video),
        "difficulty": float(difficulty), "amplitude": float(amplitude), "deformation_scale": scale,
        "write_video": bool(write_video), "distractors": asdict(distractors),
        "micro_max_s": MICRO_MAX_S, "macro_s": [MACRO_MIN_S, MACRO_MAX_S],
    })


def _check_long_options(subjects: int, videos_per_subject: int, fps: float, seconds: float, size: tuple[int, int],
                        face_fraction: float, difficulty: float) -> None:
    """A one-line :class:`LarnetError` for options that cannot make a set."""
    if not 1 <= subjects <= 80:
        raise LarnetError(f"subjects must be between 1 and 80, got {subjects}")
    if not 1 <= videos_per_subject <= len(STIMULI):
        raise LarnetError(f"videos per subject must be between 1 and {len(STIMULI)}, got {videos_per_subject}")
    if fps < 10:
        raise LarnetError(f"--long-fps {fps} is too low: a micro-expression needs 3 frames under 0.5 s; use 10 or more")
    if seconds < 2:
        raise LarnetError(f"--long-seconds {seconds} is too short; use at least 2 s so expressions fit")
    if min(size) < 32:
        raise LarnetError(f"--size {size[0]}x{size[1]} is too small; use at least 32x32")
    if not 0.2 <= face_fraction <= 1.0:
        raise LarnetError(f"face fraction must be between 0.2 and 1, got {face_fraction}")
    if not 0.0 <= difficulty <= 1.0:
        raise LarnetError(f"--difficulty must be between 0 and 1, got {difficulty}")


def _subject_numbers(seed: int, subjects: int) -> list[tuple[int, str, int]]:
    """``(folder number, folder name, participant)`` per subject, numbered from 15 with occasional gaps, as the
    real numbering has."""
    numbering = np.random.default_rng([int(seed), 10])
    subject_rows: list[tuple[int, str, int]] = []
    number = 15
    for participant in range(1, subjects + 1):
        subject_rows.append((number, f"s{number}", participant))
        number += 1 + int(numbering.random() < 0.25)
    return subject_rows


def _plan_long_set(out: Path, seed: int, subject_rows: list[tuple[int, str, int]], videos_per_subject: int,
                   n_frames: int, fps: float, size: tuple[int, int], face_fraction: float,
                   counts: tuple[tuple[int, int], tuple[int, int]], scale: float, difficulty: float,
                   distractors: Distractors, write_video: bool) -> tuple[list[_VideoTask], list[dict[str, Any]]]:
    """Every video's render task and the coding sheet's rows (one per expression)."""
    micro_per_video, macro_per_video = counts
    tasks: list[_VideoTask] = []
    rows: list[dict[str, Any]] = []
    for number, folder_name, participant in subject_rows:
        identity = subject_identity(seed, 100 + participant)
        plan = np.random.default_rng([int(seed), 11, participant])
        picks = sorted(plan.choice(len(STIMULI), size=videos_per_subject, replace=False))
        for index in picks:
            code, name, expression, emotion_hint = STIMULI[int(index)]
            video_folder = f"{number}_{code}{name}"
            micro = int(plan.integers(micro_per_video[0], micro_per_video[1] + 1))
            macro = int(plan.integers(macro_per_video[0], macro_per_video[1] + 1))
            events = _place_events(plan, n_frames, fps, micro, macro, emotion_hint, scale, difficulty)
            frames_dir = out / CASME_SQ_FRAMES_DIR / folder_name / video_folder
            video_file = out / CASME_SQ_VIDEO_DIR / folder_name / f"{video_folder}.mp4" if write_video else None
            tasks.append(_VideoTask(
                frames_dir=str(frames_dir), video_file=str(video_file) if video_file else None, identity=identity,
                size=size, face_fraction=face_fraction, fps=fps, n_frames=n_frames,
                events=tuple(events), distractors=distractors, seed=(int(seed), 12, participant, int(index)),
            ))
            for k, event in enumerate(events, start=1):
                aus = dict(event.aus)
                rows.append({
                    "subject": participant, "subject_folder": folder_name, "video_folder": video_folder,
                    "video": f"{expression}_{k}", "onset": event.onset + 1, "apex": event.apex + 1,
                    "offset": event.offset + 1, "action_units": format_au_string(aus),
                    "emotion": to_casme_sq_emotion(event.emotion), "type": event.kind,
                    "self_report": event.emotion, "aus": aus, "scale": event.scale, "n_frames": n_frames,
                    "fps": fps, "frames_dir": frames_dir.relative_to(out).as_posix(),
                    "video_file": video_file.relative_to(out).as_posix() if video_file else None,
                })
    return tasks, rows


def _write_coded_set(out: Path, seed: int, rows: list[dict], subject_rows: list, parameters: dict[str, Any],
                     **manifest_options: Any) -> SynthManifest:
    """The coding workbook and synthetic.json of a rendered long-video set (its rows sorted as CAS(ME)^2 lists
    them); shared by the drawn-face and the photo sets."""
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["subject", "video_folder", "onset"], kind="stable").reset_index(drop=True)
    coding = out / CASME_SQ_CODING_FILE
    _write_coding_workbook(table, subject_rows, coding)
    manifest = SynthManifest(root=out, layout="casme_sq", seed=int(seed), annotation_file=coding, table=table,
                             parameters=parameters, **manifest_options)
    manifest.write()
    return manifest
