"""``larnet sessions list|show|export|import|delete``: manage saved analyses from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import TYPE_CHECKING

from larnet_core.errors import PermissionDenied
from larnet_core.paths import check_output_file

if TYPE_CHECKING:
    from larnet_core.sessions import SessionStore

__all__ = ["register"]

TOKEN_ENV = "LARNET_EDIT_TOKEN"
_NAME_WIDTH = 40


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sessions`` command and its actions."""
    parser = subparsers.add_parser(
        "sessions",
        help="list, show, export, import and delete saved analyses",
        description="Manage saved analysis sessions (SQLite under LARNET_DATA_DIR, or LARNET_DATABASE_URL).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URL", help="database URL (overrides LARNET_DATABASE_URL), e.g. "
                        "sqlite:///path/sessions.sqlite3 or postgresql+psycopg://user@host/db")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", parents=[common],
                                 help="list every session, most recent first (the operator's view; the dashboard "
                                      "shows each visitor only their own)")
    listing.add_argument("--search", default="", help="only sessions whose name, notes or clip name contain this")
    listing.add_argument("--limit", type=int, default=50, help="most sessions shown (default 50)")
    listing.set_defaults(func=_list)

    show = actions.add_parser("show", parents=[common], help="print a session's metadata and table shapes")
    show.add_argument("session_id", metavar="ID")
    show.add_argument("--json", action="store_true",
                      help="print the whole result's metadata as JSON: prediction, settings, warnings, model, input "
                           "and each table's rows and columns")
    show.set_defaults(func=_show)

    export = actions.add_parser("export", parents=[common], help="write a session to a .larnet.zip bundle")
    export.add_argument("session_id", metavar="ID")
    export.add_argument("output", metavar="OUT.larnet.zip")
    export.set_defaults(func=_export)

    importing = actions.add_parser("import", parents=[common], help="import a .larnet.zip bundle as a new session")
    importing.add_argument("bundle", metavar="FILE")
    importing.set_defaults(func=_import)

    delete = actions.add_parser("delete", parents=[common], help="delete a session (needs its edit token)")
    delete.add_argument("session_id", metavar="ID")
    delete.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"the session's edit token (default: ${TOKEN_ENV})")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=_delete)


def _open(args: argparse.Namespace) -> SessionStore:
    # Imported here so `larnet --help` and other commands never pay for SQLAlchemy and pyarrow.
    from larnet_core.sessions import SessionStore

    return SessionStore.open(args.db)


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        table = store.list(search=args.search, limit=args.limit)
        total = store.count(search=args.search)
        url = store.url
    if table.empty:
        print(f"no saved sessions{' match ' + repr(args.search) if args.search else ''} in {url}")
        return 0
    shown = table.assign(
        name=table["name"].map(lambda name: _short(name, _NAME_WIDTH)),
        updated=table["updated_at"].dt.strftime("%Y-%m-%d %H:%M"),
        input=table["input_name"].map(lambda name: _short(name, 24)),
    )[["id", "name", "kind", "updated", "input", "results_rows", "images"]]
    print(shown.rename(columns={"results_rows": "frames", "updated": "updated (UTC)"}).to_string(index=False))
    if total > len(table):
        print(f"({len(table)} of {total} shown; use --limit or --search)")
    return 0


def _show(args: argparse.Namespace) -> int:
    # lazy: SQLAlchemy only when the command runs (`larnet --help` imports every command module)
    from larnet_core.sessions import share_link

    from larnet_core.sessions.model import TABLE_PARTS
    from larnet_core.sessions.store import checkpoint_notices

    with _open(args) as store:
        session = store.get(args.session_id, load_clip=False)
        parts = store.parts(args.session_id)
    session.notices += checkpoint_notices(session)  # the operator's own disk: looking the path up is fine here
    if args.json:
        print(json.dumps(_metadata(session, parts), indent=2, ensure_ascii=False, default=str))
        return 0
    model, ref = session.model, session.input
    lines = [
        f"id:         {session.id}",
        f"name:       {session.name}",
        f"kind:       {session.kind}",
        f"created:    {session.created_at:%Y-%m-%d %H:%M:%S} UTC",
        f"updated:    {session.updated_at:%Y-%m-%d %H:%M:%S} UTC",
        f"model:      {model.preset or '-'}{' (synthetic)' if model.synthetic else ''}"
        f"  checkpoint {model.checkpoint_path or '-'}  sha256 {model.checkpoint_sha256[:16] or '-'}",
        f"input:      {ref.name or '-'}  {ref.width}x{ref.height} @ {ref.fps:g} fps, {ref.frame_count} frames"
        f"  sha256 {ref.sha256[:16] or '-'}",
        f"metrics:    {', '.join(session.metrics_runs) or '-'}",
        f"link:       {share_link(session.id)}",
    ]
    print("\n".join(lines))
    if session.notes:
        print("notes:")
        for line in session.notes.splitlines():
            print(f"  {line}")
    prediction = (session.result or {}).get("prediction")
    if isinstance(prediction, dict):
        print(f"prediction: {prediction.get('label')} ({float(prediction.get('confidence', 0)):.1%}, "
              f"{prediction.get('source')})")
    for part in TABLE_PARTS:
        table = session.table(part)
        shape = f"{table.shape[0]} rows x {table.shape[1]} columns" if table is not None else "none"
        print(f"{part + ':':<11} {shape}")
    stored = parts.set_index("part")["bytes"]
    clip = f"stored ({int(stored['clip'])} bytes)" if "clip" in stored.index else "not stored"
    print(f"clip:       {clip}")
    print(f"images:     {', '.join(session.images) or 'none'}")
    for notice in session.notices:
        print(f"notice: {notice}")
    return 0


