"""Landing throughput: API-shaped result pages -> the connectors' own parsers -> the lake.

Pages are built from simulator DeviceEvents rows in the wire format of each API (Log Analytics
`tables` JSON with Kusto types and 7-digit datetimes; Graph `huntingQueryResults` with .NET types,
rows as objects). The timed part replays the encoded bodies through the real code path:
- Sentinel: a real LogsQueryClient whose HTTP call (`_execute`) is replaced by decoding the body
  exactly as the SDK does (`response.json()` then its QueryResults model), so query_workspace,
  LogsTable parsing, SentinelSource._query and schemas.conform all run as in production;
- Defender: DefenderSource with Graph's request_json replaced by json.loads of the body, so
  defender.hunting_table and conform run as in production;
then pipelines.extract.extract_partition (quality rules, quarantine) and lake.write_partition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from azure.core.credentials import AccessToken

from pipelines.config import Settings, TenantConfig
from pipelines.extract import day_window, extract_partition
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.defender import DefenderSource
from pipelines.sources.sample import SampleSource
from pipelines.sources.schemas import DEVICE_EVENTS
from pipelines.sources.sentinel import SentinelSource

from .dataset import Scale
from .dataset import settings as sample_settings

WORKSPACE = "00000000-0000-4000-8000-000000000001"


def _kusto_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "datetime"
    return {pa.int32(): "int", pa.int64(): "long", pa.float64(): "real", pa.bool_(): "bool"}.get(t, "string")


def _dotnet_type(t: pa.DataType) -> str:
    return {"datetime": "DateTime", "int": "Int32", "long": "Int64", "real": "Double", "bool": "Boolean"}.get(
        _kusto_type(t), "String")


def _wire(value: object) -> object:
    # Kusto and Graph send 7 fractional digits and Z
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return value


def simulator_rows(scale: Scale, rows: int, home: Path) -> list[dict]:
    """The first `rows` DeviceEvents rows of the simulator's first day, as Python values."""
    s = sample_settings(home, scale)
    source = SampleSource(s.tenant("bench"), None, scale.params())
    out: list[dict] = []
    for batch in source.fetch("device_events", day_window(scale.start), FetchStats()):
        out.extend(batch.slice(0, rows - len(out)).to_pylist())
        if len(out) >= rows:
            break
    return out


def log_analytics_bodies(rows: list[dict], page_rows: int) -> list[bytes]:
    fields = list(DEVICE_EVENTS)
    columns = [{"name": f.name, "type": _kusto_type(f.type)} for f in fields]
    return [
        json.dumps({"tables": [{"name": "PrimaryResult", "columns": columns,
                                "rows": [[_wire(r[f.name]) for f in fields] for r in rows[i:i + page_rows]]}]}).encode()
        for i in range(0, len(rows), page_rows)
    ]


def hunting_bodies(rows: list[dict], page_rows: int) -> list[bytes]:
    fields = [f for f in DEVICE_EVENTS if f.name != "TimeGenerated"]  # the hunting API has no ingestion time
    schema = [{"name": f.name, "type": _dotnet_type(f.type)} for f in fields]
    return [
        json.dumps({"schema": schema,
                    "results": [{f.name: _wire(r[f.name]) for f in fields} for r in rows[i:i + page_rows]]}).encode()
        for i in range(0, len(rows), page_rows)
    ]


class _StaticToken:
    def get_token(self, *scopes, **kwargs) -> AccessToken:
        return AccessToken("bench-token", int(time.time()) + 3600)


def sentinel_source(bodies: list[bytes]) -> SentinelSource:
    from azure.monitor.query import LogsQueryClient
    from azure.monitor.query._operations._operations import _deserialize, _models

    tenant = TenantConfig(name="bench", kind="sentinel", tenant_id=WORKSPACE, client_id=WORKSPACE,
                          workspace_id=WORKSPACE)
    source = SentinelSource(tenant, row_cap=10**9)
    pending = iter(bodies)
    credential = _StaticToken()
    client = LogsQueryClient(credential, endpoint=tenant.log_analytics_endpoint)

    def execute(*args, **kwargs):
        # what the generated _execute does with a 200 response: response.json() into QueryResults
        return _deserialize(_models._models.QueryResults, json.loads(next(pending)))

    client._execute = execute
    source._client, source._credential = client, credential
    return source


def defender_source(bodies: list[bytes]) -> DefenderSource:
    tenant = TenantConfig(name="bench", kind="defender", tenant_id=WORKSPACE, client_id=WORKSPACE)
    source = DefenderSource(tenant, row_cap=10**9)
    pending = iter(bodies)
    source.graph.request_json = lambda *args, **kwargs: json.loads(next(pending))
    return source


class PagedReplay:
    """A Source that asks the wrapped connector for one sub-window per page, as a split fetch would."""

    kind = "replay"

    def __init__(self, inner, pages: int):
        self.inner, self.pages = inner, pages

    def fetch(self, table: str, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        step = (window.end - window.start) / self.pages
        for i in range(self.pages):
            sub = Window(window.start + i * step, window.start + (i + 1) * step)
            yield from self.inner.fetch(table, sub, stats)


def land(kind: str, bodies: list[bytes], home: Path, day: date) -> dict:
    """Parse and land the bodies as one device_events partition; returns rows and seconds."""
    settings = Settings(home=home, lake_root=str(home / f"lake-{kind}"), start_date=day, lookback_days=0,
                        schedule_cron="0 2 * * *", tenants=(TenantConfig(name="bench", kind=kind),))
    inner = sentinel_source(bodies) if kind == "sentinel" else defender_source(bodies)
    started = time.perf_counter()
    manifest = extract_partition(settings, "bench", "device_events", day, source=PagedReplay(inner, len(bodies)))
    seconds = time.perf_counter() - started
    return {"rows": manifest.rows, "quarantined": manifest.quarantined, "seconds": round(seconds, 4),
            "body_mb": round(sum(len(b) for b in bodies) / 1e6, 1)}
