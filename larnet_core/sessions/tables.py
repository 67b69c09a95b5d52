"""DataFrames to bytes and back: Parquet for storage, a dtype-preserving JSON for bundle intervals.

Decoding is written for bytes that may come from a stranger's bundle: row and column counts, sizes and types
are checked against the file's own metadata before anything is decompressed, text is measured before it is
expanded, JSON nesting is bounded, and only plain pandas dtypes are accepted back.
"""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from larnet_core.errors import LarnetError
from larnet_core.result.parquet import parquet_bytes, restore_object_text
from larnet_core.sessions.parquet_pages import declared_page_bytes

__all__ = ["MAX_TABLE_BYTES", "MAX_SESSION_TABLE_BYTES", "MAX_TEXT_CELL_BYTES", "MAX_TABLE_ROWS",
           "MAX_TABLE_COLUMNS", "MAX_JSON_DEPTH", "MAX_JSON_TABLE_BYTES", "encode_parquet", "decode_parquet",
           "encode_json_table", "decode_json_table", "loads_bounded", "table_bytes"]

_MiB = 1024 * 1024
#: Uncompressed in-memory size one stored table may reach: the per-frame table of the longest clip an analysis
#: accepts (120,000 frames, about 40 columns) takes about 40 MB, twice that with two faces followed.
MAX_TABLE_BYTES = 128 * _MiB
#: In-memory size of all the tables of one session together (what a page holds when it opens the session).
MAX_SESSION_TABLE_BYTES = 192 * _MiB
#: Longest text in one cell, in bytes (labels are 64 characters; names and paths a few hundred).
MAX_TEXT_CELL_BYTES = 16 * 1024
#: Size of a table stored as JSON (format-1 bundle intervals: a few kilobytes in practice); JSON costs tens of
#: bytes of Python objects per byte of text, so it is bounded far below the Parquet tables.
MAX_JSON_TABLE_BYTES = 4 * _MiB
#: Rows of a stored table: one per frame of the longest clip an analysis accepts (VideoLimits.max_frames), twice.
MAX_TABLE_ROWS = 240_000
#: Columns of a stored table (a per-frame table has about 20 plus one per class).
MAX_TABLE_COLUMNS = 1024
#: Nesting of JSON read from a bundle (a manifest nests 3 levels, pandas' table schema 4).
MAX_JSON_DEPTH = 32
_MAX_PANDAS_METADATA_BYTES = 1024 * 1024
# Memory a text cell takes besides its characters: a pointer and, once pandas holds it, a Python string object.
_TEXT_CELL_OVERHEAD = 64

# dtype names accepted from a JSON table (no object/Python types: nothing is ever evaluated).
_PLAIN_DTYPE = re.compile(
    r"(u?int(8|16|32|64)|U?Int(8|16|32|64)|float(16|32|64)|Float(32|64)|bool|boolean|str|string|category"
    r"|datetime64\[(s|ms|us|ns)(, [A-Za-z0-9_+\-/:]{1,64})?\]|timedelta64\[(s|ms|us|ns)\])"
)


