"""The sessions database's migrations: Alembic revisions (``versions/``), applied when a store opens.

Each revision takes the layout one step on; :func:`upgrade` runs the missing ones inside the caller's write
transaction (DDL is transactional on SQLite and PostgreSQL, so a failing step leaves the database as it was).
A database whose revision this code does not know was written by a newer LARNet Studio and is refused.

New layout: add ``versions/NNNN_what.py`` with ``down_revision`` set to the current head, bump
:data:`larnet_core.sessions.schema.SCHEMA_VERSION` and change the tables in :mod:`larnet_core.sessions.schema`.
"""

from __future__ import annotations

import functools
from pathlib import Path

from sqlalchemy.engine import Connection

__all__ = ["HEAD", "LEGACY_BASELINE", "script_directory", "current_revision", "is_known", "upgrade"]

#: The newest revision this code knows.
HEAD = "0002"
#: The revision a database made before Alembic is stamped with once it has layout 1.
LEGACY_BASELINE = "0001"


@functools.lru_cache(maxsize=1)
def script_directory():
    """The revisions shipped with this package."""
    from alembic.script import ScriptDirectory  # lazy: Alembic only when the schema is checked or upgraded

    return ScriptDirectory(str(Path(__file__).resolve().parent))


def current_revision(conn: Connection) -> str | None:
    """The revision recorded in the database (None before Alembic, or for an empty database)."""
    from alembic.runtime.migration import MigrationContext  # lazy: Alembic only when the schema is checked or upgraded

    return MigrationContext.configure(conn).get_current_revision()


def is_known(revision: str) -> bool:
    """Whether this code has the revision (a newer LARNet Studio's database has one it lacks)."""
    from alembic.util import CommandError  # lazy: Alembic only when the schema is checked or upgraded

    try:
        return script_directory().get_revision(revision) is not None
    except (CommandError, KeyError, ValueError):  # an unknown id raises ResolutionError, a CommandError
        return False


def upgrade(conn: Connection, *, stamp: str | None = None) -> None:
    """Run every missing revision up to :data:`HEAD` on ``conn``, inside its open transaction.

    Args:
        conn: a connection in a write transaction.
        stamp: record this revision first without running it (for a database made before Alembic).
    """
    # lazy: Alembic only when the schema is checked or upgraded
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    script = script_directory()

    def steps(revision, context):
        return script._upgrade_revs(HEAD, revision)

    context = MigrationContext.configure(conn, opts={"script": script, "fn": steps, "transactional_ddl": True})
    if stamp is not None:
        context.stamp(script, stamp)
    with Operations.context(context):
        context.run_migrations()
