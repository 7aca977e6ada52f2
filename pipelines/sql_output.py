"""`hunthouse sql --format/--output`: a query result as a table, CSV, JSON, JSON lines, Parquet or Markdown.

The analyst session cannot write files (enable_external_access is off and locked), so DuckDB's COPY
is refused there by design. Results are instead streamed out of the session as Arrow record batches
and written here, in Python, to the one file the user named: into a hidden temporary file beside it,
renamed over it only once the whole result is written, so a failed query never leaves half a file.
"""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import decimal
import json
import os
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa

FORMATS = ("table", "csv", "json", "jsonl", "parquet", "markdown")
DISPLAY_FORMATS = {"table", "markdown"}  # cut at --limit (default 100); the others write every row
DEFAULT_DISPLAY_LIMIT = 100
BATCH_ROWS = 65_536


class OutputError(Exception):
    """A user mistake about the output (a directory, a missing parent, Parquet to a terminal)."""


def check_columns(fmt: str, names: list[str]) -> None:
    """JSON objects need unique keys: a query naming two columns alike must alias one."""
    if fmt in ("json", "jsonl"):
        seen = set()
        for name in names:
            if name in seen:
                raise OutputError(f"--format {fmt} needs unique column names; {name!r} appears twice (use AS)")
            seen.add(name)


def check_target(fmt: str, output: str | None) -> Path | None:
    if output is None:
        if fmt == "parquet":
            raise OutputError("--format parquet writes a binary file: name it with --output FILE")
        return None
    path = Path(output)
    if path.is_dir():
        raise OutputError(f"--output {output} is a directory: name a file")
    if not path.parent.exists():
        raise OutputError(f"--output {output}: directory {path.parent} does not exist")
    return path


class Limited:
    """The reader's batches cut after `limit` rows (None: all); `more` says whether rows were left out."""

    def __init__(self, reader: pa.RecordBatchReader, limit: int | None):
        self.reader, self.limit, self.more = reader, limit, False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        left = self.limit
        for batch in self.reader:
            if left is None:
                yield batch
                continue
            if batch.num_rows > left:
                self.more = True
                if left:
                    yield batch.slice(0, left)
                return
            left -= batch.num_rows
            yield batch


def _json_value(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)  # exact: a JSON float would round it
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple):  # month_day_nano intervals
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _dumps(row: dict) -> str:
    return json.dumps(row, default=_json_value, ensure_ascii=False)


def _is_nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t) or pa.types.is_interval(t)


def _flat_for_csv(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV has no lists or structs: such columns are written as their JSON text."""
    if not any(_is_nested(f.type) for f in batch.schema):
        return batch
    columns = [
        pa.array([None if v is None else _dumps(v) for v in col.to_pylist()], pa.string())
        if _is_nested(col.type) else col
        for col in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if _is_nested(f.type) else f for f in schema])


def _write_csv(batches: Iterable[pa.RecordBatch], schema: pa.Schema, sink) -> int:
    import pyarrow.csv as pacsv

    rows = 0
    with pacsv.CSVWriter(sink, _csv_schema(schema)) as writer:
        for batch in batches:
            writer.write_batch(_flat_for_csv(batch))
            rows += batch.num_rows
    return rows


def _write_parquet(batches: Iterable[pa.RecordBatch], schema: pa.Schema, sink) -> int:
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _rows(batch: pa.RecordBatch) -> Iterator[tuple]:
    """The batch's rows as tuples, by position (column names need not be unique)."""
    return zip(*(col.to_pylist() for col in batch.columns), strict=True)


def _write_json(batches: Iterable[pa.RecordBatch], out: IO[str], lines: bool) -> int:
    rows = 0
    if not lines:
        out.write("[")
    for batch in batches:
        for row in batch.to_pylist():
            if lines:
                out.write(_dumps(row) + "\n")
            else:
                out.write(("\n" if rows == 0 else ",\n") + _dumps(row))
            rows += 1
    if not lines:
        out.write("\n]\n" if rows else "]\n")
    return rows


def _cell(value, limit_width: bool) -> str:
    text = "NULL" if value is None else (str(value) if not isinstance(value, dict | list) else _dumps(value))
    text = text.replace("\n", "\\n")
    return text[:77] + "..." if limit_width and len(text) > 80 else text


def _markdown(batches: Iterable[pa.RecordBatch], names: list[str], out: IO[str]) -> int:
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|")

    out.write("| " + " | ".join(esc(n) for n in names) + " |\n")
    out.write("|" + "|".join("---" for _ in names) + "|\n")
    rows = 0
    for batch in batches:
        for row in _rows(batch):
            out.write("| " + " | ".join(esc(_cell(v, False)) for v in row) + " |\n")
            rows += 1
    return rows


def _table(batches: Iterable[pa.RecordBatch], names: list[str], out: IO[str]) -> int:
    grid = [list(names)]
    for batch in batches:
        for row in _rows(batch):
            grid.append([_cell(v, True) for v in row])
    widths = [max(len(r[i]) for r in grid) for i in range(len(names))]
    out.write("  ".join(h.ljust(w) for h, w in zip(grid[0], widths, strict=True)) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in grid[1:]:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")
    rows = len(grid) - 1
    out.write(f"({rows} row{'s' if rows != 1 else ''})\n")
    return rows


def _write(fmt: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema, binary, text: IO[str]) -> int:
    if fmt == "csv":
        return _write_csv(batches, schema, binary)
    if fmt == "parquet":
        return _write_parquet(batches, schema, binary)
    if fmt in ("json", "jsonl"):
        return _write_json(batches, text, fmt == "jsonl")
    if fmt == "markdown":
        return _markdown(batches, schema.names, text)
    return _table(batches, schema.names, text)


class _TextSink:
    """A binary sink over a text stream (stdout, or pytest's capture of it)."""

    def __init__(self, out: IO[str]):
        self.out, self.decoder, self.closed = out, codecs.getincrementaldecoder("utf-8")(), False

    def write(self, data) -> int:
        self.out.write(self.decoder.decode(bytes(data)))
        return len(data)

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.closed = True


def write_result(reader: pa.RecordBatchReader, fmt: str, target: Path | None, limit: int | None) -> tuple[int, bool]:
    """Write the reader's rows (at most `limit`) in `fmt` to `target` (None: stdout): (rows written,
    whether rows were left out)."""
    check_columns(fmt, reader.schema.names)
    batches = Limited(reader, limit)
    return _write_to(batches, reader.schema, fmt, target), batches.more


def _write_to(batches: Limited, schema: pa.Schema, fmt: str, target: Path | None) -> int:
    if target is None:
        sys.stdout.flush()
        if fmt == "csv":
            rows = _write_csv(batches, schema, pa.PythonFile(_TextSink(sys.stdout), mode="w"))
            sys.stdout.flush()
            return rows
        rows = _write(fmt, batches, schema, None, sys.stdout)
        sys.stdout.flush()
        return rows
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if fmt in ("csv", "parquet"):
            with open(tmp, "wb") as binary:
                rows = _write(fmt, batches, schema, binary, None)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as text:
                rows = _write(fmt, batches, schema, None, text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows
