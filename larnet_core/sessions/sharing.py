"""Session ids, edit tokens and share links.

Ids are unguessable (128 random bits), so a link is a capability to *read*. Changing or deleting a session
needs its edit token (256 random bits), which the store keeps only as a SHA-256 digest: a fast hash is enough
for a random secret of that size, unlike a password, and a leaked database reveals no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import quote

__all__ = ["SHARE_PAGES", "new_session_id", "new_edit_token", "hash_token", "token_matches", "is_session_id",
           "share_link"]

SHARE_PAGES = ("sessions", "clip")

_ID_PATTERN = re.compile(r"[A-Za-z0-9_\-]{16,64}")


def _token(nbytes: int) -> str:
    # Never starting with "-": a leading dash makes a command line read the id or token as an option.
    while (token := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return token


def new_session_id() -> str:
    """A fresh URL-safe id with about 128 random bits."""
    return _token(16)


def new_edit_token() -> str:
    """A fresh URL-safe edit token with about 256 random bits."""
    return _token(32)


def hash_token(token: str) -> str:
    """The stored form of an edit token (hex SHA-256)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str | None, stored_hash: str) -> bool:
    """Whether ``token`` is the edit token whose hash is ``stored_hash`` (constant-time comparison)."""
    if not token or not isinstance(token, str):
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)


def is_session_id(value: object) -> bool:
    """Whether ``value`` has the shape of a session id (anything else cannot name a session)."""
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None


def share_link(session_id: str, page: str = "sessions", base_url: str = "") -> str:
    """The read-only link that reopens a session on a dashboard page.

    Args:
        session_id: The session's id.
        page: ``sessions`` (the saved analysis) or ``clip`` (straight into the clip view).
        base_url: Scheme and host of the dashboard (``https://host``); empty gives a relative link.

    Returns:
        For example ``https://host/sessions?session=ID``.

    Raises:
        ValueError: for an unknown page or a malformed id.
    """
    if page not in SHARE_PAGES:
        raise ValueError(f"unknown page {page!r}; expected one of {', '.join(SHARE_PAGES)}")
    if not is_session_id(session_id):
        raise ValueError(f"{session_id!r} is not a session id")
    return f"{base_url.rstrip('/')}/{page}?session={quote(session_id, safe='')}"
