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

from larnet_core.errors import LarnetError
from larnet_core.result.parquet import parquet_bytes, restore_object_text

__all__ = ["MAX_TABLE_BYTES", "MAX_TABLE_ROWS", "MAX_TABLE_COLUMNS", "MAX_JSON_DEPTH", "encode_parquet",
           "decode_parquet", "encode_json_table", "decode_json_table", "loads_bounded"]

# Uncompressed in-memory size a stored table may reach (per-frame results of a long clip stay far below).
MAX_TABLE_BYTES = 512 * 1024 * 1024
#: Rows of a stored table: one per frame of the longest clip an analysis accepts (VideoLimits.max_frames), twice.
MAX_TABLE_ROWS = 240_000
#: Columns of a stored table (a per-frame table has about 20 plus one per class).
MAX_TABLE_COLUMNS = 1024
#: Nesting of JSON read from a bundle (a manifest nests 3 levels, pandas' table schema 4).
MAX_JSON_DEPTH = 32
_MAX_PANDAS_METADATA_BYTES = 1024 * 1024

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
    import pyarrow as pa

    try:
        return parquet_bytes(table, keep_index=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        column = _first_unstorable_column(table)
        where = f" (column {column!r})" if column is not None else ""
        raise LarnetError(
            f"the {what} table cannot be saved{where}: {exc}; convert that column to numbers, text or datetimes"
        ) from exc


def _first_unstorable_column(table: pd.DataFrame) -> str | None:
    import pyarrow as pa

    for name in table.columns:
        try:
            pa.array(table[name])
        except (pa.ArrowException, TypeError, ValueError):
            return str(name)
    return None


def decode_parquet(data: bytes, what: str, max_bytes: int = MAX_TABLE_BYTES) -> pd.DataFrame:
    """Read Parquet bytes written by :func:`encode_parquet`, within stated bounds.

    The footer is read first: row and column counts, encoded sizes and column types are checked before any
    column is decoded. Text columns are then read dictionary-encoded, their decoded size computed from the
    dictionary (a few hundred bytes of Parquet can repeat one long string ten million times), and only then
    decoded.

    Raises:
        LarnetError: when the bytes are not Parquet, hold types outside the plain ones, or would exceed
            :data:`MAX_TABLE_ROWS`, :data:`MAX_TABLE_COLUMNS` or ``max_bytes`` in memory.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        schema = parquet.schema_arrow
        text_columns = _check_parquet_footer(parquet.metadata, schema, what, max_bytes)
        table = pq.read_table(io.BytesIO(data), read_dictionary=text_columns or None)
        decoded = sum(_decoded_text_bytes(table.column(name)) for name in text_columns)
        if decoded > max_bytes:
            raise LarnetError(f"the {what} table's text would expand to {decoded} bytes; the limit is {max_bytes}")
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
    import pyarrow as pa

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
            fixed += 8  # offsets (or dictionary indices)
        elif (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
              or pa.types.is_timestamp(kind) or pa.types.is_duration(kind) or pa.types.is_null(kind)):
            fixed += 8
        else:
            raise LarnetError(f"the {what} table's column {field.name[:80]!r} has the type {kind}; only numbers, "
                              "booleans, text, categories and date-times are accepted")
    if rows * fixed > max_bytes:
        raise LarnetError(f"the {what} table would take {rows * fixed} bytes in memory; the limit is {max_bytes}")
    return text


def _decoded_text_bytes(column) -> int:
    """Bytes a dictionary-encoded text column takes once decoded: each row's value length, summed."""
    import pyarrow.compute as pc

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
