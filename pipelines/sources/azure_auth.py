"""Credentials, token scopes, TLS trust and SDK log hygiene shared by the Microsoft connectors.

Secrets come only from the environment variable the tenant names (read when a credential is first
built) or from its certificate file. Credentials and MSAL apps are kept per (authority, tenant,
client) for the life of the process so their token caches are reused across fetches.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import requests

from pipelines.config import ConfigError, TenantConfig
from pipelines.sources.errors import SourceError

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"

# Known Log Analytics hosts -> token audience. Any other host (a proxy, a test double) is assumed
# to front the public cloud; LogsQueryClient would otherwise ask for a token for that host itself.
_LOG_ANALYTICS_AUDIENCES = {
    "api.loganalytics.io": "https://api.loganalytics.io",
    "api.loganalytics.azure.com": "https://api.loganalytics.io",
    "api.loganalytics.us": "https://api.loganalytics.us",
    "api.loganalytics.azure.cn": "https://api.loganalytics.azure.cn",
}
_GRAPH_HOSTS = {"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
_SDK_LOGGERS = ("azure", "msal", "urllib3")

_lock = threading.Lock()
_credentials: dict[tuple, object] = {}
_msal_apps: dict[tuple, object] = {}


def log_analytics_audience(endpoint: str) -> str:
    return _LOG_ANALYTICS_AUDIENCES.get(urlparse(endpoint).hostname or "", "https://api.loganalytics.io")


def graph_scope(endpoint: str) -> str:
    host = urlparse(endpoint).hostname or ""
    base = f"https://{host}" if host in _GRAPH_HOSTS else "https://graph.microsoft.com"
    return base + "/.default"


def is_public_authority(authority_host: str) -> bool:
    return authority_host.rstrip("/").lower() == PUBLIC_AUTHORITY


def tls_verify() -> str | bool:
    """TLS verification is always on; a custom CA bundle may come from the usual variables."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True


class VerifyingSession(requests.Session):
    """A requests session that passes `verify` on every call.

    requests (2.34 here) ignores `Session.verify` when a call leaves `verify` unset, so MSAL's own
    session would fall back to certifi and reject a private CA named in SSL_CERT_FILE.
    """

    def __init__(self, verify: str | bool, timeout: tuple[float, float] = (30.0, 240.0)) -> None:
        super().__init__()
        self._verify = verify
        self._timeout = timeout

    def request(self, method, url, **kwargs):  # noqa: D102 - same contract as requests.Session
        kwargs["verify"] = self._verify
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


def quiet_sdk_logging() -> None:
    """Keep azure-core, MSAL and urllib3 at WARNING unless the process runs at DEBUG.

    Even at DEBUG no token reaches a log: azure-core's HttpLoggingPolicy redacts Authorization,
    NetworkTraceLoggingPolicy (which would print bodies) is never enabled, and the Graph client
    logs only method, path and status (tests/test_connector_security.py checks all three).
    """
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    for name in _SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)


def _key(tenant: TenantConfig) -> tuple:
    return (tenant.authority_host.rstrip("/").lower(), tenant.tenant_id, tenant.client_id,
            tenant.client_secret_env, tenant.certificate_path)


def _read_certificate(tenant: TenantConfig) -> str:
    path = Path(tenant.certificate_path).expanduser()
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"tenant '{tenant.name}': cannot read certificate_path {str(path)!r} ({type(exc).__name__}); it must be a "
            "PEM file holding the private key and the certificate registered on the app"
        ) from None


def azure_credential(tenant: TenantConfig):
    """An azure-identity TokenCredential for LogsQueryClient (client secret or certificate)."""
    from azure.identity import CertificateCredential, ClientSecretCredential

    key = _key(tenant)
    with _lock:
        if key in _credentials:
            return _credentials[key]
        options = {"authority": tenant.authority_host, "connection_verify": tls_verify()}
        if not is_public_authority(tenant.authority_host):
            options["disable_instance_discovery"] = True
        if tenant.certificate_path:
            pem = _read_certificate(tenant).encode("ascii")
            credential = CertificateCredential(tenant.tenant_id, tenant.client_id, certificate_data=pem, **options)
        else:
            credential = ClientSecretCredential(tenant.tenant_id, tenant.client_id, tenant.client_secret(), **options)
        _credentials[key] = credential
        return credential


def _msal_certificate(tenant: TenantConfig) -> dict:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    pem = _read_certificate(tenant)
    key = re.search(r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", pem, re.S)
    cert = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    if not key or not cert:
        raise ConfigError(
            f"tenant '{tenant.name}': certificate_path must hold both a PEM private key and its PEM certificate"
        )
    thumbprint = x509.load_pem_x509_certificate(cert.group(0).encode("ascii")).fingerprint(hashes.SHA1())  # Entra x5t header
    return {"private_key": key.group(0), "thumbprint": thumbprint.hex()}


def msal_app(tenant: TenantConfig):
    """One ConfidentialClientApplication (and so one token cache) per (tenant, client) per process."""
    import msal

    key = _key(tenant)
    with _lock:
        if key in _msal_apps:
            return _msal_apps[key]
        credential = _msal_certificate(tenant) if tenant.certificate_path else tenant.client_secret()
        options = {}
        if not is_public_authority(tenant.authority_host):
            options["instance_discovery"] = False
        try:
            app = msal.ConfidentialClientApplication(
                tenant.client_id,
                client_credential=credential,
                authority=f"{tenant.authority_host.rstrip('/')}/{tenant.tenant_id}",
                http_client=VerifyingSession(tls_verify()),
                token_cache=msal.TokenCache(),
                **options,
            )
        except ValueError as exc:  # MSAL's wording for an unreachable or invalid authority
            raise SourceError(
                f"tenant '{tenant.name}': cannot use authority {tenant.authority_host} "
                f"({str(exc).splitlines()[0][:200]})"
            ) from None
        _msal_apps[key] = app
        return app
