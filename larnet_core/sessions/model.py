"""What a saved analysis holds: small dataclasses plus DataFrames, and the checks every save goes through."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import pandas as pd
from PIL import Image

from larnet_core.errors import LarnetError
from larnet_core.images import decode_image
from larnet_core.sessions.result_schema import (MAX_FPS, MAX_FRAME_COUNT, MAX_FRAME_SIDE, check_result_record,
                                                 check_table_values)
from larnet_core.sessions.tables import MAX_SESSION_TABLE_BYTES, MAX_TABLE_BYTES, table_bytes
from larnet_core.text import strip_bidi

__all__ = [
    "KINDS",
    "TABLE_PARTS",
    "DEFAULT_CLIP_LIMIT_BYTES",
    "MAX_NAME_CHARS",
    "MAX_NOTES_CHARS",
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "MAX_METRICS_RUNS",
    "MAX_RESULT_BYTES",
    "ModelRef",
    "InputRef",
    "AnalysisSession",
    "CreatedSession",
    "CHANGEABLE_FIELDS",
    "validate_session",
    "validate_changes",
    "validate_name",
    "validate_notes",
    "validate_image",
    "stored_image_size",
    "MAX_STORED_IMAGE_SIDE",
    "validate_time",
    "utc_now",
]

KINDS = ("clip", "live", "metrics", "attention")
# The DataFrame attributes of AnalysisSession, each stored as one Parquet blob.
TABLE_PARTS = ("results", "intervals", "events", "faces")
#: Largest ``result`` record (JSON: prediction, class names, model, settings, warnings) a session keeps.
MAX_RESULT_BYTES = 1024 * 1024

DEFAULT_CLIP_LIMIT_BYTES = 50 * 1024 * 1024
MAX_NAME_CHARS = 200
MAX_NOTES_CHARS = 20_000
MAX_IMAGES = 200
MAX_IMAGE_BYTES = 16 * 1024 * 1024
#: Longest side of a stored image: larger ones are scaled down when saved, so a page never decodes more than
#: this squared (heat maps and crops are a few hundred pixels).
MAX_STORED_IMAGE_SIDE = 2048
#: Bytes of all the images of one session together, as stored.
MAX_SESSION_IMAGE_BYTES = 128 * 1024 * 1024
MAX_METRICS_RUNS = 200
MAX_REF_CHARS = 1000
#: Years a stored time may fall in; times near the calendar's edges overflow when converted to UTC.
YEAR_RANGE = (1970, 9000)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Image names become bundle member names (images/<name>.png), so they are kept to a plain, portable alphabet.
_IMAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,99}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Control characters other than tab and newline (kept out of names and notes shown in tables and terminals).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (every stored time is UTC)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ModelRef:
    """The model that produced the analysis.

    Attributes:
        preset: Model preset name (e.g. ``larnet``), empty when unknown.
        checkpoint_path: Where the checkpoint was loaded from; may no longer exist when the session is reopened.
        checkpoint_sha256: SHA-256 (hex) of the checkpoint file, empty when unknown.
        synthetic: True when the model was trained on synthetic data only (a demo model).
    """

    preset: str = ""
    checkpoint_path: str = ""
    checkpoint_sha256: str = ""
    synthetic: bool = False


@dataclass(frozen=True)
class InputRef:
    """The analysed input (a clip, or a live stream's description).

    Attributes:
        name: File name shown to people (no directories needed).
        sha256: SHA-256 (hex) of the clip file; filled in from ``data`` when empty.
        fps: Frames per second (0 when unknown).
        width: Frame width in pixels.
        height: Frame height in pixels.
        frame_count: Number of frames.
        data: The clip's bytes, kept only when no larger than the store's clip limit.
    """

    name: str = ""
    sha256: str = ""
    fps: float = 0.0
    width: int = 0
    height: int = 0
    frame_count: int = 0
    data: bytes | None = field(default=None, repr=False)


@dataclass
class AnalysisSession:
    """One saved analysis.

    ``results``, ``intervals``, ``events`` and ``faces`` are an analysis result's tables and ``result`` the rest
    of it (prediction, class names, model, settings, warnings): :func:`larnet_core.sessions.result_to_session`
    and :func:`~larnet_core.sessions.result_from_session` convert a :class:`larnet_core.result.AnalysisResult`.

    ``id``, ``created_at`` and ``updated_at`` are set by the store. ``notices`` is computed on load (for instance
    when the model checkpoint file is gone) and never stored. ``app_version`` is the LARNet Studio version that
    last wrote the session (set by the store; empty for sessions from before it was kept).
    """

    name: str
    kind: str = "clip"
    notes: str = ""
    model: ModelRef = field(default_factory=ModelRef)
    input: InputRef = field(default_factory=InputRef)
    results: pd.DataFrame | None = None
    intervals: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    faces: pd.DataFrame | None = None
    result: dict[str, Any] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    metrics_runs: list[str] = field(default_factory=list)
    id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    notices: list[str] = field(default_factory=list)
    app_version: str = ""

    def table(self, part: str) -> pd.DataFrame | None:
        """The table named ``part`` (one of ``results``, ``intervals``, ``events``)."""
        if part not in TABLE_PARTS:
            raise ValueError(f"unknown table {part!r}; expected one of {', '.join(TABLE_PARTS)}")
        return getattr(self, part)


@dataclass(frozen=True)
class CreatedSession:
    """What ``create`` and ``import_bundle`` return. The edit token is shown once and stored only as a hash.

    Attributes:
        id: The new session's id (also its share-link key).
        edit_token: The secret needed to change or delete the session.
        notices: Things the caller should tell the user (for instance a clip that was too large to keep).
    """

    id: str
    edit_token: str = field(repr=False)
    notices: tuple[str, ...] = ()


def validate_name(name: object) -> str:
    """Return the stripped name, or raise LarnetError saying what to change."""
    if not isinstance(name, str):
        raise LarnetError(f"session name must be text, got {type(name).__name__}")
    name = strip_bidi(name).strip()  # bidirectional controls would make the name display as something else
    if not name:
        raise LarnetError("session name is empty; give the analysis a short name")
    if len(name) > MAX_NAME_CHARS:
        raise LarnetError(f"session name has {len(name)} characters; shorten it to at most {MAX_NAME_CHARS}")
    if _CONTROL.search(name) or "\n" in name or "\t" in name:
        raise LarnetError("session name contains control characters or line breaks; use a single line of text")
    return name


def validate_notes(notes: object) -> str:
    """Return the notes unchanged when acceptable, or raise LarnetError."""
    if not isinstance(notes, str):
        raise LarnetError(f"session notes must be text, got {type(notes).__name__}")
    if len(notes) > MAX_NOTES_CHARS:
        raise LarnetError(f"session notes have {len(notes)} characters; shorten them to at most {MAX_NOTES_CHARS}")
    if _CONTROL.search(notes):
        raise LarnetError("session notes contain control characters; remove them (tabs and line breaks are fine)")
    return notes


def validate_image(name: object, data: object) -> bytes:
    """Check an image's name and bytes and return the PNG to store.

    The image is decoded once, here, under the pixel cap of :func:`larnet_core.images.decode_image` (its header
    is read before any pixel); one larger than :data:`MAX_STORED_IMAGE_SIDE` on a side, animated, or carrying
    far more bytes than its pixels need is stored re-encoded, scaled down: whatever a session holds, a page that
    shows it decodes a small, plain PNG.

    Raises:
        LarnetError: for a bad name, bytes that are not a PNG, a damaged image or one above the pixel cap.
    """
    if not isinstance(name, str) or not _IMAGE_NAME.fullmatch(name):
        raise LarnetError(
            f"image name {name!r} is not allowed; use 1-100 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LarnetError(f"image {name!r} must be PNG bytes, got {type(data).__name__}")
    if len(data) > MAX_IMAGE_BYTES:
        raise LarnetError(f"image {name!r} is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES} bytes")
    if bytes(data[:8]) != _PNG_SIGNATURE:
        raise LarnetError(f"image {name!r} is not a PNG file; encode it as PNG (e.g. cv2.imencode('.png', img))")
    return _stored_png(name, bytes(data))


def _stored_png(name: str, data: bytes) -> bytes:
    pixels = decode_image(data, f"image {name!r}", mode=None, error=LarnetError)
    height, width = pixels.shape[:2]
    with Image.open(io.BytesIO(data), formats=("PNG",)) as header:
        animated = bool(getattr(header, "is_animated", False))
    # A plain PNG within the side limit is kept byte for byte; its extra chunks are bounded by this size.
    plain_size = 4 * width * height + 65536
    if max(width, height) <= MAX_STORED_IMAGE_SIDE and not animated and len(data) <= plain_size:
        return data
    scale = min(1.0, MAX_STORED_IMAGE_SIDE / max(width, height))
    image = Image.fromarray(pixels)
    if scale < 1.0:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def stored_image_size(png: bytes) -> tuple[int, int] | None:
    """``(width, height)`` a stored PNG declares in its header (nothing is decoded), or None when it has none.

    Pages check this before showing a session image (sessions saved before images were re-encoded may hold
    larger ones)."""
    if len(png) < 24 or bytes(png[:8]) != _PNG_SIGNATURE or bytes(png[12:16]) != b"IHDR":
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _validate_text(value: object, what: str, limit: int = MAX_REF_CHARS) -> str:
    if not isinstance(value, str):
        raise LarnetError(f"{what} must be text, got {type(value).__name__}")
    value = strip_bidi(value)
    if len(value) > limit or _CONTROL.search(value):
        raise LarnetError(f"{what} is too long (limit {limit}) or contains control characters")
    return value


def _validate_sha256(value: str, what: str) -> str:
    value = value.lower()
    if value and not _SHA256_HEX.fullmatch(value):
        raise LarnetError(f"{what} must be 64 hexadecimal characters (a SHA-256), got {value[:80]!r}")
    return value


def _validate_model(model: object) -> ModelRef:
    if not isinstance(model, ModelRef):
        raise LarnetError(f"session model must be a ModelRef, got {type(model).__name__}")
    return replace(
        model,
        preset=_validate_text(model.preset, "model preset", 200),
        checkpoint_path=_validate_text(model.checkpoint_path, "model checkpoint path"),
        checkpoint_sha256=_validate_sha256(_validate_text(model.checkpoint_sha256, "checkpoint SHA-256"),
                                           "checkpoint SHA-256"),
        synthetic=bool(model.synthetic),
    )


def _validate_input(ref: object) -> InputRef:
    if not isinstance(ref, InputRef):
        raise LarnetError(f"session input must be an InputRef, got {type(ref).__name__}")
    name = _validate_text(ref.name, "input name")
    sha = _validate_sha256(_validate_text(ref.sha256, "input SHA-256"), "input SHA-256")
    try:
        fps = float(ref.fps)
    except (TypeError, ValueError):
        raise LarnetError(f"input fps must be a number, got {ref.fps!r}") from None
    if not math.isfinite(fps) or not 0 <= fps <= MAX_FPS:
        raise LarnetError(f"input fps must be a finite number from 0 to {MAX_FPS:g}, got {str(ref.fps)[:40]}")
    sizes = {}
    for attr, limit in (("width", MAX_FRAME_SIDE), ("height", MAX_FRAME_SIDE), ("frame_count", MAX_FRAME_COUNT)):
        value = getattr(ref, attr)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise LarnetError(f"input {attr} must be an integer from 0 to {limit:,}, got {str(value)[:40]}")
        sizes[attr] = int(value)
    data = ref.data
    if data is not None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LarnetError(f"input data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        actual = hashlib.sha256(data).hexdigest()
        if sha and sha != actual:
            raise LarnetError(
                f"input {name!r}: the clip bytes do not match its SHA-256 ({sha[:12]}...); "
                "hash the file that was analysed, or leave sha256 empty to compute it"
            )
        sha = actual
    return InputRef(name=name, sha256=sha, fps=fps, data=data, **sizes)


def _validate_kind(kind: object) -> str:
    if kind not in KINDS:
        raise LarnetError(f"session kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    return str(kind)


def _table_check(part: str) -> Callable[[object], pd.DataFrame | None]:
    def check(table: object) -> pd.DataFrame | None:
        if table is not None and not isinstance(table, pd.DataFrame):
            raise LarnetError(f"session {part} must be a pandas DataFrame or None, got {type(table).__name__}")
        return table

    return check


def _validate_images(images: object) -> dict[str, bytes]:
    if not isinstance(images, dict):
        raise LarnetError(f"session images must be a dict of name -> PNG bytes, got {type(images).__name__}")
    if len(images) > MAX_IMAGES:
        raise LarnetError(f"a session holds at most {MAX_IMAGES} images; it has {len(images)}")
    stored = {name: validate_image(name, data) for name, data in images.items()}
    total = sum(len(png) for png in stored.values())
    if total > MAX_SESSION_IMAGE_BYTES:
        raise LarnetError(f"the session's images take {total:,} bytes together; at most {MAX_SESSION_IMAGE_BYTES:,} "
                          "are stored")
    return stored


def _validate_result(result: object) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise LarnetError(f"session result must be a dict (an analysis result's record), got {type(result).__name__}")
    try:
        text = json.dumps(result, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise LarnetError(f"session result cannot be stored as JSON ({exc}); keep it to numbers, text, lists and "
                          "dicts") from None
    if len(text) > MAX_RESULT_BYTES:
        raise LarnetError(f"session result is {len(text)} bytes of JSON; the limit is {MAX_RESULT_BYTES}")
    checked = json.loads(text)
    if checked:
        check_result_record(checked)
    return checked


def _validate_runs(runs: object) -> list[str]:
    if not isinstance(runs, (list, tuple)) or len(runs) > MAX_METRICS_RUNS:
        raise LarnetError(f"metrics_runs must be a list of at most {MAX_METRICS_RUNS} run references")
    return [_validate_text(run, "metrics run reference") for run in runs]


_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": validate_name,
    "notes": validate_notes,
    "kind": _validate_kind,
    "model": _validate_model,
    "input": _validate_input,
    **{part: _table_check(part) for part in TABLE_PARTS},
    "images": _validate_images,
    "result": _validate_result,
    "metrics_runs": _validate_runs,
}
CHANGEABLE_FIELDS = tuple(_FIELD_CHECKS)


def validate_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise a subset of session fields (as given to ``SessionStore.update``).

    Raises:
        TypeError: for a field that cannot be changed (``id``, times, notices) or does not exist.
        LarnetError: for a bad value, naming the field.
    """
    unknown = sorted(set(changes) - set(_FIELD_CHECKS))
    if unknown:
        raise TypeError(f"cannot change {', '.join(unknown)}; changeable fields: {', '.join(CHANGEABLE_FIELDS)}")
    checked = {key: _FIELD_CHECKS[key](value) for key, value in changes.items()}
    # What the pages read: values of every table (by column name when the session's kind is known), and the
    # tables' size together.
    tables = {part: checked[part] for part in TABLE_PARTS if checked.get(part) is not None}
    total = 0
    for part, table in tables.items():
        size = table_bytes(table)
        if size > MAX_TABLE_BYTES:
            raise LarnetError(f"the {part} table takes {size:,} bytes in memory; at most {MAX_TABLE_BYTES:,} are "
                              "stored (analyse a shorter clip, or fewer faces)")
        total += size
        check_table_values(part, table, checked.get("kind"))
    if total > MAX_SESSION_TABLE_BYTES:
        raise LarnetError(f"the session's tables take {total:,} bytes in memory together; at most "
                          f"{MAX_SESSION_TABLE_BYTES:,} are stored")
    return checked


def validate_time(value: object, what: str) -> datetime | None:
    """Return ``value`` as a UTC datetime (naive values are taken as UTC), or None; refuse other types and years
    outside :data:`YEAR_RANGE` (converting a time at the calendar's edge to UTC overflows)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise LarnetError(f"{what} must be a datetime, got {type(value).__name__}")
    if not YEAR_RANGE[0] <= value.year <= YEAR_RANGE[1]:
        raise LarnetError(f"{what} is in the year {value.year}; times from {YEAR_RANGE[0]} to {YEAR_RANGE[1]} "
                          "are accepted")
    try:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise LarnetError(f"{what} cannot be expressed in UTC") from None


def validate_session(session: AnalysisSession) -> AnalysisSession:
    """Return a checked, normalised copy of ``session``, or raise LarnetError naming the bad field.

    Tables are checked for size and values (:mod:`.result_schema`); whether their columns can be stored is decided
    when they are encoded.
    """
    if not isinstance(session, AnalysisSession):
        raise LarnetError(f"expected an AnalysisSession, got {type(session).__name__}")
    checked = validate_changes({key: getattr(session, key) for key in CHANGEABLE_FIELDS})
    times = {key: validate_time(getattr(session, key), f"session {key}") for key in ("created_at", "updated_at")}
    return replace(session, notices=list(session.notices), **checked, **times)
