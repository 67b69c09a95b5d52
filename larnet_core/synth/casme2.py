"""Synthetic micro-expression clips written exactly in CASME II's on-disk format.

Layout (as the licensed dataset, so the CASME II loader reads it unchanged)::

    OUT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg ... img97.jpg
    OUT/CASME2-coding-20190701.xlsx
    OUT/synthetic.json

Frame numbers are absolute: each clip starts at a random frame (30-90), the folder holds the frames from
the onset to the offset, and the coding sheet's OnsetFrame/ApexFrame/OffsetFrame are the frames where the
rendered motion starts, peaks and ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import functools
import math
from pathlib import Path
import shutil
from typing import Any

import numpy as np
import pandas as pd

from larnet_core.errors import DatasetError, LarnetError
from larnet_core.synth._io import ProgressCallback, run_tasks, save_workbook, write_jpeg
from larnet_core.synth.action_units import AuKey, format_au_string
from larnet_core.synth.emotions import EMOTIONS, sample_action_units
from larnet_core.synth.face import FaceIdentity, render_face, sample_identity
from larnet_core.synth.landmarks import FaceLandmarks
from larnet_core.synth.manifest import SynthManifest
from larnet_core.synth.render import Distractors, Expression, pose_matrix, random_blinks, render_frames
from larnet_core.synth.timing import head_motion, illumination_drift

__all__ = [
    "CASME2_FRAMES_DIR",
    "CASME2_CODING_FILE",
    "CASME2_COLUMNS",
    "generate_dataset",
    "subject_identity",
    "amplitude_for_difficulty",
]

CASME2_FRAMES_DIR = "CASME2_RAW_selected"
CASME2_CODING_FILE = "CASME2-coding-20190701.xlsx"
# The real sheet has two columns with empty headers; they stay empty here too.
CASME2_COLUMNS = ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                  "Action Units", "Estimated Emotion")
MIN_DURATION_S, MAX_DURATION_S = 0.1, 0.5


def amplitude_for_difficulty(difficulty: float, amplitude: float = 1.0) -> float:
    """Deformation scale: ``amplitude`` x (1.4 at difficulty 0, 1.0 at 0.5, 0.6 at 1)."""
    return float(amplitude) * (1.4 - 0.8 * float(np.clip(difficulty, 0.0, 1.0)))


def subject_identity(seed: int, subject: int) -> FaceIdentity:
    """The face of ``subject`` for ``seed`` (independent of how many subjects a set has)."""
    return sample_identity(np.random.default_rng([int(seed), 1, int(subject)]))


@functools.lru_cache(maxsize=4)
def _neutral_face(identity: FaceIdentity, size: tuple[int, int], face_fraction: float) -> tuple[np.ndarray, FaceLandmarks]:
    # A worker renders each subject once and reuses it for that subject's clips.
    image, marks = render_face(identity, size, face_fraction)
    image.setflags(write=False)
    return image, marks


@dataclass(frozen=True)
class _ClipTask:
    """Everything one worker needs to render and write one clip (decided up front, in the main process)."""

    folder: str
    identity: FaceIdentity
    size: tuple[int, int]
    face_fraction: float
    fps: float
    first_frame: int
    n_frames: int
    apex_index: int
    aus: tuple[tuple[AuKey, float], ...]
    scale: float
    distractors: Distractors
    seed: tuple[int, ...]


def _render_clip(task: _ClipTask) -> int:
    base, marks = _neutral_face(task.identity, task.size, task.face_fraction)
    rng = np.random.default_rng(list(task.seed))
    dis = task.distractors
    w, h = task.size
    # Per-clip placement: the subject never sits exactly where they sat for the previous clip.
    shift = 0.012 * min(w, h)
    centre = np.mean([marks.left_eye, marks.right_eye, marks.nose_tip], axis=0)
    pose = pose_matrix(centre, rng.normal(0, shift), rng.normal(0, shift), 1.0 + rng.normal(0, 0.015),
                       rng.normal(0, 1.0))
    n = task.n_frames
    motion = head_motion(rng, n, task.fps, dis.jitter_px, dis.roll_deg)
    lids = random_blinks(rng, n, task.fps, dis.blink_probability)
    gain, gradient = illumination_drift(rng, n, dis.illumination)
    expression = Expression(dict(task.aus), 0, task.apex_index, n - 1, task.scale)
    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = render_frames(base, marks, n, [expression], eyelids=lids, motion=motion, gain=gain,
                           gradient=gradient, noise_sigma=dis.noise_sigma, rng=rng, pose=pose)
    for index, frame in enumerate(frames):
        write_jpeg(folder / f"img{task.first_frame + index}.jpg", frame, dis.jpeg_quality)
    return n


def _check(subjects: int, clips_per_class: int, size: tuple[int, int], fps: float, difficulty: float) -> None:
    if not 1 <= subjects <= 99:
        raise LarnetError(f"--subjects must be between 1 and 99 (folders are sub01..sub99), got {subjects}")
    if clips_per_class < 1:
        raise LarnetError(f"--clips-per-class must be at least 1, got {clips_per_class}")
    if min(size) < 32:
        raise LarnetError(f"--size {size[0]}x{size[1]} is too small; use at least 32x32 (CASME II is 280x340)")
    if fps < 20:
        raise LarnetError(f"--fps {fps} is too low: a 0.1 s clip needs at least 2 frames; use 20 or more (CASME II is 200)")
    if not 0.0 <= difficulty <= 1.0:
        raise LarnetError(f"--difficulty must be between 0 and 1, got {difficulty}")


def check_amplitude(amplitude: float) -> None:
    """Reject deformation multipliers that are not positive or would fold the image."""
    if not 0.0 < amplitude <= 3.0:
        raise LarnetError(f"--amplitude must be above 0 and at most 3 (larger folds the image), got {amplitude}")


def _prepare_output(out: Path, overwrite: bool) -> None:
    frames_dir, coding = out / CASME2_FRAMES_DIR, out / CASME2_CODING_FILE
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} is a file; give a folder to write the synthetic set into")
    existing = (frames_dir.exists() and any(frames_dir.iterdir())) or coding.exists()
    if existing and not overwrite:
        raise DatasetError(f"{out} already holds a CASME II set ({CASME2_FRAMES_DIR}/ or {CASME2_CODING_FILE}); "
                           "choose an empty folder or pass --overwrite to replace it")
    if frames_dir.exists():
        shutil.rmtree(frames_dir)
    coding.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _episode_names(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct CASME II-style clip names (EP02_01f, EP13_04, ...): episode 1-19, running index per episode,
    mostly with the trailing "f" the real names carry."""
    per_episode: dict[int, int] = {}
    names = []
    for _ in range(count):
        episode = int(rng.integers(1, 20))
        per_episode[episode] = per_episode.get(episode, 0) + 1
        names.append(f"EP{episode:02d}_{per_episode[episode]:02d}{'f' if rng.random() < 0.8 else ''}")
    return names


