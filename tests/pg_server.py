"""A throwaway PostgreSQL server on loopback for tests.

``running_postgres()`` runs ``initdb`` in a fresh temporary directory, starts the server on a free
127.0.0.1 port with its socket inside that directory, yields a SQLAlchemy URL for the ``postgres`` database,
then stops the server (``pg_ctl stop -m fast``) and removes the directory. ``initdb`` refuses to run as root,
so under root every server command runs as the ``postgres`` system user through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["postgres_bin_dir", "unavailable_reason", "running_postgres", "create_schema"]

_SERVER_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """Directory holding ``initdb`` and ``pg_ctl`` (newest Debian-packaged version first), or None."""
    env_dir = os.environ.get("LARNET_PG_BIN")
    candidates = [env_dir] if env_dir else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _version_key(path: str) -> int:
    version = Path(path).parent.name
    return int(version) if version.isdigit() else 0


def unavailable_reason() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if postgres_bin_dir() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql, or set LARNET_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_SERVER_USER)
        except KeyError:
            return "running as root but there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root but 'runuser' is missing"
    return None


def _as_server_user(argv: list[str]) -> list[str]:
    # initdb refuses root; everything that touches the data directory runs as its owner.
    if os.geteuid() == 0:
        return ["runuser", "-u", _SERVER_USER, "--", *argv]
    return argv


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start a private PostgreSQL server and yield ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``.

    Raises:
        RuntimeError: when the binaries are missing or the server does not start (the server log is quoted).
    """
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)
    bin_dir = postgres_bin_dir()
    assert bin_dir is not None
    root = Path(tempfile.mkdtemp(prefix="larnet-pg-"))
    data_dir = root / "data"
    log = root / "server.log"
    if os.geteuid() == 0:
        server_user = pwd.getpwnam(_SERVER_USER)
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
    started = False
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", "postgres", "--no-sync"], "initdb")
        port = _free_port()
        # fsync off and a small shared_buffers: a throwaway server, started often, on a small machine.
        options = f"-k {root} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off -c shared_buffers=32MB"
        _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
             "pg_ctl start", log)
        started = True
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            with contextlib.suppress(Exception):
                _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"], "pg_ctl stop")
        shutil.rmtree(root, ignore_errors=True)


def create_schema(server_url: str, name: str) -> str:
    """Create schema ``name`` and return a URL whose connections use it as their search path.

    Much cheaper than a database per test (PostgreSQL 15 copies the template database block by block).
    """
    import sqlalchemy as sa

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    finally:
        engine.dispose()
    return f"{server_url}?options=-csearch_path%3D{name}"
