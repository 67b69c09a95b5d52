"""Label schemes (mapping, drops, remapping) and subject-independent splits."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from larnet_core.data import (
    ClipRecord,
    LabelScheme,
    apply_scheme,
    get_scheme,
    holdout_split,
    loso_folds,
    remap_labels,
    validation_subjects,
)
from larnet_core.data.splits import Split
from larnet_core.errors import DatasetError

CASME2_EMOTIONS = ("disgust", "fear", "happiness", "others", "repression", "sadness", "surprise")


def clip(dataset: str, subject: str, emotion: str, number: int = 0) -> ClipRecord:
    return ClipRecord(dataset, subject, f"clip{number}", emotion, (Path(f"{subject}_{number}.jpg"),), (1,), 1, 1, 1)


def casme2_records() -> list[ClipRecord]:
    return [clip("casme2", f"sub{s:02d}", e, i) for s in range(1, 6) for i, e in enumerate(CASME2_EMOTIONS)]


def test_scheme_classes_are_alphabetical() -> None:
    assert get_scheme("casme2-7").classes == CASME2_EMOTIONS
    assert get_scheme("casme2-5").classes == ("disgust", "happiness", "others", "repression", "surprise")
    assert get_scheme("megc-3").classes == ("negative", "positive", "surprise")
    with pytest.raises(ValueError, match="casme2-7, casme2-5, megc-3"):
        get_scheme("casme2-6")


def test_apply_casme2_5_drops_fear_and_sadness(caplog: pytest.LogCaptureFixture) -> None:
    records = casme2_records()
    with caplog.at_level(logging.INFO, logger="larnet_core.data"):
        labelled = apply_scheme(records, "casme2-5")
    assert len(labelled) == 25
    assert {r.label for r in labelled} == set(get_scheme("casme2-5").classes)
    assert "dropped 10" in caplog.text
    assert all(r.label == r.emotion for r in apply_scheme(records, "casme2-7"))


def test_megc_3_over_three_datasets() -> None:
    records = casme2_records() + [
        clip("samm", "006", "anger"), clip("samm", "006", "contempt", 1), clip("samm", "007", "happiness", 2),
        clip("samm", "007", "other", 3), clip("samm", "008", "surprise", 4), clip("samm", "008", "fear", 5),
        clip("smic", "s1", "negative"), clip("smic", "s1", "positive", 1), clip("smic", "s2", "surprise", 2),
    ]
    labelled = {(r.dataset, r.emotion): r.label for r in apply_scheme(records, "megc-3")}
    assert labelled[("casme2", "repression")] == "negative" and labelled[("casme2", "disgust")] == "negative"
    assert labelled[("casme2", "happiness")] == "positive" and labelled[("casme2", "surprise")] == "surprise"
    assert ("casme2", "fear") not in labelled and ("casme2", "others") not in labelled
    assert ("casme2", "sadness") not in labelled and ("samm", "other") not in labelled
    assert labelled[("samm", "fear")] == "negative" and labelled[("samm", "contempt")] == "negative"
    assert labelled[("smic", "positive")] == "positive"


def test_unknown_emotion_names_clip_and_emotion() -> None:
    with pytest.raises(DatasetError, match=r"samm/006/clip0.*'anger'.*casme2-7"):
        apply_scheme([clip("samm", "006", "anger")], "casme2-7")


def test_remap_7_to_5_to_3() -> None:
    seven = list(CASME2_EMOTIONS)
    assert remap_labels(seven, "casme2-7", "casme2-5") == [
        "disgust", None, "happiness", "others", "repression", None, "surprise"]
    assert remap_labels(seven, "casme2-7", "megc-3") == [
        "negative", None, "positive", None, "negative", None, "surprise"]
    five = list(get_scheme("casme2-5").classes)
    assert remap_labels(five, "casme2-5", "megc-3") == ["negative", "positive", None, "negative", "surprise"]
    assert remap_labels(["negative"], "megc-3", "megc-3") == ["negative"]
    with pytest.raises(ValueError, match="no counterpart"):
        remap_labels(["negative"], "megc-3", "casme2-7")
    with pytest.raises(ValueError, match="not a class"):
        remap_labels(["joy"], "casme2-7", "megc-3")


def test_identity_scheme_for_folders() -> None:
    scheme = LabelScheme.identity(["Happy", "sad"])
    assert scheme.classes == ("happy", "sad")
    assert apply_scheme([clip("folder", "anna", "sad")], scheme)[0].label == "sad"


def test_loso_every_subject_tested_once_and_disjoint() -> None:
    records = casme2_records()
    folds = loso_folds(records)
    assert [f.name for f in folds] == ["sub01", "sub02", "sub03", "sub04", "sub05"]
    tested = []
    for fold in folds:
        train = {records[i].subject for i in fold.train_indices}
        test = {records[i].subject for i in fold.test_indices}
        assert test == {fold.name} and not train & test
        assert len(fold.train_indices) + len(fold.test_indices) == len(records)
        tested.extend(test)
    assert sorted(tested) == sorted({r.subject for r in records})


def test_loso_with_validation_from_training_subjects() -> None:
    records = casme2_records()
    folds = loso_folds(records, val_fraction=0.25, seed=3)
    for fold in folds:
        assert len(fold.val_subjects) == 1 and fold.name not in fold.val_subjects
        assert set(fold.val_subjects) <= {records[i].subject for i in range(len(records))} - {fold.name}
        assert {records[i].subject for i in fold.val_indices} == set(fold.val_subjects)
        assert not set(fold.val_indices) & set(fold.train_indices)
    assert [f.val_subjects for f in folds] == [f.val_subjects for f in loso_folds(records, val_fraction=0.25, seed=3)]


def test_holdout_subject_independent_and_deterministic() -> None:
    records = [clip("casme2", f"sub{s:02d}", "happiness", i) for s in range(1, 11) for i in range(3)]
    split = holdout_split(records, test_fraction=0.2, seed=7, val_fraction=0.25)
    assert len(split.test_subjects) == 2 and len(split.val_subjects) == 2 and len(split.train_subjects) == 6
    parts = [{records[i].subject for i in idx} for idx in (split.train_indices, split.val_indices, split.test_indices)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(len(p) for p in (split.train_indices, split.val_indices, split.test_indices)) == len(records)
    assert holdout_split(records, test_fraction=0.2, seed=7, val_fraction=0.25) == split
    assert any(holdout_split(records, 0.2, seed=s).test_subjects != split.test_subjects for s in range(8, 12))
    with pytest.raises(DatasetError, match="at least 2 subjects"):
        holdout_split(records[:3])


def test_validation_subjects_only_from_training() -> None:
    records = casme2_records()
    train = [i for i, r in enumerate(records) if r.subject != "sub05"]
    chosen = validation_subjects(records, train, fraction=0.5, seed=1)
    assert len(chosen) == 2 and "sub05" not in chosen
    assert validation_subjects(records, train, fraction=0.0) == ()


def test_split_refuses_shared_subjects() -> None:
    with pytest.raises(ValueError, match="sub01"):
        Split("bad", (0,), (1,), train_subjects=("sub01",), test_subjects=("sub01",))


def test_composite_subjects_and_sample_tables() -> None:
    records = [clip("casme2", "s1", "happiness"), clip("smic", "s1", "positive")]
    folds = loso_folds(records)
    assert [f.name for f in folds] == ["casme2/s1", "smic/s1"]  # same id, different people
    table = pd.DataFrame({"subject": ["a", "a", "b", "c"], "label": ["x"] * 4})
    assert [f.test_indices for f in loso_folds(table)] == [(0, 1), (2,), (3,)]
