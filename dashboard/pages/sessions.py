"""Sessions: list, search, open, rename, annotate, delete, export and import saved analyses.

``/sessions?session=<id>`` opens one analysis read-only; editing needs its edit token, which this browser
holds for the sessions it created (or which the user pastes). The list shows only the sessions this browser
created, imported or opened from a link; an operator who enters ``$LARNET_ADMIN_TOKEN`` sees every session.
Everything users typed (names, notes, input names) is shown as plain text.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import streamlit as st

from dashboard.sessions_ui import (
    get_store,
    is_operator,
    operator_form,
    remember_session,
    remember_token,
    token_for,
    visitor_session_ids,
)
from dashboard.text import plain, plain_block, plain_error
from larnet_core import storage
from larnet_core.errors import LarnetError, SessionNotFound
from larnet_core.result import SYNTHETIC_NOTICE
from larnet_core.sessions import BUNDLE_SUFFIX, export_bundle, import_bundle, share_link
from larnet_core.sessions.model import MAX_STORED_IMAGE_SIDE, stored_image_size

log = logging.getLogger(__name__)

LIST_LIMIT = 200
_OPEN_KEY = "sessions_open_id"
_IMPORTED_KEY = "sessions_imported"


def _open(session_id: str | None) -> None:
    st.session_state[_OPEN_KEY] = session_id
    if session_id:
        st.query_params["session"] = session_id
    else:
        # Forget the list's selection too, or returning to the list would reopen the same session.
        for key in ("session_table", "session_pick"):
            st.session_state.pop(key, None)
        if "session" in st.query_params:
            del st.query_params["session"]


@st.cache_data(max_entries=8, show_spinner=False)
def _bundle_bytes(session_id: str, revision: int, _store) -> bytes:
    # Keyed by revision so an edit makes a fresh bundle; the store itself is not hashed.
    with tempfile.TemporaryDirectory() as folder:
        path = export_bundle(_store, session_id, Path(folder) / f"{session_id}{BUNDLE_SUFFIX}")
        return path.read_bytes()


def _show_result(session) -> None:
    """The analysis result's record: the clip prediction, warnings and the settings it ran with."""
    if session.kind not in ("clip", "live") or session.results is None:
        return
    try:
        result = storage.read_session(session)
    except LarnetError as exc:
        st.caption(f"The saved result cannot be read: {plain_error(exc)}")
        return
    if result.prediction is not None:
        where = {"interval": "strongest interval", "apex-window": "apex window"}.get(result.prediction.source,
                                                                                     "whole clip")
        st.markdown(f"**Clip prediction:** {plain(result.prediction.label)} ({result.prediction.confidence:.2f}, "
                    f"{where})")
    for warning in result.warnings:
        st.caption(f":material/info: {plain(warning)}")
    if result.settings:
        with st.expander("Settings the analysis ran with", icon=":material/tune:"):
            st.json(result.settings)


def _show_tables(session) -> None:
    """The session's result, tables and images; a stored session that cannot be drawn gets a message (sessions
    saved before the import checks, or a database changed by hand), never a crash of the page."""
    try:
        _draw_tables(session)
    except Exception:  # noqa: BLE001 - whatever a stored table makes a widget raise, the visitor gets a message
        log.exception("cannot show session %s", session.id)
        st.error("Part of this saved session cannot be shown; the server log says why.", icon=":material/error:")


def _draw_tables(session) -> None:
    _show_result(session)
    for part, title in (("results", "Results"), ("intervals", "Spotted intervals"), ("events", "Events"),
                        ("faces", "Face tracks")):
        table = session.table(part)
        if table is not None and not table.empty:
            st.markdown(f"**{title}** ({len(table)} rows)")
            st.dataframe(table, hide_index=True, height=min(400, 38 + 35 * len(table)))
    if session.images:
        st.markdown(f"**Images** ({len(session.images)})")
        columns = st.columns(min(4, len(session.images)))
        for index, (name, png) in enumerate(session.images.items()):
            size = stored_image_size(png)
            # Images are stored small since they are checked on saving; an older, larger one is not decoded here.
            if size is None or max(size) > MAX_STORED_IMAGE_SIDE:
                columns[index % len(columns)].caption(f"{plain(name)}: not shown (larger than "
                                                      f"{MAX_STORED_IMAGE_SIDE} pixels or damaged)")
            else:
                columns[index % len(columns)].image(png, caption=name)
    if session.metrics_runs:
        st.markdown("**Runs compared:** " + ", ".join(plain(run) for run in session.metrics_runs))


