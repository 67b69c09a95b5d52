"""``larnet sessions list|show|export|import|delete`` end to end, in-process."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from larnet_core.cli import main
from larnet_core.sessions import AnalysisSession, InputRef, ModelRef, SessionStore


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'sessions.sqlite3'}"


@pytest.fixture
def saved(db_url, tmp_path):
    with SessionStore.open(db_url) as store:
        created = store.create(AnalysisSession(
            name="sub03 EP01 review", kind="attention",  # a kind whose tables the import does not check
            notes="check the apex\nagainst the coding sheet",
            model=ModelRef(preset="larnet", checkpoint_path=str(tmp_path / "gone.pt")),
            input=InputRef(name="EP01.mp4", fps=200.0, width=340, height=280, frame_count=10, data=b"clip-bytes"),
            results=pd.DataFrame({"frame": np.arange(10), "p": np.linspace(0, 1, 10), "label": ["others"] * 10}),
            intervals=pd.DataFrame({"start_frame": [2], "end_frame": [6]}),
        ))
        store.create(AnalysisSession(name="another one", kind="live"))
    return created


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_a_table_and_filters(capsys, db_url, saved):
    code, out, _ = _run(capsys, "sessions", "list", "--db", db_url)
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:3] == ["id", "name", "kind"] and len(rows) == 2
    assert saved.id in out and "sub03 EP01 review" in out and "EP01.mp4" in out

    code, out, _ = _run(capsys, "sessions", "list", "--db", db_url, "--search", "APEX")
    assert code == 0 and saved.id in out and "another one" not in out
    code, out, _ = _run(capsys, "sessions", "list", "--db", db_url, "--limit", "1")
    assert "(1 of 2 shown" in out
    code, out, _ = _run(capsys, "sessions", "list", "--db", db_url, "--search", "nothing like this")
    assert code == 0 and "no saved sessions match" in out


def test_the_database_url_can_come_from_the_environment(capsys, db_url, saved, monkeypatch):
    monkeypatch.setenv("LARNET_DATABASE_URL", db_url)
    code, out, _ = _run(capsys, "sessions", "list")
    assert code == 0 and saved.id in out


def test_show_prints_metadata_table_shapes_and_notices(capsys, db_url, saved):
    code, out, _ = _run(capsys, "sessions", "show", saved.id, "--db", db_url)
    assert code == 0
    assert f"id:         {saved.id}" in out and "name:       sub03 EP01 review" in out
    assert "results:    10 rows x 3 columns" in out and "intervals:  1 rows x 2 columns" in out
    assert "events:     none" in out and "clip:       stored (10 bytes)" in out
    assert "340x280 @ 200 fps, 10 frames" in out and f"/sessions?session={saved.id}" in out
    assert "  against the coding sheet" in out
    assert re.search(r"notice: the model checkpoint .*gone\.pt no longer exists", out)


def test_export_import_delete_round_trip(capsys, db_url, saved, tmp_path):
    bundle = tmp_path / "review.larnet.zip"
    code, out, _ = _run(capsys, "sessions", "export", saved.id, str(bundle), "--db", db_url)
    assert code == 0 and bundle.is_file() and str(bundle) in out

    code, out, _ = _run(capsys, "sessions", "import", str(bundle), "--db", db_url)
    assert code == 0
    new_id = re.search(r"imported session (\S+)", out).group(1)
    token = re.search(r"edit token: (\S+)", out).group(1)
    with SessionStore.open(db_url) as store:
        copy = store.get(new_id)
        assert copy.name == "sub03 EP01 review" and copy.input.data == b"clip-bytes" and store.count() == 3
        assert store.can_edit(new_id, token)

    code, out, err = _run(capsys, "sessions", "delete", new_id, "--token", "not-the-token", "--yes", "--db", db_url)
    assert code == 2 and "can only be deleted with its edit token" in err

    code, out, _ = _run(capsys, "sessions", "delete", new_id, "--token", token, "--yes", "--db", db_url)
    assert code == 0 and f"deleted session {new_id}" in out
    code, _, err = _run(capsys, "sessions", "show", new_id, "--db", db_url)
    assert code == 2 and "no saved session has id" in err


def test_delete_asks_for_confirmation(capsys, db_url, saved, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = _run(capsys, "sessions", "delete", saved.id, "--token", saved.edit_token, "--db", db_url)
    assert code == 1 and "Delete session 'sub03 EP01 review'" in out and "not deleted" in out

    monkeypatch.setenv("LARNET_EDIT_TOKEN", saved.edit_token)
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    code, out, _ = _run(capsys, "sessions", "delete", saved.id, "--db", db_url)
    assert code == 0 and "deleted session" in out
    with SessionStore.open(db_url) as store:
        assert store.count() == 1


def test_errors_are_one_line_and_say_what_to_do(capsys, db_url, saved, tmp_path):
    bad = tmp_path / "bad.larnet.zip"
    bad.write_bytes(b"not a zip")
    code, _, err = _run(capsys, "sessions", "import", str(bad), "--db", db_url)
    assert code == 2 and err.count("\n") == 1 and "bad.larnet.zip is not a valid ZIP archive" in err

    code, _, err = _run(capsys, "sessions", "list", "--db", "mysql://user@host/db")
    assert code == 2 and "not supported" in err

    code, _, err = _run(capsys, "sessions", "export", saved.id, str(tmp_path / "no" / "x.larnet.zip"), "--db", db_url)
    assert code == 2 and "does not exist" in err


def test_ids_and_tokens_never_start_with_a_dash():
    """A leading dash would make `larnet sessions delete ID --token T` read them as options."""
    from larnet_core.sessions.sharing import new_edit_token, new_session_id

    assert not any(new_edit_token().startswith("-") or new_session_id().startswith("-") for _ in range(2000))
