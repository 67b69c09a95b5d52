"""Where sessions live: the data directory, the database URL, and an engine tuned for each backend.

SQLite (the default) runs in WAL mode so readers never block the writer, with a busy timeout so concurrent
writers queue instead of failing, and write transactions start with ``BEGIN IMMEDIATE`` so a transaction
never has to upgrade a read lock mid-way (which SQLite answers with an immediate "database is locked").
Writers also take an exclusive lock on a ``.lock`` file beside the database: waiting on it wakes a writer as
soon as the previous one finishes, where SQLite's own busy handler polls with growing sleeps (up to 100 ms),
which starves writers when several processes share one file. PostgreSQL serves several app instances sharing
one database.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from larnet_core.paths import DATA_DIR_ENV, check_input_file, data_dir
from larnet_core.errors import LarnetError

__all__ = ["DATA_DIR_ENV", "DATABASE_URL_ENV", "data_dir", "default_database_url", "resolve_database_url",
           "create_store_engine", "display_url", "writer_lock"]

DATABASE_URL_ENV = "LARNET_DATABASE_URL"
SQLITE_FILE_NAME = "sessions.sqlite3"
# Seconds a SQLite writer waits for another writer's transaction before giving up.
SQLITE_BUSY_TIMEOUT_S = 60.0
# Execution option that makes a transaction a writer (BEGIN IMMEDIATE on SQLite).
WRITE_OPTION = "larnet_write"


def default_database_url() -> str:
    """The SQLite file under :func:`data_dir` (the directory is created when missing)."""
    directory = data_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LarnetError(
            f"cannot create the data directory {directory} ({exc.strerror}); set {DATA_DIR_ENV} to a writable folder"
        ) from exc
    return f"sqlite:///{directory / SQLITE_FILE_NAME}"


def resolve_database_url(url: str | None = None) -> str:
    """Pick the database: ``url`` if given, else ``$LARNET_DATABASE_URL``, else the default SQLite file."""
    chosen = (url or os.environ.get(DATABASE_URL_ENV, "")).strip()
    return chosen or default_database_url()


def display_url(url: sa.URL | str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def create_store_engine(url: str) -> Engine:
    """An engine for ``sqlite:///FILE`` or ``postgresql+psycopg://...`` URLs.

    Raises:
        LarnetError: for a malformed or unsupported URL, or a SQLite file whose folder does not exist.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LarnetError(
            f"database URL {url[:60]!r} is malformed; use sqlite:///path/file.sqlite3 or "
            "postgresql+psycopg://user:password@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver shipped with us
        if parsed.drivername != "postgresql+psycopg":
            raise LarnetError(f"database driver {parsed.drivername!r} is not installed; use postgresql+psycopg://...")
        # pre_ping: behind a load balancer, connections dropped by the server or a proxy are replaced silently.
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    raise LarnetError(
        f"database {display_url(parsed)} is not supported; use sqlite:///FILE or postgresql+psycopg://..."
    )


def _sqlite_engine(parsed: sa.URL) -> Engine:
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise LarnetError("sessions need a SQLite file; use sqlite:///path/to/sessions.sqlite3")
    path = Path(database).expanduser()
    if os.path.lexists(path):
        # SQLite would read a FIFO for ever and a device as garbage: an existing database is a regular file.
        check_input_file(path, f"the sessions database {path}")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise LarnetError(f"the folder {folder} for the sessions database does not exist; create it first")
    engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Take transaction control from the sqlite3 module so BEGIN below is the only one emitted.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL is corruption-safe in WAL mode; only the last commits may be lost on power failure.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    return engine


def writer_lock(engine: Engine) -> Callable[[], ContextManager[None]]:
    """A context-manager factory that serialises writers of ``engine``'s SQLite file across threads and processes.

    For PostgreSQL (row locks) and on systems without ``fcntl`` it returns a no-op.
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext
    try:
        import fcntl  # POSIX only: Windows has no fcntl
    except ImportError:  # Windows: SQLite's busy timeout alone queues the writers.
        return contextlib.nullcontext
    lock_path = f"{Path(engine.url.database or '').expanduser().resolve()}.lock"

    @contextlib.contextmanager
    def locked() -> Iterator[None]:
        # A fresh descriptor per transaction: flock excludes other descriptors, so threads exclude each other too.
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    return locked
