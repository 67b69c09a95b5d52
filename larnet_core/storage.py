"""One writer and one reader of analysis results: :func:`write` and :func:`read`, wherever a result is kept.

Targets and sources:

* a :class:`~larnet_core.sessions.SessionStore` (with the session's name to write, its id to read);
* a ``.larnet.zip`` bundle path;
* a batch output folder (:class:`~larnet_core.batch.BatchOutput` or its path, with the clip id);
* to write only: a ``.parquet`` or ``.csv`` path, the per-frame table (every face's rows), with the JSON
  summary next to it (``<stem>.json``).

Every table travels in one Parquet convention (:mod:`larnet_core.result.parquet`). :func:`read` runs the checks
of stored results (:mod:`larnet_core.sessions.result_schema`: the columns and labels the pages read, the result
record), so what it returns can be shown; a page never validates storage itself.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from larnet_core.batch.output import BatchOutput
from larnet_core.errors import LarnetError
from larnet_core.result import AnalysisResult
from larnet_core.result.parquet import write_parquet

if TYPE_CHECKING:
    from larnet_core.sessions import SessionStore
    from larnet_core.sessions.model import AnalysisSession

__all__ = ["write", "read", "read_session", "TABLE_SUFFIXES"]

#: File names ``write`` takes for the per-frame table alone.
TABLE_SUFFIXES = (".csv", ".parquet")
_BUNDLE_SUFFIX = ".larnet.zip"


def _is_store(target: Any) -> bool:
    """Whether ``target`` is a session store. The sessions package (and its database layer, SQLAlchemy: about a
    third of a second) is imported only by what uses a store or a bundle, not by every `larnet analyze` writing a
    table; a store cannot exist before it is imported."""
    if "larnet_core.sessions.store" not in sys.modules:
        return False
    # lazy: SQLAlchemy only for stores and bundles (a table file needs none)
    from larnet_core.sessions import SessionStore

    return isinstance(target, SessionStore)


def write(result: AnalysisResult, target: SessionStore | BatchOutput | str | Path, *, name: str = "",
          notes: str = "", clip: bytes | None = None, clip_id: str = "",
          marker: Mapping[str, Any] | None = None, summary: str | Path | None = None) -> Any:
    """Keep a result.

    Args:
        result: the analysis result.
        target: a session store, a batch output folder, a ``.larnet.zip`` path, or a ``.parquet`` / ``.csv`` path.
        name, notes: the session's name and notes (stores and bundles).
        clip: the analysed clip's bytes, kept with a session or bundle.
        clip_id, marker: the clip's id and completion marker (batch folders).
        summary: where a table file's JSON summary goes (default: next to it, ``<stem>.json``).

    Returns:
        The created session (a store), the written path (files), or None (a batch folder).

    Raises:
        LarnetError: an unknown target, or one that cannot be written.
    """
    if _is_store(target):
        # lazy: SQLAlchemy only for stores and bundles (a table file needs none)
        from larnet_core.sessions import result_to_session

        return target.create(result_to_session(result, name or result.meta.name, notes, clip=clip))
    if isinstance(target, BatchOutput):
        if not clip_id:
            raise LarnetError("writing a result to a batch folder needs the clip's id")
        target.write_clip(clip_id, result.stored_tables(),
                          {"status": "ok", **dict(marker or {}), "record": result.record()})
        return None
    path = Path(target)
    if path.name.endswith(_BUNDLE_SUFFIX):
        # lazy: SQLAlchemy only for stores and bundles (a table file needs none)
        from larnet_core.sessions import SessionStore, export_bundle, result_to_session

        with tempfile.TemporaryDirectory(prefix="larnet-bundle-") as folder, \
                SessionStore.open(f"sqlite:///{Path(folder) / 'bundle.sqlite3'}") as store:
            created = store.create(result_to_session(result, name or result.meta.name, notes, clip=clip))
            return export_bundle(store, created.id, path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise LarnetError(f"cannot write a result to {path.name}: use a .parquet or .csv file, a .larnet.zip "
                          "bundle, a session store or a batch folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        result.frames.to_csv(path, index=False)
    else:
        write_parquet(result.frames, path)
    summary_path = Path(summary) if summary is not None else path.with_suffix(".json")
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(result.to_json(), encoding="utf-8")
    return path


def read(source: SessionStore | BatchOutput | str | Path, key: str = "") -> AnalysisResult:
    """A kept result, checked as untrusted input (a bundle or a database may come from anyone).

    Args:
        source: a session store (``key``: the session id), a batch output folder or its path (``key``: the clip
            id), or a ``.larnet.zip`` path.
        key: see ``source``.

    Raises:
        LarnetError: unknown session or clip, a session that is not an analysis, or stored tables or a record
            the pages could not show (the message says which).
    """
    if _is_store(source):
        return read_session(source.get(key))
    path = source.root if isinstance(source, BatchOutput) else Path(source)
    if path.name.endswith(_BUNDLE_SUFFIX):
        # lazy: SQLAlchemy only for stores and bundles (a table file needs none)
        from larnet_core.sessions import read_bundle

        return read_session(read_bundle(path))
    if not key:
        raise LarnetError(f"reading from the batch folder {path.name} needs the clip's id")
    output = source if isinstance(source, BatchOutput) else BatchOutput(path)
    result = output.load_result(key)
    # lazy: SQLAlchemy only for stores and bundles (a table file needs none)
    from larnet_core.sessions.result_schema import check_result_record, check_session_tables

    check_session_tables(result.kind, result.frames, result.intervals, result.events, result.faces)
    check_result_record(result.record())
    return result


def read_session(session: AnalysisSession) -> AnalysisResult:
    """:func:`read` for a session already loaded from its store (the page has it for its name and notices)."""
    if session.kind not in ("clip", "live") or session.results is None:
        raise LarnetError(f"session {session.name!r} is a {session.kind} session without an analysis result; "
                          "open it in Sessions")
    # lazy: SQLAlchemy only for stores and bundles (a table file needs none)
    from larnet_core.sessions.result_schema import check_result_record, check_session_tables

    check_session_tables(session.kind, session.results, session.intervals, session.events, session.faces)
    check_result_record(session.result)
    # lazy: SQLAlchemy only for stores and bundles (a table file needs none)
    from larnet_core.sessions import result_from_session

    return result_from_session(session)
