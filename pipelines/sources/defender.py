"""Defender XDR through Microsoft Graph: DeviceEvents by advanced hunting, incidents and alerts_v2.

- device_events: `POST /v1.0/security/runHuntingQuery` with a day (or narrower) window, both as
  `Timespan` and as an in-query filter on Timestamp. A result at the row cap (100,000) or a query
  timeout splits the window (resilience.fetch_complete).
- security_incident: `GET /v1.0/security/incidents?$filter=lastUpdateDateTime ge X and
  lastUpdateDateTime lt Y&$expand=alerts`, following @odata.nextLink.
- security_alert: `GET /v1.0/security/alerts_v2?$filter=createdDateTime ge X and createdDateTime lt Y`.
- analytic_rules: `GET /beta/security/rules/detectionRules` (custom detection rules, a snapshot),
  following @odata.nextLink. Without CustomDetection.Read.All (HTTP 403) the tenant has no rule
  definitions: the partition is committed empty and the reason recorded, the run does not fail.
Graph objects are mapped onto the Sentinel raw tables by graph_mapping.
"""

from __future__ import annotations

import operator
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import msgspec
import pyarrow as pa
from msgspec.structs import astuple

from pipelines.config import ConfigError, TenantConfig
from pipelines.sources.arrow_rows import (
    DecoderCache,
    cell_kind,
    cell_type,
    conformed_batch,
    decode_json,
    decode_paused,
    table_from_columns,
    table_from_typed_rows,
)
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.errors import Forbidden, Retryable, SplitNeeded
from pipelines.sources.graph_client import GraphClient
from pipelines.sources.graph_mapping import alerts_table, incidents_table
from pipelines.sources.kql import window_query
from pipelines.sources.resilience import RetryPolicy, call_with_retries, fetch_complete
from pipelines.sources.rule_definitions import defender_rules_table

HUNTING_ROW_CAP = 100_000  # documented result limit of the advanced hunting API
HUNTING = "ThreatHunting.Read.All"
INCIDENTS = "SecurityIncident.Read.All"
ALERTS = "SecurityAlert.Read.All"
CUSTOM_DETECTIONS = "CustomDetection.Read.All"


def graph_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _schema_columns(schema: list) -> tuple[list[str], list[str]]:
    columns = [{str(k).lower(): v for k, v in col.items()} for col in schema]
    return [str(col.get("name")) for col in columns], [str(col.get("type") or "") for col in columns]


def hunting_table(payload: dict) -> pa.Table:
    """Parse a huntingQueryResults body: `schema` entries keyed name/type or Name/Type, rows as objects."""
    schema = payload.get("schema", payload.get("Schema"))
    results = payload.get("results", payload.get("Results"))
    if not isinstance(results, list) or not (schema is None or isinstance(schema, list)):
        raise Retryable("hunting response without 'results' list")
    if schema:
        names, types = _schema_columns(schema)
    else:  # no schema: keep every key seen, untyped
        names = list(dict.fromkeys(k for row in results for k in row))
        types = [""] * len(names)
    getters = [operator.itemgetter(*names)] if len(names) > 1 else []
    try:  # every row has every column (the usual case): one C-level pass per row, then transpose
        columns = list(zip(*map(getters[0], results), strict=True)) if getters and results else None
    except (KeyError, TypeError):
        columns = None
    if columns is None:  # a key missing somewhere is null there
        columns = [[row.get(name) for row in results] for name in names]
    return table_from_columns(names, types, columns)


def _hunting_decoder(key: tuple[tuple[tuple[str, ...], tuple[str, ...]], bool]) -> msgspec.json.Decoder:
    """A decoder for hunting bodies of one schema, rows decoded straight into structs.

    Typed, when every column type is one `arrow_rows.cell_kind` knows: each cell is then checked
    against its column's type while decoding and the rows are converted to Arrow row by row
    (`table_from_typed_rows`). Untyped otherwise (cells as decoded, then `table_from_columns`).
    Keys outside the schema are skipped and a missing key is None, as in `hunting_table`.
    """
    (names, types), typed = key
    fields = [f"c{i}" for i in range(len(names))]
    row = msgspec.defstruct(
        "HuntingRow", [(f, cell_type(t) if typed else Any, None) for f, t in zip(fields, types, strict=True)],
        rename=dict(zip(fields, names, strict=True)), gc=False)
    envelope = [(name, Any, msgspec.UNSET) for name in ("schema", "Schema")]
    envelope += [(name, list[row] | None, msgspec.UNSET) for name in ("results", "Results")]
    return msgspec.json.Decoder(msgspec.defstruct("HuntingBody", envelope))