def _metadata(session, parts) -> dict:
    """Everything about a session but the table rows: the result record, model, input and table layouts."""
    # lazy: SQLAlchemy only when the command runs (`larnet --help` imports every command module)
    from larnet_core.sessions import share_link
    from larnet_core.sessions.model import TABLE_PARTS

    record = dict(session.result or {})
    stored = parts.set_index("part")["bytes"]
    tables = {}
    for part in TABLE_PARTS:
        table = session.table(part)
        if table is not None:
            tables[part] = {"rows": len(table), "columns": [str(c) for c in table.columns],
                            "dtypes": {str(c): str(t) for c, t in table.dtypes.items()}}
    return {
        "id": session.id, "name": session.name, "kind": session.kind, "notes": session.notes,
        "created_at": session.created_at.isoformat(), "updated_at": session.updated_at.isoformat(),
        "link": share_link(session.id), "app_version": session.app_version,
        "model": {**dict(record.get("model") or {}), **dataclasses.asdict(session.model)},
        "input": {**{k: v for k, v in dataclasses.asdict(session.input).items() if k != "data"},
                  "clip_stored": "clip" in stored.index},
        "class_names": record.get("class_names", []),
        "prediction": record.get("prediction"),
        "settings": record.get("settings", {}),
        "warnings": record.get("warnings", []),
        "clip": record.get("clip"),
        "tables": tables,
        "images": list(session.images),
        "metrics_runs": list(session.metrics_runs),
        "notices": list(session.notices),
    }


def _export(args: argparse.Namespace) -> int:
    # lazy: SQLAlchemy only when the command runs (`larnet --help` imports every command module)
    from larnet_core.sessions import export_bundle

    check_output_file(args.output, "the bundle")  # never renamed over a folder, a device or a FIFO
    with _open(args) as store:
        path = export_bundle(store, args.session_id, args.output)
    print(f"exported session {args.session_id} to {path} ({path.stat().st_size} bytes)")
    return 0


def _import(args: argparse.Namespace) -> int:
    # lazy: SQLAlchemy only when the command runs (`larnet --help` imports every command module)
    from larnet_core.sessions import import_bundle, share_link

    with _open(args) as store:
        created = import_bundle(store, args.bundle)
    print(f"imported session {created.id}")
    print(f"edit token: {created.edit_token}")
    print("(the edit token is shown only now; keep it to change or delete this session)")
    print(f"link: {share_link(created.id)}")
    for notice in created.notices:
        print(f"notice: {notice}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    with _open(args) as store:
        session = store.get(args.session_id, load_clip=False)
        if not store.can_edit(args.session_id, args.token):
            raise PermissionDenied(
                f"session {args.session_id} can only be deleted with its edit token; pass --token TOKEN "
                f"(or set {TOKEN_ENV}) with the token shown when it was created"
            )
        if not args.yes and not _confirm(f"Delete session {session.name!r} ({session.id})? [y/N] "):
            print("not deleted")
            return 1
        store.delete(args.session_id, args.token)
    print(f"deleted session {args.session_id}")
    return 0


def _confirm(question: str) -> bool:
    print(question, end="", flush=True)
    try:
        answer = sys.stdin.readline()
    except (EOFError, OSError):
        return False
    return answer.strip().lower() in {"y", "yes"}
