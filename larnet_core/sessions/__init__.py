"""Saved analysis sessions: store, share, export and import analyses.

Typical use::

    from larnet_core.sessions import AnalysisSession, InputRef, SessionStore, share_link

    store = SessionStore.open()                      # $LARNET_DATABASE_URL, else ~/.larnet/sessions.sqlite3
    created = store.create(AnalysisSession(name="sub01 EP02", input=InputRef(name="EP02.mp4"), results=table))
    link = share_link(created.id)                    # "/sessions?session=..." (read-only)
    store.rename(created.id, created.edit_token, "sub01 EP02, apex checked")
    export_bundle(store, created.id, "sub01.larnet.zip")

See ``docs/sessions.md`` for storage, sharing and the bundle format.
"""

from __future__ import annotations

from larnet_core.sessions.bundle import (
    BUNDLE_SCHEMA_VERSION,
    BUNDLE_SUFFIX,
    export_bundle,
    import_bundle,
    read_bundle,
)
from larnet_core.sessions.config import data_dir, default_database_url, resolve_database_url
from larnet_core.sessions.model import (
    DEFAULT_CLIP_LIMIT_BYTES,
    KINDS,
    AnalysisSession,
    CreatedSession,
    InputRef,
    ModelRef,
)
from larnet_core.sessions.results import result_from_session, result_to_session
from larnet_core.sessions.safezip import ZipLimits
from larnet_core.sessions.schema import SCHEMA_VERSION
from larnet_core.sessions.sharing import SHARE_PAGES, share_link
from larnet_core.sessions.store import LIST_COLUMNS, SessionStore

__all__ = [
    "AnalysisSession",
    "BUNDLE_SCHEMA_VERSION",
    "BUNDLE_SUFFIX",
    "CreatedSession",
    "DEFAULT_CLIP_LIMIT_BYTES",
    "InputRef",
    "KINDS",
    "LIST_COLUMNS",
    "ModelRef",
    "SCHEMA_VERSION",
    "SHARE_PAGES",
    "SessionStore",
    "ZipLimits",
    "data_dir",
    "default_database_url",
    "export_bundle",
    "import_bundle",
    "read_bundle",
    "resolve_database_url",
    "result_from_session",
    "result_to_session",
    "share_link",
]
