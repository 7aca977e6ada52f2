"""Turn service rows (Log Analytics tables, hunting results, mapped Graph objects) into Arrow.

Values keep their meaning: datetimes become UTC timestamps (Kusto's 100 ns ticks truncated to
microseconds), `dynamic`/object cells become JSON text as the raw contract wants, and everything
else goes to Arrow as-is for `schemas.conform` to cast strictly.

Columns are built vectorised: `pa.array` over a whole column, datetimes through Arrow's ISO-8601
cast. Each fast path accepts only what it converts exactly like the per-value rules
(`parse_datetime`, `_json_text`, `str`); any other column (numbers or objects in a text column,
an unusual datetime spelling) is converted value by value by those rules, so the result is the
same either way, only the speed differs.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sources.base import FetchStats
from pipelines.sources.schemas import TS, cast_column, conform, present_columns

_FRACTION = re.compile(r"(\.\d{6})\d+")
DATETIME_TYPES = {"datetime", "date"}  # Kusto `datetime`, Graph hunting `DateTime` (lower-cased)
JSON_TYPES = {"dynamic", "object"}
TEXT_TYPES = JSON_TYPES | {"string", "guid", "timespan"}
# What the vectorised datetime path takes: ISO 8601 with seconds, an optional fraction and an
# explicit zone, the way Kusto and Graph write datetimes. Anything else goes through parse_datetime.
_ISO_ZONED = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$"
_KUSTO_TICKS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$"  # Kusto/Graph: 7 digits, Z
# Years Arrow and Python disagree about at the edges (year 0, overflow past 9999 after the offset).
_EDGE_YEARS = r"^(0000|0001-01-01|9999-12-31)"


def parse_datetime(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = _FRACTION.sub(r"\1", str(value).strip())
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _json_text(value: object) -> object:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value


def _text_per_value(values: Sequence) -> pa.Array:
    return pa.array([None if v is None else str(_json_text(v)) for v in values], type=pa.string())


def datetime_array(values: Sequence) -> pa.Array:
    """Timestamps (µs, UTC) from ISO-8601 cells, as `parse_datetime` reads each of them.

    A column with a cell `parse_datetime` cannot read stays text: `schemas.conform` reads it with
    the same parser and the extract row rules quarantine only the rows it refuses, with the reason
    (the row contract), instead of one bad cell failing the whole response.
    """
    try:
        text = pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not all text: datetime objects, numbers
        try:
            return pa.array([parse_datetime(v) for v in values], type=TS)
        except (ValueError, OverflowError, TypeError):
            return _text_per_value(values)
    return _datetime_or_text(text, values)


def _datetime_or_text(text: pa.Array, values: Sequence | None = None) -> pa.Array:
    try:
        return _datetime_from_text(text, values)
    except (ValueError, OverflowError):
        return text


def _datetime_from_text(text: pa.Array, values: Sequence | None = None) -> pa.Array:
    """`datetime_array` of a string array (`values`: the same cells as Python objects, if at hand)."""
    empty = pc.equal(text, "")
    if pc.any(empty).as_py():
        text = pc.if_else(empty, pa.scalar(None, pa.string()), text)  # "" is null, like None
    if text.null_count == len(text):
        return pa.nulls(len(text), TS)
    if pc.any(pc.match_substring_regex(text, _EDGE_YEARS)).as_py():
        pass  # per value below
    elif pc.all(pc.match_substring_regex(text, _KUSTO_TICKS)).as_py():
        # Kusto's own spelling: drop the 7th fractional digit and the Z, read as UTC wall time
        try:
            return pc.utf8_slice_codeunits(text, 0, 26).cast(pa.timestamp("us")).cast(TS)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    elif pc.all(pc.match_substring_regex(text, _ISO_ZONED)).as_py():
        try:
            return pc.replace_substring_regex(text, _FRACTION.pattern, r"\1").cast(TS)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # e.g. 24:00 or 30 February: parse_datetime says what is wrong
    return pa.array([parse_datetime(v) for v in (text.to_pylist() if values is None else values)], type=TS)


def timestamps_from_text(text: pa.Array) -> pa.Array:
    """Timestamps (µs, UTC) of a string array, as `parse_datetime` reads each value (raises as it does)."""
    return _datetime_from_text(text)


def column_array(values: Sequence, type_name: str) -> pa.Array:
    kind = (type_name or "").lower()
    if kind in DATETIME_TYPES:
        return datetime_array(values)
    if kind in TEXT_TYPES:
        try:
            return pa.array(values, type=pa.string())  # exact when every cell is text or null
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return _text_per_value(values)  # numbers, booleans, objects: str() / JSON text
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = None
    if array is not None and not pa.types.is_nested(array.type):
        return array  # no dict/list cell (those infer nested types), so nothing to turn into JSON text
    values = [_json_text(v) for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed cell types in an untyped column: keep the text, let conform decide.
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def table_from_columns(names: Sequence[str], type_names: Sequence[str], columns: Sequence[Sequence]) -> pa.Table:
    return pa.table({name: column_array(col, t) for name, t, col in zip(names, type_names, columns, strict=True)})


# Row-major conversion of rows that msgspec has already type-checked while decoding them.
# A column's service type decides what its cells may be (`cell_type`, enforced by msgspec) and
# the Arrow type they are converted to; what `column_array` would make of the same cells is then
# known without looking at them, except for the two cases `table_from_typed_rows` fixes up.
_KIND = {
    **{t: "text" for t in TEXT_TYPES}, **{t: "datetime" for t in DATETIME_TYPES},
    **{t: "int" for t in ("int", "long", "int64", "int32", "int16", "sbyte", "byte", "uint16", "uint32")},
    **{t: "bool" for t in ("bool", "boolean")},
    **{t: "real" for t in ("real", "double", "single", "float")},
}
_CELL_TYPE = {"text": str | None, "datetime": str | None, "int": int | None, "bool": bool | None,
              "real": int | float | None}
_ARROW_TYPE = {"text": pa.string(), "datetime": pa.string(), "int": pa.int64(), "bool": pa.bool_(),
               "real": pa.float64()}


def cell_kind(type_name: str) -> str | None:
    """The typed-row kind of a service column type, or None when only `column_array` can read it.

    `dynamic`/`object` columns are typed text: a cell that is an object or array (JSON text in
    `column_array`) fails msgspec's check and sends the page to the per-column path.
    """
    return _KIND.get((type_name or "").lower())


def cell_type(type_name: str) -> object:
    return _CELL_TYPE[cell_kind(type_name)]


def table_from_typed_rows(names: Sequence[str], type_names: Sequence[str], rows: Sequence[tuple]) -> pa.Table | None:
    """`table_from_columns` of the transposed rows, converted row by row in one pass.

    Every cell must already have its column's `cell_type` (msgspec checked it while decoding).
    Returns None when a value still does not convert (an int beyond int64, one a double cannot
    hold exactly): the caller then takes the per-column path, which decides.
    """
    kinds = [cell_kind(t) for t in type_names]
    struct = pa.struct([pa.field(f"c{i}", _ARROW_TYPE[k]) for i, k in enumerate(kinds)])
    try:
        children = pa.array(rows, type=struct).flatten() if rows else [pa.array([], _ARROW_TYPE[k]) for k in kinds]
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    columns = {}
    for i, (name, kind, child) in enumerate(zip(names, kinds, children, strict=True)):
        if kind == "datetime":
            child = _datetime_or_text(child)
        elif kind != "text" and child.null_count == len(child):
            child = pa.nulls(len(child))  # pa.array infers the null type for a column of nulls
        elif kind == "real" and not any(type(row[i]) is float for row in rows):
            child = child.cast(pa.int64())  # integers only: pa.array infers int64 (exact: checked above)
        columns[name] = child
    return pa.table(columns)


_DECODER = msgspec.json.Decoder()


class DecoderCache:
    """msgspec decoders built on demand per key (a column signature), and per `hint` (the queried
    table) the key asked for last, which the next body of that table most likely shares. A handful
    of keys in practice; past `limit` the cache starts over rather than grow."""

    def __init__(self, build: Callable[[Hashable], msgspec.json.Decoder], limit: int = 16) -> None:
        self._build, self._limit = build, limit
        self._decoders: dict[Hashable, msgspec.json.Decoder] = {}
        self.last: dict[str, Hashable] = {}

    def get(self, key: Hashable, hint: str = "") -> msgspec.json.Decoder:
        decoder = self._decoders.get(key)
        if decoder is None:
            if len(self._decoders) >= self._limit:
                self._decoders.clear()
            decoder = self._decoders[key] = self._build(key)
        self.last[hint] = key
        return decoder


def decode_paused(decoder: msgspec.json.Decoder, body: bytes) -> object:
    """`decoder.decode(body)` with the garbage collector paused.

    A result page decodes to millions of new objects without a single reference cycle; the
    collections their allocation alone would trigger cost about as much as the decoding.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return decoder.decode(body)
    finally:
        if enabled:
            gc.enable()


