"""Dataset loaders read small trees written in each dataset's real on-disk format."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from larnet_core.data import (
    ClipRecord,
    LongVideoRecord,
    load_casme2,
    load_casme2_long,
    load_casme3,
    load_casme3_long,
    load_dataset,
    load_folder,
    load_samm,
    load_samm_long,
    load_smic,
    records_to_frame,
)
from larnet_core.errors import DatasetError


def write_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        image = np.full((12, 10, 3), (40 + 20 * i) % 256, dtype=np.uint8)
        assert cv2.imwrite(str(folder / name), image)


def write_xlsx(path: Path, rows: list[list], extra_sheets: dict[str, list[list]] | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for name, sheet_rows in (extra_sheets or {}).items():
        extra = book.create_sheet(name)
        for row in sheet_rows:
            extra.append(row)
    book.save(path)
    return path


CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                 "Estimated Emotion"]


def make_casme2(root: Path, cropped: bool = False, sheet_name: str = "CASME2-coding-20190701.xlsx") -> Path:
    prefix, folder = ("reg_img", "Cropped") if cropped else ("img", "CASME2_RAW_selected")
    rows = [
        # subject, clip, onset, apex, offset, AUs, emotion, frame numbers on disk
        (1, "EP02_01f", 8, 10, 12, "4+L10", "disgust", range(7, 14)),     # folder has more than onset..offset
        (1, "EP03_02", 2, "/", 6, "R12", "happiness", range(2, 7)),        # non-numeric apex
        (2, "EP01_11f", 96, None, 100, "12", "repression", range(96, 101)),  # missing apex
        (2, "EP19_06f", 30, 32, 34, "1+2", "surprise", range(30, 35)),
        (3, "EP05_02", 44, 46, 48, "14", "others", range(44, 49)),
        (3, "EP07_04", 50, 51, 53, "4", "fear", range(50, 54)),
        (3, "EP99_99", 1, 2, 3, "4", "sadness", None),                      # frame folder missing: skipped
    ]
    sheet = [CASME2_HEADER]
    for subject, clip, onset, apex, offset, aus, emotion, numbers in rows:
        sheet.append([subject, clip, None, onset, apex, offset, None, aus, emotion])
        if numbers is not None:
            write_frames(root / folder / f"sub{subject:02d}" / clip, [f"{prefix}{n}.jpg" for n in numbers])
    write_xlsx(root / sheet_name, sheet)
    return root


def test_casme2_raw_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_casme2(tmp_path)
    with caplog.at_level(logging.INFO, logger="larnet_core.data"):
        records = load_casme2(tmp_path)
    assert len(records) == 6
    assert "EP99_99" in caplog.text  # the skipped row is reported
    first = records[0]
    assert (first.dataset, first.subject, first.clip, first.emotion) == ("casme2", "sub01", "EP02_01f", "disgust")
    assert (first.onset, first.apex, first.offset) == (8, 10, 12)
    assert first.frame_numbers == (8, 9, 10, 11, 12)  # onset..offset out of 7..13
    assert first.frames[0].name == "img8.jpg" and first.frames[-1].name == "img12.jpg"  # img8 before img12
    assert first.apex_index == 2 and first.onset_index == 0 and first.offset_index == 4
    assert first.action_units == "4+L10"
    by_clip = {r.clip: r for r in records}
    assert by_clip["EP03_02"].apex is None and by_clip["EP01_11f"].apex is None
    assert by_clip["EP01_11f"].apex_index == 2  # middle of 96..100
    assert by_clip["EP01_11f"].action_units == "12"
    assert {r.subject for r in records} == {"sub01", "sub02", "sub03"}
    table = records_to_frame(records)
    assert list(table["clip"]) == [r.clip for r in records]
    assert table["apex"].isna().sum() == 2


def test_casme2_numeric_frame_order(tmp_path: Path) -> None:
    write_frames(tmp_path / "CASME2_RAW_selected" / "sub01" / "EP01_01", [f"img{n}.jpg" for n in (10, 2, 9, 1, 11)])
    row = [1, "EP01_01", None, 1, 9, 11, None, "", "happiness"]
    write_xlsx(tmp_path / "CASME2-coding-20140508.xlsx", [CASME2_HEADER, row])
    (record,) = load_casme2(tmp_path)
    assert record.frame_numbers == (1, 2, 9, 10, 11)
    assert [p.name for p in record.frames] == ["img1.jpg", "img2.jpg", "img9.jpg", "img10.jpg", "img11.jpg"]
    assert record.apex_frame.name == "img9.jpg"


def test_casme2_cropped_variant(tmp_path: Path) -> None:
    make_casme2(tmp_path, cropped=True)
    records = load_dataset("casme2", tmp_path, variant="cropped")
    assert len(records) == 6 and records[0].frames[0].name == "reg_img8.jpg"
    assert len(load_casme2(tmp_path)) == 6  # auto-detects the cropped tree
    with pytest.raises(DatasetError, match="CASME2_RAW_selected"):
        load_casme2(tmp_path, variant="raw")


def test_casme2_missing_columns_are_named(tmp_path: Path) -> None:
    make_casme2(tmp_path)
    header = ["Subject", "Filename", None, "OnsetFrame", "OffsetFrame", "Action Units"]
    write_xlsx(tmp_path / "CASME2-coding-20190701.xlsx", [header, [1, "EP02_01f", None, 8, 12, ""]])
    with pytest.raises(DatasetError) as info:
        load_casme2(tmp_path)
    message = str(info.value)
    assert "CASME2-coding-20190701.xlsx" in message
    assert "ApexFrame" in message and "Estimated Emotion" in message
    assert "OnsetFrame" not in message.split("lacks")[1].split("(expected")[0]


def test_casme2_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_casme2(tmp_path / "nowhere")
    make_casme2(tmp_path)
    (tmp_path / "CASME2-coding-20190701.xlsx").write_bytes(b"this is not a workbook")
    with pytest.raises(DatasetError, match="cannot read spreadsheet .*CASME2-coding-20190701.xlsx"):
        load_casme2(tmp_path)
    (tmp_path / "CASME2-coding-20190701.xlsx").unlink()
    with pytest.raises(DatasetError, match="no CASME II coding spreadsheet"):
        load_casme2(tmp_path)
    no_emotion = [1, "EP02_01f", None, 8, 10, 12, None, "", None]
    write_xlsx(tmp_path / "CASME2-coding-20190701.xlsx", [CASME2_HEADER, no_emotion])
    with pytest.raises(DatasetError, match="row 2"):
        load_casme2(tmp_path)


def test_samm_note_rows_and_capitalised_emotions(tmp_path: Path) -> None:
    notes = [[f"note line {i}"] for i in range(13)]
    header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
              "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
    rows = [
        [6, "006_1_2", 1, 5562, 5564, 5566, 5, "Micro", "R12", "Happiness", 1, ""],
        [6, "006_1_3", 1, 100, -1, 103, 4, "Micro", "4+7", "Anger", 2, ""],
        [7, "007_2_1", 2, 20, 22, 24, 5, "Micro", "1+2", "Other", 7, ""],
    ]
    write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", notes + [header] + rows)
    write_frames(tmp_path / "SAMM" / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in range(5561, 5568)])
    write_frames(tmp_path / "SAMM" / "006" / "006_1_3", [f"006_{n:05d}.jpg" for n in range(100, 104)])
    write_frames(tmp_path / "SAMM" / "007" / "007_2_1", [f"007_{n:05d}.jpg" for n in range(20, 25)])
    records = load_samm(tmp_path)
    assert [(r.subject, r.clip, r.emotion) for r in records] == [
        ("006", "006_1_2", "happiness"), ("006", "006_1_3", "anger"), ("007", "007_2_1", "other")]
    assert records[0].frame_numbers == (5562, 5563, 5564, 5565, 5566)
    assert records[0].apex_frame.name == "006_05564.jpg"
    assert records[1].apex is None  # -1 is SAMM's "no apex"


def test_smic_folders_and_modalities(tmp_path: Path) -> None:
    for modality in ("HS", "VIS"):
        for subject, emotion, clip in (("s1", "negative", "s1_ne_01"), ("s1", "surprise", "s1_sur_01"),
                                       ("s2", "positive", "s2_po_02")):
            write_frames(tmp_path / modality / subject / "micro" / emotion / clip,
                         [f"image{n:06d}.bmp" for n in range(46210, 46214)])
    write_frames(tmp_path / "HS" / "s1" / "non_micro" / "negative" / "s1_ne_05", ["image1.bmp"])
    records = load_smic(tmp_path)
    assert len(records) == 3
    assert {(r.subject, r.emotion) for r in records} == {("s1", "negative"), ("s1", "surprise"), ("s2", "positive")}
    assert all(r.apex is None and r.apex_index == 1 for r in records)
    vis = load_smic(tmp_path / "VIS")  # the modality folder itself as root
    assert len(vis) == 3 and vis[0].frames[0].parts[-6:-3] == ("VIS", "s1", "micro")
    assert len(load_dataset("smic", tmp_path, modality="VIS")) == 3
    with pytest.raises(DatasetError, match="NIR"):
        load_smic(tmp_path, modality="NIR")


def test_casme3_part_a(tmp_path: Path) -> None:
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
    write_xlsx(tmp_path / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", [
        header,
        ["spNO.1", "b", 175, 177, 179, "L12", 1, "happy"],
        ["spNO.1", "b", 181, 182, 184, "4", 2, "disgust"],
        ["spNO.2", "a", 0, 2, 4, "1+2", 3, "surprise"],
    ])
    write_frames(tmp_path / "part_A" / "spNO.1" / "b" / "color", [f"{n}.jpg" for n in range(170, 186)])
    write_frames(tmp_path / "part_A" / "spNO.2" / "a" / "color", [f"{n}.jpg" for n in range(0, 6)])
    records = load_casme3(tmp_path)
    assert [(r.subject, r.clip, r.emotion) for r in records] == [
        ("spNO.1", "b_175", "happy"), ("spNO.1", "b_181", "disgust"), ("spNO.2", "a_0", "surprise")]
    assert records[0].frame_numbers == tuple(range(175, 180))
    assert records[2].apex_frame.name == "2.jpg"


def test_casme2_long_with_naming_rules(tmp_path: Path) -> None:
    for subject, video, count in (("s15", "15_0101disgustingteeth", 40), ("s15", "15_0401girlcrashing", 30),
                                  ("s16", "16_0101disgustingteeth", 20)):
        write_frames(tmp_path / "rawpic" / subject / video, [f"img{n}.jpg" for n in range(1, count + 1)])
    codes = [
        [1, "disgust1_1", 5, 8, 12, "4", "negative", "micro-expression", "disgust"],
        [1, "disgust1_2", 20, 25, 0, "9", "negative", "macro-expression", "disgust"],   # offset 0 -> apex
        [1, "anger1_1", 3, 5, 9, "4+7", "negative", "macro-expression", "anger"],
        [2, "disgust1_1", 2, 4, 7, "10", "negative", "micro-expression", ""],
        [2, "happy9_1", 2, 4, 7, "12", "positive", "micro-expression", ""],             # no such video: skipped
    ]
    write_xlsx(tmp_path / "CAS(ME)^2code_final.xlsx", codes, {
        "naming rule1": [[15, "s15", 1], [16, "s16", 2]],
        "naming rule2": [["0101", "disgust1"], [401, "anger1"]],
    })
    records = load_dataset("casme2-long", tmp_path)
    assert all(isinstance(r, LongVideoRecord) for r in records)
    by_video = {(r.subject, r.video): r for r in records}
    first = by_video[("s15", "15_0101disgustingteeth")]
    assert len(first.frames) == 40 and first.frame_numbers[:3] == (1, 2, 3)
    assert list(first.intervals.columns)[:6] == ["onset", "apex", "offset", "type", "emotion", "au"]
    assert first.intervals["onset"].tolist() == [5, 20]
    assert first.intervals["offset"].tolist() == [12, 25]  # offset 0 took the apex
    assert first.intervals["type"].tolist() == ["micro", "macro"]
    assert by_video[("s15", "15_0401girlcrashing")].intervals["au"].tolist() == ["4+7"]
    assert len(by_video[("s16", "16_0101disgustingteeth")].intervals) == 1
    assert records_to_frame(records)["n_micro"].tolist() == [1, 0, 1]


def test_casme2_long_without_naming_rules(tmp_path: Path) -> None:
    write_frames(tmp_path / "rawpic" / "s15" / "15_0101disgustingteeth", [f"img{n}.jpg" for n in range(1, 11)])
    write_frames(tmp_path / "rawpic" / "s15" / "15_0502cleanthebody", [f"img{n}.jpg" for n in range(1, 11)])
    write_xlsx(tmp_path / "CAS(ME)^2code_final.xlsx", [
        ["s15", "0101", 2, 4, 6, "4", "negative", "micro-expression", ""],
        [15, "15_0502cleanthebody", 3, 5, 0, "12", "positive", "macro-expression", ""],
    ])
    records = load_casme2_long(tmp_path)
    assert [len(r.intervals) for r in records] == [1, 1]
    assert records[1].intervals["offset"].tolist() == [5]


def test_folder_dataset(tmp_path: Path) -> None:
    write_frames(tmp_path / "happy" / "anna_take1", ["f2.png", "f10.png", "f1.png"])
    write_frames(tmp_path / "happy", ["bob_01.png"])
    write_frames(tmp_path / "Surprise" / "carl", ["a.png", "b.png"])
    records = load_folder(tmp_path)
    assert [(r.subject, r.clip, r.emotion, len(r.frames)) for r in records] == [
        ("anna", "anna_take1", "happy", 3), ("bob", "bob_01", "happy", 1), ("carl", "carl", "surprise", 2)]
    assert [p.name for p in records[0].frames] == ["f1.png", "f2.png", "f10.png"]
    with pytest.raises(DatasetError, match="no images"):
        load_folder(tmp_path / "Surprise" / "carl")


def test_unknown_dataset_lists_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="casme2, samm, smic, casme3, casme2-long, samm-lv, casme3-long, folder"):
        load_dataset("fer2013", tmp_path)


def test_clip_record_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ClipRecord("x", "s", "c", "e", (tmp_path / "a.jpg",), (1, 2), None, None, None)
    record = ClipRecord("x", "s", "c", "e", (tmp_path / "a.jpg", tmp_path / "b.jpg"), (4, 9), 4, 100, 9)
    assert record.apex_index == 1  # an apex past the stored frames snaps to the nearest one
    assert record.with_label("pos").label == "pos" and record.label is None


def test_spreadsheet_as_csv_and_rawvideo_fallback(tmp_path: Path) -> None:
    make_casme2(tmp_path / "casme2")
    csv_path = tmp_path / "coding.csv"
    csv_path.write_text("Subject,Filename,,OnsetFrame,ApexFrame,OffsetFrame,,Action Units,Estimated Emotion\n"
                        "2,EP19_06f,,30,32,34,,1+2,surprise\n")
    (record,) = load_casme2(tmp_path / "casme2", spreadsheet=csv_path)
    assert (record.subject, record.apex, record.frame_numbers) == ("sub02", 32, (30, 31, 32, 33, 34))

    video = tmp_path / "long" / "rawvideo" / "s15" / "15_0101disgustingteeth.avi"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"")  # only its name matters to the loader
    write_xlsx(tmp_path / "long" / "CAS(ME)^2code_final.xlsx", [[15, "0101", 2, 4, 6, "4", "negative", "micro", ""]])
    (long_video,) = load_casme2_long(tmp_path / "long")
    assert long_video.frames == () and long_video.video_path == video and len(long_video.intervals) == 1


SAMM_LV_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
                  "Action Units", "Notes"]


def make_samm_lv(root: Path) -> Path:
    """A SAMM-LV tree as released: nine note rows above the header (row 10), video folders with no subject level,
    4-digit frame numbers after the video name, "Micro - 1/2" and "Macro" types, an Apex of -1, an Offset of 0,
    a macro row with Onset 0, and a video with no annotation."""
    for video in ("006_1", "006_2", "007_3"):
        write_frames(root / "SAMM_longvideos" / video, [f"{video}_{n:04d}.jpg" for n in range(1, 13)])
    notes = [["SAMM Long Videos"], ["Release V3"], *[[f"note {i}"] for i in range(7)]]
    write_xlsx(root / "SAMM_LongVideos_V3_Release.xlsx", [
        *notes,
        SAMM_LV_HEADER,
        [6, "006_1_1", 1, 2, 4, 6, 5, "Micro - 1/2", "AU4", ""],
        [6, "006_1_2", 1, 7, -1, 11, 5, "Macro", "AU12", "apex not coded"],
        [6, "006_2_1", 2, 3, 5, 0, 3, "Micro - 1/2", "AU1", "no offset"],
        [6, "006_2_2", 2, 0, 4, 9, 10, "Macro", "AU6+AU12", "under way at the start"],
    ])
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", [
        ["SAMM micro codes"],
        ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
         "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"],
        [6, "006_1_1", 1, 2, 4, 6, 5, "Micro - 1/2", "AU4", "Anger", 1, ""],
    ])
    return root


def test_samm_lv_release_layout_and_quirks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_samm_lv(tmp_path)
    with caplog.at_level(logging.WARNING):
        records = load_dataset("samm-lv", tmp_path)
    assert [(r.subject, r.video, r.dataset) for r in records] == [
        ("006", "006_1", "samm-lv"), ("006", "006_2", "samm-lv"), ("007", "007_3", "samm-lv")]
    first, second, empty = records
    assert first.frame_numbers[0] == 1 and len(first.frames) == 12
    assert list(first.intervals["type"]) == ["micro", "macro"]
    assert list(first.intervals["emotion"]) == ["anger", ""]          # from the micro codes
    macro = first.intervals.iloc[1]
    assert (macro.onset, macro.apex, macro.offset) == (7, 9, 11)      # Apex -1: the middle stands in
    (micro,) = second.intervals.itertuples()                          # the Onset-0 macro row is skipped
    assert (micro.onset, micro.offset) == (3, 5)                      # Offset 0: the apex stands in
    assert "Onset 0" in caplog.text and "006_2_2" in caplog.text
    assert empty.intervals.empty


def test_samm_lv_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no SAMM-LV video folders"):
        load_samm_long(tmp_path)
    write_frames(tmp_path / "SAMM_longvideos" / "006_1", ["006_1_0001.jpg"])
    with pytest.raises(DatasetError, match="SAMM-LV release workbook"):
        load_samm_long(tmp_path)
    write_xlsx(tmp_path / "SAMM_LongVideos_V2_Release.xlsx", [SAMM_LV_HEADER, [6, "006_1_1", 1, "x", 2, 3, 1,
                                                                              "Macro", "", ""]])
    with pytest.raises(DatasetError, match="row 2: Onset 'x' is not a frame number"):
        load_samm_long(tmp_path)


def make_casme3_long(root: Path) -> Path:
    """A CAS(ME)^3 part A tree: frames numbered from 0 under a nested release folder, colour and depth
    sub-folders, a micro sheet (Subject/Filename headers) and a macro sheet with its own lower-case headers."""
    base = root / "part_A" / "data" / "part_A"
    for subject, recording in (("spNO.1", "a"), ("spNO.1", "b"), ("spNO.2", "a")):
        write_frames(base / subject / recording / "color", [f"{n}.jpg" for n in range(0, 15)])
        write_frames(base / subject / recording / "depth", ["0.png"])
    write_xlsx(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", [
        ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"],
        ["spNO.1", "a", 0, 2, 4, "4", 3, "Disgust"],
        ["spNO.2", "a", 5, 6, 8, "12", 1, "happy"],
        ["spNO.9", "z", 1, 2, 3, "1", 1, "surprise"],
    ])
    write_xlsx(root / "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx", [
        ["sub", "seq", "onset", "apex", "offset", "AU", "emotion"],
        ["spNO.1", "a", 6, 9, 14, "6+12", "happy"],
    ])
    return root


def test_casme3_long_recordings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_casme3_long(tmp_path)
    with caplog.at_level(logging.WARNING):
        records = load_casme3_long(tmp_path)
    assert [(r.subject, r.video) for r in records] == [("spNO.1", "a"), ("spNO.1", "b"), ("spNO.2", "a")]
    first = records[0]
    assert first.frame_numbers[:2] == (0, 1) and first.frames[0].parent.name == "color"
    assert list(first.intervals["type"]) == ["micro", "macro"]
    assert list(first.intervals["emotion"]) == ["disgust", "happy"]
    assert records[1].intervals.empty
    assert "spNO.9/z" in caplog.text
    from larnet_core.training.spotting_eval import truth_positions

    assert truth_positions(first) == [(0, 4, "micro", "disgust"), (6, 14, "macro", "happy")]  # frame 0 is position 0


def test_casme3_long_needs_a_sheet(tmp_path: Path) -> None:
    write_frames(tmp_path / "spNO.1" / "a" / "color", ["0.jpg"])
    with pytest.raises(DatasetError, match="no CAS\\(ME\\)\\^3 label sheet"):
        load_dataset("casme3-long", tmp_path)
