"""Microsoft Sentinel through the Log Analytics query API (azure-monitor-query LogsQueryClient).

One KQL query per window (kql.window_query), bounded twice: by the API's `timespan` (which filters
TimeGenerated) and by an in-query filter on the table's window column. A PartialError (HTTP 200 with
a truncated result), a result at the 500,000-row cap, or a query timeout (504 / read timeout)
splits the window; 429/5xx/resets/malformed bodies are retried here, with azure-core's own retry
policy switched off so every wait goes through the injectable `sleep`.

The query goes through the SDK's own client (credential, audience, endpoint, pipeline, transport)
as one raw request (`LogsQueryClient.send_request`); the body is read as bytes and parsed straight
into Arrow (`log_analytics_table_from_json`) instead of through the SDK's result models, whose
per-cell work held landing to ~4,000 rows/s. The SDK's reading of the answer is kept: a non-200
status is an `HttpResponseError`, a 200 body with an `error` member is a partial result (split).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pyarrow as pa
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest

from pipelines.config import GUID, ConfigError, TenantConfig
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
from pipelines.sources.azure_auth import (
    azure_credential,
    log_analytics_audience,
    quiet_sdk_logging,
    tls_verify,
)
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.errors import AccessDenied, Retryable, SourceError, SplitNeeded
from pipelines.sources.kql import SERVICE_TABLES, window_query
from pipelines.sources.resilience import RetryPolicy, call_with_retries, fetch_complete, parse_retry_after
from pipelines.sources.schemas import WINDOW_COLUMN
from pipelines.sources.sentinel_rules import SentinelRules

LOG_ANALYTICS_ROW_CAP = 500_000  # documented per-query record limit
SERVER_TIMEOUT_SECONDS = 600  # the API's maximum (`Prefer: wait=600`); beyond it the API answers 504
# `timespan` filters TimeGenerated, the ingestion time, which trails Timestamp and LastModifiedTime
# (firewall events can lag up to 12 h). For tables windowed on another column the timespan is widened
# so a late-ingested row still reaches the exact in-query filter.
TIMESPAN_LEAD = timedelta(hours=1)
TIMESPAN_LAG = timedelta(days=2)


def _is_tls_failure(exc: BaseException) -> bool:
    text = f"{exc} {getattr(exc, 'inner_exception', '')}"
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text


class SentinelSource:
    kind = "sentinel"

    def __init__(
        self,
        tenant: TenantConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        row_cap: int = LOG_ANALYTICS_ROW_CAP,
    ) -> None:
        if tenant.kind != "sentinel":
            raise ConfigError(f"tenant '{tenant.name}': SentinelSource needs kind 'sentinel', got {tenant.kind!r}")
        if not GUID.match(tenant.workspace_id):  # also guards configs built without config.parse
            raise ConfigError(f"tenant '{tenant.name}': 'workspace_id' must be a GUID")
        self.tenant = tenant
        self.row_cap = row_cap
        self.retry = RetryPolicy(tenant.max_attempts, sleep=sleep, rng=rng or random.Random())
        self._client = None
        self._credential = None
        self.audience = log_analytics_audience(tenant.log_analytics_endpoint)

    @property
    def client(self):
        if self._client is None:
            quiet_sdk_logging()
            self._credential = azure_credential(self.tenant)
            self._client = self.make_client(self._credential)
        return self._client

    def make_client(self, credential, **kwargs):
        """The LogsQueryClient for this tenant; `kwargs` go to azure-core (e.g. `transport=`)."""
        from azure.monitor.query import LogsQueryClient

        return LogsQueryClient(
            credential,
            endpoint=self.tenant.log_analytics_endpoint,
            audience=self.audience,
            retry_total=0,  # retries happen in call_with_retries, with the injectable sleep
            connection_verify=tls_verify(),
            connection_timeout=30,
            read_timeout=SERVER_TIMEOUT_SECONDS + 60,
            # result bodies run to ~100 MB: read them in 1 MiB blocks, not azure-core's default 4 KiB
            connection_data_block_size=1 << 20,
            **kwargs,
        )

    def fetch(self, table: str, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        if table == "analytic_rules":  # Azure Resource Manager, not Log Analytics
            for batch in SentinelRules(self.tenant, self.retry).fetch(window, stats):
                yield conformed_batch(batch, table, stats, "SnapshotTime")
            return
        what = f"sentinel tenant '{self.tenant.name}' {SERVICE_TABLES.get(table, table)}"
        if table not in SERVICE_TABLES:
            raise ValueError(f"unknown raw table {table!r}")

        def one_window(w: Window) -> pa.Table:
            return call_with_retries(lambda: self._query(table, w), self.retry, stats, what)

        for batch in fetch_complete(window, one_window, self.tenant.min_split_seconds, stats, what):
            yield conformed_batch(batch, table, stats, "TimeGenerated")

    def _timespan(self, table: str, window: Window):
        if WINDOW_COLUMN[table] == "TimeGenerated":
            return (window.start, window.end)
        return (window.start - TIMESPAN_LEAD, window.end + TIMESPAN_LAG)

    def _query(self, table: str, window: Window) -> pa.Table:
        query = window_query(table, window, firewall_only=not self.tenant.all_device_events)
        self._ensure_token()
        start, end = self._timespan(table, window)
        request = HttpRequest(
            "POST", f"/workspaces/{self.tenant.workspace_id}/query",
            json={"query": query, "timespan": f"{_iso(start)}/{_iso(end)}", "workspaces": None},
            headers={"Prefer": f"wait={SERVER_TIMEOUT_SECONDS}", "Accept": "application/json"},
        )
        try:
            # stream=True: the SDK's ContentDecodePolicy would otherwise json-decode the whole body
            # once more before handing it over; read() still loads it completely.
            response = self.client.send_request(request, stream=True)
            try:
                body = response.read()
                if response.status_code != 200:
                    raise HttpResponseError(response=response)
            finally:
                response.close()
            parsed = log_analytics_table_from_json(body, self.row_cap, hint=table)
        except (ValueError, DecodeError) as exc:  # json.JSONDecodeError is a ValueError
            raise Retryable(f"malformed response body ({type(exc).__name__})") from None
        except HttpResponseError as exc:
            raise self._classify(exc) from None
        except ServiceResponseTimeoutError:
            raise SplitNeeded("client read timeout") from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            if _is_tls_failure(exc):
                raise self._tls_error() from None
            raise Retryable(f"connection failed ({type(exc).__name__})") from None
        return parsed

    def _ensure_token(self) -> None:
        """Get (or reuse) the token first: LogsQueryClient would re-raise a credential failure as a
        bare HttpResponseError, losing the difference between "cannot authenticate" and "bad response"."""
        if self._credential is None:
            self.client  # noqa: B018 - builds the client and its credential
        try:
            self._credential.get_token(self.audience + "/.default")
        except ClientAuthenticationError as exc:
            if _is_tls_failure(exc):
                raise self._tls_error() from None
            detail = (str(exc.message or "").splitlines() or [""])[0][:300]
            raise AccessDenied(
                f"tenant '{self.tenant.name}': no Log Analytics token for client {self.tenant.client_id} from "
                f"{self.tenant.authority_host}: {detail}"
            ) from None

    def _tls_error(self) -> SourceError:
        return SourceError(
            f"tenant '{self.tenant.name}': TLS certificate verification failed for {self.tenant.log_analytics_endpoint} "
            f"or {self.tenant.authority_host}; if a proxy or private CA is intended, point REQUESTS_CA_BUNDLE "
            "(or SSL_CERT_FILE) at its CA bundle"
        )

    def _classify(self, exc: HttpResponseError) -> Exception:
        status = exc.status_code
        if status is None:
            if _is_tls_failure(exc):
                return self._tls_error()
            return Retryable(f"incomplete response ({type(exc).__name__})")
        if status < 400:  # the SDK re-raises a body it could not read (reset mid-body, bad JSON) this way
            return Retryable(f"HTTP {status} with an unreadable body")
        if status in (401, 403):
            return AccessDenied(
                f"tenant '{self.tenant.name}': HTTP {status} from Log Analytics: the app registration (client "
                f"{self.tenant.client_id}) needs Log Analytics Reader on workspace {self.tenant.workspace_id} "
                "(or Microsoft Sentinel Reader)"
            )
        if status == 429:
            headers = exc.response.headers if exc.response is not None else {}
            return Retryable("HTTP 429 throttled", retry_after=parse_retry_after(headers.get("Retry-After"), self.retry.clock()))
        if status in (408, 504):
            return SplitNeeded(f"HTTP {status} query timeout")
        if status >= 500:
            return Retryable(f"HTTP {status}")
        return SourceError(f"tenant '{self.tenant.name}': HTTP {status} from Log Analytics: {_error_text(exc)}")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _partial_error(error: object) -> SplitNeeded:
    """The SDK's reading of an `error` member: the code, and the innermost `innererror` message."""
    if not isinstance(error, dict):
        return SplitNeeded(f"PartialError : {str(error)[:200]}")
    inner = error
    while isinstance(inner.get("innererror"), dict) and inner["innererror"]:
        inner = inner["innererror"]
    return SplitNeeded(f"PartialError {error.get('code') or ''}: {str(inner.get('message') or '')[:200]}")


