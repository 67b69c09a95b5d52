"""Session store on SQLite and on a real PostgreSQL server: CRUD, search, tokens, crashes, concurrency."""

from __future__ import annotations

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timezone
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import pg_server
from larnet_core.errors import LarnetError, PermissionDenied, SessionNotFound
from larnet_core.sessions import LIST_COLUMNS, AnalysisSession, InputRef, ModelRef, SessionStore
from larnet_core.sessions import schema
from larnet_core.sessions.sharing import hash_token


# ---------------------------------------------------------------------------------------------------- fixtures
def _fresh_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
    server = request.getfixturevalue("pg_server_url")
    return pg_server.create_schema(server, f"t_{uuid.uuid4().hex[:12]}")


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    return _fresh_url(request, request.param, tmp_path)


@pytest.fixture
def store(db_url):
    with SessionStore.open(db_url) as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path):
    """For behaviour that does not depend on the backend (validation, notices)."""
    with SessionStore.open(f"sqlite:///{tmp_path / 'sessions.sqlite3'}") as opened:
        yield opened


# ---------------------------------------------------------------------------------------------------- builders
def _png(value: int = 0, size: int = 8) -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((size, size, 3), value, np.uint8))
    assert ok
    return encoded.tobytes()


def _results(n: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "frame": np.arange(n, dtype="int64"),
        "p_happiness": rng.random(n),
        "face_found": rng.random(n) > 0.2,
        "label": pd.Categorical(rng.choice(["others", "surprise"], n), categories=["others", "surprise"]),
    })


def _session(name: str = "sub01 EP02_01f", **overrides) -> AnalysisSession:
    fields = dict(
        name=name,
        notes="apex looks late",
        model=ModelRef(preset="larnet", checkpoint_sha256="ab" * 32),
        input=InputRef(name="EP02_01f.mp4", fps=200.0, width=340, height=280, frame_count=12, data=b"\x00clip" * 10),
        results=_results(),
        intervals=pd.DataFrame({"start_frame": [2, 7], "end_frame": [5, 10], "score": [0.8, 0.4]}),
        events=None,
        images={"apex cam": _png(10), "onset cam": _png(200)},
        metrics_runs=["loso-casme2-2024"],
    )
    fields.update(overrides)
    return AnalysisSession(**fields)


def _row_counts(store: SessionStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (schema.sessions, schema.session_parts, schema.session_images)
        }


# ---------------------------------------------------------------------------------------------------- CRUD
def test_create_then_get_returns_every_field(store):
    original = _session()
    created = store.create(original)
    loaded = store.get(created.id)

    assert loaded.id == created.id and loaded.name == original.name and loaded.notes == original.notes
    assert loaded.kind == "clip" and loaded.model == original.model and loaded.metrics_runs == ["loso-casme2-2024"]
    assert loaded.input.data == original.input.data and loaded.input.fps == 200.0
    assert loaded.input.sha256 == hashlib.sha256(original.input.data).hexdigest()
    pd.testing.assert_frame_equal(loaded.results, original.results, check_exact=True)
    pd.testing.assert_frame_equal(loaded.intervals, original.intervals, check_exact=True)
    assert loaded.events is None
    assert list(loaded.images) == ["apex cam", "onset cam"] and loaded.images == original.images
    assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset().total_seconds() == 0
    assert loaded.notices == []
    assert store.revision(created.id) == 1


def test_list_search_is_case_insensitive_literal_and_paged(store):
    created = {}
    for name, notes in [("Émotion study", "first"), ("Disgust 50% clip", "second"), ("plain", "under_score")]:
        created[name] = store.create(_session(name, notes=notes, images={}))
    ids = {name: item.id for name, item in created.items()}

    listing = store.list()
    assert tuple(listing.columns) == LIST_COLUMNS and len(listing) == 3
    assert listing["id"].iloc[0] == ids["plain"]  # most recently updated first
    assert str(listing["updated_at"].dtype).startswith("datetime64") and listing["results_rows"].tolist() == [12] * 3

    assert store.list("émotion")["id"].tolist() == [ids["Émotion study"]]
    assert store.list("EMOTION").empty  # accents are part of the text, case is not
    assert store.list("50%")["id"].tolist() == [ids["Disgust 50% clip"]]
    assert store.list("plai_").empty and store.list("under_s")["id"].tolist() == [ids["plain"]]
    assert store.list("ep02_01f.MP4").shape[0] == 3  # the input name is searched too
    assert len(store.list(limit=2)) == 2 and len(store.list(limit=2, offset=2)) == 1
    assert store.count() == 3 and store.count("second") == 1

    store.rename(ids["Émotion study"], created["Émotion study"].edit_token, "renamed")
    assert store.list()["id"].iloc[0] == ids["Émotion study"]


