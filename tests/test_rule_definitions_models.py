"""Rule definitions below the connectors: the config settings, the sample tenant's snapshot, staging
into `analytic_rules` / `analytic_rule_snapshots`, and KQL clauses on the rule's own mapped columns
(evaluated by the clause evaluator on rows laid out in those columns)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from models.tuning.kql import kql_exclusion, parse_mappings
from models.tuning.kql_eval import clause_removes
from pipelines.config import ConfigError, TenantConfig, parse
from pipelines.sources.base import FetchStats, day_window
from pipelines.sources.sample.source import SampleSource
from pipelines.sources.schemas import ANALYTIC_RULES
from pipelines.warehouse import staging

pytestmark = pytest.mark.fast

WORKSPACE = ("/subscriptions/0d6c9e1a-5b7f-4c2e-9a31-8e4f2b6d7c10/resourceGroups/rg-sec/providers/"
             "Microsoft.OperationalInsights/workspaces/law-sec")
SENTINEL = {"name": "s", "kind": "sentinel", "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "client_secret_env": "X",
            "workspace_id": "c8c99641-985d-4e4e-8e91-fb3466cd0e5b"}


def _tenant(**extra) -> TenantConfig:
    return parse({"tenant": [{**SENTINEL, **extra}]}, base_dir=Path.cwd()).tenants[0]


def test_workspace_resource_id_is_optional_and_validated():
    assert _tenant().workspace_resource_id == ""
    assert _tenant().resource_manager_endpoint == "https://management.azure.com"
    t = _tenant(workspace_resource_id=WORKSPACE + "/", resource_manager_endpoint="https://management.usgovcloudapi.net/")
    assert (t.workspace_resource_id, t.resource_manager_endpoint) == (WORKSPACE, "https://management.usgovcloudapi.net")
    with pytest.raises(ConfigError, match="workspace_resource_id: must be the workspace's Azure resource ID"):
        _tenant(workspace_resource_id="c8c99641-985d-4e4e-8e91-fb3466cd0e5b")
    with pytest.raises(ConfigError, match="workspace_resource_id: must be"):
        _tenant(workspace_resource_id=WORKSPACE + "/providers/Microsoft.SecurityInsights/alertRules/x")
    with pytest.raises(ConfigError, match="resource_manager_endpoint: must be an https URL"):
        _tenant(resource_manager_endpoint="http://management.azure.com")
    with pytest.raises(ConfigError, match="it is a setting of kind 'sentinel', not 'sample'"):
        parse({"tenant": [{"name": "d", "kind": "sample", "workspace_resource_id": WORKSPACE}]}, base_dir=Path.cwd())


@pytest.fixture(scope="module")
def sample():
    source = SampleSource(TenantConfig(name="contoso", kind="sample"))
    day = source.world.start + timedelta(days=3)
    batches = list(source.fetch("analytic_rules", day_window(day), FetchStats()))
    assert len(batches) == 1
    return source, day, batches[0]


def test_sample_definitions_carry_the_rule_ids_and_entity_types_of_its_alerts(sample):
    source, day, table = sample
    w = source.world
    assert table.schema == ANALYTIC_RULES
    rows = {r["RuleId"]: r for r in table.to_pylist()}
    assert list(rows) == w.rule_ids
    alerts = source.alerts.alert_table(3, source.alerts.plan_day(3)).to_pylist()
    for alert in alerts:
        rule_id = json.loads(json.loads(alert["ExtendedProperties"])["Analytic Rule Ids"])[0]
        row = rows[rule_id]  # every alert's rule has a definition
        assert row["DisplayName"] == alert["AlertName"] and row["Severity"] == alert["AlertSeverity"]
        alert_types = {e["Type"] for e in json.loads(alert["Entities"])} - {"file"}  # the image file rides on the process
        mapped = {m["entityType"].lower() for m in json.loads(row["EntityMappings"])}
        assert alert_types <= mapped, (row["DisplayName"], alert_types, mapped)
    again = list(SampleSource(TenantConfig(name="contoso", kind="sample")).fetch(
        "analytic_rules", day_window(day), FetchStats()))[0]
    assert again.equals(table)  # deterministic


def _stage(con, day, table: pa.Table, absence: str | None = None) -> None:
    staging.stage_raw(con, "analytic_rules", "contoso", day, table, absence=absence)


def test_staging_keeps_the_latest_snapshot_and_records_an_absence(sample):
    _, day, table = sample
    con = duckdb.connect()
    staging.create_tables(con)
    _stage(con, day, table)
    rows = con.execute("SELECT rule_id, kind, enabled, entity_columns FROM analytic_rules ORDER BY rule_id").fetchall()
    assert sorted(r[0] for r in rows) == sorted(table.column("RuleId").to_pylist())
    assert all(kind == "Scheduled" and enabled for _, kind, enabled, _ in rows)
    assert all(cols and {c["entity_type"] for c in cols} <= {"account", "host", "ip", "process", "file"}
               for *_, cols in rows)
    # an older day re-pulled with fewer rules changes nothing: only the latest snapshot counts
    _stage(con, day - timedelta(days=1), table.slice(0, 2))
    assert con.execute("SELECT count(*) FROM analytic_rules").fetchall()[0][0] == table.num_rows
    # the newest snapshot empty on purpose: no rules, and the reason kept
    _stage(con, day + timedelta(days=1), ANALYTIC_RULES.empty_table(), absence="no workspace_resource_id configured")
    assert con.execute("SELECT count(*) FROM analytic_rules").fetchall()[0][0] == 0
    snapshots = con.execute("SELECT day, rules, absence FROM analytic_rule_snapshots ORDER BY day").fetchall()
    assert snapshots == [(day - timedelta(days=1), 2, None), (day, table.num_rows, None),
                         (day + timedelta(days=1), 0, "no workspace_resource_id configured")]


MAPPINGS = json.dumps([
    {"entityType": "Account", "fieldMappings": [{"identifier": "FullName", "columnName": "TargetAccount"}]},
    {"entityType": "Host", "fieldMappings": [{"identifier": "FullName", "columnName": "Computer"}]},
    {"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "IpAddress"}]},
])


def test_clause_uses_the_rules_mapped_column_names():
    clause = kql_exclusion("account", "contoso\\svc_backup", "host", "srv-backup01", None, None, MAPPINGS)
    assert clause == ("| where not(TargetAccount =~ 'contoso\\\\svc_backup' and "
                      "tostring(split(Computer, '.')[0]) =~ 'srv-backup01')")
    assert kql_exclusion("ip", "10.20.30.40", entity_mappings=MAPPINGS) == "| where not(IpAddress =~ '10.20.30.40')"
    # no definition, or a type the rule does not map: the standard columns
    assert kql_exclusion("account", "contoso\\svc_backup") == \
        "| where not((AccountName =~ 'svc_backup' and AccountDomain =~ 'contoso'))"
    assert kql_exclusion("url", "https://x.example/a", entity_mappings=MAPPINGS) == "| where not(Url =~ 'https://x.example/a')"
    # Name + NTDomain mappings express a domain\name key; Name alone cannot (falls back)
    split = json.dumps([{"entityType": "Account", "fieldMappings": [
        {"identifier": "Name", "columnName": "SubjectUserName"}, {"identifier": "NTDomain", "columnName": "SubjectDomainName"}]}])
    assert kql_exclusion("account", "contoso\\jdoe", entity_mappings=split) == \
        "| where not((SubjectUserName =~ 'jdoe' and SubjectDomainName =~ 'contoso'))"
    name_only = json.dumps([{"entityType": "Account", "fieldMappings": [{"identifier": "Name", "columnName": "User"}]}])
    assert kql_exclusion("account", "contoso\\jdoe", entity_mappings=name_only) == \
        "| where not((AccountName =~ 'jdoe' and AccountDomain =~ 'contoso'))"


def test_a_mapped_column_that_is_not_an_identifier_never_reaches_the_clause():
    evil = json.dumps([{"entityType": "IP", "fieldMappings": [{"identifier": "Address", "columnName": "x) or (1 == 1"}]}])
    assert parse_mappings(evil) == {}
    assert kql_exclusion("ip", "10.0.0.1", entity_mappings=evil) == "| where not(IPAddress =~ '10.0.0.1')"
    assert kql_exclusion("ip", "10.0.0.1", entity_mappings="not json") == "| where not(IPAddress =~ '10.0.0.1')"


def test_the_evaluator_reads_alerts_in_the_rules_own_columns():
    clause = kql_exclusion("account", "contoso\\svc_backup", "host", "srv-backup01", None, None, MAPPINGS)
    mappings = parse_mappings(MAPPINGS)

    def alert(account: str, host: str) -> list[dict]:
        return [{"entity_type": "account", "entity_key": account.lower(), "entity_value": account,
                 "properties": json.dumps({"Name": account.split("\\")[1], "NTDomain": account.split("\\")[0]})},
                {"entity_type": "host", "entity_key": host, "entity_value": host,
                 "properties": json.dumps({"HostName": host, "DnsDomain": "contoso.local"})}]

    assert clause_removes(clause, alert("CONTOSO\\svc_backup", "srv-backup01"), mappings)
    assert not clause_removes(clause, alert("CONTOSO\\svc_backup", "srv-file01"), mappings)
    assert not clause_removes(clause, alert("CONTOSO\\jdoe", "srv-backup01"), mappings)
    # laid out only in the standard columns, the rule's columns are empty: nothing matches
    assert not clause_removes(clause, alert("CONTOSO\\svc_backup", "srv-backup01"))
