"""A Sentinel workspace's analytic rules from Azure Resource Manager (Microsoft.SecurityInsights).

`GET {resource_manager_endpoint}{workspace_resource_id}/providers/Microsoft.SecurityInsights/
alertRules?api-version=2024-09-01`, then every `nextLink`, through the tenant's azure-identity
credential (the one the Log Analytics connector uses, token scope `{resource_manager_endpoint}/.default`)
and an azure-core pipeline without its own retry policy: 429 (with Retry-After), 408, 5xx, resets
and malformed bodies are retried by `call_with_retries` with the injectable sleep, as elsewhere.
401/403 is AccessDenied naming the role (Microsoft Sentinel Reader on the workspace).
The listing is a snapshot: it is returned whole or not at all (the rules are few; pages are kept
until the last one has arrived).

Without `workspace_resource_id` the tenant has no rule definitions: the partition is committed
empty and the absence recorded (FetchStats.absence), not raised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlparse

import pyarrow as pa
from azure.core import PipelineClient
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, UserAgentPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from pipelines.config import TenantConfig
from pipelines.sources.azure_auth import azure_credential, quiet_sdk_logging, tls_verify
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.errors import AccessDenied, Retryable, SourceError
from pipelines.sources.resilience import RetryPolicy, call_with_retries, parse_retry_after
from pipelines.sources.rule_definitions import sentinel_rules_table

API_VERSION = "2024-09-01"  # the latest stable Microsoft.SecurityInsights version (azure-rest-api-specs)
ROLE = "Microsoft Sentinel Reader"
NO_WORKSPACE_RESOURCE_ID = (
    "no workspace_resource_id configured: Sentinel analytic rule definitions are not fetched "
    "(set it to the workspace's ARM id to get them)"
)


def _is_tls_failure(exc: BaseException) -> bool:
    text = f"{exc} {getattr(exc, 'inner_exception', '')}"
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text


def _arm_error(body: bytes) -> str:
    """ARM's error code and the first line of its message (never the request we sent)."""
    try:
        error = json.loads(body).get("error") or {}
        text = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = ""
    return (text.splitlines() or [""])[0][:200] or "no detail"


class SentinelRules:
    """Lists one Sentinel tenant's analytic rules."""

    def __init__(self, tenant: TenantConfig, retry: RetryPolicy) -> None:
        self.tenant = tenant
        self.retry = retry
        self.endpoint = tenant.resource_manager_endpoint.rstrip("/")
        self.scope = self.endpoint + "/.default"
        self._client: PipelineClient | None = None

    @property
    def client(self) -> PipelineClient:
        if self._client is None:
            quiet_sdk_logging()
            credential = azure_credential(self.tenant)
            transport = RequestsTransport(connection_verify=tls_verify(), connection_timeout=30, read_timeout=120)
            self._client = PipelineClient(
                self.endpoint,
                policies=[UserAgentPolicy(sdk_moniker="hunthouse"), BearerTokenCredentialPolicy(credential, self.scope)],
                transport=transport,
            )
        return self._client

    @property
    def first_url(self) -> str:
        return (f"{self.endpoint}{self.tenant.workspace_resource_id}/providers/Microsoft.SecurityInsights/"
                f"alertRules?api-version={API_VERSION}")

    def fetch(self, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        if not self.tenant.workspace_resource_id:
            stats.absence = NO_WORKSPACE_RESOURCE_ID
            return
        what = f"sentinel tenant '{self.tenant.name}' analytic rules"
        rules: list[dict] = []
        url: str | None = self.first_url
        origin = urlparse(self.endpoint)[:2]
        while url:
            if urlparse(url)[:2] != origin:  # never send the token to another host
                raise SourceError(f"{what}: refusing nextLink to another host {urlparse(url).netloc}")
            stats.query_windows += 1
            page = call_with_retries(lambda u=url: self._page(u), self.retry, stats, what)
            rules.extend(page["value"])
            url = page.get("nextLink")
        yield sentinel_rules_table(rules, window.start)

    def _page(self, url: str) -> dict:
        path = urlparse(url).path
        try:
            response = self.client.send_request(HttpRequest("GET", url, headers={"Accept": "application/json"}))
            body = response.read()
        except ClientAuthenticationError as exc:
            if _is_tls_failure(exc):
                raise self._tls_error() from None
            detail = (str(exc.message or "").splitlines() or [""])[0][:300]
            raise AccessDenied(
                f"tenant '{self.tenant.name}': no Azure Resource Manager token for client {self.tenant.client_id} "
                f"from {self.tenant.authority_host}: {detail}"
            ) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            if _is_tls_failure(exc):
                raise self._tls_error() from None
            raise Retryable(f"connection failed ({type(exc).__name__}) on GET {path}") from None
        except HttpResponseError as exc:  # a body cut short (reset mid-body)
            raise Retryable(f"incomplete response ({type(exc).__name__}) on GET {path}") from None
        status = response.status_code
        if status in (401, 403):
            raise AccessDenied(
                f"tenant '{self.tenant.name}': HTTP {status} from Azure Resource Manager listing analytic rules: the app "
                f"registration (client {self.tenant.client_id}) needs the {ROLE} role on workspace "
                f"{self.tenant.workspace_resource_id}"
            )
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"), self.retry.clock())
            raise Retryable("HTTP 429 throttled", retry_after=wait)
        if status == 408 or status >= 500:
            raise Retryable(f"HTTP {status}")
        if status != 200:
            raise SourceError(f"tenant '{self.tenant.name}': HTTP {status} from Azure Resource Manager listing analytic "
                              f"rules of {self.tenant.workspace_resource_id}: {_arm_error(body)}")
        try:
            page = json.loads(body)
        except ValueError:
            raise Retryable(f"malformed JSON from {path}") from None
        if not isinstance(page, dict) or not isinstance(page.get("value"), list):
            raise Retryable(f"page without a 'value' list from {path}")
        return page

    def _tls_error(self) -> SourceError:
        return SourceError(
            f"tenant '{self.tenant.name}': TLS certificate verification failed for {self.endpoint} or "
            f"{self.tenant.authority_host}; if a proxy or private CA is intended, point REQUESTS_CA_BUNDLE "
            "(or SSL_CERT_FILE) at its CA bundle"
        )
