"""The one Parquet convention of result tables (sessions, bundles, batch folders, ``larnet analyze --out``).

Written with pyarrow and zstd; text columns typed ``string`` (a column that is empty in one clip and text in
another must still read as one dataset); missing values null. Read back, a table has the dtypes it was written
with: text that was plain Python objects comes back as objects with None for missing (pandas 3 would make it its
``str`` dtype with NaN).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["arrow_table", "write_parquet", "parquet_bytes", "read_parquet", "restore_object_text"]


def arrow_table(table: pd.DataFrame, *, keep_index: bool = False) -> Any:
    """The table as Arrow, text columns typed ``string`` (``keep_index``: the index too, unless a plain range)."""
    arrow = pa.Table.from_pandas(table, preserve_index=None if keep_index else False)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) or pa.types.is_large_string(f.type)
              else f for f in arrow.schema]
    return arrow.cast(pa.schema(fields, metadata=arrow.schema.metadata))


def write_parquet(table: pd.DataFrame, target: str | Path | IO[bytes], *, keep_index: bool = False) -> None:
    """Write a result table as Parquet to a path or binary file."""
    pq.write_table(arrow_table(table, keep_index=keep_index), target, compression="zstd")


def parquet_bytes(table: pd.DataFrame, *, keep_index: bool = False) -> bytes:
    """:func:`write_parquet` into bytes (downloads, session rows, bundle members)."""
    buffer = io.BytesIO()
    write_parquet(table, buffer, keep_index=keep_index)
    return buffer.getvalue()


def read_parquet(source: str | Path | bytes) -> pd.DataFrame:
    """A table written by :func:`write_parquet` (a path, or bytes), with the dtypes it was written with. For
    files from elsewhere read with the bounded reader of the store (:func:`larnet_core.sessions.tables.
    decode_parquet`) instead."""
    table = pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else source)
    return restore_object_text(table.to_pandas(), table.schema)


def restore_object_text(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Text columns that were plain Python objects when written come back as objects, missing values as None."""
    raw = (schema.metadata or {}).get(b"pandas", b"")
    columns = json.loads(raw).get("columns", []) if raw else []
    for entry in columns if isinstance(columns, list) else []:
        name = entry.get("name") if isinstance(entry, dict) else None
        if (isinstance(name, str) and name in frame.columns and entry.get("numpy_type") == "object"
                and entry.get("pandas_type") in ("unicode", "empty") and pd.api.types.is_string_dtype(frame[name])
                and frame[name].dtype != object):
            values = frame[name]
            frame[name] = values.astype(object).where(values.notna(), None)
    return frame
