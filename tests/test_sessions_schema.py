"""Schema versions and upgrades, where the database lives, and share links."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from larnet_core.errors import LarnetError
from larnet_core.sessions import SCHEMA_VERSION, AnalysisSession, SessionStore, share_link
from larnet_core.sessions import config, migrations, schema
from larnet_core.sessions.sharing import hash_token

# The first layout (version 0), written out by hand as an old installation would have it: no search_text
# column and no schema_version table.
V0_DDL = """
CREATE TABLE sessions (
    id VARCHAR(64) NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, notes TEXT NOT NULL, kind VARCHAR(16) NOT NULL,
    created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, revision INTEGER NOT NULL,
    edit_token_hash VARCHAR(64) NOT NULL, model_preset VARCHAR(200) NOT NULL, checkpoint_path TEXT NOT NULL,
    checkpoint_sha256 VARCHAR(64) NOT NULL, model_synthetic BOOLEAN NOT NULL, input_name TEXT NOT NULL,
    input_sha256 VARCHAR(64) NOT NULL, input_fps FLOAT NOT NULL, input_width INTEGER NOT NULL,
    input_height INTEGER NOT NULL, input_frame_count INTEGER NOT NULL, metrics_runs TEXT NOT NULL
);
CREATE INDEX ix_sessions_updated_at ON sessions (updated_at);
CREATE TABLE session_parts (
    session_id VARCHAR(64) NOT NULL REFERENCES sessions (id) ON DELETE CASCADE, part VARCHAR(16) NOT NULL,
    data BLOB NOT NULL, n_rows INTEGER NOT NULL, n_columns INTEGER NOT NULL, n_bytes BIGINT NOT NULL,
    PRIMARY KEY (session_id, part)
);
CREATE TABLE session_images (
    session_id VARCHAR(64) NOT NULL REFERENCES sessions (id) ON DELETE CASCADE, name VARCHAR(100) NOT NULL,
    position INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (session_id, name)
);
"""
V0_ID = "v0SessionIdFromOldInstall"
V0_TOKEN = "old-install-edit-token-0123456789abcdefghijk"


def _make_v0_database(path: Path) -> pd.DataFrame:
    results = pd.DataFrame({"frame": [0, 1, 2], "p_surprise": [0.1, 0.7, 0.2]})
    buffer = io.BytesIO()
    results.to_parquet(buffer)
    with sqlite3.connect(path) as conn:
        conn.executescript(V0_DDL)
        conn.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, 'clip', '2024-03-01 10:00:00.000000', '2024-03-02 11:30:00.000000',"
            " 4, ?, 'larnet', '', '', 0, 'Sub05_EP12.avi', '', 200.0, 340, 280, 3, '[\"run-7\"]')",
            (V0_ID, "Überraschung sub05", "saved before versioning", hash_token(V0_TOKEN)),
        )
        conn.execute("INSERT INTO session_parts VALUES (?, 'results', ?, 3, 2, ?)",
                     (V0_ID, buffer.getvalue(), len(buffer.getvalue())))
    return results


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_database_records_the_current_version_and_runs_in_wal_mode(tmp_path):
    path = tmp_path / "new.sqlite3"
    with SessionStore.open(f"sqlite:///{path}") as store:
        assert store.schema_version() == SCHEMA_VERSION
    assert {"sessions", "session_parts", "session_images", "schema_version", "alembic_version"} <= _tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrations.HEAD,)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_version_0_database_upgrades_it_and_keeps_its_sessions(tmp_path):
    path = tmp_path / "old.sqlite3"
    results = _make_v0_database(path)
    with SessionStore.open(f"sqlite:///{path}") as store:
        assert store.schema_version() == SCHEMA_VERSION
        loaded = store.get(V0_ID)
        assert loaded.name == "Überraschung sub05" and loaded.metrics_runs == ["run-7"]
        assert loaded.created_at.isoformat() == "2024-03-01T10:00:00+00:00"
        pd.testing.assert_frame_equal(loaded.results, results)
        # The upgrade back-filled the search text of old rows.
        assert store.list("überraschung")["id"].tolist() == [V0_ID]
        assert store.list("sub05_ep12")["id"].tolist() == [V0_ID]
        store.rename(V0_ID, V0_TOKEN, "renamed after upgrade")
        assert store.revision(V0_ID) == 5
    assert "search_text" in _columns(path, "sessions")
    assert "app_version" in _columns(path, "sessions")


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_a_database_written_by_the_layout_1_store_upgrades_with_nothing_lost(tmp_path):
    """tests/fixtures/sessions-v1.sqlite3 was written by the store before Alembic (make_sessions_v1.py)."""
    import json
    import shutil

    path = shutil.copy(FIXTURES / "sessions-v1.sqlite3", tmp_path / "v1.sqlite3")
    ids = json.loads((FIXTURES / "sessions-v1.json").read_text())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        before = {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                  for table in ("sessions", "session_parts", "session_images")}
    with SessionStore.open(f"sqlite:///{path}") as store:
        assert store.schema_version() == SCHEMA_VERSION
        clip, live = store.get(ids["clip"]["id"]), store.get(ids["live"]["id"])
        assert clip.name == "Überraschung sub05" and clip.notes == "saved with layout 1"
        assert clip.model.checkpoint_sha256 == "ab" * 32 and clip.model.synthetic
        assert clip.input.data == b"not really a clip" and clip.input.fps == 25.0
        assert clip.results["pred_label"].fillna("-").tolist() == ["surprise", "happiness", "-", "happiness"]
        assert clip.results["prob_surprise"].iloc[1] == 0.3 and clip.results["frame"].dtype == "int64"
        assert clip.intervals["kind"].tolist() == ["micro"] and list(clip.images) == ["apex"]
        assert clip.metrics_runs == ["run-7"] and clip.created_at.isoformat() == "2026-03-01T10:00:00+00:00"
        assert clip.result == {} and clip.app_version == ""
        assert live.events["label"].tolist() == ["surprise"] and live.kind == "live"
        assert store.list("überraschung")["id"].tolist() == [ids["clip"]["id"]]
        store.rename(ids["clip"]["id"], ids["clip"]["edit_token"], "renamed after the upgrade")
        assert store.get(ids["clip"]["id"]).app_version
    with sqlite3.connect(path) as conn:
        after = {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                 for table in ("session_parts", "session_images")}
        assert after == {table: before[table] for table in after}  # every blob as it was
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrations.HEAD,)]
        assert len(conn.execute("SELECT * FROM sessions").fetchall()) == len(before["sessions"])


def test_a_failing_migration_leaves_the_layout_1_database_untouched(tmp_path, monkeypatch):
    import shutil

    path = shutil.copy(FIXTURES / "sessions-v1.sqlite3", tmp_path / "v1.sqlite3")
    real = migrations.upgrade

    def upgrade_then_fail(conn, **kwargs):
        real(conn, **kwargs)
        raise RuntimeError("power cut")

    monkeypatch.setattr(migrations, "upgrade", upgrade_then_fail)
    with pytest.raises(RuntimeError, match="power cut"):
        SessionStore.open(f"sqlite:///{path}")
    assert "app_version" not in _columns(path, "sessions") and "alembic_version" not in _tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_a_database_at_a_migration_this_code_lacks_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    SessionStore.open(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(LarnetError, match="migration '9999_from_the_future', which this LARNet Studio does not know"):
        SessionStore.open(f"sqlite:///{path}")


def test_a_failing_upgrade_step_leaves_the_old_database_untouched(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite3"
    _make_v0_database(path)
    real_step = schema.UPGRADES[0]

    def step_that_fails_half_way(conn):
        real_step(conn)
        raise RuntimeError("disk full")

    monkeypatch.setattr(schema, "UPGRADES", [step_that_fails_half_way, *schema.UPGRADES[1:]])
    with pytest.raises(RuntimeError, match="disk full"):
        SessionStore.open(f"sqlite:///{path}")
    assert "search_text" not in _columns(path, "sessions")
    assert "schema_version" not in _tables(path)


def test_a_newer_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "future.sqlite3"
    SessionStore.open(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(LarnetError, match=f"layout version {SCHEMA_VERSION + 1}, newer than"):
        SessionStore.open(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION + 1,)]


def test_the_default_database_lives_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(config.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.delenv(config.DATABASE_URL_ENV, raising=False)
    assert config.data_dir() == tmp_path / "data"
    with SessionStore.open() as store:
        store.create(AnalysisSession(name="default location"))
    assert (tmp_path / "data" / config.SQLITE_FILE_NAME).is_file()

    monkeypatch.delenv(config.DATA_DIR_ENV)
    assert config.data_dir() == Path.home() / ".larnet"


def test_the_url_comes_from_the_argument_then_the_environment(tmp_path, monkeypatch):
    env_url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    monkeypatch.setenv(config.DATABASE_URL_ENV, env_url)
    assert config.resolve_database_url() == env_url
    assert config.resolve_database_url("sqlite:///other.db") == "sqlite:///other.db"
    engine = config.create_store_engine("postgresql://user:secret@db.example:5432/larnet")
    assert engine.url.drivername == "postgresql+psycopg"
    assert "secret" not in config.display_url(engine.url)


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "not supported"),
    ("sqlite://", "need a SQLite file"),
    ("sqlite:////no/such/folder/s.db", "does not exist"),
    ("::not a url::", "malformed"),
])
def test_bad_database_urls_say_what_to_use(url, message):
    with pytest.raises(LarnetError, match=message):
        SessionStore.open(url)


def test_share_links_are_read_only_page_links():
    session_id = "AbCdEfGhIjKlMnOpQrStUv"
    assert share_link(session_id) == f"/sessions?session={session_id}"
    assert share_link(session_id, page="clip", base_url="https://larnet.example/") == (
        f"https://larnet.example/clip?session={session_id}"
    )
    with pytest.raises(ValueError, match="unknown page"):
        share_link(session_id, page="admin")
    with pytest.raises(ValueError, match="not a session id"):
        share_link("../x")
