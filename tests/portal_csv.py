"""Read a Defender / Sentinel portal CSV export onto the raw schema (a test helper: the tests compare
recorded portal exports with the API contract; nothing in the pipeline reads portal CSVs).

Portal exports differ from the APIs: a UTF-8 BOM, headers with a unit suffix ("TimeGenerated [UTC]"),
some portal names ("Computer" for DeviceName) and US-locale timestamps ("4/19/2022, 9:57:02.487 PM").
The result is an Arrow table with contract column names where they can be mapped; `conform` and the
row rules then treat it like any other source batch (unknown columns are reported as drift).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from pipelines.sources.schemas import RAW_TABLES

PORTAL_NAMES = {"device_events": {"computer": "DeviceName"}}
UNIT_SUFFIX = re.compile(r"\s*\[[^\]]*\]\s*$")


def header_name(header: str, table: str) -> str:
    """'TimeGenerated [UTC]' -> 'TimeGenerated'; portal aliases -> contract names; BOM removed."""
    name = UNIT_SUFFIX.sub("", header.lstrip("\ufeff").strip())
    contract = {f.name.lower(): f.name for f in RAW_TABLES[table]}
    return PORTAL_NAMES.get(table, {}).get(name.lower()) or contract.get(name.lower(), name)


def parse_locale_timestamp(text: str) -> datetime | None:
    """'4/19/2022, 9:57:02.487 PM' (UTC, as the [UTC] suffix says) -> aware datetime; None if empty."""
    text = text.strip()
    if not text:
        return None
    fmt = "%m/%d/%Y, %I:%M:%S.%f %p" if "." in text else "%m/%d/%Y, %I:%M:%S %p"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


def read_portal_csv(path: str | Path, table: str) -> pa.Table:
    """Every value stays text except timestamp columns of the contract, which are parsed."""
    text = Path(path).read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    headers = [header_name(h, table) for h in next(reader)]
    rows = list(reader)
    types = {f.name: f.type for f in RAW_TABLES[table]}
    columns = {}
    for i, name in enumerate(headers):
        values = [r[i] if i < len(r) else "" for r in rows]
        if name in types and pa.types.is_timestamp(types[name]):
            columns[name] = pa.array([parse_locale_timestamp(v) for v in values], types[name])
        else:
            columns[name] = pa.array([v if v != "" else None for v in values], pa.string())
    return pa.table(columns)
