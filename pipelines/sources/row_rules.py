"""Row rules applied at extract, before a partition is committed: bad rows go to quarantine with a
reason (counted against quarantine_threshold), good rows land. Nothing here raises on bad data.

Every rule comes from the row contract (pipelines/sources/contract.py), from which the raw GX
suites are derived too, so a row that lands passes their ERROR expectations:

- a value that does not fit its raw type (text in RemotePort, an unparseable timestamp);
- a value outside its column's range (ports: 0-65535);
- a timestamp after the moment of extraction (plus clock skew);
- text that is not JSON in a JSON column whose rule is "quarantine" (AdditionalFields,
  ExtendedProperties). A "warn" JSON column (Entities, AlertIds, ...) keeps its row: the suites
  warn, staging copes (e.g. it quarantines an alert's broken entities, not the alert).

Blank text in a JSON column means no value: it is normalised to NULL here, before the lake.
Missing keys and rows outside the window are quarantined by `split_bad_rows` in pipelines/extract.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sources.contract import (
    CLOCK_SKEW,
    RAW_CONTRACT,
    future_reason,
    json_reason,
    parses_as_json,
    range_reason,
    type_reason,
)
from pipelines.sources.schemas import LEGACY_ALIASES, RAW_TABLES, cast_column, conform, present_columns

QUARANTINE_SCHEMA = pa.schema([("reason", pa.string()), ("row_json", pa.string())])


def _rows_json(tbl: pa.Table) -> pa.Array:
    return pa.array([json.dumps(r, default=str, sort_keys=True) for r in tbl.to_pylist()], pa.string())


def _quarantine(tbl: pa.Table, mask: pa.Array, reasons: pa.Array) -> tuple[pa.Table, pa.Table]:
    if not pc.any(mask).as_py():
        return tbl, QUARANTINE_SCHEMA.empty_table()
    bad = pa.table({"reason": reasons.filter(mask), "row_json": _rows_json(tbl.filter(mask))}, schema=QUARANTINE_SCHEMA)
    return tbl.filter(pc.invert(mask)), bad


def source_columns(batch: pa.Table | pa.RecordBatch, table: str) -> list[str]:
    """The source's columns under their contract names (legacy aliases resolved), for the schema check."""
    return present_columns(batch.schema.names, table)


def conform_or_quarantine(batch: pa.Table | pa.RecordBatch, table: str) -> tuple[pa.Table, list[str], pa.Table]:
    """`conform` plus the contract's blank-JSON rule, except that rows whose values do not fit their
    type are quarantined instead of failing the whole batch.
    Returns (conformed good rows, dropped extra columns, quarantined)."""
    tbl = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    try:
        conformed, extra = conform(tbl, table)
        return blank_json_to_null(conformed, table), extra, QUARANTINE_SCHEMA.empty_table()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    # Slow path, only for a batch that failed: find the offending values column by column.
    schema = RAW_TABLES[table]
    by_lower = {n.lower(): n for n in tbl.column_names}
    reasons: list[str | None] = [None] * tbl.num_rows
    for field in schema:
        src = by_lower.get(field.name.lower()) or by_lower.get(LEGACY_ALIASES.get(table, {}).get(field.name, "").lower())
        if src is None:
            continue
        try:
            cast_column(tbl.column(src), field.type)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        for i, value in enumerate(tbl.column(src).to_pylist()):
            if reasons[i] is None and value is not None:
                try:
                    cast_column(pa.array([value], type=tbl.column(src).type), field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    reasons[i] = type_reason(field.name, value, field.type)
    mask = pa.array([r is not None for r in reasons])
    good, bad = _quarantine(tbl, mask, pa.array(reasons, pa.string()))
    conformed, extra = conform(good, table)
    return blank_json_to_null(conformed, table), extra, bad


def blank_json_to_null(tbl: pa.Table, table: str) -> pa.Table:
    """The contract's meaning of '' (or whitespace only) in a JSON column: no value. Both services
    send it (an event without additional fields); as NULL it reads the same everywhere."""
    for name in RAW_CONTRACT[table].blank_is_null:
        i = tbl.schema.get_field_index(name)
        values = tbl.column(i)
        blank = pc.equal(pc.utf8_trim_whitespace(values), "")
        if pc.any(blank).as_py():
            values = pc.if_else(blank, pa.scalar(None, values.type), values)
            tbl = tbl.set_column(i, tbl.schema.field(i), values)
    return tbl


def screen_rows(tbl: pa.Table, table: str, now: datetime | None = None) -> tuple[pa.Table, pa.Table]:
    """Quarantine values outside their range, future timestamps and malformed JSON in the JSON
    columns the contract quarantines on, with the reason."""
    if tbl.num_rows == 0:
        return tbl, QUARANTINE_SCHEMA.empty_table()
    contract = RAW_CONTRACT[table]
    limit = (now or datetime.now(UTC)) + CLOCK_SKEW
    reasons = pa.nulls(tbl.num_rows, pa.string())

    def flag(bad: pa.Array, reason: str) -> None:
        nonlocal reasons
        reasons = pc.if_else(pc.and_(pc.is_null(reasons), pc.fill_null(bad, False)), reason, reasons)

    for column in contract.ranged:
        values = tbl.column(column.name)
        low, high = column.range
        flag(pc.or_(pc.less(values, low), pc.greater(values, high)), range_reason(column))
    for name in contract.timestamps:
        values = tbl.column(name)
        flag(pc.greater(values, pa.scalar(limit, values.type)), future_reason(name, limit.isoformat()))
    for column in contract.json_columns:
        if column.json.on_malformed == "quarantine":
            flag(_malformed_json_mask(tbl.column(column.name)), json_reason(column))
    return _quarantine(tbl, pc.is_valid(reasons), reasons)


def _malformed_json(text: str | None) -> bool:
    """Not JSON by the contract's judge (`parses_as_json`); NULL is no value, never malformed."""
    return text is not None and not parses_as_json(text)


_JSON = msgspec.json.Decoder()


def _malformed_json_mask(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """`_malformed_json` of every value, with msgspec as the fast judge of the well-formed ones.

    msgspec accepts a subset of what `json.loads` accepts (it refuses NaN, lone surrogates,
    numbers beyond float range, surrounding non-JSON whitespace), so a value msgspec reads is
    valid JSON for `json.loads` too; only the values it refuses (or cannot decode at all, e.g.
    nesting too deep) are judged by `_malformed_json` itself.
    """
    decode = _JSON.decode
    bad = []
    for text in column.to_pylist():
        if text is None:
            bad.append(False)
            continue
        try:
            decode(text)
            bad.append(False)
        except Exception:  # noqa: BLE001 (anything msgspec refuses goes to the judge)
            bad.append(_malformed_json(text))
    return pa.array(bad, type=pa.bool_())
