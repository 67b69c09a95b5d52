"""The sizes a Parquet file's page headers declare, read without decompressing anything.

Arrow sizes each page's decompression buffer from the page's own header, not from the footer's column totals. A
file whose footer understates its pages would pass a footer check and still make Arrow allocate what the pages
declare, so the decoder sums the page headers too (:func:`declared_page_bytes`) and compares them with its
bounds before reading a column.

Page headers are Thrift structures in the compact protocol (https://github.com/apache/parquet-format,
``PageHeader``): fields 1-3 are the page type, its uncompressed and its compressed size; the rest is skipped
field by field.
"""

from __future__ import annotations

from larnet_core.errors import LarnetError

__all__ = ["declared_page_bytes"]

# Compact-protocol type codes.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_MAX_NESTING = 16
_MAX_PAGES = 1_000_000


class _Malformed(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position

    def byte(self) -> int:
        if self.position >= len(self.data):
            raise _Malformed("a page header runs past the end of the file")
        value = self.data[self.position]
        self.position += 1
        return value

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise _Malformed("a page header holds an overlong number")

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def skip_bytes(self, count: int) -> None:
        if count < 0 or self.position + count > len(self.data):
            raise _Malformed("a page header runs past the end of the file")
        self.position += count

    def skip(self, kind: int, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise _Malformed("a page header is nested too deeply")
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self.skip_bytes(1)
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.skip_bytes(8)
        elif kind == _BINARY:
            self.skip_bytes(self.varint())
        elif kind in (_LIST, _SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                if element in (_TRUE, _FALSE):
                    self.skip_bytes(1)  # booleans inside a list take a byte each
                else:
                    self.skip(element, depth + 1)
        elif kind == _MAP:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4, depth + 1)
                    self.skip(types & 0x0F, depth + 1)
        elif kind == _STRUCT:
            self.fields(depth + 1)
        else:
            raise _Malformed(f"a page header holds an unknown type ({kind})")

    def fields(self, depth: int, wanted: tuple[int, ...] = ()) -> dict[int, int]:
        """Read a struct up to its stop byte; returns the integer fields listed in ``wanted``."""
        found: dict[int, int] = {}
        field_id = 0
        while True:
            header = self.byte()
            if header == 0:
                return found
            delta, kind = header >> 4, header & 0x0F
            field_id = field_id + delta if delta else self.zigzag()
            if field_id in wanted and kind in (_I16, _I32, _I64):
                found[field_id] = self.zigzag()
            else:
                self.skip(kind, depth)


def declared_page_bytes(data: bytes, metadata, what: str = "") -> int:
    """The total uncompressed size the page headers of every column chunk declare.

    Args:
        data: The whole Parquet file.
        metadata: Its ``pyarrow.parquet.FileMetaData`` (the footer, already parsed and bounded).
        what: How the table is named in messages.

    Raises:
        LarnetError: a page header that is malformed, runs outside its column chunk or declares a negative size.
    """
    total = pages = 0
    try:
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
                end = start + chunk.total_compressed_size
                if start is None or start < 0 or end > len(data):
                    raise _Malformed("a column chunk lies outside the file")
                reader = _Reader(data, start)
                while reader.position < end:
                    sizes = reader.fields(0, wanted=(2, 3))
                    uncompressed, compressed = sizes.get(2, -1), sizes.get(3, -1)
                    if uncompressed < 0 or compressed < 0:
                        raise _Malformed("a page header lacks its sizes")
                    reader.skip_bytes(compressed)
                    total += uncompressed
                    pages += 1
                    if pages > _MAX_PAGES:
                        raise _Malformed("the file has more pages than any table needs")
                if reader.position != end:
                    raise _Malformed("a page runs past its column chunk")
    except _Malformed as exc:
        raise LarnetError(f"the {what or 'stored'} table is not readable Parquet ({exc}); re-export it from LARNet "
                          "Studio") from None
    return total