_ROW_TYPES = DecoderCache(_hunting_decoder)
_SCHEMA_ONLY = msgspec.json.Decoder(msgspec.defstruct(
    "HuntingSchema", [(key, Any, msgspec.UNSET) for key in ("schema", "Schema")]))


def _first_set(*values: object) -> object:
    return next((v for v in values if v is not msgspec.UNSET), None)


def _signature(schema: object) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(names, types) of a hunting schema, or None when only the generic path can read the body."""
    if not schema or not isinstance(schema, list):
        return None  # no schema: hunting_table collects the keys of every row
    try:
        names, types = _schema_columns(schema)
    except AttributeError:  # a schema entry that is not an object
        return None
    return (tuple(names), tuple(types)) if len(set(names)) == len(names) else None


def hunting_table_from_json(body: bytes) -> pa.Table:
    """`hunting_table(json.loads(body))`, decoding the rows straight into columns when it can.

    The body is decoded with the decoder of the previous body's schema; if its own schema differs,
    that is read first (rows skipped) and the body decoded again. A cell of another type than its
    column's makes it decode untyped; anything unusual (no schema, duplicate column names, rows
    that are not objects, JSON that msgspec refuses) goes the generic way: a full decode, then
    `hunting_table`.
    """
    last = _ROW_TYPES.last.get("")
    signature, typed = (last[0] if last else None), True
    for _ in range(3):
        if signature is None:
            signature = _head_signature(body)
            if signature is None:
                break
        kinds_known = all(cell_kind(t) is not None for t in signature[1])
        try:
            decoded = decode_paused(_ROW_TYPES.get((signature, typed and kinds_known)), body)
        except msgspec.DecodeError:
            break
        except msgspec.ValidationError:  # another schema, or a cell of another type than its column's
            head_signature = _head_signature(body)
            if head_signature == signature:
                typed = False
            signature = head_signature
            continue
        actual = _signature(_first_set(decoded.schema, decoded.Schema))
        results = _first_set(decoded.results, decoded.Results)
        if actual is None or not isinstance(results, list):
            break
        if actual != signature:
            signature = actual
            continue
        names, types = (list(part) for part in signature)
        rows = list(map(astuple, results))
        table = table_from_typed_rows(names, types, rows) if typed and kinds_known else None
        if table is None:
            table = table_from_columns(names, types, list(zip(*rows, strict=True)) if rows else [()] * len(names))
        return table
    try:
        payload = decode_json(body)
    except ValueError:
        raise Retryable("malformed JSON from the hunting API") from None
    if not isinstance(payload, dict):
        raise Retryable(f"unexpected JSON ({type(payload).__name__}) from the hunting API")
    return hunting_table(payload)


def _head_signature(body: bytes) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    try:
        head = _SCHEMA_ONLY.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return _signature(_first_set(head.schema, head.Schema))


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
        elif table == "analytic_rules":
            batches = self._detection_rules(window, stats)
            watermark_column = "SnapshotTime"
        else:
            raise ValueError(f"unknown raw table {table!r}")
        for batch in batches:
            yield conformed_batch(batch, table, stats, watermark_column)

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
        payload = self.graph.request_bytes(
            "POST", f"{self.graph.base}/v1.0/security/runHuntingQuery", permission=HUNTING, body=body,
            timeouts_split=True,
        )
        table = hunting_table_from_json(payload)
        if table.num_rows >= self.row_cap:
            raise SplitNeeded(f"{table.num_rows} rows reached the {self.row_cap}-row hunting cap")
        return table

    def _detection_rules(self, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        """Every page first, then one table: a listing cut short by a 403 on a later page is no snapshot."""
        url = f"{self.graph.base}/beta/security/rules/detectionRules"
        stats.query_windows += 1
        rules: list[dict] = []
        try:
            for page in self.graph.pages(url, permission=CUSTOM_DETECTIONS, stats=stats,
                                         what=self._what("custom detection rules")):
                rules.extend(page)
        except Forbidden as exc:
            stats.absence = str(exc)
            return
        yield defender_rules_table(rules, window.start)

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
