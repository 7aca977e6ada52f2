"""Secrets stay out of logs and errors, hostile config never reaches a query, TLS stays verified."""

from __future__ import annotations

import logging
import uuid

import pytest

from pipelines.config import ConfigError, TenantConfig, parse
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.defender import DefenderSource
from pipelines.sources.errors import AccessDenied, SourceError
from pipelines.sources.kql import window_query
from pipelines.sources.sentinel import SentinelSource
from tests.fakes.dataset import DAY_END, DAY_START, expected_device_events
from tests.fakes.fixtures import SECRET, WORKSPACE_ID, Sleeps, fetch_all, tenant

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake` fixture

DAY = Window(DAY_START, DAY_END)
SOURCES = {"sentinel": SentinelSource, "defender": DefenderSource}


def fresh(fake, kind, **overrides):
    """A tenant with a client id never used before, so credentials and tokens are acquired anew."""
    return tenant(fake, kind, client_id=str(uuid.uuid4()), **overrides)


@pytest.mark.parametrize("kind", ["sentinel", "defender"])
def test_debug_logs_and_errors_never_hold_the_secret_or_a_token(fake, kind, caplog):
    caplog.set_level(logging.DEBUG)
    src = SOURCES[kind](fresh(fake, kind), sleep=Sleeps())
    fetch_all(src, "device_events", DAY)
    fake.fault("la" if kind == "sentinel" else "hunting", status=403)
    with pytest.raises(AccessDenied) as err:
        fetch_all(src, "device_events", DAY)
    sdk = {r.name.split(".")[0] for r in caplog.records}
    assert fake.tokens and sdk & {"azure", "msal", "urllib3"}, sdk  # the SDKs did log at DEBUG
    text = caplog.text + str(err.value) + repr(err.value) + repr(FetchStats())
    assert SECRET not in text
    assert not [t for t in fake.tokens if t in text or t.split(".")[1] in text]
    assert "Bearer ey" not in text


@pytest.mark.parametrize("kind", ["sentinel", "defender"])
def test_sdk_loggers_are_quiet_unless_debug(fake, kind):
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.INFO)
    try:
        logging.getLogger("azure").setLevel(logging.NOTSET)
        fetch_all(SOURCES[kind](fresh(fake, kind), sleep=Sleeps()), "security_alert", DAY)
        assert logging.getLogger("azure").level == logging.WARNING
        assert logging.getLogger("msal").level == logging.WARNING
    finally:
        root.setLevel(old)


@pytest.mark.parametrize("kind", ["sentinel", "defender"])
def test_certificate_credential_signs_a_client_assertion(fake, kind):
    src = SOURCES[kind](fresh(fake, kind, certificate_path=str(fake.tls["client"])), sleep=Sleeps())
    tbl, _ = fetch_all(src, "device_events", DAY)
    assert tbl.num_rows == len(expected_device_events(fake.data, DAY_START, DAY_END))
    assert fake.token_requests[-1]["client_assertion_type"].endswith("jwt-bearer")  # the fake verified the signature


@pytest.mark.parametrize("kind", ["sentinel", "defender"])
def test_wrong_secret_fails_with_one_line_and_no_secret(fake, kind, monkeypatch):
    monkeypatch.setenv("HUNTHOUSE_TEST_CLIENT_SECRET", "not-the-registered-secret")
    with pytest.raises((AccessDenied, SourceError)) as err:
        fetch_all(SOURCES[kind](fresh(fake, kind), sleep=Sleeps()), "security_alert", DAY)
    assert "not-the-registered-secret" not in str(err.value) and "AADSTS7000215" in str(err.value)


def test_tokens_are_scoped_to_the_public_resource_behind_a_custom_endpoint(fake):
    fetch_all(SentinelSource(fresh(fake, "sentinel"), sleep=Sleeps()), "security_alert", DAY)
    fetch_all(DefenderSource(fresh(fake, "defender"), sleep=Sleeps()), "security_alert", DAY)
    scopes = {r["scope"].split()[0] for r in fake.token_requests}
    assert {"https://api.loganalytics.io/.default", "https://graph.microsoft.com/.default"} <= scopes


@pytest.mark.parametrize("kind", ["sentinel", "defender"])
def test_tls_verification_stays_on_without_a_trusted_ca(fake, kind, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("SSL_CERT_FILE")
    sleeps = Sleeps()
    with pytest.raises(SourceError) as err:
        fetch_all(SOURCES[kind](fresh(fake, kind), sleep=sleeps), "security_alert", DAY)
    assert "TLS" in str(err.value) or "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    assert not sleeps  # not mistaken for a transient failure


@pytest.mark.parametrize("kind", ["sentinel", "defender"])
def test_ssl_cert_file_alone_is_honoured(fake, kind, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    tbl, _ = fetch_all(SOURCES[kind](fresh(fake, kind), sleep=Sleeps()), "device_events", DAY)
    assert tbl.num_rows == len(expected_device_events(fake.data, DAY_START, DAY_END))


@pytest.mark.parametrize("key,value", [
    ("workspace_id", f"{WORKSPACE_ID}\" | union SigninLogs"),
    ("workspace_id", f"{WORKSPACE_ID};drop"),
    ("name", "acme | union *"),
    ("name", "acme\nSecurityEvent"),
    ("client_secret_env", "X'; cat /etc/passwd"),
    ("log_analytics_endpoint", "https://api.loganalytics.io\" | take 1"),
    ("graph_endpoint", "https://evil.example/\nx"),
    ("tenant_id", "common|x"),
])
def test_hostile_config_values_are_rejected_before_any_request(fake, key, value):
    raw = {"name": "acme", "kind": "sentinel", "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
           "client_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "client_secret_env": "X", "workspace_id": WORKSPACE_ID,
           key: value}
    with pytest.raises(ConfigError):
        parse({"tenant": [raw]}, base_dir=fake.tls["ca"].parent)
    assert not fake.requests


def test_hostile_values_built_without_validation_are_neutralised(fake):
    bad = TenantConfig(name="acme", kind="sentinel", workspace_id='x" | union *', client_secret_env="X")
    with pytest.raises(ConfigError):
        SentinelSource(bad)
    for table in ("SigninLogs | union *", "device_events; drop", "device_events\n"):
        with pytest.raises(ValueError):
            window_query(table, DAY, firewall_only=True)
    query = window_query("device_events", DAY, firewall_only=True)
    assert query.count("|") == 2 and ";" not in query