def _au_cell(aus: dict[AuKey, float]) -> str | int:
    text = format_au_string(aus)
    return int(text) if text.isdigit() else text  # single units are numbers in the real sheet


def _write_coding_sheet(table: pd.DataFrame, path: Path) -> None:
    # lazy: openpyxl only for the .xlsx annotation sheet
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    sheet.append(list(CASME2_COLUMNS))
    for row in table.itertuples(index=False):
        sheet.append([int(row.subject), row.filename, None, int(row.onset), int(row.apex), int(row.offset), None,
                      row.au_cell, row.emotion])
    save_workbook(workbook, path)


def generate_dataset(
    out: str | Path,
    *,
    subjects: int = 20,
    clips_per_class: int = 3,
    seed: int = 0,
    size: tuple[int, int] = (280, 340),
    fps: float = 200.0,
    difficulty: float = 0.5,
    amplitude: float = 1.0,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
) -> SynthManifest:
    """Generate a synthetic micro-expression set in CASME II's exact layout.

    Every subject gets ``clips_per_class`` clips of each of the seven emotions. Clips last 0.1-0.5 s
    (onset to offset), the apex falls at 30-60 % of the clip, and the expression is a sum of action-unit
    deformations of a few pixels, buried in head jitter, blinks, illumination drift, sensor noise and JPEG.

    Args:
        out: Output folder (created).
        subjects: Number of subjects (sub01, sub02, ...), each a distinct synthetic face.
        clips_per_class: Clips per emotion per subject.
        seed: Seeds every random choice: the same seed and parameters give byte-identical files.
        size: Frame ``(width, height)``; CASME II's face crops are 280x340.
        fps: Frame rate (CASME II: 200).
        difficulty: 0..1. Higher means smaller deformations (x1.4 at 0, x1.0 at 0.5, x0.6 at 1), more noise,
            jitter, blinks and illumination drift, lower JPEG quality and more extra action units that blur the
            classes. The default 0.5 aims at a small CNN scoring well but not perfectly on held-out subjects.
        amplitude: Extra multiplier on the deformation, on top of ``difficulty``.
        workers: Processes (default min(2, CPU count)); the output does not depend on it.
        progress: Called as ``progress(clips_done, clips_total)``.
        overwrite: Replace an existing CASME II set in ``out`` instead of refusing.

    Returns:
        The manifest, with the ground truth as ``manifest.table`` (one row per clip).
    """
    out = Path(out)
    size = (int(size[0]), int(size[1]))
    _check(subjects, clips_per_class, size, fps, difficulty)
    check_amplitude(amplitude)
    _prepare_output(out, overwrite)
    distractors = Distractors.for_difficulty(difficulty)
    scale = amplitude_for_difficulty(difficulty, amplitude)
    span_min, span_max = math.ceil(MIN_DURATION_S * fps - 1e-9), math.floor(MAX_DURATION_S * fps + 1e-9)

    tasks: list[_ClipTask] = []
    rows: list[dict[str, Any]] = []
    for subject in range(1, subjects + 1):
        identity = subject_identity(seed, subject)
        plan_rng = np.random.default_rng([int(seed), 2, subject])
        jpeg_quality = int(np.clip(distractors.jpeg_quality + plan_rng.integers(-2, 3), 60, 100))
        emotions = [e for e in EMOTIONS for _ in range(clips_per_class)]
        plan_rng.shuffle(emotions)
        names = _episode_names(plan_rng, len(emotions))
        for index, (emotion, name) in enumerate(zip(emotions, names)):
            span = int(plan_rng.integers(span_min, span_max + 1))
            apex = int(np.clip(round(span * plan_rng.uniform(0.3, 0.6)), 1, span - 1))
            first = int(plan_rng.integers(30, 91))
            aus = sample_action_units(emotion, plan_rng, peak=(0.6, 1.0),
                                      extra_unit_probability=0.3 * difficulty)
            folder = out / CASME2_FRAMES_DIR / f"sub{subject:02d}" / name
            tasks.append(_ClipTask(
                folder=str(folder), identity=identity, size=size, face_fraction=1.0, fps=float(fps),
                first_frame=first, n_frames=span + 1, apex_index=apex, aus=tuple(aus.items()), scale=scale,
                distractors=Distractors(**{**asdict(distractors), "jpeg_quality": jpeg_quality}),
                seed=(int(seed), 3, subject, index),
            ))
            rows.append({
                "subject": subject, "filename": name, "onset": first, "apex": first + apex, "offset": first + span,
                "action_units": format_au_string(aus), "au_cell": _au_cell(aus), "emotion": emotion,
                "aus": dict(aus), "n_frames": span + 1, "fps": float(fps),
                "frames_dir": folder.relative_to(out).as_posix(),
            })

    # Subjects' clips run together so each worker renders a face once and reuses it.
    run_tasks(_render_clip, tasks, workers, progress)
    table = pd.DataFrame(rows).sort_values(["subject", "filename"], kind="stable").reset_index(drop=True)
    coding = out / CASME2_CODING_FILE
    _write_coding_sheet(table, coding)
    manifest = SynthManifest(
        root=out, layout="casme2", seed=int(seed), annotation_file=coding,
        table=table.drop(columns=["au_cell"]),
        parameters={
            "subjects": subjects, "clips_per_class": clips_per_class, "size": list(size), "fps": float(fps),
            "difficulty": float(difficulty), "amplitude": float(amplitude), "deformation_scale": scale,
            "duration_s": [MIN_DURATION_S, MAX_DURATION_S], "emotions": list(EMOTIONS),
            "distractors": asdict(distractors),
        },
    )
    manifest.write()
    return manifest
