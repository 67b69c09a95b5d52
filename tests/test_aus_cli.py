"""``larnet aus`` on real photos and ``larnet au-eval`` on a generated CASME II tree (coding sheet with AUs)."""

from __future__ import annotations

import json

import cv2
import pandas as pd
import pytest

from larnet_core.aus.evaluate import score_sets
from larnet_core.aus.names import AU_COLUMNS
from larnet_core.cli import main
from markers import needs_mediapipe


def test_scores_count_per_unit_and_average_micro_and_macro():
    coded = [{6, 12}, {4}, {1, 2}, set()]
    estimated = [{6, 12}, {4, 7}, {1}, {12}]
    table, micro, macro = score_sets(coded, estimated)
    rows = table.set_index("au")
    assert rows.loc["AU12", ["tp", "fp", "fn"]].tolist() == [1, 1, 0]
    assert rows.loc["AU02", "f1"] == 0.0 and rows.loc["AU07", "support"] == 0
    assert micro == pytest.approx(2 * 4 / (2 * 4 + 2 + 1))
    assert macro == pytest.approx(table[table["support"] > 0]["f1"].mean())


@needs_mediapipe
def test_aus_writes_one_row_per_face_and_a_smile_scores_au12_above_neutral(tmp_path, capsys):
    from larnet_core.synth.action_units import apply_action_units
    from larnet_core.synth.photo_faces import head_layer

    layer = head_layer("astronaut", 200)
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "neutral.png"), layer.image[..., ::-1])
    smile = apply_action_units(layer.image, layer.landmarks, {6: 2.5, 12: 3.0})
    cv2.imwrite(str(folder / "smile.png"), smile[..., ::-1])
    (folder / "notes.txt").write_text("not an image")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), layer.image[:40, :40] * 0)
    out = tmp_path / "aus.csv"
    assert main(["aus", str(folder), str(blank), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns[:2]) == ["image", "face_id"] and set(AU_COLUMNS) <= set(table.columns)
    assert len(table) == 3 and table["face_id"].tolist().count(-1) == 1  # the blank image is accounted for
    by_name = {name.split("/")[-1]: row for name, row in zip(table["image"], table.itertuples())}
    assert by_name["smile.png"].AU12 > by_name["neutral.png"].AU12 + 0.5
    assert "no face found in 1 image" in capsys.readouterr().out


def test_aus_rejects_missing_paths_and_non_csv_output(tmp_path, capsys):
    assert main(["aus", str(tmp_path / "nowhere.jpg"), "--out", str(tmp_path / "a.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["aus", str(tmp_path), "--out", str(tmp_path / "a.txt")]) == 2
    assert ".csv" in capsys.readouterr().err


@needs_mediapipe
def test_au_eval_scores_a_generated_casme2_tree(tmp_path, capsys):
    root = tmp_path / "casme2"
    assert main(["synth", str(root), "--subjects", "1", "--clips-per-class", "1"]) == 0
    out = tmp_path / "eval" / "aus.csv"
    assert main(["au-eval", "--dataset", "casme2", "--root", str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "micro F1" in printed and "macro F1" in printed
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["samples"] == 7 and 0.0 <= summary["macro_f1"] <= summary["micro_f1"] + 1.0
    per_au = pd.read_csv(out)
    assert (per_au["support"] > 0).any() and per_au["f1"].between(0, 1).all()
    samples = pd.read_csv(out.with_name("aus.samples.csv"))
    assert len(samples) == 7 and samples["coded"].notna().all()


def test_au_eval_says_when_the_root_holds_no_dataset(tmp_path, capsys):
    assert main(["au-eval", "--dataset", "casme2", "--root", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err
