"""Microsoft Graph over HTTPS: an MSAL app token, one request with its failure classified, paging.

Each request ends one of four ways: a JSON object; `Retryable` (429 with its Retry-After, 5xx,
connection reset, malformed JSON); `SplitNeeded` (a query timeout, when the caller can narrow
the window); or a one-line `SourceError`/`AccessDenied`. Logs carry method, path and status only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlparse

import requests
import urllib3

from pipelines.config import TenantConfig
from pipelines.sources.azure_auth import (
    VerifyingSession,
    graph_scope,
    msal_app,
    quiet_sdk_logging,
    tls_verify,
)
from pipelines.sources.base import FetchStats
from pipelines.sources.errors import AccessDenied, Forbidden, Retryable, SourceError, SplitNeeded
from pipelines.sources.resilience import RetryPolicy, call_with_retries, parse_retry_after

log = logging.getLogger(__name__)
TIMEOUT_STATUSES = {408, 504}


def _service_message(response: requests.Response) -> str:
    """The Graph error code and first line of its message (never the request we sent)."""
    try:
        error = response.json().get("error") or {}
        text = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        text = ""
    return (text.splitlines() or [""])[0][:200] or response.reason or "no detail"


class GraphClient:
    def __init__(self, tenant: TenantConfig, retry: RetryPolicy, timeout: tuple[float, float] = (30.0, 240.0)):
        self.tenant = tenant
        self.retry = retry
        self.base = tenant.graph_endpoint.rstrip("/")
        self.timeout = timeout
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            quiet_sdk_logging()
            self._session = VerifyingSession(tls_verify(), self.timeout)
        return self._session

    def _token(self) -> str:
        try:
            result = msal_app(self.tenant).acquire_token_for_client(scopes=[graph_scope(self.base)])
        except requests.exceptions.SSLError:
            raise self._tls_error(self.tenant.authority_host) from None
        except requests.RequestException as exc:
            raise Retryable(f"token endpoint unreachable ({type(exc).__name__})") from None
        if "access_token" not in result:
            detail = (str(result.get("error_description") or "").splitlines() or [""])[0][:200]
            raise AccessDenied(
                f"tenant '{self.tenant.name}': no Graph token for client {self.tenant.client_id} from "
                f"{self.tenant.authority_host}: {result.get('error', 'unknown error')}: {detail}"
            )
        return result["access_token"]

    def _tls_error(self, url: str) -> SourceError:
        return SourceError(
            f"tenant '{self.tenant.name}': TLS certificate verification failed for {urlparse(url).netloc}; "
            "if a proxy or private CA is intended, point REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) at its CA bundle"
        )

    def request_json(self, method: str, url: str, *, permission: str, body: dict | None = None,
                     timeouts_split: bool = False) -> dict:
        response = self.request(method, url, permission=permission, body=body, timeouts_split=timeouts_split)
        path = urlparse(url).path
        try:
            payload = response.json()
        except ValueError:
            raise Retryable(f"malformed JSON from {path}") from None
        if not isinstance(payload, dict):
            raise Retryable(f"unexpected JSON ({type(payload).__name__}) from {path}")
        return payload

    def request_bytes(self, method: str, url: str, *, permission: str, body: dict | None = None,
                      timeouts_split: bool = False) -> bytes:
        """The complete body of a 2xx response, JSON not decoded, read in one call.

        For large bodies (a hunting page runs to ~300 MB): requests' own `.content` reads it in
        10 KiB blocks and joins them, tens of thousands of iterations and two extra copies a page.
        urllib3 reads a body of known length into one buffer (and still undoes gzip/deflate).
        """
        response = self.request(method, url, permission=permission, body=body, timeouts_split=timeouts_split,
                                stream=True)
        try:
            with response:
                return response.raw.read(decode_content=True)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:  # reset, truncated
            raise Retryable(f"{type(exc).__name__} reading {method} {urlparse(url).path}") from None

    def request(self, method: str, url: str, *, permission: str, body: dict | None = None,
                timeouts_split: bool = False, stream: bool = False) -> requests.Response:
        """One request whose status is 2xx. Unless `stream`, the body is read (`.content`), not decoded."""
        path = urlparse(url).path
        headers = {"Authorization": "Bearer " + self._token(), "Accept": "application/json"}
        try:
            response = self.session.request(method, url, json=body, headers=headers, timeout=self.timeout,
                                            stream=stream)
        except requests.exceptions.SSLError:
            raise self._tls_error(url) from None
        except requests.exceptions.ReadTimeout:
            if timeouts_split:
                raise SplitNeeded("client read timeout") from None
            raise Retryable("read timeout") from None
        except requests.RequestException as exc:  # resets, refused connections, truncated bodies
            raise Retryable(f"{type(exc).__name__} on {method} {path}") from None
        log.debug("graph %s %s -> %d", method, path, response.status_code)
        status = response.status_code
        if status in (401, 403):
            raise (Forbidden if status == 403 else AccessDenied)(
                f"tenant '{self.tenant.name}': HTTP {status} from Microsoft Graph {path}: the app registration "
                f"(client {self.tenant.client_id}) needs the application permission {permission} with admin consent"
            )
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"), self.retry.clock())
            raise Retryable(f"HTTP 429 throttled on {path}", retry_after=wait)
        if status in TIMEOUT_STATUSES:
            if timeouts_split:
                raise SplitNeeded(f"HTTP {status} query timeout")
            raise Retryable(f"HTTP {status} on {path}")
        if status >= 500:
            raise Retryable(f"HTTP {status} on {path}")
        if status >= 400:
            raise SourceError(f"tenant '{self.tenant.name}': HTTP {status} from Microsoft Graph {path}: "
                              f"{_service_message(response)}")
        return response

    def pages(self, url: str, *, permission: str, stats: FetchStats, what: str) -> Iterator[list[dict]]:
        """GET `url` and every `@odata.nextLink` after it; yields each page's `value`."""
        origin = urlparse(self.base)[:2]
        while url:
            if urlparse(url)[:2] != origin:  # never send the token to another host
                raise SourceError(f"{what}: refusing @odata.nextLink to another host {urlparse(url).netloc}")
            page = call_with_retries(lambda u=url: self._page(u, permission), self.retry, stats, what)
            yield page["value"]
            url = page.get("@odata.nextLink")

    def _page(self, url: str, permission: str) -> dict:
        page = self.request_json("GET", url, permission=permission)
        if not isinstance(page.get("value"), list):
            raise Retryable(f"page without a 'value' list from {urlparse(url).path}")
        return page
