"""A tiny MEGC-style composite (CASME II + SAMM + SMIC) written in each dataset's real on-disk layout.

Frames are crops of a real face photo (matplotlib's grace_hopper) that move from onset to apex, with a motion
that depends on the emotion, so flow samples carry a learnable signal. Layouts follow docs/datasets.md:

    casme2/CASME2_RAW_selected/sub01/EP01_01/img10.jpg ... + CASME2-coding-20190701.xlsx
    samm/SAMM/006/006_1_1/006_00100.jpg ...                  + SAMM_Micro_FACS_Codes_v2.xlsx (13 note rows)
    smic/HS/s1/micro/negative/s1_ne_01/image000100.bmp ...   (labels are folder names, no apex)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl

SIZE = (40, 36)  # height, width of a frame
FRAMES = 5  # onset .. offset, apex in the middle

# Emotions per subject, as each dataset writes them; the megc-3 class in comments.
CASME2 = {"sub01": ["disgust", "happiness", "surprise", "others"],  # negative, positive, surprise, dropped
          "sub02": ["repression", "happiness", "surprise"]}
SAMM = {"006": ["Anger", "Happiness", "Surprise", "Other"],  # negative, positive, surprise, dropped
        "007": ["Contempt", "Happiness", "Surprise"]}
SMIC = {"s1": ["negative", "positive", "surprise"], "s2": ["negative", "positive", "surprise"]}
MEGC = {"disgust": "negative", "repression": "negative", "anger": "negative", "contempt": "negative",
        "happiness": "positive", "surprise": "surprise", "negative": "negative", "positive": "positive"}
# Expected clips under megc-3, per dataset.
N_CLIPS = {"casme2": 6, "samm": 6, "smic": 6}


def _face() -> np.ndarray:
    from larnet_core.face import sample_face_photos

    photo = sample_face_photos()["grace_hopper"]
    return cv2.resize(photo[60:420, 120:440], (SIZE[1] + 8, SIZE[0] + 8), interpolation=cv2.INTER_AREA)


def _motion(emotion: str, t: float) -> np.ndarray:
    """Affine matrix of the clip's motion at progress t in [0, 1]: each class moves the face its own way."""
    kind = MEGC.get(emotion.lower(), "negative")
    if kind == "negative":
        return np.float32([[1, 0, 2.0 * t], [0, 1, 0]])
    if kind == "positive":
        return np.float32([[1, 0, 0], [0, 1, -2.0 * t]])
    scale = 1 + 0.08 * t
    return np.float32([[scale, 0, -0.5 * (scale - 1) * (SIZE[1] + 8)], [0, scale, -0.5 * (scale - 1) * (SIZE[0] + 8)]])


def _write_clip(folder: Path, names: list[str], emotion: str, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    face = _face()
    rng = np.random.default_rng(seed)
    apex = (len(names) - 1) // 2
    for i, name in enumerate(names):
        t = min(i, apex) / max(1, apex)
        moved = cv2.warpAffine(face, _motion(emotion, t), face.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
        noise = rng.normal(0, 2, moved.shape)
        frame = np.clip(moved[4:-4, 4:-4] + noise[4:-4, 4:-4], 0, 255).astype(np.uint8)
        assert cv2.imwrite(str(folder / name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def _xlsx(path: Path, rows: list[list]) -> None:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def make_casme2(root: Path) -> Path:
    rows = [["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
             "Estimated Emotion"]]
    for s, (subject, emotions) in enumerate(CASME2.items()):
        for c, emotion in enumerate(emotions):
            clip, onset = f"EP0{c + 1}_0{s + 1}", 10 + 10 * c
            numbers = list(range(onset, onset + FRAMES))
            _write_clip(root / "CASME2_RAW_selected" / subject / clip, [f"img{n}.jpg" for n in numbers], emotion,
                        seed=100 * s + c)
            rows.append([int(subject[3:]), clip, None, onset, onset + FRAMES // 2, onset + FRAMES - 1, None, "4",
                         emotion])
    _xlsx(root / "CASME2-coding-20190701.xlsx", rows)
    return root


def make_samm(root: Path) -> Path:
    rows = [[f"note line {i}"] for i in range(13)]
    rows.append(["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
                 "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"])
    for s, (subject, emotions) in enumerate(SAMM.items()):
        for c, emotion in enumerate(emotions):
            clip, onset = f"{subject}_1_{c + 1}", 100 + 20 * c
            numbers = list(range(onset, onset + FRAMES))
            _write_clip(root / "SAMM" / subject / clip, [f"{subject}_{n:05d}.jpg" for n in numbers], emotion,
                        seed=200 + 100 * s + c)
            rows.append([int(subject), clip, 1, onset, onset + FRAMES // 2, onset + FRAMES - 1, FRAMES, "Micro",
                         "4", emotion, 1, ""])
    _xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", rows)
    return root


def make_smic(root: Path) -> Path:
    short = {"negative": "ne", "positive": "po", "surprise": "sur"}
    for s, (subject, emotions) in enumerate(SMIC.items()):
        for c, emotion in enumerate(emotions):
            clip = f"{subject}_{short[emotion]}_0{c + 1}"
            _write_clip(root / "HS" / subject / "micro" / emotion / clip,
                        [f"image{n:06d}.bmp" for n in range(100, 100 + FRAMES)], emotion, seed=300 + 100 * s + c)
    return root


def make_composite(root: Path) -> dict[str, str]:
    """Write the three sets under ``root``; returns ``{name: folder}`` for ``--data NAME=ROOT``."""
    return {"casme2": str(make_casme2(root / "casme2")), "samm": str(make_samm(root / "samm")),
            "smic": str(make_smic(root / "smic"))}


def data_args(sources: dict[str, str]) -> list[str]:
    return [arg for name, folder in sources.items() for arg in ("--data", f"{name}={folder}")]
