"""Session bundles: export -> import is lossless, and hostile or damaged bundles are refused before any write."""

from __future__ import annotations

import json
import struct
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from larnet_core.errors import BundleError, LarnetError, SessionNotFound
from larnet_core.sessions import (
    BUNDLE_SCHEMA_VERSION,
    AnalysisSession,
    InputRef,
    ModelRef,
    SessionStore,
    export_bundle,
    import_bundle,
)
from larnet_core.sessions import schema


@pytest.fixture
def store(tmp_path):
    with SessionStore.open(f"sqlite:///{tmp_path / 'sessions.sqlite3'}") as opened:
        yield opened


def _png(value: int) -> bytes:
    return cv2.imencode(".png", np.full((6, 9, 3), value, np.uint8))[1].tobytes()


def _every_dtype_results(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    probabilities = rng.random(n)
    probabilities[[3, 17]] = np.nan
    table = pd.DataFrame({
        "frame": np.arange(n, dtype="int64"),
        "face_x": rng.integers(0, 300, n).astype("int32"),
        "p_surprise": probabilities,
        "motion": rng.random(n).astype("float32"),
        "face_found": rng.random(n) > 0.3,
        "label": pd.Series(rng.choice(["others", "surprise", "disgust"], n), dtype="str"),
        "note": pd.Series([None if i % 5 == 0 else f"f{i}" for i in range(n)], dtype="str"),
        "emotion": pd.Categorical(rng.choice(["happiness", "others"], n), categories=["others", "happiness"],
                                  ordered=True),
        "timestamp": pd.date_range("2024-05-01 12:00", periods=n, freq="5ms", tz="UTC"),
        "wall_clock": pd.date_range("2024-05-01 12:00", periods=n, freq="40ms"),
        "au_count": pd.array([None if i % 7 == 0 else i % 4 for i in range(n)], dtype="Int64"),
        # The columns the clip view reads (a clip session's results must have them to be imported).
        "time_s": np.arange(n) / 200.0, "face_x0": 10.0, "face_y0": 12.0, "face_x1": 90.0, "face_y1": 110.0,
        "pred_label": pd.Series(rng.choice(["others", "surprise"], n), dtype="str"),
        "confidence": rng.random(n), "prob_surprise": rng.random(n), "prob_others": rng.random(n),
    })
    return table.set_index(pd.Index(np.arange(100, 100 + n), name="frame_index"))


def _rich_session() -> AnalysisSession:
    return AnalysisSession(
        name="CASME II sub01 EP02_01f — apex review",
        notes="Ünïcode notes\nwith two lines\tand a tab",
        kind="clip",
        model=ModelRef(preset="larnet-small", checkpoint_path="/models/larnet.pt", checkpoint_sha256="cd" * 32,
                       synthetic=True),
        input=InputRef(name="EP02_01f.mp4", fps=200.0, width=340, height=280, frame_count=40,
                       data=bytes(range(256)) * 40),
        results=_every_dtype_results(),
        intervals=pd.DataFrame({
            "onset_frame": np.array([3, 20], dtype="int32"), "apex_frame": [6, 25], "offset_frame": [9, 31],
            "onset_s": [0.015, 0.1], "apex_s": [0.03, 0.125], "offset_s": [0.045, 0.155], "duration_s": [0.03, 0.055],
            "peak_score": [0.91, np.nan], "label": pd.Categorical(["surprise", "others"]),
            "kind": pd.Series(["micro", "macro"], dtype="str"),
        }),
        events=pd.DataFrame({
            "time": pd.to_datetime(["2024-05-01T12:00:01.250", "2024-05-01T12:00:03.5"], utc=True),
            "emotion": ["surprise", "others"], "confidence": [0.8, 0.55],
        }),
        images={"apex heat map": _png(30), "onset heat map": _png(220), "stage-2_mask": _png(128)},
        metrics_runs=["loso-casme2-5class", "megc-composite"],
        created_at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc),
        updated_at=datetime(2024, 5, 2, 8, 30, tzinfo=timezone.utc),
    )


def _row_counts(store: SessionStore) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (schema.sessions, schema.session_parts, schema.session_images)
        )


