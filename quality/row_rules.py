"""Row rules applied at extract, before a partition is committed: bad rows go to quarantine with a
reason (counted against quarantine_threshold), good rows land. Nothing here raises on bad data.

- a value that does not fit its raw type (text in RemotePort, an unparseable timestamp);
- a port outside 0-65535;
- a timestamp after the moment of extraction (plus clock skew);
- AdditionalFields / ExtendedProperties that is not JSON (the firewall models read Direction and
  Profile from the first, the tuning models the analytic rule id from the second). Entities is not
  screened here: an alert with broken Entities keeps its label, and staging quarantines its entities.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sources.schemas import LEGACY_ALIASES, RAW_TABLES, conform

PORT_COLUMNS = {"device_events": ("RemotePort", "LocalPort")}
JSON_COLUMNS = {"device_events": ("AdditionalFields",), "security_alert": ("ExtendedProperties",)}
CLOCK_SKEW = timedelta(minutes=5)
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
    names = {n.lower() for n in batch.schema.names}
    out = []
    for field in RAW_TABLES[table]:
        alias = LEGACY_ALIASES.get(table, {}).get(field.name, "")
        if field.name.lower() in names or alias.lower() in names:
            out.append(field.name)
    return out


def conform_or_quarantine(batch: pa.Table | pa.RecordBatch, table: str) -> tuple[pa.Table, list[str], pa.Table]:
    """`conform`, except that rows whose values do not fit their type are quarantined instead of
    failing the whole batch. Returns (conformed good rows, dropped extra columns, quarantined)."""
    tbl = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    try:
        conformed, extra = conform(tbl, table)
        return conformed, extra, QUARANTINE_SCHEMA.empty_table()
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
            tbl.column(src).cast(field.type)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        for i, value in enumerate(tbl.column(src).to_pylist()):
            if reasons[i] is None and value is not None:
                try:
                    pa.array([value], type=tbl.column(src).type).cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    reasons[i] = f"{field.name} value {str(value)[:60]!r} is not {field.type}"
    mask = pa.array([r is not None for r in reasons])
    good, bad = _quarantine(tbl, mask, pa.array(reasons, pa.string()))
    conformed, extra = conform(good, table)
    return conformed, extra, bad


def screen_rows(tbl: pa.Table, table: str, now: datetime | None = None) -> tuple[pa.Table, pa.Table]:
    """Quarantine out-of-range ports, future timestamps and malformed JSON columns, with the reason."""
    if tbl.num_rows == 0:
        return tbl, QUARANTINE_SCHEMA.empty_table()
    limit = (now or datetime.now(UTC)) + CLOCK_SKEW
    reasons = pa.nulls(tbl.num_rows, pa.string())

    def flag(bad: pa.Array, reason: str) -> None:
        nonlocal reasons
        reasons = pc.if_else(pc.and_(pc.is_null(reasons), pc.fill_null(bad, False)), reason, reasons)

    for col in PORT_COLUMNS.get(table, ()):
        values = tbl.column(col)
        flag(pc.or_(pc.less(values, 0), pc.greater(values, 65535)), f"{col} outside 0-65535")
    for field in RAW_TABLES[table]:
        if pa.types.is_timestamp(field.type):
            values = tbl.column(field.name)
            flag(pc.greater(values, pa.scalar(limit, values.type)), f"{field.name} in the future (after {limit.isoformat()})")
    for col in JSON_COLUMNS.get(table, ()):
        flag(_malformed_json_mask(tbl.column(col)), f"{col} is not valid JSON")
    return _quarantine(tbl, pc.is_valid(reasons), reasons)


def _malformed_json(text: str | None) -> bool:
    if text is None or not text.strip():
        return False
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


_JSON = msgspec.json.Decoder()


def _malformed_json_mask(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """`_malformed_json` of every value, with msgspec as the fast judge of the well-formed ones.

    msgspec accepts a subset of what `json.loads` accepts (it refuses NaN, lone surrogates,
    numbers beyond float range), so a value msgspec reads is valid JSON for `json.loads` too; only
    the values it refuses (blank, malformed, or one of those extensions) are judged by
    `_malformed_json` itself.
    """
    decode = _JSON.decode
    refused = (msgspec.DecodeError, msgspec.ValidationError)
    bad = []
    for text in column.to_pylist():
        if text is None:
            bad.append(False)
            continue
        try:
            decode(text)
            bad.append(False)
        except refused:
            bad.append(_malformed_json(text))
    return pa.array(bad, type=pa.bool_())
