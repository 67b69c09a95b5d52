"""Session bundles (``.larnet.zip``): export a saved analysis to one file, and import it safely elsewhere.

Layout::

    manifest.json        format, schema version, app version, session metadata, model and input info,
                         and the SHA-256 and size of every other member
    results.parquet      per-frame results (Parquet keeps every dtype, categories and the index)
    intervals.parquet    spotted intervals (format 2; format 1 wrote intervals.json, pandas table-schema JSON plus
                         the exact dtypes, which still imports)
    events.parquet       live-stream events
    faces.parquet        one row per face track (format 2)
    result.json          the analysis result's record: prediction, class names, model, settings, warnings
                         (format 2; format-1 bundles have none, and their clip prediction is computed again)
    images/NAME.png      chosen heat-map images
    clip/NAME            the clip, when the session stored it

Import validates everything first (archive limits and names, see :mod:`larnet_core.safezip`; manifest, its
nesting, dates and integers; checksums; schema version; table sizes from the Parquet footer, each table within
what the ones before it left of one budget for all of them; table layouts and values against what the
reopening pages read, :mod:`.result_schema`; images decoded once under the pixel cap and stored small) and only
then writes, in the single
transaction of ``SessionStore.create``: a bundle that fails any check leaves the database untouched. Nothing
a bundle names (a checkpoint path, a clip name) is ever looked up on this machine's disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from larnet_core import __version__
from larnet_core.errors import BundleError, LarnetError
from larnet_core.sessions.model import (
    MAX_RESULT_BYTES,
    AnalysisSession,
    CreatedSession,
    InputRef,
    ModelRef,
    validate_session,
    validate_time,
)
from larnet_core.sessions.result_schema import check_result_record, check_session_tables
from larnet_core.sessions.safezip import ZipLimits, read_zip_members
from larnet_core.sessions.store import SessionStore
from larnet_core.sessions.tables import (
    MAX_SESSION_TABLE_BYTES,
    MAX_TABLE_BYTES,
    decode_json_table,
    decode_parquet,
    encode_parquet,
    loads_bounded,
    table_bytes,
)

__all__ = ["BUNDLE_FORMAT", "BUNDLE_SCHEMA_VERSION", "BUNDLE_SUFFIX", "export_bundle", "import_bundle",
           "read_bundle", "ZipLimits"]

BUNDLE_FORMAT = "larnet-session"
#: 1: tables, images, clip. 2: adds the result record and the faces table. Every older format still imports.
BUNDLE_SCHEMA_VERSION = 2
BUNDLE_SUFFIX = ".larnet.zip"
MANIFEST = "manifest.json"
_MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_MAX_MANIFEST_DEPTH = 8

_TABLE_MEMBERS = {"results": "results.parquet", "intervals": "intervals.parquet", "events": "events.parquet",
                  "faces": "faces.parquet"}
# Format 1 wrote the intervals as JSON; bundles of that format still import.
_OLD_TABLE_MEMBERS = {"intervals": "intervals.json"}
_RESULT_MEMBER = "result.json"
_IMAGE_MEMBER = re.compile(r"images/([A-Za-z0-9][A-Za-z0-9 _.\-]{0,99})\.png")
_CLIP_MEMBER = re.compile(r"clip/[A-Za-z0-9][A-Za-z0-9 _.\-]{0,150}")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9 _.\-]")


def _allowed_member(name: str) -> bool:
    return (
        name in (MANIFEST, _RESULT_MEMBER)
        or name in _TABLE_MEMBERS.values()
        or name in _OLD_TABLE_MEMBERS.values()
        or _IMAGE_MEMBER.fullmatch(name) is not None
        or _CLIP_MEMBER.fullmatch(name) is not None
    )


def _clip_member_name(input_name: str) -> str:
    base = _UNSAFE_FILE_CHARS.sub("_", Path(input_name.replace("\\", "/")).name).lstrip(" ._-")[:150]
    return f"clip/{base or 'clip'}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------- export
def export_bundle(store: SessionStore, session_id: str, path: str | os.PathLike[str]) -> Path:
    """Write session ``session_id`` to a ``.larnet.zip`` bundle (reading a session needs no token).

    The file is written under a temporary name and renamed when complete, so a failed export leaves no
    partial bundle behind.

    Returns:
        The bundle's path.

    Raises:
        SessionNotFound: for an unknown id.
        LarnetError: when the destination folder does not exist or cannot be written.
    """
    session = store.get(session_id)
    members: dict[str, bytes] = {}
    for part, member in _TABLE_MEMBERS.items():
        table = session.table(part)
        if table is not None:
            members[member] = encode_parquet(table, part)
    if session.result:
        members[_RESULT_MEMBER] = json.dumps(session.result, allow_nan=True, ensure_ascii=False).encode()
    for name, png in session.images.items():
        members[f"images/{name}.png"] = png
    clip_member = None
    if session.input.data is not None:
        clip_member = _clip_member_name(session.input.name)
        members[clip_member] = session.input.data
    manifest = _manifest(session, clip_member, members)
    destination = Path(path)
    if not destination.parent.is_dir():
        raise LarnetError(f"cannot export to {destination}: the folder {destination.parent} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=".export-", suffix=".tmp", dir=destination.parent)
        os.close(handle)
        try:
            with zipfile.ZipFile(temporary, "w") as archive:
                archive.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False),
                                 compress_type=zipfile.ZIP_DEFLATED)
                for name, data in members.items():
                    # Parquet (zstd), PNG and video are already compressed; deflating them again only costs time.
                    compression = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
                    archive.writestr(name, data, compress_type=compression)
            os.replace(temporary, destination)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as exc:
        raise LarnetError(f"cannot write the bundle {destination}: {exc.strerror}; choose another path") from exc
    return destination


def _manifest(session: AnalysisSession, clip_member: str | None, members: dict[str, bytes]) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "schema_version": BUNDLE_SCHEMA_VERSION,
        "app_version": __version__,
        "session": {
            "name": session.name,
            "notes": session.notes,
            "kind": session.kind,
            "created_at": session.created_at.isoformat() if session.created_at else None,
            "updated_at": session.updated_at.isoformat() if session.updated_at else None,
            "metrics_runs": list(session.metrics_runs),
            "images": list(session.images),
        },
        "model": {
            "preset": session.model.preset,
            "checkpoint_path": session.model.checkpoint_path,
            "checkpoint_sha256": session.model.checkpoint_sha256,
            "synthetic": session.model.synthetic,
        },
        "input": {
            "name": session.input.name,
            "sha256": session.input.sha256,
            "fps": session.input.fps,
            "width": session.input.width,
            "height": session.input.height,
            "frame_count": session.input.frame_count,
            "clip": clip_member,
        },
        "members": {name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in members.items()},
    }


# ---------------------------------------------------------------------------------------------------- import
def import_bundle(
    store: SessionStore, path: str | os.PathLike[str], *, limits: ZipLimits | None = None
) -> CreatedSession:
    """Validate a bundle completely, then save it as a new session with a new id and edit token.

    Raises:
        BundleError: for any problem with the file (nothing is written to the store).
    """
    session = read_bundle(path, limits=limits)
    return store.create(session)


def read_bundle(path: str | os.PathLike[str], *, limits: ZipLimits | None = None) -> AnalysisSession:
    """Read and validate a bundle into an (unsaved) :class:`AnalysisSession`.

    Raises:
        BundleError: naming the file and what is wrong with it.
    """
    path = Path(path)
    label = f"bundle {path.name}"
    members = read_zip_members(path, limits or ZipLimits(), _allowed_member, what="bundle")
    manifest = _parse_manifest(members, label)
    _check_members(manifest, members, label)
    try:
        session = _session_from(manifest, members, label)
        return validate_session(session)
    except BundleError:
        raise
    except LarnetError as exc:
        raise BundleError(f"{label}: {exc}") from exc


def _parse_manifest(members: dict[str, bytes], label: str) -> dict[str, Any]:
    raw = members.get(MANIFEST)
    if raw is None:
        raise BundleError(f"{label} has no {MANIFEST}; it is not a LARNet session bundle")
    if len(raw) > _MAX_MANIFEST_BYTES:
        raise BundleError(f"{label}: {MANIFEST} is {len(raw)} bytes, larger than any real manifest")
    try:
        manifest = loads_bounded(raw, MANIFEST, max_depth=_MAX_MANIFEST_DEPTH)
    except LarnetError as exc:
        raise BundleError(f"{label}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{label}: {MANIFEST} does not describe a LARNet session bundle")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BundleError(f"{label}: {MANIFEST} has no valid schema_version")
    if version > BUNDLE_SCHEMA_VERSION:
        raise BundleError(
            f"{label} uses bundle schema version {version}, newer than this LARNet Studio reads "
            f"({BUNDLE_SCHEMA_VERSION}); upgrade larnet-studio to import it"
        )
    for key in ("session", "model", "input", "members"):
        if not isinstance(manifest.get(key), dict):
            raise BundleError(f"{label}: {MANIFEST} lacks the {key!r} section")
    return manifest


def _check_members(manifest: dict[str, Any], members: dict[str, bytes], label: str) -> None:
    listed = manifest["members"]
    present = set(members) - {MANIFEST}
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise BundleError(f"{label}: member {unlisted[0]!r} is not listed in {MANIFEST}; refusing it")
    missing = sorted(set(listed) - present)
    if missing:
        raise BundleError(f"{label}: {MANIFEST} lists {missing[0]!r} but the archive does not contain it")
    for name in sorted(present):
        entry = listed[name]
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(expected, str) or _sha256(members[name]) != expected.lower():
            raise BundleError(
                f"{label}: checksum mismatch for {name!r} (SHA-256 differs from {MANIFEST}); the file was altered "
                "or damaged"
            )


def _field(section: dict[str, Any], key: str, kind: type | tuple[type, ...], label: str, default: Any = None) -> Any:
    if key not in section and default is not None:
        return default
    value = section.get(key)
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise BundleError(f"{label}: {MANIFEST} field {key!r} must be a number")
    if not isinstance(value, kind):
        raise BundleError(f"{label}: {MANIFEST} field {key!r} has the wrong type ({type(value).__name__})")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise BundleError(f"{label}: {MANIFEST} field {key!r} is an integer wider than 64 bits")
    return value


def _time(value: Any, key: str, label: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise BundleError(f"{label}: {MANIFEST} field {key!r} is not an ISO date-time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BundleError(f"{label}: {MANIFEST} field {key!r} is not an ISO date-time") from None
    try:
        return validate_time(parsed, f"{MANIFEST} field {key!r}")
    except LarnetError as exc:
        raise BundleError(f"{label}: {exc}") from None


def _decode_tables(members: dict[str, bytes], label: str) -> dict[str, Any]:
    """Decode the table members within one budget: each table is bounded by what the tables before it left of
    :data:`MAX_SESSION_TABLE_BYTES`, checked from its footer before it is decompressed, so four tables each within
    its own limit cannot add up to more than one session may hold. A member's bytes are dropped once decoded."""
    tables: dict[str, Any] = {}
    left = MAX_SESSION_TABLE_BYTES
    for part, member in [*_TABLE_MEMBERS.items(), *_OLD_TABLE_MEMBERS.items()]:
        if member in members and part not in tables:
            if left <= 0:
                raise BundleError(f"{label}: the tables together would take more than {MAX_SESSION_TABLE_BYTES:,} "
                                  "bytes in memory; refusing it")
            data = members.pop(member)
            if member.endswith(".json"):
                table = decode_json_table(data, part)
            else:  # the limit named in a refusal is what the tables before it left
                table = decode_parquet(data, part, max_bytes=min(MAX_TABLE_BYTES, left))
            del data
            left -= table_bytes(table)
            tables[part] = table
    if left < 0:
        raise BundleError(f"{label}: the tables together take more than {MAX_SESSION_TABLE_BYTES:,} bytes in "
                          "memory; refusing it")
    return tables


