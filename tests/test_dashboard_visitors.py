"""What a visitor of a shared dashboard sees through links (Streamlit AppTest): ids and errors as plain text, no
server path, stored analyses that cannot hurt the pages, and batches only when they are shared with the browser.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from larnet_core.sessions import AnalysisSession, InputRef, SessionStore
from test_dashboard import CLASSES, dashboard_env, open_page, texts  # noqa: F401 - dashboard_env is a fixture

MARKDOWN_ID = "![x](http://evil.example/p.png) [click](https://evil.example/login)"


def _errors(app) -> str:
    return "\n".join(e.value for e in app.error)


# ---------------------------------------------------------------------------------------------------- ids, errors
@pytest.mark.parametrize("page", ["clip", "sessions"])
def test_a_link_id_is_shown_as_plain_text(dashboard_env, page):
    app = open_page(page, session=MARKDOWN_ID)
    shown = _errors(app)
    assert "no saved session" in shown
    assert "![" not in shown and "](" not in shown and r"\!\[x\]" in shown  # escaped: no image, no link


def test_a_database_error_names_no_server_path(dashboard_env, tmp_path, monkeypatch):
    broken = tmp_path / "not-a-folder"
    broken.write_text("a file where the database's folder should be")
    monkeypatch.setenv("LARNET_DATABASE_URL", f"sqlite:///{broken}/sessions.sqlite3")
    app = open_page("sessions")
    assert str(tmp_path) not in texts(app) and "unavailable" in texts(app)


def test_error_messages_lose_server_paths_but_keep_file_names(tmp_path):
    from dashboard.text import plain_error, without_paths
    from larnet_core.uploads import UploadCache

    cache = UploadCache(tmp_path / "data" / "uploads" / "models", suffix=".pt")
    cached = cache.put(b"not a checkpoint")
    messages = {
        f"{cached} is not a readable PyTorch checkpoint": f"{cached.name} is not a readable PyTorch checkpoint",
        f"batch 'x' is not inside the batches folder {tmp_path}/batches": "batch 'x' is not inside the batches "
                                                                         "folder batches",
        f"the sessions database sqlite:///{tmp_path}/s.sqlite3 is unavailable": "the sessions database is "
                                                                                 "unavailable",
        "C:\\Users\\ana\\model.pt is damaged": "model.pt is damaged",
        "frames 3 / 4 of clip a/b.mp4, see https://example.com/doc": "frames 3 / 4 of clip a/b.mp4, see "
                                                                      "https://example.com/doc",
    }
    for message, shown in messages.items():
        assert without_paths(message) == shown
    assert str(tmp_path) not in plain_error(f"cannot read {tmp_path}/x.zip") and "x.zip" in plain_error(
        f"cannot read {tmp_path}/x.zip")


def _tamper(session_id: str, part: str, table: pd.DataFrame) -> None:
    """Replace a stored table behind the store's back (as a database changed by hand, or a session saved before
    the checks)."""
    from larnet_core.sessions.tables import encode_parquet

    with SessionStore.open() as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE session_parts SET data = :data WHERE session_id = :id AND part = :part"),
                     {"data": encode_parquet(table, part), "id": session_id, "part": part})


def _clip_session(name: str, n: int = 12) -> str:
    frames = pd.DataFrame({
        "frame": range(n), "time_s": [i / 25 for i in range(n)], "face_x0": 8.0, "face_y0": 8.0, "face_x1": 88.0,
        "face_y1": 88.0, **{f"prob_{c}": 1 / len(CLASSES) for c in CLASSES}, "pred_label": "happiness",
        "confidence": 0.4, "motion": 0.0, "in_interval": False})
    with SessionStore.open() as store:
        return store.create(AnalysisSession(name=name, kind="clip", results=frames,
                                            input=InputRef(name="clip.mp4", fps=25.0, frame_count=n))).id


@pytest.mark.parametrize("column, value", [("face_x0", 1e300), ("frame", 2**62)])
def test_a_stored_session_with_values_the_pages_cannot_draw_is_a_message(dashboard_env, column, value):
    session_id = _clip_session(f"tampered {column}")
    with SessionStore.open() as store:
        frames = store.get(session_id).results
    frames.loc[frames.index[-1], column] = value
    _tamper(session_id, "results", frames)
    clip = open_page("clip", session=session_id)  # open_page asserts that nothing raised
    assert "cannot be shown in the clip view" in _errors(clip) and column.replace("_", r"\_") in _errors(clip)
    open_page("sessions", session=session_id)


def test_a_stored_analysis_that_still_cannot_be_drawn_is_a_message(dashboard_env):
    """A one-frame clip passes every check, but the frame slider cannot span a single frame (Streamlit raises):
    the page shows what it can and a message, never the exception."""
    session_id = _clip_session("one frame", n=1)
    app = open_page("clip", session=session_id)  # open_page asserts that nothing raised
    assert "cannot be shown in full" in _errors(app)
    assert "Timeline" in [s.value for s in app.subheader]


def test_a_stored_image_too_large_to_decode_is_not_shown(dashboard_env):
    from test_hostile_inputs import png_declaring

    session_id = _clip_session("old image")
    with SessionStore.open() as store, store.engine.begin() as conn:
        for position, (name, data) in enumerate((("small", png_declaring(16, 16)),
                                                 ("huge", png_declaring(30000, 30000)))):
            conn.execute(sa.text("INSERT INTO session_images (session_id, name, position, data) "
                                 "VALUES (:id, :name, :position, :data)"),
                         {"id": session_id, "name": name, "position": position, "data": data})
    app = open_page("sessions", session=session_id)
    assert "huge: not shown" in texts(app)
    assert len(app.get("image")) == 1  # the small one only


# ---------------------------------------------------------------------------------------------------- batches
@pytest.fixture
def batches(dashboard_env, tmp_path, monkeypatch):
    """A batches folder with one finished batch of one clip, and a folder beside it that is not shared."""
    from larnet_core.batch import BatchOutput
    from larnet_core.sessions import result_from_session

    root = tmp_path / "batches"
    n = 12
    frames = pd.DataFrame({
        "frame": range(n), "time_s": [i / 25 for i in range(n)], "face_found": True, "face_id": 0, "face_x0": 8.0,
        "face_y0": 8.0, "face_x1": 88.0, "face_y1": 88.0, **{f"prob_{c}": 1 / len(CLASSES) for c in CLASSES},
        "pred_label": "happiness", "confidence": 0.4, "motion": np.linspace(0, 1, n), "in_interval": False})
    session = AnalysisSession(name="c", kind="clip", results=frames,
                              input=InputRef(name="interview.mp4", fps=25.0, width=96, height=96, frame_count=n))
    result = result_from_session(session)
    output = BatchOutput(root / "interviews")
    faces = pd.DataFrame({"face_id": [0], "first_frame": [0], "last_frame": [n - 1], "main": [True]})
    clip = "interview.mp4-0123abcd"
    output.write_clip(clip, {"frames": result.frames, "intervals": result.intervals, "faces": faces},
                      {"status": "ok", "record": result.record(), "input": {"path": str(tmp_path / "gone.mp4")}})
    output.write_summary([{"clip": clip, "path": "interview.mp4", "source": "interview.mp4", "status": "ok",
                           "prediction": result.prediction.label, "confidence": 0.4, "intervals": 0}])
    outside = tmp_path / "private"
    (outside / "clips").mkdir(parents=True)
    (outside / "clips" / "secret.json").write_text(json.dumps({"format": 1, "status": "ok"}))
    monkeypatch.setenv("LARNET_BATCHES_DIR", str(root))
    monkeypatch.delenv("LARNET_ADMIN_TOKEN", raising=False)
    return {"root": root, "clip": clip, "outside": outside}


def _key(name: str) -> str:
    from larnet_core.sessions.visitors import batch_key, server_secret

    return batch_key(name, server_secret())


def test_a_visitor_sees_no_batch_without_its_link(batches):
    app = open_page("batch")
    assert "No batch is shared with this browser" in texts(app) and not app.dataframe
    assert str(batches["root"]) not in texts(app)
    app = open_page("batch", batch="interviews", key="A" * 22)
    assert not app.dataframe and "does not name a batch" in _errors(app)


def test_a_batch_link_with_its_key_shows_that_batch_and_opens_its_clip(batches):
    key = _key("interviews")
    app = open_page("batch", batch="interviews", key=key)
    assert len(app.dataframe) == 1 and app.selectbox(key="batch_pick").options == ["interviews"]
    clip = open_page("clip", batch="interviews", clip=batches["clip"], key=key)
    assert any("of batch **interviews** (read-only)" in i.value for i in clip.info)
    assert [m.label for m in clip.metric][:1] == ["Clip prediction"]


def test_the_operator_sees_every_batch_and_its_link(batches, monkeypatch):
    monkeypatch.setenv("LARNET_ADMIN_TOKEN", "operator-secret")
    app = open_page("batch")
    app.text_input(key="operator_token_input").set_value("operator-secret").run()
    assert not app.exception and len(app.dataframe) == 1
    assert f"/batch?batch=interviews&key={_key('interviews')}" in [c.value for c in app.code]


def test_clip_links_outside_missing_or_malformed_get_one_answer(batches):
    key = _key("interviews")
    outside = batches["outside"]
    links = [
        {"batch": "interviews", "clip": "no-such-clip-00000000", "key": key},  # missing
        {"batch": "interviews", "clip": "../../private/clips/secret", "key": key},  # outside, present
        {"batch": "interviews", "clip": "../../private/clips/absent", "key": key},  # outside, missing
        {"batch": "../private", "clip": "secret", "key": _key("../private")},
        {"batch": str(outside), "clip": "secret", "key": _key(str(outside))},  # absolute
        {"batch": "interviews", "clip": str(outside / "clips" / "secret"), "key": key},
        {"batch": "interviews", "clip": batches["clip"]},  # no key: not shared with this browser
        {"batch": "interviews", "clip": "x\x00y", "key": key},  # malformed
    ]
    answers = set()
    for link in links:
        app = open_page("clip", **link)
        answers.add(_errors(app))
        assert str(batches["root"].parent) not in texts(app)
    assert len(answers) == 1 and "does not name a batch" in answers.pop()