def log_analytics_table(payload: object, row_cap: int = LOG_ANALYTICS_ROW_CAP) -> pa.Table:
    """Arrow from a decoded Log Analytics query body (`{"tables": [{"columns", "rows"}], "error"?}`).

    As the SDK reads it: any body with an `error` member is a partial (truncated) result, and only
    the first table counts. A partial result or one at the row cap raises SplitNeeded; it is never
    returned as if whole.
    """
    if not isinstance(payload, dict):
        raise Retryable(f"unexpected JSON ({type(payload).__name__}) from Log Analytics")
    if payload.get("error"):
        raise _partial_error(payload["error"])
    tables = payload.get("tables")
    if not tables:
        return table_from_columns([], [], [])
    try:
        primary = tables[0]
        names = [str(col["name"]) for col in primary["columns"]]
        types = [str(col["type"]) for col in primary["columns"]]
        rows = primary["rows"] or []
    except (KeyError, TypeError, IndexError):
        raise Retryable("Log Analytics table without columns or rows") from None
    if len(rows) >= row_cap:
        raise SplitNeeded(f"{len(rows)} rows reached the {row_cap}-row cap")
    if any(not isinstance(row, list) or len(row) != len(names) for row in rows):
        raise Retryable("Log Analytics rows do not match the columns")
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return table_from_columns(names, types, columns)


