"""Saving analyses to sessions from any page; the sessions this browser may list; their edit tokens.

The store is opened once per database URL and shared (it is thread-safe). A visitor lists only the sessions this
browser created, imported or opened from a link: their ids live in ``st.session_state`` and in a cookie the
server signs (:mod:`larnet_core.sessions.visitors`), so a reload keeps them. An edit token is shown once, at
creation, and kept in ``st.session_state`` only, so its creator can keep editing during this browser session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

import streamlit as st

from dashboard.text import plain, plain_error
from larnet_core.errors import LarnetError

if TYPE_CHECKING:
    from larnet_core.sessions import AnalysisSession, SessionStore

__all__ = ["get_store", "remember_token", "token_for", "remember_session", "visitor_session_ids", "sync_cookie",
           "is_operator", "operator_form", "save_to_session", "show_created"]

log = logging.getLogger(__name__)

_TOKENS_KEY = "session_edit_tokens"
_CREATED_KEY = "session_created_notice"
_VISITOR_KEY = "visitor_sessions"
_OPERATOR_KEY = "operator_token"


@st.cache_resource(show_spinner=False)
def _open_store(url: str) -> SessionStore:
    from larnet_core.sessions import SessionStore  # lazy: SQLAlchemy only when a page uses the sessions store

    return SessionStore.open(url)


def get_store() -> SessionStore | None:
    """The session store for ``$LARNET_DATABASE_URL`` (default: SQLite under the data directory), or None
    after showing why it cannot be opened."""
    from larnet_core.sessions import resolve_database_url  # lazy: SQLAlchemy only when a page uses the sessions store

    try:
        return _open_store(resolve_database_url())
    except LarnetError as exc:
        log.error("sessions store unavailable: %s", exc)
        st.error("Saved sessions are unavailable right now; the server log says why.", icon=":material/error:")
        return None


def remember_token(session_id: str, token: str) -> None:
    """Keep an edit token for this browser session (the session is remembered too)."""
    st.session_state.setdefault(_TOKENS_KEY, {})[session_id] = token
    remember_session(session_id)


def _cookie_ids() -> list[str]:
    """Ids from the signed cookie the browser sent when it connected (empty when absent or forged)."""
    # lazy: SQLAlchemy only when a page uses the sessions store
    from larnet_core.sessions.visitors import COOKIE_NAME, server_secret, verify_ids

    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no browser context (bare script runs)
        return []
    return verify_ids(value, server_secret()) if value else []


def visitor_session_ids() -> list[str]:
    """The sessions this browser may list: those it created, imported or opened from a link (oldest first)."""
    return list(dict.fromkeys([*_cookie_ids(), *st.session_state.get(_VISITOR_KEY, [])]))


def remember_session(session_id: str) -> None:
    """Add a session to this browser's list and write the signed cookie that keeps the list across reloads."""
    known = st.session_state.setdefault(_VISITOR_KEY, [])
    if session_id not in known:
        known.append(session_id)
    sync_cookie()


def sync_cookie() -> None:
    """Write this browser's list to its signed cookie when the cookie it connected with lacks some of it.

    Streamlit reads cookies but cannot set them, so a line of JavaScript does (the value is made here from
    well-formed ids and a signature: no user text reaches the script).
    """
    remembered = st.session_state.get(_VISITOR_KEY, [])
    if not remembered or set(remembered) <= set(_cookie_ids()):
        return
    # lazy: SQLAlchemy only when a page uses the sessions store
    from larnet_core.sessions.visitors import COOKIE_NAME, server_secret, sign_ids

    value = sign_ids(visitor_session_ids(), server_secret())
    st.html(f"<script>document.cookie = '{COOKIE_NAME}={value}; path=/; max-age=2592000; samesite=strict' + "
            "(location.protocol === 'https:' ? '; secure' : '');</script>", unsafe_allow_javascript=True)


def is_operator() -> bool:
    """Whether this browser session entered the operator token (``$LARNET_ADMIN_TOKEN``)."""
    # lazy: SQLAlchemy only when a page uses the sessions store
    from larnet_core.sessions.visitors import admin_token_matches

    return admin_token_matches(st.session_state.get(_OPERATOR_KEY))


def operator_form(what: str = "session") -> None:
    """Where an operator enters ``$LARNET_ADMIN_TOKEN`` to see every session and batch (``what`` names them in
    the label); shown only when a token is configured and this browser has not entered it yet."""
    # lazy: SQLAlchemy only when a page uses the sessions store
    from larnet_core.sessions.visitors import ADMIN_TOKEN_ENV, admin_enabled

    if not admin_enabled() or is_operator():
        return
    with st.expander(f"Operator: list every {what}", icon=":material/admin_panel_settings:"):
        given = st.text_input(f"Operator token (${ADMIN_TOKEN_ENV} on the server)", type="password",
                              key="operator_token_input")
        if given:
            st.session_state[_OPERATOR_KEY] = given
            if is_operator():
                st.rerun()
            st.error("That is not the operator token.")


def token_for(session_id: str) -> str | None:
    """The edit token this browser session holds for ``session_id``, if any."""
    return st.session_state.get(_TOKENS_KEY, {}).get(session_id)


def show_created(key: str) -> None:
    """Show the id, link and edit token of a session just created from the widget ``key`` (once)."""
    from larnet_core.sessions import share_link  # lazy: SQLAlchemy only when a page uses the sessions store

    created = st.session_state.get(_CREATED_KEY, {}).pop(key, None)
    if created is None:
        return
    session_id, token, notices = created
    st.success(f"Saved as session `{session_id}`. Read-only link: `{share_link(session_id)}` (anyone with the "
               "link can read it; only this browser lists it)", icon=":material/bookmark_added:")
    st.page_link("dashboard/pages/sessions.py", label="Open it in Sessions", icon=":material/folder_open:",
                 query_params={"session": session_id})
    st.info("Edit token (shown only now; it lets you rename, annotate or delete this session, and is kept for "
            "this browser session):", icon=":material/key:")
    st.code(token, language=None)
    for notice in notices:
        st.caption(plain(notice))


def save_to_session(key: str, default_name: str, build: Callable[[str], AnalysisSession], *,
                    disabled: bool = False) -> None:
    """A "Save to session" form: a name and a button that stores ``build(name)`` as a new session.

    Args:
        key: Widget key prefix, unique on the page.
        default_name: Name suggested in the text box.
        build: Makes the ``AnalysisSession`` to store from the chosen name.
        disabled: Grey the form out (nothing to save yet).
    """
    with st.form(f"{key}_save_form", border=True):
        st.markdown("**Save to session**")
        name = st.text_input("Session name", value=default_name, key=f"{key}_save_name", disabled=disabled)
        submitted = st.form_submit_button("Save to session", icon=":material/bookmark_add:", disabled=disabled)
    if submitted and not disabled:
        store = get_store()
        if store is not None:
            try:
                created = store.create(build(name))
            except LarnetError as exc:
                st.error(f"Not saved: {plain_error(exc)}", icon=":material/error:")
            else:
                remember_token(created.id, created.edit_token)
                st.session_state.setdefault(_CREATED_KEY, {})[key] = (created.id, created.edit_token,
                                                                      tuple(created.notices))
                log.info("saved session %s from %s", created.id, key)
    show_created(key)