def _edit_controls(store, session, token: str) -> None:
    st.subheader("Edit")
    with st.form("session_rename"):
        name = st.text_input("Name", value=session.name)
        notes = st.text_area("Notes", value=session.notes, height=120)
        if st.form_submit_button("Save name and notes", icon=":material/save:"):
            try:
                if name != session.name:
                    store.rename(session.id, token, name)
                if notes != session.notes:
                    store.annotate(session.id, token, notes)
            except LarnetError as exc:
                st.error(f"Not saved: {plain_error(exc)}")
            else:
                st.toast("Saved")
                st.rerun()
    with st.expander("Delete this session", icon=":material/delete:"):
        confirm = st.checkbox(f"Yes, delete “{plain(session.name)}” and everything saved with it",
                              key="session_delete_ok")
        if st.button("Delete permanently", type="primary", disabled=not confirm, key="session_delete"):
            try:
                store.delete(session.id, token)
            except LarnetError as exc:
                st.error(f"Not deleted: {plain_error(exc)}")
            else:
                _open(None)
                st.toast(f"Deleted “{plain(session.name)}”")
                st.rerun()


def _show_session(store, session_id: str) -> None:
    try:
        session = store.get(session_id)
    except SessionNotFound as exc:
        st.error(plain_error(exc), icon=":material/error:")
        if st.button("Back to the list"):
            _open(None)
            st.rerun()
        return
    except LarnetError as exc:
        st.error(f"Cannot open the session: {plain_error(exc)}", icon=":material/error:")
        return
    remember_session(session.id)  # given a link: this browser lists it from now on
    if st.button("All sessions", icon=":material/arrow_back:"):
        _open(None)
        st.rerun()
    st.header(plain(session.name), anchor=False)
    st.caption(f"{session.kind} analysis · created {session.created_at:%Y-%m-%d %H:%M} UTC · "
               f"updated {session.updated_at:%Y-%m-%d %H:%M} UTC · id `{session.id}`")
    for notice in session.notices:
        st.info(plain(notice), icon=":material/info:")
    if session.model.synthetic:
        st.warning(SYNTHETIC_NOTICE, icon=":material/science:")
    model, clip = st.columns(2)
    checkpoint = session.model.checkpoint_path.replace("\\", "/").rsplit("/", 1)[-1]
    model.markdown(f"**Model:** {plain(session.model.preset or 'unknown')}  \n"
                   f"checkpoint {plain(checkpoint or '-')} "
                   f"({session.model.checkpoint_sha256[:12] or 'no hash'})")
    if session.input.name:
        clip.markdown(f"**Input:** {plain(session.input.name)}  \n{session.input.width}x{session.input.height}, "
                      f"{session.input.fps:g} fps, {session.input.frame_count} frames"
                      f"{'' if session.input.data is not None else ' (clip not stored)'}")
    if session.notes:
        st.markdown("**Notes**")
        st.markdown(plain_block(session.notes))
    links = st.columns(3)
    links[0].markdown(f"Read-only link: `{share_link(session.id)}`")
    if session.kind == "clip":
        links[1].page_link("dashboard/pages/clip.py", label="Open in the clip view", icon=":material/movie:",
                           query_params={"session": session.id})
    try:
        revision = store.revision(session.id)
        links[2].download_button("Export .larnet.zip", _bundle_bytes(session.id, revision, store),
                                 file_name=f"{session.name[:60]}{BUNDLE_SUFFIX}".replace("/", "_"),
                                 mime="application/zip", icon=":material/download:")
    except LarnetError as exc:
        links[2].error(f"Export failed: {plain_error(exc)}")
    _show_tables(session)

    token = token_for(session.id)
    if token is None:
        with st.expander("Edit (needs the edit token)", icon=":material/key:"):
            pasted = st.text_input("Edit token", type="password", key="session_token_input")
            if pasted:
                if store.can_edit(session.id, pasted):
                    remember_token(session.id, pasted)
                    st.rerun()
                st.error("That is not this session's edit token; the link alone gives read-only access.")
        return
    if store.can_edit(session.id, token):
        _edit_controls(store, session, token)