def encode_parquet(table: pd.DataFrame, what: str) -> bytes:
    """Serialise ``table`` (index, dtypes, categories included) as Parquet bytes, in the result tables' one
    convention (:mod:`larnet_core.result.parquet`).

    Raises:
        LarnetError: when a column holds values Parquet cannot store (e.g. mixed Python objects); the message
            names ``what`` and the column.
    """
    try:
        return parquet_bytes(table, keep_index=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        column = _first_unstorable_column(table)
        where = f" (column {column!r})" if column is not None else ""
        raise LarnetError(
            f"the {what} table cannot be saved{where}: {exc}; convert that column to numbers, text or datetimes"
        ) from exc


def _first_unstorable_column(table: pd.DataFrame) -> str | None:
    for name in table.columns:
        try:
            pa.array(table[name])
        except (pa.ArrowException, TypeError, ValueError):
            return str(name)
    return None


def decode_parquet(data: bytes, what: str, max_bytes: int = MAX_TABLE_BYTES) -> pd.DataFrame:
    """Read Parquet bytes written by :func:`encode_parquet`, within stated bounds.

    The footer is read first: row and column counts, encoded sizes and column types are checked before any
    column is decoded, and so is the sum of the sizes the page headers declare (what Arrow allocates). Text columns are then read dictionary-encoded, their decoded size computed from the
    dictionary (a few hundred bytes of Parquet can repeat one long string ten million times), and only then
    decoded.

    Raises:
        LarnetError: when the bytes are not Parquet, hold types outside the plain ones, or would exceed
            :data:`MAX_TABLE_ROWS`, :data:`MAX_TABLE_COLUMNS` or ``max_bytes`` in memory.
    """
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        schema = parquet.schema_arrow
        text_columns = _check_parquet_footer(parquet.metadata, schema, what, max_bytes)
        # Arrow sizes its buffers from each page's header: those must agree with the bound too.
        declared = declared_page_bytes(data, parquet.metadata, what)
        if declared > max_bytes:
            raise LarnetError(f"the {what} table's pages would expand to {declared} bytes; the limit is {max_bytes}")
        table = pq.read_table(io.BytesIO(data), read_dictionary=text_columns or None)
        decoded = sum(_decoded_text_bytes(table.column(name)) for name in text_columns)
        if decoded > max_bytes:
            raise LarnetError(f"the {what} table's text would expand to {decoded} bytes; the limit is {max_bytes}")
        _check_text_cells(table, what)
        frame = restore_object_text(table.cast(schema).to_pandas(), schema)
    except LarnetError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError, OverflowError, RecursionError,
            IndexError) as exc:
        raise LarnetError(f"the {what} table is not readable Parquet ({_short(exc)}); re-export it from LARNet "
                          "Studio") from None
    return frame


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _check_parquet_footer(metadata, schema, what: str, max_bytes: int) -> list[str]:
    """Bounds read from the footer alone; returns the plain-text columns (to read dictionary-encoded)."""
    rows, columns = metadata.num_rows, metadata.num_columns
    if rows > MAX_TABLE_ROWS or rows < 0:
        raise LarnetError(f"the {what} table has {rows:,} rows; at most {MAX_TABLE_ROWS:,} are accepted")
    if columns > MAX_TABLE_COLUMNS:
        raise LarnetError(f"the {what} table has {columns:,} columns; at most {MAX_TABLE_COLUMNS:,} are accepted")
    encoded = sum(metadata.row_group(g).column(c).total_uncompressed_size
                  for g in range(metadata.num_row_groups) for c in range(metadata.row_group(g).num_columns))
    if encoded > max_bytes:
        raise LarnetError(f"the {what} table would expand to {encoded} bytes; the limit is {max_bytes}")
    pandas_meta = (schema.metadata or {}).get(b"pandas", b"")
    if len(pandas_meta) > _MAX_PANDAS_METADATA_BYTES:
        raise LarnetError(f"the {what} table carries {len(pandas_meta)} bytes of pandas metadata; refusing it")
    if pandas_meta:
        loads_bounded(pandas_meta, f"{what} table metadata")
    fixed, text = 0, []
    for field in schema:
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if not pa.types.is_dictionary(field.type):
                text.append(field.name)
            fixed += _TEXT_CELL_OVERHEAD
        elif (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
              or pa.types.is_timestamp(kind) or pa.types.is_duration(kind) or pa.types.is_null(kind)):
            fixed += 8
        else:
            raise LarnetError(f"the {what} table's column {field.name[:80]!r} has the type {kind}; only numbers, "
                              "booleans, text, categories and date-times are accepted")
    if rows * fixed > max_bytes:
        raise LarnetError(f"the {what} table would take {rows * fixed} bytes in memory; the limit is {max_bytes}")
    return text


def _check_text_cells(table, what: str) -> None:
    """Refuse a text (or category) cell longer than :data:`MAX_TEXT_CELL_BYTES`, measured on the dictionary."""
    for name, column in zip(table.column_names, table.columns):
        for chunk in column.chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) or not len(values):
                continue
            longest = pc.max(pc.binary_length(values)).as_py() or 0
            if longest > MAX_TEXT_CELL_BYTES:
                raise LarnetError(f"the {what} table's column {str(name)[:80]!r} holds a text of {longest:,} bytes; "
                                  f"at most {MAX_TEXT_CELL_BYTES:,} are accepted")


