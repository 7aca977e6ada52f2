"""Analytic rule definitions from the fake services: Sentinel alertRules through Azure Resource Manager
(paging by nextLink, 403 naming the role, 429/5xx retried, no workspace_resource_id = a recorded
absence) and Defender custom detection rules through Graph (paging, 403 = a recorded absence)."""

from __future__ import annotations

import json

import pytest

from pipelines.config import parse
from pipelines.extract import extract_partition
from pipelines.lake import read_manifest
from pipelines.sources.base import day_window
from pipelines.sources.defender import DefenderSource
from pipelines.sources.errors import AccessDenied, SourceError
from pipelines.sources.sentinel import SentinelSource
from pipelines.sources.sentinel_rules import NO_WORKSPACE_RESOURCE_ID
from tests.fakes.dataset import DAY, DAY_START, WORKSPACE_RESOURCE_ID
from tests.fakes.fixtures import Sleeps, fetch_all, tenant

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake` fixture


def sentinel(fake, **overrides) -> SentinelSource:
    overrides.setdefault("workspace_resource_id", WORKSPACE_RESOURCE_ID)
    overrides.setdefault("resource_manager_endpoint", fake.url)
    return SentinelSource(tenant(fake, "sentinel", **overrides), sleep=Sleeps())


def test_sentinel_rules_are_read_across_nextlink_pages_with_an_arm_token(fake):
    table, stats = fetch_all(sentinel(fake), "analytic_rules", day_window(DAY))
    requests = fake.routes("alert_rules")
    assert len(requests) == 3  # 7 rules, 3 per page
    assert all(r["authorized"] and r["query"]["api-version"] == ["2024-09-01"] for r in requests)
    assert requests[0]["path"] == f"{WORKSPACE_RESOURCE_ID}/providers/Microsoft.SecurityInsights/alertRules"
    assert any(t.get("scope") == f"{fake.url}/.default" for t in fake.token_requests)
    rows = {r["RuleId"]: r for r in table.to_pylist()}
    expected = {r["name"].lower(): r for r in fake.data.alert_rules}
    assert set(rows) == set(expected)  # lower-case, as alerts' rule ids are staged
    for rule_id, rule in expected.items():
        row, props = rows[rule_id], rule["properties"]
        assert (row["ResourceId"], row["Kind"], row["DisplayName"], row["Enabled"]) == (
            rule["id"], rule["kind"], props["displayName"], props["enabled"])
        assert row["SnapshotTime"] == DAY_START
        assert row["Query"] == props.get("query")
        assert row["QueryFrequency"] == props.get("queryFrequency")
        mappings = props.get("entityMappings")
        assert (json.loads(row["EntityMappings"]) if row["EntityMappings"] else None) == mappings
    assert {r["Kind"] for r in rows.values()} == {"Scheduled", "NRT", "Fusion", "MicrosoftSecurityIncidentCreation"}
    assert stats.query_windows == 3 and stats.absence is None


def test_sentinel_rules_403_is_one_line_naming_the_role(fake):
    fake.fault("alert_rules", status=403, body={"error": {"code": "AuthorizationFailed", "message": "no access"}})
    with pytest.raises(AccessDenied) as info:
        fetch_all(sentinel(fake), "analytic_rules", day_window(DAY))
    message = str(info.value)
    assert "\n" not in message
    assert "Microsoft Sentinel Reader" in message and WORKSPACE_RESOURCE_ID in message
    assert len(fake.routes("alert_rules")) == 1  # a missing role is not retried


def test_sentinel_rules_throttling_and_server_errors_are_retried(fake):
    fake.fault("alert_rules", status=429, headers={"Retry-After": "7"})
    fake.fault("alert_rules", status=503)
    source = sentinel(fake)
    table, stats = fetch_all(source, "analytic_rules", day_window(DAY))
    assert table.num_rows == len(fake.data.alert_rules)
    assert stats.retries == 2 and source.retry.sleep[0] == 7.0


def test_sentinel_rules_other_errors_name_the_arm_error(fake):
    fake.fault("alert_rules", status=404, body={"error": {"code": "ResourceNotFound", "message": "workspace gone"}})
    with pytest.raises(SourceError, match="ResourceNotFound: workspace gone"):
        fetch_all(sentinel(fake), "analytic_rules", day_window(DAY))


def _settings(fake, tmp_path, kind: str, **overrides):
    raw = {"name": f"{kind}-t", "kind": kind, "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
           "client_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "client_secret_env": "HUNTHOUSE_TEST_CLIENT_SECRET",
           "authority_host": fake.url, "log_analytics_endpoint": fake.url, "graph_endpoint": fake.url,
           "resource_manager_endpoint": fake.url, "max_attempts": 3} if kind == "sentinel" else {
           "name": f"{kind}-t", "kind": kind, "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
           "client_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "client_secret_env": "HUNTHOUSE_TEST_CLIENT_SECRET",
           "authority_host": fake.url, "graph_endpoint": fake.url, "max_attempts": 3}
    if kind == "sentinel":
        raw["workspace_id"] = "c8c99641-985d-4e4e-8e91-fb3466cd0e5b"
    raw.update(overrides)
    return parse({"hunthouse": {"home": str(tmp_path)}, "tenant": [raw]}, base_dir=tmp_path)


def test_sentinel_without_workspace_resource_id_commits_an_empty_snapshot_with_the_reason(fake, tmp_path):
    settings = _settings(fake, tmp_path, "sentinel")
    manifest = extract_partition(settings, "sentinel-t", "analytic_rules", DAY)
    assert manifest.rows == 0 and manifest.stats["absence"] == NO_WORKSPACE_RESOURCE_ID
    assert read_manifest(manifest.path.parent).stats["absence"] == NO_WORKSPACE_RESOURCE_ID
    assert not fake.routes("alert_rules")


def test_defender_custom_detections_are_read_across_pages_and_join_their_alerts(fake):
    source = DefenderSource(tenant(fake, "defender"), sleep=Sleeps())
    table, stats = fetch_all(source, "analytic_rules", day_window(DAY))
    assert len(fake.routes("detection_rules")) == 2  # 4 rules, 3 per page
    rows = {r["RuleId"]: r for r in table.to_pylist()}
    assert set(rows) == {r["detectorId"] for r in fake.data.detection_rules}
    alert_detectors = {a["detectorId"] for a in fake.data.graph_alerts}
    assert set(rows) <= alert_detectors  # alerts_v2 detectorId = the rule's detectorId: rule ids join
    row = rows[fake.data.detection_rules[0]["detectorId"]]
    assert (row["Kind"], row["Source"], row["ResourceId"], row["Enabled"], row["QueryFrequency"]) == (
        "CustomDetection", "Microsoft Defender XDR", "7500", True, "1H")
    assert row["Query"].startswith("DeviceEvents")
    assert json.loads(row["EntityMappings"]) == [
        {"entityType": "Host", "fieldMappings": [{"identifier": "FullName", "columnName": "DeviceName"}]},
        {"entityType": "Account", "fieldMappings": [{"identifier": "Sid", "columnName": "AccountSid"}]},
    ]
    assert stats.absence is None


def test_defender_without_the_custom_detection_permission_is_a_recorded_absence(fake, tmp_path):
    fake.fault("detection_rules", status=403,
               body={"error": {"code": "Forbidden", "message": "Missing role permissions on the request."}})
    settings = _settings(fake, tmp_path, "defender")
    manifest = extract_partition(settings, "defender-t", "analytic_rules", DAY)
    assert manifest.rows == 0
    reason = manifest.stats["absence"]
    assert "CustomDetection.Read.All" in reason and "403" in reason and "\n" not in reason