def decode_json(body: bytes) -> object:
    """Decode a response body as the standard library would, faster.

    msgspec accepts a subset of what `json.loads` accepts (no NaN/Infinity, lone surrogates, BOM,
    numbers beyond float range) and decodes that subset to the same values; anything it refuses is
    decoded again by `json.loads`, which decides.
    """
    try:
        return decode_paused(_DECODER, body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return json.loads(body)


def advance_watermark(stats: FetchStats, table: pa.Table, column: str) -> None:
    """Raise stats.watermark to the largest non-null value of `column` in `table`."""
    if table.num_rows == 0 or column not in table.column_names:
        return
    latest = pc.max(table.column(column)).as_py()
    if latest is not None and (stats.watermark is None or latest > stats.watermark):
        stats.watermark = latest


def conformed_batch(batch: pa.Table, table: str, stats: FetchStats, watermark_column: str) -> pa.Table:
    """The batch on the raw schema, with its schema drift reported and the watermark advanced.

    A batch holding a value that does not fit its raw type (text in a port, a datetime nobody can
    read) is passed on as the service sent it: extract's row rules, derived from the row contract,
    quarantine just those rows with the reason and land the rest, where a strict cast here would
    fail the whole fetch.
    """
    stats.source_columns = (stats.source_columns or set()) | set(present_columns(batch.column_names, table))
    try:
        conformed, extra = conform(batch, table)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        if watermark_column in batch.column_names:
            try:
                column = cast_column(batch.column(watermark_column), TS)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                return batch  # the watermark column itself is bad: its good rows still land
            advance_watermark(stats, pa.table({watermark_column: column}), watermark_column)
        return batch
    stats.dropped_columns = sorted(set(stats.dropped_columns) | set(extra))
    advance_watermark(stats, conformed, watermark_column)
    return conformed
