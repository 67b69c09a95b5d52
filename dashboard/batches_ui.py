"""Which batch output folders this browser may see, and what a link's ``?batch=`` and ``?clip=`` resolve to.

Batches follow the sessions' model (:mod:`larnet_core.sessions.visitors`): an operator who entered
``$LARNET_ADMIN_TOKEN`` sees every batch under the batches folder and copies a batch's link; the link carries a
key the server derives from the batch's name, and a browser that opened it sees that batch for the rest of its
browser session. A batch name is only ever looked up among the folders the batches folder holds, and a clip id
only among the batch's completion markers: a name that is missing, malformed, outside the folder or not shared
with this browser gets one and the same answer (:data:`REFUSAL`), which names no path.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote

import streamlit as st

from dashboard import config
from dashboard.sessions_ui import is_operator
from larnet_core.batch import find_batch_dirs

__all__ = ["REFUSAL", "visible_batches", "accept_link_key", "batch_link", "link_params", "resolve_batch",
           "resolve_clip"]

log = logging.getLogger(__name__)

#: The one answer to a batch or clip link that names nothing this browser may see.
REFUSAL = ("This link does not name a batch, or a clip of one, that is shared with you. Check the link, or ask "
           "the server's operator for it.")
_KEYS = "batch_keys"
# Clip ids as larnet_core.batch.clip_id makes them: letters, digits, '.', '_', '-', and never a path.
_CLIP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,100}")


def _secret() -> bytes:
    from larnet_core.sessions.visitors import server_secret  # lazy: SQLAlchemy only when a page uses the sessions store

    return server_secret()


def _all_batches() -> dict[str, Path]:
    """Every batch output folder under the batches folder, by its name relative to it (``.`` for the folder
    itself)."""
    root = config.batches_dir()
    try:
        found = find_batch_dirs(root)
    except OSError:
        log.warning("cannot list the batches folder %s", root, exc_info=True)
        return {}
    return {(p.relative_to(root).as_posix() if p != root else "."): p for p in found}


def accept_link_key() -> None:
    """Remember the batch of this page's link when its ``key`` is right (this browser then sees that batch)."""
    # lazy: SQLAlchemy only when a page uses the sessions store
    from larnet_core.sessions.visitors import batch_key_matches

    name, key = st.query_params.get("batch"), st.query_params.get("key")
    if isinstance(name, str) and isinstance(key, str) and batch_key_matches(name, key, _secret()):
        st.session_state.setdefault(_KEYS, {})[name] = key


def visible_batches() -> dict[str, Path]:
    """The batches this browser may see: every one for the operator, else those whose link it opened."""
    # lazy: SQLAlchemy only when a page uses the sessions store
    from larnet_core.sessions.visitors import batch_key_matches

    everything = _all_batches()
    if is_operator():
        return everything
    keys = st.session_state.get(_KEYS, {})
    if not keys:
        return {}
    secret = _secret()
    return {name: path for name, path in everything.items() if batch_key_matches(name, keys.get(name), secret)}


def link_params(name: str) -> dict[str, str]:
    """Query parameters that open batch ``name`` for whoever holds them."""
    from larnet_core.sessions.visitors import batch_key  # lazy: SQLAlchemy only when a page uses the sessions store

    return {"batch": name, "key": batch_key(name, _secret())}


def batch_link(name: str) -> str:
    """The read-only link of batch ``name`` (relative to the dashboard's address)."""
    params = link_params(name)
    return f"/batch?batch={quote(params['batch'], safe='')}&key={params['key']}"


def resolve_batch(name: object) -> Path | None:
    """The folder of batch ``name`` when this browser may see it, else None (whatever the reason)."""
    if not isinstance(name, str) or not name:
        return None
    return visible_batches().get(name)


def resolve_clip(name: object, clip_id: object) -> tuple[Path, str] | None:
    """``(batch folder, clip id)`` for a clip link this browser may open, else None (whatever the reason: one
    answer for a malformed, missing, outside or unshared batch or clip)."""
    if not isinstance(clip_id, str) or not _CLIP_ID.fullmatch(clip_id) or ".." in clip_id:
        return None
    folder = resolve_batch(name)
    if folder is None:
        return None
    markers = (folder / "clips").resolve()
    try:
        marker = (markers / f"{clip_id}.json").resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if marker.parent != markers or not marker.is_file():
        return None
    return folder, clip_id
