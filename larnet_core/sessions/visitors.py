"""Which sessions and batches a visitor of a shared dashboard may see, and who is an operator.

A visitor lists only the sessions their browser created, imported or was given a link to. The list lives in
the browser session and in a cookie the server signs (HMAC-SHA256 with a server secret), so it survives a
reload and cannot be edited into a list the server did not hand out. An operator lists every session with
``larnet sessions list`` on the server, or on the dashboard after entering ``$LARNET_ADMIN_TOKEN``.

Batches follow the same model. ``larnet batch`` runs on the server, so no visitor creates one: the operator sees
every batch under the batches folder and hands out a batch's link, which carries a key the server derives from
the batch's name and its secret (:func:`batch_key`). The link is a capability to read that batch, as a session
link is; a name without its key is refused like a name that does not exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Iterable

from larnet_core.paths import data_dir
from larnet_core.sessions.sharing import is_session_id

__all__ = ["COOKIE_NAME", "MAX_REMEMBERED", "ADMIN_TOKEN_ENV", "COOKIE_SECRET_ENV", "server_secret", "sign_ids",
           "verify_ids", "admin_enabled", "admin_token_matches", "batch_key", "batch_key_matches"]

COOKIE_NAME = "larnet_sessions"
#: Sessions a browser remembers (the newest kept); 100 ids fit a cookie's 4 KB.
MAX_REMEMBERED = 100
ADMIN_TOKEN_ENV = "LARNET_ADMIN_TOKEN"
COOKIE_SECRET_ENV = "LARNET_COOKIE_SECRET"
_SECRET_FILE = "cookie-secret"
_VERSION = "v1"


def server_secret() -> bytes:
    """The key that signs visitor cookies: ``$LARNET_COOKIE_SECRET``, else a random key kept (mode 0600) in the
    data directory, created on first use. Instances behind one load balancer need the same value."""
    configured = os.environ.get(COOKIE_SECRET_ENV, "").strip()
    if configured:
        return configured.encode("utf-8")
    path = Path(data_dir()) / _SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(descriptor, "w") as out:
        out.write(key)
    return bytes.fromhex(key)


def _mac(body: str, secret: bytes) -> str:
    return hmac.new(secret, body.encode("ascii"), hashlib.sha256).hexdigest()


def sign_ids(ids: Iterable[str], secret: bytes) -> str:
    """A cookie value holding ``ids`` (newest last, at most :data:`MAX_REMEMBERED`) and their signature.

    Only well-formed session ids are kept; the value uses characters cookies allow (letters, digits, ``-_.~``).
    """
    kept = [i for i in dict.fromkeys(ids) if is_session_id(i)][-MAX_REMEMBERED:]
    body = f"{_VERSION}.{'~'.join(kept)}"
    return f"{body}.{_mac(body, secret)}"


def verify_ids(value: str | None, secret: bytes) -> list[str]:
    """The ids of a cookie value made by :func:`sign_ids`, or an empty list when it is missing, malformed or its
    signature does not match (compared in constant time)."""
    if not value or not isinstance(value, str) or len(value) > 8192:
        return []
    body, _, mac = value.rpartition(".")
    if not body.startswith(f"{_VERSION}.") or not hmac.compare_digest(mac, _mac(body, secret)):
        return []
    listed = body[len(_VERSION) + 1:]
    return [i for i in listed.split("~") if is_session_id(i)] if listed else []


def admin_enabled() -> bool:
    """Whether an operator token is configured (``$LARNET_ADMIN_TOKEN``)."""
    return bool(os.environ.get(ADMIN_TOKEN_ENV, "").strip())


def admin_token_matches(given: str | None) -> bool:
    """Whether ``given`` is the operator token (constant-time comparison; always False when none is set)."""
    expected = os.environ.get(ADMIN_TOKEN_ENV, "").strip()
    if not expected or not given or not isinstance(given, str):
        return False
    return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(),
                               hashlib.sha256(expected.encode()).digest())


def batch_key(name: str, secret: bytes) -> str:
    """The key of a batch's link: HMAC-SHA256 of the batch's name (relative to the batches folder) under the
    server secret, 128 bits in URL-safe base64. Changing ``$LARNET_COOKIE_SECRET`` revokes every batch link."""
    digest = hmac.new(secret, b"batch\x00" + name.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")


def batch_key_matches(name: str, key: str | None, secret: bytes) -> bool:
    """Whether ``key`` is :func:`batch_key` of ``name`` (constant-time comparison)."""
    if not key or not isinstance(key, str) or len(key) > 64:
        return False
    return hmac.compare_digest(key.encode("ascii", "replace"), batch_key(name, secret).encode("ascii"))