def test_export_then_import_is_lossless(store, tmp_path):
    original = _rich_session()
    created = store.create(original)
    path = export_bundle(store, created.id, tmp_path / "review.larnet.zip")

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert names == {"manifest.json", "results.parquet", "intervals.parquet", "events.parquet",
                     "images/apex heat map.png", "images/onset heat map.png", "images/stage-2_mask.png",
                     "clip/EP02_01f.mp4"}
    assert manifest["schema_version"] == BUNDLE_SCHEMA_VERSION and manifest["model"]["preset"] == "larnet-small"
    assert set(manifest["members"]) == names - {"manifest.json"}

    imported = import_bundle(store, path)
    assert imported.id != created.id and imported.edit_token != created.edit_token
    source, copy = store.get(created.id), store.get(imported.id)
    for part in ("results", "intervals", "events"):
        pd.testing.assert_frame_equal(copy.table(part), original.table(part), check_exact=True)
        pd.testing.assert_frame_equal(copy.table(part), source.table(part), check_exact=True)
    assert copy.results.dtypes.to_dict() == original.results.dtypes.to_dict()
    assert copy.results["emotion"].cat.ordered and copy.results["p_surprise"].isna().sum() == 2
    for attribute in ("name", "notes", "kind", "model", "input", "images", "metrics_runs", "created_at",
                      "updated_at"):
        assert getattr(copy, attribute) == getattr(source, attribute), attribute
    assert copy.created_at == original.created_at and copy.input.data == original.input.data
    assert list(copy.images) == list(original.images) and copy.model == original.model


def test_a_session_without_tables_or_clip_round_trips(store, tmp_path):
    created = store.create(AnalysisSession(name="empty live session", kind="live"))
    imported = import_bundle(store, export_bundle(store, created.id, tmp_path / "empty.larnet.zip"))
    copy = store.get(imported.id)
    assert copy.kind == "live" and copy.results is None and copy.images == {} and copy.input.data is None


def test_export_errors_leave_no_file(store, tmp_path):
    with pytest.raises(SessionNotFound):
        export_bundle(store, "A" * 22, tmp_path / "x.larnet.zip")
    created = store.create(AnalysisSession(name="s"))
    with pytest.raises(LarnetError, match="does not exist"):
        export_bundle(store, created.id, tmp_path / "missing" / "x.larnet.zip")
    assert list(tmp_path.glob("*.larnet.zip")) == [] and list(tmp_path.glob(".export-*")) == []


# ---------------------------------------------------------------------------------------------------- hostile
@pytest.fixture
def valid_bundle(tmp_path) -> Path:
    # Made in a store of its own, so the store under test starts from a known state.
    with SessionStore.open(f"sqlite:///{tmp_path / 'source.sqlite3'}") as source:
        created = source.create(_rich_session())
        return export_bundle(source, created.id, tmp_path / "valid.larnet.zip")


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, members: dict[str, bytes], fix_checksums: bool = True) -> Path:
    members = dict(members)
    if fix_checksums and "manifest.json" in members:
        import hashlib

        manifest = json.loads(members["manifest.json"])
        manifest["members"] = {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                               for name, data in members.items() if name != "manifest.json"}
        members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _path_traversal(src: Path, dst: Path) -> Path:
    return _write(dst, {**_members(src), "../../escaped.txt": b"owned"})


def _absolute_path(src: Path, dst: Path) -> Path:
    return _write(dst, {**_members(src), "/etc/cron.d/evil": b"* * * * * root sh"})


def _drive_letter(src: Path, dst: Path) -> Path:
    return _write(dst, {**_members(src), "C:/Windows/evil.dll": b"MZ"})


def _symlink_member(src: Path, dst: Path) -> Path:
    _write(dst, _members(src))
    link = zipfile.ZipInfo("images/link.png")
    link.create_system = 3
    link.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(dst, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    return dst


def _zip_bomb(src: Path, dst: Path) -> Path:
    return _write(dst, {**_members(src), "results.parquet": bytes(20 * 1024 * 1024)})


def _lying_sizes(src: Path, dst: Path) -> Path:
    # 4 MiB of zeros whose central-directory entry claims 1,000 bytes (under the ratio check's floor).
    _write(dst, {**_members(src), "events.parquet": bytes(4 * 1024 * 1024)})
    data = bytearray(dst.read_bytes())
    offset = data.find(b"PK\x01\x02")
    while offset != -1:
        name_length = struct.unpack_from("<H", data, offset + 28)[0]
        if bytes(data[offset + 46: offset + 46 + name_length]) == b"events.parquet":
            struct.pack_into("<I", data, offset + 24, 1000)
        offset = data.find(b"PK\x01\x02", offset + 4)
    dst.write_bytes(bytes(data))
    return dst


def _checksum_mismatch(src: Path, dst: Path) -> Path:
    members = _members(src)
    members["images/apex heat map.png"] = _png(31)
    return _write(dst, members, fix_checksums=False)


def _too_many_members(src: Path, dst: Path) -> Path:
    extra = {f"images/spam{i}.png": _png(i % 256) for i in range(300)}
    return _write(dst, {**_members(src), **extra})


def test_format_1_bundles_still_import(store, tmp_path):
    """Format 1 wrote the intervals as table-schema JSON and had no result record: such a bundle imports whole."""
    from larnet_core.sessions.tables import encode_json_table

    original = _rich_session()
    created = store.create(original)
    members = _members(export_bundle(store, created.id, tmp_path / "new.larnet.zip"))
    members["intervals.json"] = encode_json_table(members.pop("intervals.parquet") and original.intervals)
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] = 1
    members["manifest.json"] = json.dumps(manifest).encode()
    imported = store.get(import_bundle(store, _write(tmp_path / "old.larnet.zip", members)).id)
    pd.testing.assert_frame_equal(imported.intervals, original.intervals, check_exact=True)
    pd.testing.assert_frame_equal(imported.results, original.results, check_exact=True)
    assert imported.result == {}


