"""Microsoft Sentinel through the Log Analytics query API (azure-monitor-query LogsQueryClient).

One KQL query per window (kql.window_query), bounded twice: by the API's `timespan` (which filters
TimeGenerated) and by an in-query filter on the table's window column. A PartialError (HTTP 200 with
a truncated result), a result at the 500,000-row cap, or a query timeout (504 / read timeout)
splits the window; 429/5xx/resets/malformed bodies are retried here, with azure-core's own retry
policy switched off so every wait goes through the injectable `sleep`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pyarrow as pa
from azure.core.exceptions import (
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from pipelines.config import GUID, ConfigError, TenantConfig
from pipelines.sources.arrow_rows import advance_watermark, table_from_columns
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
from pipelines.sources.schemas import WINDOW_COLUMN, conform

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
            from azure.monitor.query import LogsQueryClient

            quiet_sdk_logging()
            self._credential = azure_credential(self.tenant)
            self._client = LogsQueryClient(
                self._credential,
                endpoint=self.tenant.log_analytics_endpoint,
                audience=self.audience,
                retry_total=0,  # retries happen in call_with_retries, with the injectable sleep
                connection_verify=tls_verify(),
                connection_timeout=30,
                read_timeout=SERVER_TIMEOUT_SECONDS + 60,
            )
        return self._client

    def fetch(self, table: str, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        what = f"sentinel tenant '{self.tenant.name}' {SERVICE_TABLES.get(table, table)}"
        if table not in SERVICE_TABLES:
            raise ValueError(f"unknown raw table {table!r}")

        def one_window(w: Window) -> pa.Table:
            return call_with_retries(lambda: self._query(table, w), self.retry, stats, what)

        for batch in fetch_complete(window, one_window, self.tenant.min_split_seconds, stats, what):
            conformed, extra = conform(batch, table)
            stats.dropped_columns = sorted(set(stats.dropped_columns) | set(extra))
            advance_watermark(stats, conformed, "TimeGenerated")
            yield conformed

    def _timespan(self, table: str, window: Window):
        if WINDOW_COLUMN[table] == "TimeGenerated":
            return (window.start, window.end)
        return (window.start - TIMESPAN_LEAD, window.end + TIMESPAN_LAG)

    def _query(self, table: str, window: Window) -> pa.Table:
        from azure.monitor.query import LogsQueryStatus

        query = window_query(table, window, firewall_only=not self.tenant.all_device_events)
        self._ensure_token()
        try:
            result = self.client.query_workspace(
                self.tenant.workspace_id, query, timespan=self._timespan(table, window),
                server_timeout=SERVER_TIMEOUT_SECONDS,
            )
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
        if result.status == LogsQueryStatus.PARTIAL:
            error = result.partial_error
            raise SplitNeeded(f"PartialError {getattr(error, 'code', '')}: {str(getattr(error, 'message', ''))[:200]}")
        if not result.tables:
            return table_from_columns([], [], [])
        primary = result.tables[0]
        if len(primary.rows) >= self.row_cap:
            raise SplitNeeded(f"{len(primary.rows)} rows reached the {self.row_cap}-row cap")
        columns = [[row[i] for row in primary.rows] for i in range(len(primary.columns))]
        return table_from_columns(primary.columns, primary.columns_types, columns)

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


def _error_text(exc: HttpResponseError) -> str:
    code = getattr(getattr(exc, "error", None), "code", None)
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else {}
        error = body.get("error") or {}
        code, message = error.get("code", code), error.get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return f"{code or 'error'}: {str(message).splitlines()[0][:200] if message else 'no detail'}"