def _import_form(store) -> None:
    with st.expander("Import a bundle (.larnet.zip)", icon=":material/upload:"):
        upload = st.file_uploader("Bundle", type=["zip"], key="session_import_file")
        if upload is not None and st.button("Import", key="session_import"):
            st.session_state.pop(_IMPORTED_KEY, None)
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / Path(upload.name).name
                path.write_bytes(upload.getvalue())
                try:
                    created = import_bundle(store, path)
                except LarnetError as exc:
                    st.error(f"Not imported: {plain_error(exc)}", icon=":material/error:")
                    return
            remember_token(created.id, created.edit_token)
            # Kept across reruns: the "Open it" click below reruns the page without the Import click.
            st.session_state[_IMPORTED_KEY] = (created.id, created.edit_token, tuple(created.notices))
        imported = st.session_state.get(_IMPORTED_KEY)
        if imported is None:
            return
        session_id, token, notices = imported
        st.success(f"Imported as session `{session_id}`. Its edit token (shown only now):")
        st.code(token, language=None)
        for notice in notices:
            st.caption(plain(notice))
        if st.button("Open it", key="session_import_open"):
            st.session_state.pop(_IMPORTED_KEY, None)
            _open(session_id)
            st.rerun()


def _list_sessions(store) -> None:
    operator = is_operator()
    # A visitor lists only this browser's sessions; the operator lists all of them.
    ids = None if operator else visitor_session_ids()
    search = st.text_input("Search", placeholder="name, notes or clip name", key="session_search",
                           label_visibility="collapsed")
    try:
        listing = store.list(search=search, limit=LIST_LIMIT, ids=ids)
        total = store.count(search=search, ids=ids)
    except LarnetError as exc:
        st.error(plain_error(exc), icon=":material/error:")
        return
    if listing.empty:
        st.info("No saved session matches." if search else
                "No saved session in this browser yet: use “Save to session” on the Clip, Live, Attention or "
                "Metrics page, import a bundle below, or open a session's link.")
    else:
        whose = "all users" if operator else "this browser"
        st.caption(f"{total} session(s){' match' if search else ''} of {whose}; newest first"
                   f"{f', showing {LIST_LIMIT}' if total > LIST_LIMIT else ''}. Select a row to open it.")
        shown = listing.assign(mine=[token_for(s) is not None for s in listing["id"]])
        # The data grid draws cells as plain text: names and notes cannot carry links or images here.
        event = st.dataframe(
            shown[["name", "kind", "updated_at", "input_name", "model_preset", "results_rows", "mine", "notes"]],
            hide_index=True, on_select="rerun", selection_mode="single-row", key="session_table",
            column_config={
                "name": "Name", "kind": "Kind", "notes": "Notes",
                "updated_at": st.column_config.DatetimeColumn("Updated (UTC)", format="YYYY-MM-DD HH:mm"),
                "input_name": "Input", "model_preset": "Model", "results_rows": "Rows",
                "mine": st.column_config.CheckboxColumn("Editable here"),
            },
        )
        rows = event.selection.rows if event is not None else []
        picked = st.selectbox("Open session", [""] + list(listing["id"]), key="session_pick",
                              format_func=lambda sid: "" if not sid else
                              f"{listing.set_index('id').at[sid, 'name']} ({sid[:8]})")
        target = listing["id"].iloc[rows[0]] if rows else picked
        if target:
            _open(str(target))
            st.rerun()
    _import_form(store)
    operator_form("session")


st.title("Sessions")
store = get_store()
if store is not None:
    wanted = st.query_params.get("session") or st.session_state.get(_OPEN_KEY)
    if wanted:
        st.session_state[_OPEN_KEY] = wanted
        _show_session(store, wanted)
    else:
        if is_operator():
            st.caption(f"Operator view: every saved analysis in the {store.backend} database.")
        else:
            st.caption("Analyses saved, imported or opened in this browser. Anyone holding a session's link can "
                       "read it; nobody else sees it listed here.")
        _list_sessions(store)