def _typed_decoder(signature: tuple[tuple[str, ...], tuple[str, ...]]) -> msgspec.json.Decoder:
    """A decoder that type-checks the rows of a Log Analytics body with these columns while decoding
    them (see arrow_rows.table_from_typed_rows)."""
    row = tuple[tuple(cell_type(t) for t in signature[1])]
    table = msgspec.defstruct("LogsTable", [("name", Any, None), ("columns", Any, None),
                                            ("rows", list[row] | None, None)])
    return msgspec.json.Decoder(msgspec.defstruct(
        "LogsBody", [("tables", list[table] | None, None), ("error", Any, None)]))


_TYPED = DecoderCache(_typed_decoder)
_COLUMNS_ONLY = msgspec.json.Decoder(msgspec.defstruct(
    "LogsColumns", [("tables", list[msgspec.defstruct("LogsTableColumns", [("columns", Any, None)])] | None, None),
                    ("error", Any, None)]))


def _signature(columns: object) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(names, types) of a table's columns when the typed path can read every one of them."""
    try:
        names = tuple(str(col["name"]) for col in columns)
        types = tuple(str(col["type"]) for col in columns)
    except (KeyError, TypeError):
        return None
    if not names or any(cell_kind(t) is None for t in types):
        return None
    return names, types


def log_analytics_table_from_json(body: bytes, row_cap: int = LOG_ANALYTICS_ROW_CAP, hint: str = "") -> pa.Table:
    """`log_analytics_table(json.loads(body))`, with the rows type-checked and converted row-major.

    The body is decoded with the typed decoder of the columns of the previous body with the same
    `hint` (the queried table); if its own columns
    differ, they are read first (rows skipped) and it is decoded again with theirs. A body the
    typed path cannot take (a column type or cell it does not know, several tables, JSON msgspec
    refuses) is decoded generically and goes through `log_analytics_table`.
    """
    signature = _TYPED.last.get(hint)
    for _ in range(2):
        if signature is None:
            try:
                first = (_COLUMNS_ONLY.decode(body).tables or [None])[0]
            except (msgspec.DecodeError, msgspec.ValidationError):
                break
            signature = _signature(first.columns) if first is not None else None
            if signature is None:
                break
        try:
            decoded = decode_paused(_TYPED.get(signature, hint), body)
        except msgspec.DecodeError:
            break
        except msgspec.ValidationError:  # another column layout, or a cell of another type
            signature = None
            continue
        if decoded.error:
            raise _partial_error(decoded.error)
        tables = decoded.tables
        if not tables:
            return table_from_columns([], [], [])
        if len(tables) > 1 or _signature(tables[0].columns) != signature:
            signature = None
            continue
        rows = tables[0].rows or []
        if len(rows) >= row_cap:
            raise SplitNeeded(f"{len(rows)} rows reached the {row_cap}-row cap")
        table = table_from_typed_rows(*signature, rows)
        if table is not None:
            return table
        break
    return log_analytics_table(decode_json(body), row_cap)


def _error_text(exc: HttpResponseError) -> str:
    code = getattr(getattr(exc, "error", None), "code", None)
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else {}
        error = body.get("error") or {}
        code, message = error.get("code", code), error.get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return f"{code or 'error'}: {str(message).splitlines()[0][:200] if message else 'no detail'}"
