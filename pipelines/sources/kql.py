"""KQL for one raw table and one window, built only from allow-listed names and datetime objects.

Nothing from configuration is ever pasted into a query: table and column names come from the
allow-lists below (checked against the raw-table contract), time bounds are formatted here from
timezone-aware datetimes, and the only literal is the constant ActionType prefix.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pipelines.sources.base import Window
from pipelines.sources.schemas import RAW_TABLES, WINDOW_COLUMN

# Lake table -> the service's table name (identical in Sentinel and Defender advanced hunting).
SERVICE_TABLES = {
    "device_events": "DeviceEvents",
    "security_alert": "SecurityAlert",
    "security_incident": "SecurityIncident",
}
FIREWALL_PREFIX = "Firewall"
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


def kql_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("KQL datetimes must be timezone-aware")
    return "datetime(" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + ")"


def _identifier(name: str, allowed: set[str]) -> str:
    if name not in allowed or not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not an allow-listed KQL identifier")
    return name


def window_query(table: str, window: Window, *, firewall_only: bool) -> str:
    """`<Table> | where <col> >= datetime(start) and <col> < datetime(end)` (+ firewall filter)."""
    if table not in SERVICE_TABLES:
        raise ValueError(f"unknown raw table {table!r} (known: {', '.join(sorted(SERVICE_TABLES))})")
    service_table = _identifier(SERVICE_TABLES[table], set(SERVICE_TABLES.values()))
    columns = {f.name for f in RAW_TABLES[table]}
    column = _identifier(WINDOW_COLUMN[table], columns)
    lines = [
        service_table,
        f"| where {column} >= {kql_datetime(window.start)} and {column} < {kql_datetime(window.end)}",
    ]
    if table == "device_events" and firewall_only:
        action = _identifier("ActionType", columns)
        lines.append(f'| where {action} startswith "{FIREWALL_PREFIX}"')
    return "\n".join(lines)