def _session_from(manifest: dict[str, Any], members: dict[str, bytes], label: str) -> AnalysisSession:
    meta, model, ref = manifest["session"], manifest["model"], manifest["input"]
    image_names = _field(meta, "images", list, label, default=[])
    if not all(isinstance(name, str) for name in image_names):
        raise BundleError(f"{label}: {MANIFEST} lists image names that are not text")
    image_members = {m.group(1): data for name, data in members.items() if (m := _IMAGE_MEMBER.fullmatch(name))}
    if sorted(image_names) != sorted(image_members):
        raise BundleError(f"{label}: the images listed in {MANIFEST} do not match the images/ members")
    clip_member = ref.get("clip")
    clips = [name for name in members if name.startswith("clip/")]
    if clips != ([clip_member] if clip_member else []):
        raise BundleError(f"{label}: the clip named in {MANIFEST} does not match the clip/ member")
    tables = _decode_tables(members, label)
    result: dict[str, Any] = {}
    if _RESULT_MEMBER in members:
        raw = members[_RESULT_MEMBER]
        if len(raw) > MAX_RESULT_BYTES:
            raise BundleError(f"{label}: {_RESULT_MEMBER} is {len(raw)} bytes, larger than any real result record")
        try:
            result = loads_bounded(raw, _RESULT_MEMBER)
        except LarnetError as exc:
            raise BundleError(f"{label}: {exc}") from None
        if not isinstance(result, dict):
            raise BundleError(f"{label}: {_RESULT_MEMBER} is not a JSON object")
    kind = _field(meta, "kind", str, label)
    # The page that reopens this kind of session reads these columns: refuse a bundle it could not show.
    check_session_tables(kind, tables.get("results"), tables.get("intervals"), tables.get("events"),
                         tables.get("faces"))
    check_result_record(result)
    return AnalysisSession(
        name=_field(meta, "name", str, label),
        notes=_field(meta, "notes", str, label, default=""),
        kind=kind,
        created_at=_time(meta.get("created_at"), "created_at", label),
        updated_at=_time(meta.get("updated_at"), "updated_at", label),
        metrics_runs=_field(meta, "metrics_runs", list, label, default=[]),
        images={name: image_members[name] for name in image_names},
        model=ModelRef(
            preset=_field(model, "preset", str, label, default=""),
            checkpoint_path=_field(model, "checkpoint_path", str, label, default=""),
            checkpoint_sha256=_field(model, "checkpoint_sha256", str, label, default=""),
            synthetic=_field(model, "synthetic", bool, label, default=False),
        ),
        input=InputRef(
            name=_field(ref, "name", str, label, default=""),
            sha256=_field(ref, "sha256", str, label, default=""),
            fps=float(_field(ref, "fps", (int, float), label, default=0.0)),
            width=_field(ref, "width", int, label, default=0),
            height=_field(ref, "height", int, label, default=0),
            frame_count=_field(ref, "frame_count", int, label, default=0),
            data=members[clip_member] if clip_member else None,
        ),
        result=result,
        **tables,
    )
