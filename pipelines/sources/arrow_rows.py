"""Turn service rows (Log Analytics tables, hunting results, mapped Graph objects) into Arrow.

Values keep their meaning: datetimes become UTC timestamps (Kusto's 100 ns ticks truncated to
microseconds), `dynamic`/object cells become JSON text as the raw contract wants, and everything
else goes to Arrow as-is for `schemas.conform` to cast strictly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sources.base import FetchStats
from pipelines.sources.schemas import TS

_FRACTION = re.compile(r"(\.\d{6})\d+")
DATETIME_TYPES = {"datetime", "date"}  # Kusto `datetime`, Graph hunting `DateTime` (lower-cased)
JSON_TYPES = {"dynamic", "object"}


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


def column_array(values: list, type_name: str) -> pa.Array:
    kind = (type_name or "").lower()
    if kind in DATETIME_TYPES:
        return pa.array([parse_datetime(v) for v in values], type=TS)
    values = [_json_text(v) for v in values]
    if kind in JSON_TYPES or kind in {"string", "guid", "timespan"}:
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed cell types in an untyped column: keep the text, let conform decide.
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def table_from_columns(names: Sequence[str], type_names: Sequence[str], columns: Sequence[list]) -> pa.Table:
    return pa.table({name: column_array(list(col), t) for name, t, col in zip(names, type_names, columns, strict=True)})


def advance_watermark(stats: FetchStats, table: pa.Table, column: str) -> None:
    """Raise stats.watermark to the largest non-null value of `column` in `table`."""
    if table.num_rows == 0 or column not in table.column_names:
        return
    latest = pc.max(table.column(column)).as_py()
    if latest is not None and (stats.watermark is None or latest > stats.watermark):
        stats.watermark = latest
