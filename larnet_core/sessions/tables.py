"""DataFrames to bytes and back: Parquet for storage, a dtype-preserving JSON for bundle intervals.

Decoding is written for bytes that may come from a stranger's bundle: sizes are checked against the file's own
metadata before anything is decompressed, and only plain pandas dtypes are accepted back.
"""

from __future__ import annotations

import io
import json
import re

import pandas as pd

from larnet_core.errors import LarnetError

__all__ = ["MAX_TABLE_BYTES", "encode_parquet", "decode_parquet", "encode_json_table", "decode_json_table"]

# Uncompressed in-memory size a stored table may reach (per-frame results of a long clip stay far below).
MAX_TABLE_BYTES = 512 * 1024 * 1024

# dtype names accepted from a JSON table (no object/Python types: nothing is ever evaluated).
_PLAIN_DTYPE = re.compile(
    r"(u?int(8|16|32|64)|U?Int(8|16|32|64)|float(16|32|64)|Float(32|64)|bool|boolean|str|string|category"
    r"|datetime64\[(s|ms|us|ns)(, [A-Za-z0-9_+\-/:]{1,64})?\]|timedelta64\[(s|ms|us|ns)\])"
)


def encode_parquet(table: pd.DataFrame, what: str) -> bytes:
    """Serialise ``table`` (index, dtypes, categories included) as Parquet bytes.

    Raises:
        LarnetError: when a column holds values Parquet cannot store (e.g. mixed Python objects); the message
            names ``what`` and the column.
    """
    import pyarrow as pa

    buffer = io.BytesIO()
    try:
        table.to_parquet(buffer, engine="pyarrow", compression="zstd")
    except (pa.ArrowException, TypeError, ValueError) as exc:
        column = _first_unstorable_column(table)
        where = f" (column {column!r})" if column is not None else ""
        raise LarnetError(
            f"the {what} table cannot be saved{where}: {exc}; convert that column to numbers, text or datetimes"
        ) from exc
    return buffer.getvalue()


def _first_unstorable_column(table: pd.DataFrame) -> str | None:
    import pyarrow as pa

    for name in table.columns:
        try:
            pa.array(table[name])
        except (pa.ArrowException, TypeError, ValueError):
            return str(name)
    return None


def decode_parquet(data: bytes, what: str, max_bytes: int = MAX_TABLE_BYTES) -> pd.DataFrame:
    """Read Parquet bytes written by :func:`encode_parquet`.

    Raises:
        LarnetError: when the bytes are not Parquet or would expand beyond ``max_bytes`` in memory.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        metadata = parquet.metadata
        # Per-row-group uncompressed sizes are declared in the footer: refuse before decompressing anything.
        expanded = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
        if expanded > max_bytes:
            raise LarnetError(f"the {what} table would expand to {expanded} bytes; the limit is {max_bytes}")
        frame = parquet.read().to_pandas()
    except LarnetError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError) as exc:
        raise LarnetError(f"the {what} table is not readable Parquet ({exc}); re-export it from LARNet Studio") from exc
    return frame


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
        LarnetError: when the JSON is malformed or names a dtype outside the plain pandas types.
    """
    try:
        payload = json.loads(data.decode("utf-8"))
        dtypes = payload["dtypes"]
        table_json = json.dumps(payload["table"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise LarnetError(f"the {what} JSON is malformed ({exc}); re-export it from LARNet Studio") from exc
    if not isinstance(dtypes, dict) or not all(isinstance(v, str) for v in dtypes.values()):
        raise LarnetError(f"the {what} JSON has no valid 'dtypes' mapping; re-export it from LARNet Studio")
    for column, dtype in dtypes.items():
        if not _PLAIN_DTYPE.fullmatch(dtype):
            raise LarnetError(f"the {what} JSON gives column {column!r} the unsupported dtype {dtype!r}")
    try:
        frame = pd.read_json(io.StringIO(table_json), orient="table")
        for column in frame.columns:
            wanted = dtypes.get(str(column))
            # Categories come back from the table schema itself; JSON widens ints and datetimes, so narrow them.
            if wanted is not None and wanted != "category" and str(frame[column].dtype) != wanted:
                frame[column] = frame[column].astype(wanted)
    except (ValueError, TypeError, KeyError) as exc:
        raise LarnetError(f"the {what} JSON does not describe a table ({exc}); re-export it") from exc
    return frame
