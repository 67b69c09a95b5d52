"""The session store: create, read, search, change and delete saved analyses in SQLite or PostgreSQL.

Every change is one transaction that first locks the session's row and checks the edit token, so a crash or
an error half-way leaves the previous version intact, and concurrent writers queue rather than overwrite
each other's images or counters. Tables are encoded before the transaction starts, to keep it short.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from larnet_core import __version__
from larnet_core.errors import LarnetError, PermissionDenied, SessionNotFound
from larnet_core.sessions import schema
from larnet_core.sessions.config import (
    WRITE_OPTION,
    create_store_engine,
    display_url,
    resolve_database_url,
    writer_lock,
)
from larnet_core.sessions.model import (
    DEFAULT_CLIP_LIMIT_BYTES,
    TABLE_PARTS,
    AnalysisSession,
    CreatedSession,
    InputRef,
    ModelRef,
    utc_now,
    validate_changes,
    validate_image,
    validate_name,
    validate_notes,
    validate_session,
)
from larnet_core.sessions.sharing import hash_token, is_session_id, new_edit_token, new_session_id, token_matches
from larnet_core.sessions.tables import decode_parquet, encode_parquet, loads_bounded

__all__ = ["SessionStore", "LIST_COLUMNS", "checkpoint_notices"]

log = logging.getLogger(__name__)

LIST_COLUMNS = ("id", "name", "kind", "created_at", "updated_at", "input_name", "model_preset", "results_rows",
                "images", "notes")
_CLIP_PART = "clip"
# The analysis result's record (prediction, class names, model, settings, warnings) as JSON.
_RESULT_PART = "result"


@dataclass(frozen=True)
class _Part:
    """One encoded blob ready for ``session_parts``."""

    data: bytes
    n_rows: int = 0
    n_columns: int = 0


def _encode_table(table: pd.DataFrame | None, part: str) -> _Part | None:
    if table is None:
        return None
    return _Part(encode_parquet(table, part), n_rows=len(table), n_columns=len(table.columns))


def _encode_result(result: dict[str, Any]) -> _Part | None:
    return _Part(json.dumps(result, allow_nan=True).encode()) if result else None


def _decode_result(data: bytes) -> dict[str, Any]:
    value = loads_bounded(data, "result record")
    if not isinstance(value, dict):
        raise LarnetError("the stored result record is not a JSON object; the database was altered")
    return value


def _as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _not_found(session_id: str) -> SessionNotFound:
    return SessionNotFound(
        f"no saved session has id {session_id[:80]!r}; check the link, or run `larnet sessions list`"
    )


class SessionStore:
    """Saved analyses in one database. Thread-safe; open one per process and share it.

    Args:
        engine: A SQLAlchemy engine from :func:`~larnet_core.sessions.config.create_store_engine`.
        clip_limit_bytes: Clips larger than this are not stored (only their name, size and hash are).
    """

    def __init__(self, engine: Engine, *, clip_limit_bytes: int = DEFAULT_CLIP_LIMIT_BYTES) -> None:
        self.engine = engine
        self.clip_limit_bytes = int(clip_limit_bytes)
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._writer_lock = writer_lock(engine)

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, url: str | None = None, *, clip_limit_bytes: int = DEFAULT_CLIP_LIMIT_BYTES) -> SessionStore:
        """Open (creating or upgrading when needed) the sessions database.

        Args:
            url: ``sqlite:///FILE`` or ``postgresql+psycopg://...``; None uses ``$LARNET_DATABASE_URL``, else
                ``sessions.sqlite3`` under ``$LARNET_DATA_DIR`` (default ``~/.larnet``).
            clip_limit_bytes: Largest clip stored with a session (default 50 MB).

        Raises:
            LarnetError: when the database cannot be reached, or was written by a newer version.
        """
        engine = create_store_engine(resolve_database_url(url))
        store = cls(engine, clip_limit_bytes=clip_limit_bytes)
        try:
            store._prepare_schema()
        except BaseException:
            engine.dispose()
            raise
        return store

    def _prepare_schema(self) -> None:
        with self._db_errors():
            with self.engine.connect() as conn:
                if schema.is_current(conn):
                    return
            with self._write_transaction() as conn:
                before = schema.ensure_schema(conn)
            if before is not None and before < schema.SCHEMA_VERSION:
                log.info("upgraded sessions database %s from version %s to %s", self.url, before,
                         schema.SCHEMA_VERSION)

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return display_url(self.engine.url)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def schema_version(self) -> int:
        """The layout version recorded in the database."""
        with self._db_errors(), self.engine.connect() as conn:
            return int(schema.read_version(conn) or 0)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _db_errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            log.debug("database error", exc_info=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            raise LarnetError(
                f"the sessions database {self.url} is unavailable ({reason}); check that it is running and that "
                "LARNET_DATABASE_URL / --db is right, then try again"
            ) from exc
        except sa.exc.DatabaseError as exc:  # e.g. a file that is not a database at all
            log.debug("database error", exc_info=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
            raise LarnetError(
                f"{self.url} is not a usable sessions database ({reason}); check LARNET_DATABASE_URL / --db, or "
                "point it at a new file to start an empty one"
            ) from exc

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._db_errors(), self._writer_lock(), self._writer.begin() as conn:
            yield conn

    # ----------------------------------------------------------------- writing
    def create(self, session: AnalysisSession) -> CreatedSession:
        """Save a new session and return its id and edit token (the token is not retrievable later).

        ``session.id`` is ignored (a fresh id is drawn); ``created_at``/``updated_at`` are kept when set (as
        on import) and default to now.

        Raises:
            LarnetError: when a field is invalid or a table cannot be stored.
        """
        checked = validate_session(session)
        notices, clip = self._clip_part(checked.input)
        parts = {part: _encode_table(getattr(checked, part), part) for part in TABLE_PARTS}
        parts[_CLIP_PART] = clip
        parts[_RESULT_PART] = _encode_result(checked.result)
        now = utc_now()
        created = _as_utc(checked.created_at) if checked.created_at else now
        updated = _as_utc(checked.updated_at) if checked.updated_at else created
        session_id, token = new_session_id(), new_edit_token()
        row = self._row_values(checked.name, checked.notes, checked.kind, checked.model, checked.input,
                               checked.metrics_runs)
        with self._write_transaction() as conn:
            conn.execute(
                schema.sessions.insert().values(
                    id=session_id, created_at=created, updated_at=updated, revision=1,
                    edit_token_hash=hash_token(token), **row,
                )
            )
            self._write_parts(conn, session_id, parts)
            self._write_images(conn, session_id, checked.images)
        log.info("created session %s (%s)", session_id, checked.name)
        return CreatedSession(id=session_id, edit_token=token, notices=notices)

    def save(self, session: AnalysisSession, token: str) -> tuple[str, ...]:
        """Replace everything stored for ``session.id`` with ``session`` (last writer wins).

        Returns:
            Notices for the user (for instance a clip too large to keep).

        Raises:
            SessionNotFound, PermissionDenied, LarnetError.
        """
        checked = validate_session(session)
        changes = {key: getattr(checked, key) for key in ("name", "notes", "kind", "model", "input",
                                                          "metrics_runs", "images", "result", *TABLE_PARTS)}
        return self._apply(checked.id, token, changes)

    def update(self, session_id: str, token: str, **changes: Any) -> tuple[str, ...]:
        """Change some fields of a session, leaving the others as they are.

        Args:
            session_id: The session to change.
            token: Its edit token.
            **changes: Any of ``name, notes, kind, model, input, results, intervals, events, faces, result,
                images, metrics_runs`` (``images`` replaces the whole set; see also :meth:`add_image`).

        Returns:
            Notices for the user.

        Raises:
            SessionNotFound, PermissionDenied, LarnetError; TypeError for a field that cannot be changed.
        """
        return self._apply(session_id, token, validate_changes(changes))

    def rename(self, session_id: str, token: str, name: str) -> None:
        """Give a session a new name."""
        self._apply(session_id, token, {"name": validate_name(name)})

    def annotate(self, session_id: str, token: str, notes: str) -> None:
        """Replace a session's notes."""
        self._apply(session_id, token, {"notes": validate_notes(notes)})

    def add_image(self, session_id: str, token: str, name: str, png: bytes) -> None:
        """Add a PNG image to a session, or replace the image of the same name (keeping its place)."""
        png = validate_image(name, png)  # decoded once under the pixel cap; stored small
        with self._write_transaction() as conn:
            self._lock_for_edit(conn, session_id, token)
            images = schema.session_images
            mine = images.c.session_id == session_id
            replaced = conn.execute(images.update().where(mine, images.c.name == name).values(data=bytes(png)))
            if replaced.rowcount == 0:
                position = conn.execute(sa.select(sa.func.coalesce(sa.func.max(images.c.position), -1))
                                        .where(mine)).scalar_one()
                conn.execute(images.insert().values(session_id=session_id, name=name, position=position + 1,
                                                    data=bytes(png)))
            self._touch(conn, session_id, {})

    def remove_image(self, session_id: str, token: str, name: str) -> bool:
        """Remove one image; returns whether it was there."""
        with self._write_transaction() as conn:
            self._lock_for_edit(conn, session_id, token)
            images = schema.session_images
            removed = conn.execute(images.delete().where(images.c.session_id == session_id, images.c.name == name))
            self._touch(conn, session_id, {})
        return removed.rowcount > 0

    def delete(self, session_id: str, token: str) -> None:
        """Delete a session and everything stored with it.

        Raises:
            SessionNotFound, PermissionDenied.
        """
        with self._write_transaction() as conn:
            self._lock_for_edit(conn, session_id, token)
            for table in (schema.session_images, schema.session_parts):
                conn.execute(table.delete().where(table.c.session_id == session_id))
            conn.execute(schema.sessions.delete().where(schema.sessions.c.id == session_id))
        log.info("deleted session %s", session_id)

    def can_edit(self, session_id: str, token: str | None) -> bool:
        """Whether ``token`` is the edit token of an existing session (a read-only link gives False)."""
        if not token or not is_session_id(session_id):
            return False
        with self._db_errors(), self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(schema.sessions.c.edit_token_hash).where(schema.sessions.c.id == session_id)
            ).scalar()
        return stored is not None and token_matches(token, stored)

    def _apply(self, session_id: str, token: str, changes: dict[str, Any]) -> tuple[str, ...]:
        notices: tuple[str, ...] = ()
        parts: dict[str, _Part | None] = {}
        for part in TABLE_PARTS:
            if part in changes:
                parts[part] = _encode_table(changes[part], part)
        if "input" in changes:
            notices, parts[_CLIP_PART] = self._clip_part(changes["input"])
        if "result" in changes:
            parts[_RESULT_PART] = _encode_result(changes["result"])
        with self._write_transaction() as conn:
            current = self._lock_for_edit(conn, session_id, token)
            ref = changes.get("input")
            if ref is not None and ref.data is None and ref.sha256 == current.input_sha256:
                # Same input loaded without its bytes (load_clip=False): keep the stored clip.
                parts.pop(_CLIP_PART, None)
            self._touch(conn, session_id, self._changed_row_values(current, changes))
            self._write_parts(conn, session_id, parts)
            if "images" in changes:
                self._write_images(conn, session_id, changes["images"])
        return notices

    def _lock_for_edit(self, conn: Connection, session_id: str, token: str) -> sa.Row:
        """Lock the session's row for this transaction and check the edit token."""
        if not is_session_id(session_id):
            raise _not_found(str(session_id))
        row = conn.execute(
            sa.select(schema.sessions).where(schema.sessions.c.id == session_id).with_for_update()
        ).first()
        if row is None:
            raise _not_found(session_id)
        if not token_matches(token, row.edit_token_hash):
            raise PermissionDenied(
                f"session {session_id!r} is read-only without its edit token; the token shown when it was created "
                "(or imported) is needed to change or delete it"
            )
        return row

    def _touch(self, conn: Connection, session_id: str, values: dict[str, Any]) -> None:
        sessions = schema.sessions
        conn.execute(
            sessions.update().where(sessions.c.id == session_id)
            .values(updated_at=utc_now(), revision=sessions.c.revision + 1, **values)
        )

    def _changed_row_values(self, current: sa.Row, changes: dict[str, Any]) -> dict[str, Any]:
        model = changes.get("model")
        ref = changes.get("input")
        if not {"name", "notes", "kind", "model", "input", "metrics_runs"} & changes.keys():
            return {}
        row = self._row_values(
            changes.get("name", current.name),
            changes.get("notes", current.notes),
            changes.get("kind", current.kind),
            model if model is not None else _model_from_row(current),
            ref if ref is not None else _input_from_row(current),
            changes.get("metrics_runs", json.loads(current.metrics_runs)),
        )
        return row

    @staticmethod
    def _row_values(name: str, notes: str, kind: str, model: ModelRef, ref: InputRef,
                    metrics_runs: list[str]) -> dict[str, Any]:
        return {
            "name": name, "notes": notes, "kind": kind,
            "model_preset": model.preset, "checkpoint_path": model.checkpoint_path,
            "checkpoint_sha256": model.checkpoint_sha256, "model_synthetic": model.synthetic,
            "input_name": ref.name, "input_sha256": ref.sha256, "input_fps": ref.fps, "input_width": ref.width,
            "input_height": ref.height, "input_frame_count": ref.frame_count,
            "metrics_runs": json.dumps(list(metrics_runs)),
            "search_text": schema.search_text(name, notes, ref.name),
            "app_version": __version__,
        }

    def _clip_part(self, ref: InputRef) -> tuple[tuple[str, ...], _Part | None]:
        if ref.data is None:
            return (), None
        if len(ref.data) > self.clip_limit_bytes:
            notice = (
                f"the clip {ref.name!r} ({len(ref.data) / 1e6:.1f} MB) is larger than the "
                f"{self.clip_limit_bytes / 1e6:.0f} MB limit, so only its name, size and hash were saved"
            )
            return (notice,), None
        return (), _Part(ref.data)

    def _write_parts(self, conn: Connection, session_id: str, parts: dict[str, _Part | None]) -> None:
        table = schema.session_parts
        for name, part in parts.items():
            conn.execute(table.delete().where(table.c.session_id == session_id, table.c.part == name))
            if part is not None:
                conn.execute(table.insert().values(
                    session_id=session_id, part=name, data=part.data, n_rows=part.n_rows,
                    n_columns=part.n_columns, n_bytes=len(part.data),
                ))

    def _write_images(self, conn: Connection, session_id: str, images: dict[str, bytes]) -> None:
        table = schema.session_images
        conn.execute(table.delete().where(table.c.session_id == session_id))
        if images:
            conn.execute(table.insert(), [
                {"session_id": session_id, "name": name, "position": position, "data": data}
                for position, (name, data) in enumerate(images.items())
            ])

    # ----------------------------------------------------------------- reading
    def get(self, session_id: str, *, load_clip: bool = True) -> AnalysisSession:
        """Load a session with its tables, images and (unless ``load_clip`` is False) its clip.

        ``notices`` tells what could not be restored, e.g. a model checkpoint file that no longer exists.

        Raises:
            SessionNotFound: when no session has this id.
        """
        if not is_session_id(session_id):
            raise _not_found(str(session_id))
        parts_table, images_table = schema.session_parts, schema.session_images
        with self._db_errors(), self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.sessions).where(schema.sessions.c.id == session_id)).first()
            if row is None:
                raise _not_found(session_id)
            wanted = [p for p in (*TABLE_PARTS, _RESULT_PART, _CLIP_PART) if load_clip or p != _CLIP_PART]
            blobs = dict(conn.execute(
                sa.select(parts_table.c.part, parts_table.c.data)
                .where(parts_table.c.session_id == session_id, parts_table.c.part.in_(wanted))
            ).all())
            has_clip = _CLIP_PART in blobs or conn.execute(
                sa.select(sa.func.count()).where(parts_table.c.session_id == session_id,
                                                 parts_table.c.part == _CLIP_PART)
            ).scalar_one() > 0
            images = {name: bytes(data) for name, data in conn.execute(
                sa.select(images_table.c.name, images_table.c.data)
                .where(images_table.c.session_id == session_id).order_by(images_table.c.position)
            ).all()}
        tables = {part: decode_parquet(bytes(blobs[part]), part) if part in blobs else None for part in TABLE_PARTS}
        clip = bytes(blobs[_CLIP_PART]) if _CLIP_PART in blobs else None
        result = _decode_result(bytes(blobs[_RESULT_PART])) if _RESULT_PART in blobs else {}
        session = AnalysisSession(
            id=row.id, name=row.name, notes=row.notes, kind=row.kind,
            created_at=_as_utc(row.created_at), updated_at=_as_utc(row.updated_at),
            model=_model_from_row(row), input=replace(_input_from_row(row), data=clip),
            images=images, metrics_runs=list(json.loads(row.metrics_runs)), result=result, **tables,
            app_version=row.app_version,
        )
        session.notices = _notices(session, has_clip)
        return session

    def revision(self, session_id: str) -> int:
        """How many committed changes the session has had (1 after creation)."""
        with self._db_errors(), self.engine.connect() as conn:
            value = conn.execute(
                sa.select(schema.sessions.c.revision).where(schema.sessions.c.id == session_id)
            ).scalar()
        if value is None:
            raise _not_found(str(session_id))
        return int(value)

    def parts(self, session_id: str) -> pd.DataFrame:
        """What is stored for a session, without loading it: one row per table, clip and image.

        Returns:
            Columns ``part`` (``results``, ``clip``, ``image:NAME``...), ``rows``, ``columns``, ``bytes``.
        """
        parts_table, images_table = schema.session_parts, schema.session_images
        with self._db_errors(), self.engine.connect() as conn:
            if conn.execute(sa.select(schema.sessions.c.id).where(schema.sessions.c.id == session_id)).first() is None:
                raise _not_found(str(session_id))
            stored = conn.execute(
                sa.select(parts_table.c.part, parts_table.c.n_rows, parts_table.c.n_columns, parts_table.c.n_bytes)
                .where(parts_table.c.session_id == session_id)
            ).all()
            images = conn.execute(
                sa.select(images_table.c.name, sa.func.length(images_table.c.data))
                .where(images_table.c.session_id == session_id).order_by(images_table.c.position)
            ).all()
        order = {name: i for i, name in enumerate((*TABLE_PARTS, _RESULT_PART, _CLIP_PART))}
        rows = [(r.part, r.n_rows, r.n_columns, r.n_bytes) for r in sorted(stored, key=lambda r: order.get(r.part, 99))]
        rows += [(f"image:{name}", 0, 0, size) for name, size in images]
        return pd.DataFrame(rows, columns=["part", "rows", "columns", "bytes"]).astype(
            {"part": "str", "rows": "int64", "columns": "int64", "bytes": "int64"}
        )

    def count(self, search: str = "", ids: Sequence[str] | None = None) -> int:
        """How many sessions match ``search`` (all when empty), among ``ids`` when given."""
        query = sa.select(sa.func.count()).select_from(schema.sessions)
        if search.strip():
            query = query.where(self._search_clause(search))
        if ids is not None:
            query = query.where(schema.sessions.c.id.in_(_valid_ids(ids)))
        with self._db_errors(), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def list(self, search: str = "", limit: int = 100, offset: int = 0,
             ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Sessions, most recently updated first, as a table (no blobs are loaded).

        Args:
            search: Case-insensitive text looked for in the name, notes and input name.
            limit: Most rows returned.
            offset: Rows skipped (for paging).
            ids: Only these sessions (a visitor's own); None lists every session (an operator's view).

        Returns:
            Columns :data:`LIST_COLUMNS`; times are UTC, ``results_rows`` is 0 without results.
        """
        sessions, parts, images = schema.sessions, schema.session_parts, schema.session_images
        results_rows = (
            sa.select(parts.c.n_rows).where(parts.c.session_id == sessions.c.id, parts.c.part == "results")
            .scalar_subquery()
        )
        image_count = sa.select(sa.func.count()).where(images.c.session_id == sessions.c.id).scalar_subquery()
        query = sa.select(
            sessions.c.id, sessions.c.name, sessions.c.kind, sessions.c.created_at, sessions.c.updated_at,
            sessions.c.input_name, sessions.c.model_preset,
            sa.func.coalesce(results_rows, 0).label("results_rows"), image_count.label("images"), sessions.c.notes,
        ).order_by(sessions.c.updated_at.desc(), sessions.c.id).limit(max(0, int(limit))).offset(max(0, int(offset)))
        if search.strip():
            query = query.where(self._search_clause(search))
        if ids is not None:
            query = query.where(sessions.c.id.in_(_valid_ids(ids)))
        with self._db_errors(), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(LIST_COLUMNS))
        for column in ("created_at", "updated_at"):
            frame[column] = pd.to_datetime([_as_utc(v) for v in frame[column]], utc=True)
        return frame.astype({"id": "str", "name": "str", "kind": "str", "input_name": "str", "model_preset": "str",
                             "results_rows": "int64", "images": "int64", "notes": "str"})

    @staticmethod
    def _search_clause(search: str) -> sa.ColumnElement[bool]:
        return schema.sessions.c.search_text.contains(search.strip().casefold(), autoescape=True)


def _valid_ids(ids: Sequence[str]) -> list[str]:
    # Anything that is not shaped like an id cannot name a session; at most 1000 go into one IN clause.
    return [i for i in dict.fromkeys(ids) if is_session_id(i)][:1000]


def _model_from_row(row: sa.Row) -> ModelRef:
    return ModelRef(preset=row.model_preset, checkpoint_path=row.checkpoint_path,
                    checkpoint_sha256=row.checkpoint_sha256, synthetic=bool(row.model_synthetic))


def _input_from_row(row: sa.Row) -> InputRef:
    return InputRef(name=row.input_name, sha256=row.input_sha256, fps=float(row.input_fps), width=row.input_width,
                    height=row.input_height, frame_count=row.input_frame_count)


def _notices(session: AnalysisSession, has_clip: bool) -> list[str]:
    # Only facts from the database: a path named in a session (maybe by a stranger's bundle) is never looked
    # up on this machine, or the notice would tell the stranger which files exist (see checkpoint_notices).
    notices = []
    if session.kind == "clip" and session.input.name and not has_clip:
        notices.append(
            f"the clip {session.input.name!r} was not saved with this session; open the original file to see its "
            "frames"
        )
    return notices


def checkpoint_notices(session: AnalysisSession) -> list[str]:
    """For an operator on their own machine (the CLI): whether the checkpoint the session names still exists.

    Never call this for a visitor of a shared server: it looks the session's path up on the local disk.
    """
    checkpoint = session.model.checkpoint_path
    if checkpoint and not Path(checkpoint).expanduser().exists():
        return [
            f"the model checkpoint {checkpoint} no longer exists; the saved results still open, but re-running "
            "the analysis needs that file back or another model"
        ]
    return []
