"""CASME II-format synthetic set: layout, coding sheet, timing, motion, determinism, CLI, loader."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from larnet_core.errors import DatasetError, LarnetError
from larnet_core.synth import CASME2_COLUMNS, EMOTIONS, NOTICE, generate_dataset

FPS = 200.0
SIZE = (140, 170)


@pytest.fixture(scope="module")
def casme2_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "casme2"
    manifest = generate_dataset(out, subjects=2, clips_per_class=1, seed=7, size=SIZE, fps=FPS, workers=1)
    return out, manifest


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _frame(out: Path, subject: int, clip: str, number: int) -> np.ndarray:
    import cv2

    image = cv2.imread(str(out / "CASME2_RAW_selected" / f"sub{subject:02d}" / clip / f"img{number}.jpg"))
    assert image is not None, f"missing frame {number} of sub{subject:02d}/{clip}"
    return image.astype(np.float64)


def test_tree_has_exactly_the_casme2_layout(casme2_set):
    out, manifest = casme2_set
    assert sorted(p.name for p in out.iterdir()) == ["CASME2-coding-20190701.xlsx", "CASME2_RAW_selected",
                                                    "synthetic.json"]
    subjects = sorted(p.name for p in (out / "CASME2_RAW_selected").iterdir())
    assert subjects == ["sub01", "sub02"]
    table = manifest.table
    for row in table.itertuples():
        folder = out / "CASME2_RAW_selected" / f"sub{row.subject:02d}" / row.filename
        assert re.fullmatch(r"EP\d{2}_\d{2}f?", row.filename)
        numbers = sorted(int(p.stem[3:]) for p in folder.glob("img*.jpg"))
        assert numbers == list(range(row.onset, row.offset + 1)), folder
        assert 30 <= row.onset <= 90  # absolute frame numbers, never starting at 0 or 1
    assert len(list((out / "CASME2_RAW_selected").rglob("*"))) == 2 + len(table) + int(table["n_frames"].sum())
    import cv2

    first = cv2.imread(str(next((out / "CASME2_RAW_selected" / "sub01").rglob("*.jpg"))))
    assert first.shape == (SIZE[1], SIZE[0], 3)


def test_coding_sheet_has_the_real_columns_and_cell_types(casme2_set):
    out, manifest = casme2_set
    sheet = openpyxl.load_workbook(out / "CASME2-coding-20190701.xlsx").active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == CASME2_COLUMNS
    assert rows[0] == ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                       "Action Units", "Estimated Emotion")
    assert len(rows) == 1 + 2 * 7
    for subject, filename, blank1, onset, apex, offset, blank2, aus, emotion in rows[1:]:
        assert isinstance(subject, int) and subject in (1, 2)
        assert blank1 is None and blank2 is None
        assert all(isinstance(v, int) for v in (onset, apex, offset))
        assert emotion in EMOTIONS
        assert re.fullmatch(r"[LR]?\d+(\+[LR]?\d+)*", str(aus)), aus
    frame = pd.read_excel(out / "CASME2-coding-20190701.xlsx")
    assert list(frame.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                   "Unnamed: 6", "Action Units", "Estimated Emotion"]
    assert frame.groupby("Subject")["Estimated Emotion"].apply(sorted).map(tuple).tolist() == [EMOTIONS, EMOTIONS]
    assert frame["OnsetFrame"].tolist() == manifest.table["onset"].tolist()


def test_timing_is_a_micro_expression_at_200_fps(casme2_set):
    _, manifest = casme2_set
    table = manifest.table
    assert (table["onset"] < table["apex"]).all() and (table["apex"] < table["offset"]).all()
    durations = (table["offset"] - table["onset"]) / FPS
    assert durations.between(0.1, 0.5).all()
    assert (table["n_frames"] == table["offset"] - table["onset"] + 1).all()


def test_apex_frame_differs_from_onset_in_the_action_unit_regions(casme2_set):
    out, manifest = casme2_set
    w, h = SIZE
    mouth = (slice(int(0.70 * h), int(0.88 * h)), slice(int(0.28 * w), int(0.72 * w)))
    forehead = (slice(int(0.18 * h), int(0.33 * h)), slice(int(0.25 * w), int(0.75 * w)))
    brows = (slice(int(0.25 * h), int(0.42 * h)), slice(int(0.2 * w), int(0.8 * w)))

    def change(emotion: str, region) -> float:
        total = 0.0
        for row in manifest.table[manifest.table["emotion"] == emotion].itertuples():
            onset = _frame(out, row.subject, row.filename, row.onset)
            apex = _frame(out, row.subject, row.filename, row.apex)
            total += float(np.abs(apex - onset)[region].mean())
        return total

    assert change("happiness", mouth) > change("happiness", forehead)
    assert change("surprise", brows) > change("surprise", mouth)


def test_subjects_are_different_people(casme2_set):
    out, manifest = casme2_set
    first = {s: manifest.table[manifest.table["subject"] == s].iloc[0] for s in (1, 2)}
    faces = {s: _frame(out, s, r.filename, r.onset) for s, r in first.items()}
    assert np.abs(faces[1] - faces[2]).mean() > 15


def test_manifest_records_seed_parameters_and_notice(casme2_set):
    out, manifest = casme2_set
    document = json.loads((out / "synthetic.json").read_text(encoding="utf-8"))
    assert document["notice"] == NOTICE and "says nothing about human emotions" in document["notice"]
    assert document["generator_version"]
    entry = document["datasets"]["casme2"]
    assert entry["seed"] == 7 and entry["parameters"]["subjects"] == 2 and entry["parameters"]["fps"] == FPS
    assert entry["counts"] == {"subjects": 2, "rows": 14, "frames": int(manifest.table["n_frames"].sum())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    kwargs = dict(subjects=1, clips_per_class=1, size=(48, 60), fps=60.0, workers=1)
    generate_dataset(tmp_path / "a", seed=3, **kwargs)
    generate_dataset(tmp_path / "b", seed=3, **kwargs)
    generate_dataset(tmp_path / "c", seed=4, **kwargs)
    a, b, c = (_hashes(tmp_path / name) for name in "abc")
    assert a == b
    assert a["CASME2-coding-20190701.xlsx"] != c["CASME2-coding-20190701.xlsx"]
    assert set(a.values()).isdisjoint(v for k, v in c.items() if k.endswith(".jpg"))


def test_refuses_to_overwrite_and_rejects_bad_arguments(casme2_set, tmp_path):
    out, _ = casme2_set
    with pytest.raises(DatasetError, match="--overwrite"):
        generate_dataset(out, subjects=1, clips_per_class=1, seed=7, size=SIZE)
    with pytest.raises(LarnetError, match="--fps"):
        generate_dataset(tmp_path / "x", subjects=1, clips_per_class=1, fps=10)
    with pytest.raises(LarnetError, match="--subjects"):
        generate_dataset(tmp_path / "x", subjects=0, clips_per_class=1)
    with pytest.raises(LarnetError, match="--amplitude"):
        generate_dataset(tmp_path / "x", subjects=1, clips_per_class=1, amplitude=0)
    with pytest.raises(LarnetError, match="--size"):
        generate_dataset(tmp_path / "x", subjects=1, clips_per_class=1, size=(20, 20))


def test_cli_writes_the_same_set_with_two_workers_and_shows_progress(tmp_path, capsys):
    from larnet_core.cli import main

    out = tmp_path / "cli"
    code = main(["synth", str(out), "--subjects", "2", "--clips-per-class", "1", "--size", "48x60",
                 "--fps", "60", "--seed", "5", "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 0
    assert "14/14" in captured.err and "clip" in captured.err  # tqdm progress
    assert "wrote 14 clips" in captured.out and "says nothing about human emotions" in captured.out
    reference = tmp_path / "api"
    generate_dataset(reference, subjects=2, clips_per_class=1, size=(48, 60), fps=60.0, seed=5, workers=1)
    assert _hashes(out) == _hashes(reference)  # output does not depend on the number of workers
    assert main(["synth", str(out), "--subjects", "1", "--clips-per-class", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_casme2_loader_reads_the_synthetic_set(casme2_set):
    data = pytest.importorskip("larnet_core.data", reason="the CASME II loader (larnet_core.data) is not there")
    out, manifest = casme2_set
    records = data.load_dataset("casme2", out)
    assert len(records) == 14
    assert sorted({r.subject for r in records}) == ["sub01", "sub02"]
    assert sorted(r.emotion for r in records if r.subject == "sub01") == sorted(EMOTIONS)
    by_clip = {(r.subject, r.clip): r for r in records}
    for row in manifest.table.itertuples():
        record = by_clip[(f"sub{row.subject:02d}", row.filename)]
        assert (record.onset, record.apex, record.offset) == (row.onset, row.apex, row.offset)
        assert record.emotion == row.emotion
        assert record.frame_numbers == tuple(range(row.onset, row.offset + 1))
        assert record.action_units == row.action_units