def test_empty_store_lists_an_empty_table_with_the_columns(store):
    listing = store.list()
    assert listing.empty and tuple(listing.columns) == LIST_COLUMNS


def test_updates_change_only_what_is_asked_and_count_revisions(store):
    created = store.create(_session())
    token = created.edit_token

    store.rename(created.id, token, "  new name  ")
    store.annotate(created.id, token, "line one\nline two")
    store.update(created.id, token, results=_results(30, seed=3), events=pd.DataFrame({"t": [0.5], "label": ["x"]}))
    store.add_image(created.id, token, "apex cam", _png(99))  # replaces in place
    store.add_image(created.id, token, "offset cam", _png(50))
    assert store.remove_image(created.id, token, "onset cam") is True
    assert store.remove_image(created.id, token, "never added") is False

    loaded = store.get(created.id)
    assert loaded.name == "new name" and loaded.notes == "line one\nline two"
    pd.testing.assert_frame_equal(loaded.results, _results(30, seed=3))
    assert loaded.events["label"].tolist() == ["x"]
    assert list(loaded.images) == ["apex cam", "offset cam"] and loaded.images["apex cam"] == _png(99)
    assert loaded.input.data == _session().input.data  # untouched
    assert store.revision(created.id) == 8
    assert loaded.updated_at >= loaded.created_at

    with pytest.raises(TypeError, match="cannot change id"):
        store.update(created.id, token, id="other")


def test_save_replaces_everything_but_keeps_a_clip_loaded_without_bytes(store):
    created = store.create(_session())
    light = store.get(created.id, load_clip=False)
    assert light.input.data is None
    light.name, light.images, light.intervals = "saved", {"only": _png(1)}, None
    store.save(light, created.edit_token)

    loaded = store.get(created.id)
    assert loaded.name == "saved" and list(loaded.images) == ["only"] and loaded.intervals is None
    assert loaded.input.data == _session().input.data

    new_input = InputRef(name="other.mp4", data=b"different")
    store.update(created.id, created.edit_token, input=new_input)
    assert store.get(created.id).input.data == b"different"


def test_read_needs_no_token_but_every_change_does(store):
    created = store.create(_session())
    before = store.get(created.id)
    assert store.can_edit(created.id, created.edit_token)
    assert not store.can_edit(created.id, None) and not store.can_edit(created.id, "x" * 43)

    attempts = [
        lambda token: store.rename(created.id, token, "hacked"),
        lambda token: store.annotate(created.id, token, "hacked"),
        lambda token: store.update(created.id, token, results=None),
        lambda token: store.add_image(created.id, token, "evil", _png()),
        lambda token: store.save(before, token),
        lambda token: store.delete(created.id, token),
    ]
    for attempt in attempts:
        for token in ("", None, "wrong-token", created.edit_token[:-1]):
            with pytest.raises(PermissionDenied, match="read-only without its edit token"):
                attempt(token)
    after = store.get(created.id)
    assert after.name == before.name and after.images == before.images and store.revision(created.id) == 1

    with store.engine.connect() as conn:
        row = conn.execute(sa.select(schema.sessions).where(schema.sessions.c.id == created.id)).one()
    assert row.edit_token_hash == hash_token(created.edit_token)
    assert created.edit_token not in [str(value) for value in row]


def test_unknown_or_malformed_ids_are_not_found(store):
    for bad in ("A" * 22, "../../etc/passwd", "", "x'; DROP TABLE sessions; --"):
        with pytest.raises(SessionNotFound, match="no saved session"):
            store.get(bad)
        with pytest.raises(SessionNotFound):
            store.delete(bad, "token")
    assert not store.can_edit("A" * 22, "token")


