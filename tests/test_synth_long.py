"""CAS(ME)^2-format synthetic long videos: layout, workbook, ground truth, mp4 copies, loader."""

from __future__ import annotations

import av
import openpyxl
import pytest

from larnet_core.synth import generate_long_videos

FPS = 25.0
SECONDS = 6.0


@pytest.fixture(scope="module")
def long_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_long") / "casme_sq"
    manifest = generate_long_videos(out, subjects=2, videos_per_subject=1, seed=9, seconds=SECONDS, fps=FPS,
                                    size=(96, 72), workers=1)
    return out, manifest


def test_tree_has_the_casme_sq_layout(long_set):
    out, manifest = long_set
    n = int(SECONDS * FPS)
    videos = sorted((out / "rawpic").glob("*/*"))
    assert len(videos) == 2
    for folder in videos:
        subject = folder.parent.name
        assert subject[0] == "s" and subject[1:].isdigit()
        assert folder.name.startswith(f"{subject[1:]}_") and folder.name[len(subject):len(subject) + 4].isdigit()
        assert sorted(int(p.stem[3:]) for p in folder.glob("img*.jpg")) == list(range(1, n + 1))
        mp4 = out / "rawvideo" / subject / f"{folder.name}.mp4"
        with av.open(str(mp4)) as container:
            assert sum(1 for _ in container.decode(video=0)) == n
    assert (out / "synthetic.json").is_file()
    assert set(manifest.table["frames_dir"]) == {p.relative_to(out).as_posix() for p in videos}


def test_workbook_has_no_header_and_the_naming_rules(long_set):
    out, manifest = long_set
    workbook = openpyxl.load_workbook(out / "CAS(ME)^2code_final.xlsx")
    assert workbook.sheetnames == ["CASFEcode_final", "naming rule1", "naming rule2"]
    rows = list(workbook["CASFEcode_final"].iter_rows(values_only=True))
    assert len(rows) == len(manifest.table) > 0
    for subject, video, onset, apex, offset, au, emotion, kind, self_report in rows:
        assert isinstance(subject, int) and isinstance(onset, int)  # data from the first row: no header
        assert "_" in video and emotion in {"positive", "negative", "surprise", "others"}
        assert kind in {"micro-expression", "macro-expression"} and self_report
    participants = {row[2]: row[1] for row in workbook["naming rule1"].iter_rows(values_only=True)}
    assert set(participants) == {1, 2} and all(name.startswith("s") for name in participants.values())
    codes = [row[0] for row in workbook["naming rule2"].iter_rows(values_only=True)]
    assert all(isinstance(code, str) and len(code) == 4 for code in codes)


def test_ground_truth_intervals_are_consistent(long_set):
    _, manifest = long_set
    table = manifest.table
    n = int(SECONDS * FPS)
    assert (table["onset"] >= 1).all() and (table["offset"] <= n).all()
    assert ((table["onset"] < table["apex"]) & (table["apex"] < table["offset"])).all()
    length_s = (table["offset"] - table["onset"] + 1) / FPS
    micro = table["type"] == "micro-expression"
    assert micro.any() and (~micro).any()
    assert (length_s[micro] < 0.5).all() and (length_s[micro] >= 1 / 25).all()
    assert (length_s[~micro] > 0.5).all() and (length_s[~micro] <= 4.0).all()
    for _, events in table.groupby("frames_dir"):
        events = events.sort_values("onset")
        assert (events["onset"].to_numpy()[1:] > events["offset"].to_numpy()[:-1]).all()  # no overlaps


def test_casme_sq_loader_reads_the_synthetic_videos(long_set):
    data = pytest.importorskip("larnet_core.data", reason="the CAS(ME)^2 loader (larnet_core.data) is not there")
    out, manifest = long_set
    records = data.load_dataset("casme2-long", out)
    assert len(records) == 2
    for record in records:
        expected = manifest.table[manifest.table["video_folder"] == record.video].sort_values("onset")
        assert len(record.frames) == int(SECONDS * FPS)
        assert record.intervals["onset"].tolist() == expected["onset"].tolist()
        assert record.intervals["offset"].tolist() == expected["offset"].tolist()
        assert record.intervals["type"].tolist() == [t.split("-")[0] for t in expected["type"]]
