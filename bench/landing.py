"""Landing throughput: API-shaped result pages -> the connectors' own parsers -> the lake.

Pages are built from simulator DeviceEvents rows in the wire format of each API (Log Analytics
`tables` JSON with Kusto types and 7-digit datetimes; Graph `huntingQueryResults` with .NET types,
rows as objects), before the clock starts. The timed part replays the encoded bodies through the
production code with only the network replaced: a requests transport adapter (`ReplayAdapter`)
answers each request with the next recorded body, as a urllib3 response that requests itself turns
into a `Response`. So for Sentinel the real LogsQueryClient pipeline (azure-core's RequestsTransport
on a session carrying the adapter) and SentinelSource's body parsing run; for Defender the real
GraphClient session and `hunting_table_from_json`; then schemas.conform,
pipelines.extract.extract_partition (quality rules, quarantine) and lake.write_partition.
Only the tokens are static (no identity provider here).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import requests
import urllib3
from azure.core.credentials import AccessToken

from pipelines.config import Settings, TenantConfig
from pipelines.extract import day_window, extract_partition
from pipelines.sources.azure_auth import VerifyingSession, tls_verify
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


class _Wire(io.RawIOBase):
    """A recorded body read like a socket file: every read returns a fresh copy (io.BytesIO would
    hand the whole recorded bytes object back without copying, which no network read does)."""

    def __init__(self, data: bytes):
        super().__init__()
        self._view, self._pos = memoryview(data), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        out = self._view[self._pos:end].tobytes()
        self._pos = end
        return out


class ReplayAdapter(requests.adapters.HTTPAdapter):
    """A requests transport adapter that answers every request with the next recorded body (HTTP 200)."""

    def __init__(self, bodies: list[bytes]):
        super().__init__()
        self.pending = iter(bodies)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = next(self.pending)
        headers = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(body))}
        raw = urllib3.HTTPResponse(body=_Wire(body), headers=headers, status=200, reason="OK",
                                   preload_content=False, decode_content=False)
        return self.build_response(request, raw)  # requests' Session.send reads it unless streamed


def replay_session(bodies: list[bytes]) -> VerifyingSession:
    session = VerifyingSession(tls_verify())
    session.mount("https://", ReplayAdapter(bodies))
    return session


def sentinel_source(bodies: list[bytes]) -> SentinelSource:
    tenant = TenantConfig(name="bench", kind="sentinel", tenant_id=WORKSPACE, client_id=WORKSPACE,
                          workspace_id=WORKSPACE)
    source = SentinelSource(tenant, row_cap=10**9)
    source._credential = _StaticToken()
    # the production client and its own RequestsTransport, on a session whose adapter replays the bodies
    source._client = source.make_client(source._credential, session=replay_session(bodies), session_owner=False)
    return source


def defender_source(bodies: list[bytes]) -> DefenderSource:
    tenant = TenantConfig(name="bench", kind="defender", tenant_id=WORKSPACE, client_id=WORKSPACE)
    source = DefenderSource(tenant, row_cap=10**9)
    source.graph._session = replay_session(bodies)
    source.graph._token = lambda: "bench-token"
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
    started, cpu_started = time.perf_counter(), time.process_time()
    manifest = extract_partition(settings, "bench", "device_events", day, source=PagedReplay(inner, len(bodies)))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    # cpu_seconds (this process, all threads) shows what the wall time hides on a shared machine
    return {"rows": manifest.rows, "quarantined": manifest.quarantined, "seconds": round(seconds, 4),
            "cpu_seconds": round(cpu_seconds, 4), "body_mb": round(sum(len(b) for b in bodies) / 1e6, 1)}