def test_delete_removes_the_session_and_everything_stored_with_it(store):
    keep = store.create(_session("keep"))
    gone = store.create(_session("gone"))
    store.delete(gone.id, gone.edit_token)
    with pytest.raises(SessionNotFound):
        store.get(gone.id)
    assert _row_counts(store) == {"sessions": 1, "session_parts": 3, "session_images": 2}
    assert store.get(keep.id).name == "keep"


@pytest.mark.parametrize("bad, message", [
    (dict(name="   "), "name is empty"),
    (dict(name="x" * 201), "at most 200"),
    (dict(name="two\nlines"), "single line"),
    (dict(notes="bell\x07"), "control characters"),
    (dict(kind="video"), "kind 'video' is unknown"),
    (dict(images={"../up": _png()}), "image name '../up' is not allowed"),
    (dict(images={"jpeg": b"\xff\xd8\xff\xe0"}), "not a PNG"),
    (dict(input=InputRef(name="c.mp4", sha256="00" * 32, data=b"abc")), "do not match its SHA-256"),
    (dict(input=InputRef(name="c.mp4", fps=float("nan"))), "fps must be a finite number"),
    (dict(results=pd.DataFrame({"mixed": [1, "a", 2.5]})), "column 'mixed'"),
])
def test_invalid_sessions_are_refused_with_a_clear_message_and_nothing_is_written(sqlite_store, bad, message):
    with pytest.raises(LarnetError, match=message):
        sqlite_store.create(_session(**bad))
    assert _row_counts(sqlite_store) == {"sessions": 0, "session_parts": 0, "session_images": 0}


def test_oversized_clip_keeps_only_its_reference(tmp_path):
    with SessionStore.open(f"sqlite:///{tmp_path / 'small.sqlite3'}", clip_limit_bytes=16) as store:
        created = store.create(_session(input=InputRef(name="big.mp4", data=b"x" * 17)))
        assert created.notices and "larger than" in created.notices[0]
        loaded = store.get(created.id)
    assert loaded.input.data is None and loaded.input.sha256
    assert any("was not saved with this session" in notice for notice in loaded.notices)


def test_missing_checkpoint_still_opens_and_only_the_operator_check_looks_at_the_disk(sqlite_store, tmp_path):
    from larnet_core.sessions.store import checkpoint_notices

    store = sqlite_store
    checkpoint = tmp_path / "larnet.pt"
    checkpoint.write_bytes(b"weights")
    created = store.create(_session(model=ModelRef(preset="larnet", checkpoint_path=str(checkpoint))))
    assert store.get(created.id).notices == [] and checkpoint_notices(store.get(created.id)) == []

    checkpoint.unlink()
    loaded = store.get(created.id)
    # A path named in a session (perhaps by a stranger's bundle) is never looked up when a page opens it.
    assert loaded.notices == []
    notices = checkpoint_notices(loaded)
    assert len(notices) == 1 and str(checkpoint) in notices[0] and "no longer exists" in notices[0]
    pd.testing.assert_frame_equal(loaded.results, _results())


# ---------------------------------------------------------------------------------------------------- crashes
class _Crash(RuntimeError):
    pass


def _crash_after_first_insert(monkeypatch) -> None:
    original = SessionStore._write_parts

    def write_parts_then_crash(self, conn, session_id, parts):
        # The session row (and, below, the first part) are already written in this transaction.
        first = dict(list(parts.items())[:1])
        original(self, conn, session_id, first)
        raise _Crash("power cut")

    monkeypatch.setattr(SessionStore, "_write_parts", write_parts_then_crash)


def test_crash_in_the_middle_of_create_leaves_no_half_session(store, monkeypatch):
    store.create(_session("existing"))
    before = _row_counts(store)
    _crash_after_first_insert(monkeypatch)
    with pytest.raises(_Crash):
        store.create(_session("half"))
    assert _row_counts(store) == before
    assert store.list()["name"].tolist() == ["existing"]


