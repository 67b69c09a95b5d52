"""Action units of photos, and the AU estimates scored against a dataset's coded AUs.

:func:`photo_table` gives one row per face per image (``larnet aus``): the face's box, its pose and its AU
intensities against the canonical neutral face (a photo has no neutral frame of its own).

:func:`evaluate_units` scores the estimates at each sample's apex, read against its onset frame
(:func:`~larnet_core.aus.flow.expression_intensities`), against the AUs the dataset's coders wrote (CASME II,
SAMM, CAS(ME)^3 code every sample: ``4+L10``, ``AU4+AU7``; sides are dropped), as the field reports AU
detection: per-AU precision, recall and F1 over the samples, and their micro (pooled counts) and macro (mean over
the AUs the set codes) averages. Only the AUs estimated here (:data:`~larnet_core.aus.names.AU_NUMBERS`) count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from larnet_core.aus.estimate import active_units, photo_intensities
from larnet_core.aus.flow import expression_intensities
from larnet_core.aus.names import AU_COLUMNS, AU_NUMBERS
from larnet_core.aus.rules import au_numbers
from larnet_core.errors import LarnetError
from larnet_core.face.mesh import MeshFaceDetector
from larnet_core.images import read_image_file

__all__ = ["PHOTO_COLUMNS", "image_paths", "photo_table", "AuEvaluation", "evaluate_units"]

PHOTO_COLUMNS = ("image", "face_id", "face_x0", "face_y0", "face_x1", "face_y1", "pose_yaw", "pose_pitch",
                 "pose_roll", *AU_COLUMNS)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def image_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """The image files named, and those directly inside the folders named (sorted).

    Raises:
        LarnetError: a path that does not exist, or no image at all.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
                            and not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        else:
            raise LarnetError(f"{path} does not exist; give image files or folders of images")
    if not found:
        raise LarnetError("no images found (.jpg, .png, .bmp, .tif or .webp); give image files or folders of them")
    return found


def photo_table(paths: Sequence[Path], detector=None, max_faces: int = 4) -> pd.DataFrame:
    """One row per face per image (:data:`PHOTO_COLUMNS`); an image without a face gets one row with
    ``face_id`` -1 and empty values, so every image is accounted for."""
    if detector is None:
        detector = MeshFaceDetector(max_faces=max_faces)
    rows = []
    for path in paths:
        image = read_image_file(path)
        faces = [f for f in detector.detect(image) if f.mesh3d is not None]
        if not faces:
            rows.append({"image": str(path), "face_id": -1})
            continue
        for face_id, face in enumerate(sorted(faces, key=lambda f: f.box[0])):
            pose, values = photo_intensities(face.mesh3d)
            row = {"image": str(path), "face_id": face_id, **dict(zip(PHOTO_COLUMNS[2:6], face.box)),
                   "pose_yaw": pose.yaw, "pose_pitch": pose.pitch, "pose_roll": pose.roll}
            row.update(dict(zip(AU_COLUMNS, values)))
            rows.append(row)
    table = pd.DataFrame(rows, columns=list(PHOTO_COLUMNS))
    table["face_id"] = table["face_id"].astype("int64")
    return table


@dataclass(frozen=True)
class AuEvaluation:
    """Per-AU scores and their averages.

    Attributes:
        per_au: one row per AU coded in the set or predicted (``au, support, predicted, tp, fp, fn, precision,
            recall, f1``).
        per_sample: one row per sample (``sample, coded, estimated``, plus the intensities).
        micro_f1: F1 of the pooled counts; macro_f1: mean F1 over the AUs the set codes.
        skipped: samples without a face mesh at the onset or apex.
    """

    per_au: pd.DataFrame
    per_sample: pd.DataFrame
    micro_f1: float
    macro_f1: float
    skipped: int

    def to_dict(self) -> dict:
        return {"micro_f1": self.micro_f1, "macro_f1": self.macro_f1, "skipped": self.skipped,
                "samples": len(self.per_sample), "per_au": self.per_au.to_dict(orient="records")}


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score_sets(coded: Sequence[set[int]], estimated: Sequence[set[int]]) -> tuple[pd.DataFrame, float, float]:
    """Per-AU counts and F1 of estimated against coded AU sets, and the micro and macro F1."""
    rows = []
    for number in AU_NUMBERS:
        tp = sum(1 for c, e in zip(coded, estimated) if number in c and number in e)
        fp = sum(1 for c, e in zip(coded, estimated) if number not in c and number in e)
        fn = sum(1 for c, e in zip(coded, estimated) if number in c and number not in e)
        if tp + fp + fn == 0:
            continue
        precision, recall, f1 = _f1(tp, fp, fn)
        rows.append({"au": f"AU{number:02d}", "support": tp + fn, "predicted": tp + fp, "tp": tp, "fp": fp,
                     "fn": fn, "precision": precision, "recall": recall, "f1": f1})
    table = pd.DataFrame(rows, columns=["au", "support", "predicted", "tp", "fp", "fn", "precision", "recall", "f1"])
    micro = _f1(int(table["tp"].sum()), int(table["fp"].sum()), int(table["fn"].sum()))[2] if len(table) else 0.0
    coded_rows = table[table["support"] > 0]
    macro = float(coded_rows["f1"].mean()) if len(coded_rows) else 0.0
    return table, float(micro), macro


def evaluate_units(records: Sequence, progress: Callable[[int, int], None] | None = None,
                   detector=None) -> AuEvaluation:
    """Score the AU estimates of dataset clip records (:class:`~larnet_core.data.records.ClipRecord`: frames,
    onset and apex, ``action_units``) against their coded AUs."""
    if detector is None:
        detector = MeshFaceDetector(max_faces=1)
    coded, estimated, samples = [], [], []
    skipped = 0
    for done, record in enumerate(records, start=1):
        onset = read_image_file(record.frames[record.onset_index])
        apex = read_image_file(record.frames[record.apex_index])
        onset_faces, apex_faces = detector.detect(onset), detector.detect(apex)
        if not onset_faces or not apex_faces or onset_faces[0].mesh3d is None or apex_faces[0].mesh3d is None:
            skipped += 1
        else:
            values = expression_intensities(onset, onset_faces[0].mesh3d, apex, apex_faces[0].mesh3d)
            truth = au_numbers(record.action_units) & set(AU_NUMBERS)
            guess = au_numbers(active_units(values))
            coded.append(truth)
            estimated.append(guess)
            samples.append({"sample": record.key, "coded": "+".join(map(str, sorted(truth))),
                            "estimated": "+".join(map(str, sorted(guess))), **dict(zip(AU_COLUMNS, values))})
        if progress is not None:
            progress(done, len(records))
    per_au, micro, macro = score_sets(coded, estimated)
    return AuEvaluation(per_au, pd.DataFrame(samples), micro, macro, skipped)