def table_bytes(table: pd.DataFrame) -> int:
    """Bytes ``table`` takes in memory, text included (what a page that opens it holds)."""
    return int(table.memory_usage(index=True, deep=True).sum())


def _decoded_text_bytes(column) -> int:
    """Bytes a dictionary-encoded text column takes once decoded: each row's value length, summed."""
    total = 0
    for chunk in column.chunks:
        lengths = pc.binary_length(chunk.dictionary)
        used = pc.sum(pc.take(lengths, chunk.indices)).as_py()
        total += int(used or 0)
    return total


def loads_bounded(data: bytes | str, what: str, max_depth: int = MAX_JSON_DEPTH):
    """Parse JSON from an untrusted source, refusing nesting deeper than ``max_depth``.

    Raises:
        LarnetError: malformed JSON, or nested deeper than ``max_depth`` (Python's parser would otherwise end
            in a RecursionError).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(text)
    except RecursionError:
        raise LarnetError(f"the {what} JSON is nested too deeply; at most {max_depth} levels are accepted") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise LarnetError(f"the {what} JSON is malformed ({_short(exc)}); re-export it from LARNet Studio") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise LarnetError(f"the {what} JSON is nested {depth} levels deep; at most {max_depth} are accepted")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def encode_json_table(table: pd.DataFrame) -> bytes:
    """Serialise ``table`` as readable JSON (pandas' table schema) plus the exact dtypes to restore."""
    dtypes = {str(column): str(dtype) for column, dtype in table.dtypes.items()}
    payload = {
        "dtypes": dtypes,
        "table": json.loads(table.to_json(orient="table", date_format="iso", date_unit="ns")),
    }
    return json.dumps(payload, indent=1, ensure_ascii=False).encode("utf-8")


def decode_json_table(data: bytes, what: str) -> pd.DataFrame:
    """Read bytes written by :func:`encode_json_table`, restoring the recorded dtypes.

    Raises:
        LarnetError: when the JSON is malformed, nested too deeply, holds numbers beyond 64 bits, has more rows
            or columns than a table may, or names a dtype outside the plain pandas types.
    """
    if len(data) > MAX_JSON_TABLE_BYTES:
        raise LarnetError(f"the {what} JSON is {len(data):,} bytes; at most {MAX_JSON_TABLE_BYTES:,} are accepted "
                          "(newer bundles store tables as Parquet: re-export it)")
    payload = loads_bounded(data, what)
    try:
        dtypes = payload["dtypes"]
        rows = payload["table"]["data"]
        table_json = json.dumps(payload["table"])
    except (KeyError, TypeError) as exc:
        raise LarnetError(f"the {what} JSON is malformed ({_short(exc)}); re-export it from LARNet Studio") from None
    if not isinstance(dtypes, dict) or not all(isinstance(v, str) for v in dtypes.values()):
        raise LarnetError(f"the {what} JSON has no valid 'dtypes' mapping; re-export it from LARNet Studio")
    if not isinstance(rows, list) or len(rows) > MAX_TABLE_ROWS or len(dtypes) > MAX_TABLE_COLUMNS:
        raise LarnetError(f"the {what} JSON has more than {MAX_TABLE_ROWS:,} rows or {MAX_TABLE_COLUMNS:,} columns")
    for column, dtype in dtypes.items():
        if not _PLAIN_DTYPE.fullmatch(dtype):
            raise LarnetError(f"the {what} JSON gives column {column[:80]!r} the unsupported dtype {dtype[:80]!r}")
    try:
        frame = pd.read_json(io.StringIO(table_json), orient="table")
        for column in frame.columns:
            wanted = dtypes.get(str(column))
            # Categories come back from the table schema itself; JSON widens ints and datetimes, so narrow them.
            if wanted is not None and wanted != "category" and str(frame[column].dtype) != wanted:
                frame[column] = frame[column].astype(wanted)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError, IndexError) as exc:
        raise LarnetError(f"the {what} JSON does not describe a table ({_short(exc)}); re-export it") from None
    return frame
