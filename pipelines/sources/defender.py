"""Defender XDR through Microsoft Graph: DeviceEvents by advanced hunting, incidents and alerts_v2.

- device_events: `POST /v1.0/security/runHuntingQuery` with a day (or narrower) window, both as
  `Timespan` and as an in-query filter on Timestamp. A result at the row cap (100,000) or a query
  timeout splits the window (resilience.fetch_complete).
- security_incident: `GET /v1.0/security/incidents?$filter=lastUpdateDateTime ge X and
  lastUpdateDateTime lt Y&$expand=alerts`, following @odata.nextLink.
- security_alert: `GET /v1.0/security/alerts_v2?$filter=createdDateTime ge X and createdDateTime lt Y`.
Graph objects are mapped onto the Sentinel raw tables by graph_mapping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pyarrow as pa

from pipelines.config import ConfigError, TenantConfig
from pipelines.sources.arrow_rows import advance_watermark, table_from_columns
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.errors import Retryable, SplitNeeded
from pipelines.sources.graph_client import GraphClient
from pipelines.sources.graph_mapping import alerts_table, incidents_table
from pipelines.sources.kql import window_query
from pipelines.sources.resilience import RetryPolicy, call_with_retries, fetch_complete
from pipelines.sources.schemas import conform

HUNTING_ROW_CAP = 100_000  # documented result limit of the advanced hunting API
HUNTING = "ThreatHunting.Read.All"
INCIDENTS = "SecurityIncident.Read.All"
ALERTS = "SecurityAlert.Read.All"


def graph_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hunting_table(payload: dict) -> pa.Table:
    """Parse a huntingQueryResults body: `schema` entries keyed name/type or Name/Type, rows as objects."""
    schema = payload.get("schema", payload.get("Schema"))
    results = payload.get("results", payload.get("Results"))
    if not isinstance(results, list) or not (schema is None or isinstance(schema, list)):
        raise Retryable("hunting response without 'results' list")
    if schema:
        columns = [{str(k).lower(): v for k, v in col.items()} for col in schema]
        names = [str(col.get("name")) for col in columns]
        types = [str(col.get("type") or "") for col in columns]
    else:  # no schema: keep every key seen, untyped
        names = list(dict.fromkeys(k for row in results for k in row))
        types = [""] * len(names)
    values = [[row.get(name) for row in results] for name in names]
    return table_from_columns(names, types, values)


class DefenderSource:
    kind = "defender"

    def __init__(
        self,
        tenant: TenantConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        row_cap: int = HUNTING_ROW_CAP,
    ) -> None:
        if tenant.kind != "defender":
            raise ConfigError(f"tenant '{tenant.name}': DefenderSource needs kind 'defender', got {tenant.kind!r}")
        self.tenant = tenant
        self.row_cap = row_cap
        self.retry = RetryPolicy(tenant.max_attempts, sleep=sleep, rng=rng or random.Random())
        self.graph = GraphClient(tenant, self.retry)

    def _what(self, table: str) -> str:
        return f"defender tenant '{self.tenant.name}' {table}"

    def fetch(self, table: str, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        if table == "device_events":
            batches = self._device_events(window, stats)
            watermark_column = "Timestamp"  # the hunting API has no ingestion time
        elif table == "security_alert":
            batches = self._listed("alerts_v2", "createdDateTime", window, ALERTS, alerts_table, stats, table)
            watermark_column = "TimeGenerated"
        elif table == "security_incident":
            batches = self._listed("incidents", "lastUpdateDateTime", window, INCIDENTS, incidents_table, stats, table,
                                   expand="alerts")
            watermark_column = "LastModifiedTime"
        else:
            raise ValueError(f"unknown raw table {table!r}")
        for batch in batches:
            conformed, extra = conform(batch, table)
            stats.dropped_columns = sorted(set(stats.dropped_columns) | set(extra))
            advance_watermark(stats, conformed, watermark_column)
            yield conformed

    def _device_events(self, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        what = self._what("DeviceEvents")

        def one_window(w: Window) -> pa.Table:
            return call_with_retries(lambda: self._hunt(w), self.retry, stats, what)

        yield from fetch_complete(window, one_window, self.tenant.min_split_seconds, stats, what)

    def _hunt(self, window: Window) -> pa.Table:
        body = {
            "Query": window_query("device_events", window, firewall_only=not self.tenant.all_device_events),
            "Timespan": f"{graph_datetime(window.start)}/{graph_datetime(window.end)}",
        }
        payload = self.graph.request_json(
            "POST", f"{self.graph.base}/v1.0/security/runHuntingQuery", permission=HUNTING, body=body,
            timeouts_split=True,
        )
        table = hunting_table(payload)
        if table.num_rows >= self.row_cap:
            raise SplitNeeded(f"{table.num_rows} rows reached the {self.row_cap}-row hunting cap")
        return table

    def _listed(self, resource: str, column: str, window: Window, permission: str,
                to_table: Callable[[list[dict]], pa.Table], stats: FetchStats, table: str,
                expand: str | None = None) -> Iterator[pa.Table]:
        odata_filter = f"{column} ge {graph_datetime(window.start)} and {column} lt {graph_datetime(window.end)}"
        url = f"{self.graph.base}/v1.0/security/{resource}?$filter={quote(odata_filter, safe='')}"
        if expand:
            url += f"&$expand={expand}"
        stats.query_windows += 1
        for page in self.graph.pages(url, permission=permission, stats=stats, what=self._what(table)):
            yield to_table(page)
