"""The database layout, its version, and how older databases are upgraded.

Layout (version 2):

* ``sessions``: one row per analysis with its metadata, the model and input references, the edit token's
  hash, ``search_text`` (case-folded name, notes and input name, so search behaves the same on SQLite and
  PostgreSQL, whose ``lower()`` functions disagree outside ASCII) and ``app_version`` (the LARNet Studio version
  that last wrote it).
* ``session_parts``: the tables (results, intervals, events, faces) as Parquet, the result record as JSON and the
  clip, one blob each.
* ``session_images``: chosen heat-map images as PNG, in the order they were added.
* ``schema_version``: a single row holding the layout version (read by every version of LARNet Studio).
* ``alembic_version``: the Alembic revision (:mod:`larnet_core.sessions.migrations`).

Layouts are changed by Alembic revisions shipped in :mod:`larnet_core.sessions.migrations`, applied on open in
one transaction. Databases made before Alembic are recognised by their ``schema_version``: version 0 (no
``search_text``, no ``schema_version``) gets :data:`UPGRADES` first; then the database is stamped with the
baseline revision and upgraded to the head. A database newer than this code (a layout version above
:data:`SCHEMA_VERSION` or a revision this code lacks) is refused.
"""

from __future__ import annotations

from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from larnet_core.errors import LarnetError
from larnet_core.sessions import migrations

__all__ = ["SCHEMA_VERSION", "UPGRADES", "metadata", "sessions", "session_parts", "session_images",
           "schema_version", "search_text", "read_version", "ensure_schema", "is_current"]

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("notes", sa.Text, nullable=False, default=""),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    # Counts every committed change, so concurrent writers can be checked for lost updates.
    sa.Column("revision", sa.Integer, nullable=False, default=1),
    sa.Column("edit_token_hash", sa.String(64), nullable=False),
    sa.Column("model_preset", sa.String(200), nullable=False, default=""),
    sa.Column("checkpoint_path", sa.Text, nullable=False, default=""),
    sa.Column("checkpoint_sha256", sa.String(64), nullable=False, default=""),
    sa.Column("model_synthetic", sa.Boolean, nullable=False, default=False),
    sa.Column("input_name", sa.Text, nullable=False, default=""),
    sa.Column("input_sha256", sa.String(64), nullable=False, default=""),
    sa.Column("input_fps", sa.Float, nullable=False, default=0.0),
    sa.Column("input_width", sa.Integer, nullable=False, default=0),
    sa.Column("input_height", sa.Integer, nullable=False, default=0),
    sa.Column("input_frame_count", sa.Integer, nullable=False, default=0),
    sa.Column("metrics_runs", sa.Text, nullable=False, default="[]"),  # JSON list of run references
    sa.Column("search_text", sa.Text, nullable=False, default=""),  # added in version 1
    sa.Column("app_version", sa.String(64), nullable=False, default="", server_default=""),  # version 2
)

session_parts = sa.Table(
    "session_parts",
    metadata,
    sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("part", sa.String(16), primary_key=True),  # results | intervals | events | clip
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False, default=0),
    sa.Column("n_columns", sa.Integer, nullable=False, default=0),
    sa.Column("n_bytes", sa.BigInteger, nullable=False, default=0),
)

session_images = sa.Table(
    "session_images",
    metadata,
    sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

# Any constant works; it only has to be the same in every app instance sharing a PostgreSQL database.
_PG_SCHEMA_LOCK = 0x4C41524E  # "LARN"


def search_text(name: str, notes: str, input_name: str) -> str:
    """What ``list(search=...)`` matches against: name, notes and input name, case-folded."""
    return "\n".join((name, notes, input_name)).casefold()


def _v0_add_search_text(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE sessions ADD COLUMN search_text TEXT NOT NULL DEFAULT ''"))
    rows = conn.execute(sa.select(sessions.c.id, sessions.c.name, sessions.c.notes, sessions.c.input_name)).all()
    for row in rows:
        conn.execute(
            sessions.update()
            .where(sessions.c.id == row.id)
            .values(search_text=search_text(row.name, row.notes, row.input_name))
        )


#: Steps of databases made before Alembic: ``UPGRADES[n]`` takes layout ``n`` to ``n + 1`` (up to layout 1).
UPGRADES: list[Callable[[Connection], None]] = [_v0_add_search_text]
#: The layout version this code writes (2 since ``app_version``); Alembic revisions take databases there.
SCHEMA_VERSION = 2


def read_version(conn: Connection) -> int | None:
    """The database's layout version: None for an empty database, 0 for the unversioned first layout."""
    inspector = sa.inspect(conn)
    if inspector.has_table("schema_version"):
        version = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if version is not None:
            return int(version)
    return 0 if inspector.has_table("sessions") else None


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise LarnetError(
            f"the sessions database has layout version {version}, newer than this LARNet Studio understands "
            f"({SCHEMA_VERSION}); upgrade larnet-studio, or point LARNET_DATABASE_URL / --db at another database"
        )


def ensure_schema(conn: Connection) -> int | None:
    """Create or upgrade the layout inside the caller's write transaction; return the layout version found
    before (None for an empty database).

    On PostgreSQL a transaction-scoped advisory lock makes app instances starting together take turns; on
    SQLite the caller's ``BEGIN IMMEDIATE`` already holds the write lock. DDL is transactional on both, so a
    failing step leaves the database as it was.

    Raises:
        LarnetError: when the database is newer than this code.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_SCHEMA_LOCK)))
    found = read_version(conn)
    if found is None:
        migrations.upgrade(conn)
        return None
    _refuse_newer(found)
    revision = migrations.current_revision(conn)
    if revision is not None:
        if not migrations.is_known(revision):
            raise LarnetError(
                f"the sessions database is at migration {revision[:40]!r}, which this LARNet Studio does not know "
                f"(it knows up to {migrations.HEAD}): it was written by a newer version; upgrade larnet-studio, or "
                "point LARNET_DATABASE_URL / --db at another database"
            )
        migrations.upgrade(conn)
        return found
    # Made before Alembic: bring it to layout 1 with the old steps, then let the revisions take over.
    for step in UPGRADES[found:1]:
        step(conn)
    if found < 1:
        schema_version.create(conn, checkfirst=True)
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=1))
    migrations.upgrade(conn, stamp=migrations.LEGACY_BASELINE)
    return found


def is_current(conn: Connection) -> bool:
    """Whether the database has this code's layout and migration head (nothing to do on open)."""
    return read_version(conn) == SCHEMA_VERSION and migrations.current_revision(conn) == migrations.HEAD