def _newer_schema(src: Path, dst: Path) -> Path:
    members = _members(src)
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] = BUNDLE_SCHEMA_VERSION + 1
    members["manifest.json"] = json.dumps(manifest).encode()
    return _write(dst, members)


def _missing_manifest(src: Path, dst: Path) -> Path:
    members = _members(src)
    del members["manifest.json"]
    return _write(dst, members)


def _unexpected_member(src: Path, dst: Path) -> Path:
    return _write(dst, {**_members(src), "run_me.py": b"import os"})


def _not_a_png(src: Path, dst: Path) -> Path:
    return _write(dst, {**_members(src), "images/apex heat map.png": b"GIF89a not a png"})


def _listed_but_absent(src: Path, dst: Path) -> Path:
    members = _members(src)
    del members["events.parquet"]
    return _write(dst, members, fix_checksums=False)


def _garbage_table(src: Path, dst: Path) -> Path:
    return _write(dst, {**_members(src), "results.parquet": b"PAR1 this is not parquet PAR1"})


def _not_a_zip(src: Path, dst: Path) -> Path:
    dst.write_bytes(b"just some text, no archive here")
    return dst


def _duplicate_names(src: Path, dst: Path) -> Path:
    _write(dst, _members(src))
    with pytest.warns(UserWarning), zipfile.ZipFile(dst, "a") as archive:
        archive.writestr("results.parquet", b"second copy")
    return dst


HOSTILE: list[tuple[Callable[[Path, Path], Path], str]] = [
    (_path_traversal, "is a path traversal"),
    (_absolute_path, "is an absolute path"),
    (_drive_letter, "absolute path with a drive letter"),
    (_symlink_member, "is a symbolic link"),
    (_zip_bomb, "compression ratio of"),
    (_lying_sizes, "does not match its declared size"),
    (_checksum_mismatch, "checksum mismatch for 'images/apex heat map.png'"),
    (_too_many_members, "members; at most 256"),
    (_newer_schema, f"bundle schema version {BUNDLE_SCHEMA_VERSION + 1}, newer than"),
    (_missing_manifest, "has no manifest.json"),
    (_unexpected_member, "unexpected member 'run_me.py'"),
    (_not_a_png, "not a PNG"),
    (_listed_but_absent, "lists 'events.parquet' but the archive does not contain it"),
    (_garbage_table, "results table is not readable Parquet"),
    (_not_a_zip, "not a valid ZIP archive"),
    (_duplicate_names, "appears twice"),
]


@pytest.mark.parametrize("make, message", HOSTILE, ids=[make.__name__.strip("_") for make, _ in HOSTILE])
def test_hostile_bundles_are_refused_and_nothing_is_written(store, valid_bundle, tmp_path, make, message):
    store.create(AnalysisSession(name="already here", images={"a": _png(1)}))
    before = _row_counts(store)
    bad = make(valid_bundle, tmp_path / "bad.larnet.zip")
    with pytest.raises(BundleError, match=message.replace("(", r"\(")) as refused:
        import_bundle(store, bad)
    assert "bad.larnet.zip" in str(refused.value)
    assert _row_counts(store) == before
    assert import_bundle(store, valid_bundle).id  # the store still works after a refusal


def test_size_limits_are_configurable(store, valid_bundle):
    from larnet_core.sessions import ZipLimits

    with pytest.raises(BundleError, match=r"declares \d+ bytes; the limit is 1000"):
        import_bundle(store, valid_bundle, limits=ZipLimits(max_member_bytes=1000))
    with pytest.raises(BundleError, match="declares more than 5000 bytes uncompressed"):
        import_bundle(store, valid_bundle, limits=ZipLimits(max_total_bytes=5000))
    with pytest.raises(BundleError, match="the limit is 100 bytes"):
        import_bundle(store, valid_bundle, limits=ZipLimits(max_archive_bytes=100))
    assert _row_counts(store) == (0, 0, 0)