def test_crash_in_the_middle_of_save_keeps_the_previous_version(store, monkeypatch):
    created = store.create(_session())
    before = store.get(created.id)
    _crash_after_first_insert(monkeypatch)
    changed = store.get(created.id)
    changed.name, changed.results = "half saved", _results(3, seed=9)
    with pytest.raises(_Crash):
        store.save(changed, created.edit_token)
    after = store.get(created.id)
    assert after.name == before.name and after.updated_at == before.updated_at
    pd.testing.assert_frame_equal(after.results, before.results)
    assert store.revision(created.id) == 1


# ---------------------------------------------------------------------------------------------------- concurrency
WRITERS, SAVES, IMAGE_EVERY = 8, 50, 5


def _writer_results(writer: int, save: int) -> pd.DataFrame:
    return pd.DataFrame({"writer": [writer] * (save + 1), "save": np.arange(save + 1), "value": float(writer * save)})


def test_concurrent_writers_lose_and_corrupt_nothing(store):
    shared = store.create(_session("shared", images={}))
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> tuple[str, str]:
        own = store.create(_session(f"writer {writer}", images={}))
        start.wait(timeout=60)
        for save in range(SAVES):
            store.update(own.id, own.edit_token, results=_writer_results(writer, save), notes=f"save {save}")
            if save % IMAGE_EVERY == 0:
                store.add_image(shared.id, shared.edit_token, f"w{writer}-{save}", _png(writer * 10 + save % 7))
        return own.id, own.edit_token

    with ThreadPoolExecutor(WRITERS) as pool:
        owners = list(pool.map(write, range(WRITERS)))

    for writer, (session_id, _token) in enumerate(owners):
        loaded = store.get(session_id)
        assert loaded.notes == f"save {SAVES - 1}" and store.revision(session_id) == 1 + SAVES
        pd.testing.assert_frame_equal(loaded.results, _writer_results(writer, SAVES - 1))
    images = store.get(shared.id).images
    expected = {f"w{w}-{s}": _png(w * 10 + s % 7) for w in range(WRITERS) for s in range(0, SAVES, IMAGE_EVERY)}
    assert images == expected
    assert store.revision(shared.id) == 1 + len(expected)
    assert store.count() == WRITERS + 1
    if store.backend == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.parametrize("backend", BACKENDS)
def test_app_instances_starting_together_create_the_schema_once(request, tmp_path, backend):
    url = _fresh_url(request, backend, tmp_path)
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: SessionStore.open(url), range(4)))
    try:
        created = stores[0].create(_session())
        assert all(opened.get(created.id).name == _session().name for opened in stores)
        with stores[1].engine.connect() as conn:
            assert conn.execute(sa.select(schema.schema_version.c.version)).scalars().all() == [schema.SCHEMA_VERSION]
    finally:
        for opened in stores:
            opened.close()


def test_a_layout_1_database_is_upgraded_by_the_migrations_on_both_backends(db_url):
    """A database as the store wrote it before Alembic (layout 1: no alembic_version, no app_version) upgrades on
    open, keeping every session."""
    with SessionStore.open(db_url) as store:
        created = store.create(_session())
        before = store.get(created.id)
        with store.engine.begin() as conn:  # back to layout 1
            conn.execute(sa.text("DROP TABLE alembic_version"))
            conn.execute(sa.text("ALTER TABLE sessions DROP COLUMN app_version"))
            conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    with SessionStore.open(db_url) as store:
        assert store.schema_version() == schema.SCHEMA_VERSION
        after = store.get(created.id)
        for part in ("results", "intervals", "events"):
            if before.table(part) is None:
                assert after.table(part) is None
            else:
                pd.testing.assert_frame_equal(after.table(part), before.table(part))
        assert (after.name, after.model, after.input, after.images) == (before.name, before.model, before.input,
                                                                       before.images)
        assert after.app_version == ""
        store.rename(created.id, created.edit_token, "after the upgrade")
        assert store.get(created.id).app_version


def test_times_are_utc(store):
    created = store.create(_session())
    listing = store.list()
    assert str(listing["created_at"].dt.tz) == "UTC"
    assert store.get(created.id).updated_at.tzinfo == timezone.utc
