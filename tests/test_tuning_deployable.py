"""The deployable forms of the sample tenant's recommendations: the combined clause removes exactly
what the recommendations' own clauses remove (evaluated by the clause evaluator on the rules' real
alerts), the automation-rule ARM template has the shape Sentinel deploys, the watchlist CSV
round-trips, and the owner report links every form."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict

import jsonschema
import pytest

from models.tuning.kql import parse_mappings
from models.tuning.kql_eval import clause_removes
from pipelines.reports import deployable
from pipelines.reports.owner_files import csv_text
from pipelines.reports.owners import WATCHLIST_COLUMNS
from pipelines.warehouse.hub import connect_warehouse

pytestmark = pytest.mark.xdist_group("sample_warehouse")

# The part of Microsoft.SecurityInsights automationRules (2023-02-01) that a deployment needs.
CONDITION = {
    "type": "object", "required": ["conditionType", "conditionProperties"],
    "properties": {
        "conditionType": {"const": "Property"},
        "conditionProperties": {
            "type": "object", "required": ["propertyName", "operator", "propertyValues"],
            "properties": {
                "propertyName": {"enum": ["IncidentRelatedAnalyticRuleIds", "AccountName", "AccountNTDomain",
                                          "AccountUPNSuffix", "AccountSid", "AccountAadUserId", "HostName",
                                          "IPAddress", "ProcessCommandLine", "FileName", "FileDirectory",
                                          "FileHashValue", "Url"]},
                "operator": {"enum": ["Equals", "Contains"]},
                "propertyValues": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            },
        },
    },
}
TEMPLATE = {
    "type": "object", "required": ["$schema", "contentVersion", "parameters", "resources"],
    "properties": {
        "parameters": {"type": "object", "required": ["workspace"]},
        "resources": {"type": "array", "items": {
            "type": "object", "required": ["type", "apiVersion", "name", "properties"],
            "properties": {
                "type": {"const": "Microsoft.OperationalInsights/workspaces/providers/automationRules"},
                "apiVersion": {"const": "2023-02-01"},
                "name": {"type": "string", "pattern": r"^\[concat\(parameters\('workspace'\), '/Microsoft\.SecurityInsights/[0-9a-f-]{36}'\)\]$"},
                "properties": {
                    "type": "object", "required": ["displayName", "order", "triggeringLogic", "actions"],
                    "properties": {
                        "displayName": {"type": "string", "maxLength": 256},
                        "order": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "triggeringLogic": {
                            "type": "object",
                            "required": ["isEnabled", "triggersOn", "triggersWhen", "expirationTimeUtc", "conditions"],
                            "properties": {
                                "triggersOn": {"const": "Incidents"}, "triggersWhen": {"const": "Created"},
                                "expirationTimeUtc": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT00:00:00Z$"},
                                "conditions": {"type": "array", "minItems": 2, "items": CONDITION},
                            },
                        },
                        "actions": {"type": "array", "minItems": 1, "items": {
                            "type": "object", "required": ["order", "actionType", "actionConfiguration"],
                            "properties": {
                                "actionType": {"const": "ModifyProperties"},
                                "actionConfiguration": {"type": "object", "properties": {
                                    "status": {"const": "Closed"}, "classification": {"const": "BenignPositive"},
                                    "classificationReason": {"const": "SuspiciousButExpected"}}},
                            },
                        }},
                    },
                },
            },
        }},
    },
}


@pytest.fixture(scope="module")
def sample(sample_warehouse):
    with connect_warehouse(sample_warehouse) as con:
        cur = con.execute("SELECT * FROM tuning_recommendations ORDER BY tenant, rule_id, entity_key")
        names = [d[0] for d in cur.description]
        recs = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        entities: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for tenant, rule_id, alert, etype, key, value, props in con.execute(
            "SELECT a.tenant, a.rule_id, a.system_alert_id, e.entity_type, e.entity_key, e.entity_value, e.properties "
            "FROM alerts a JOIN alert_entities e USING (tenant, system_alert_id) "
            "WHERE a.rule_id IN (SELECT rule_id FROM tuning_recommendations)"
        ).fetchall():
            entities[(tenant, rule_id, alert)].append(
                {"entity_type": etype, "entity_key": key, "entity_value": value, "properties": props})
        # the clauses name the rules' own mapped columns: the evaluator lays the alerts out in them
        mappings = {(t, r): parse_mappings(m) for t, r, m in con.execute(
            "SELECT tenant, rule_id, entity_mappings::VARCHAR FROM analytic_rules").fetchall()}
    assert recs and entities and mappings
    return recs, entities, mappings


def test_combined_clause_removes_exactly_what_the_recommendations_remove(sample):
    recs, entities, mappings = sample
    by_rule: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in recs:
        by_rule[(rec["tenant"], rec["rule_id"])].append(rec)
    checked = removed = 0
    for (tenant, rule_id), group in by_rule.items():
        combined = deployable.combined_clause(group)
        own = [r["kql_exclusion"] for r in group if r["kql_exclusion"]]
        if combined is None:
            assert not own
            continue
        for (t, r, _), alert_entities in entities.items():
            if (t, r) != (tenant, rule_id):
                continue
            rule_mappings = mappings.get((tenant, rule_id))
            expected = any(clause_removes(c, alert_entities, rule_mappings) for c in own)
            assert clause_removes(combined, alert_entities, rule_mappings) == expected
            checked += 1
            removed += expected
    assert checked > 100 and 0 < removed < checked  # it removes some of the rules' alerts, not all


def test_automation_rule_template_has_the_shape_sentinel_deploys(sample):
    recs, *_ = sample
    template = deployable.automation_template(recs)
    jsonschema.validate(template, TEMPLATE)
    resources = template["resources"]
    with_query = [r for r in recs if r["has_rule_query"]]
    assert 0 < len(resources) <= len(with_query)
    names = [r["name"] for r in resources]
    assert len(set(names)) == len(names)
    assert deployable.automation_template(recs) == template  # the same recommendations, the same rule names
    first = next(r for r in with_query if deployable.automation_rule(r, 1) is not None)
    logic = deployable.automation_rule(first, 1)["properties"]["triggeringLogic"]
    assert logic["expirationTimeUtc"] == f"{first['expires_on'].isoformat()}T00:00:00Z"
    assert logic["conditions"][0]["conditionProperties"]["propertyValues"] == [first["rule_id"]]


def test_entity_conditions_name_each_entity_type_by_its_incident_property():
    cases = {
        ("account", "contoso\\svc_backup", "CONTOSO\\svc_backup"): {"AccountName": "svc_backup", "AccountNTDomain": "CONTOSO"},
        ("account", "ana@contoso.com", "ana@contoso.com"): {"AccountName": "ana", "AccountUPNSuffix": "contoso.com"},
        ("account", "s-1-5-21-1-2-3-500", "S-1-5-21-1-2-3-500"): {"AccountSid": "S-1-5-21-1-2-3-500"},
        ("host", "srv01", "SRV01.contoso.com"): {"HostName": "SRV01"},
        ("ip", "fe80::1", "FE80::1"): {"IPAddress": "FE80::1"},
        ("file", "c:\\tools\\app.exe", "C:\\Tools\\app.exe"): {"FileName": "app.exe", "FileDirectory": "C:\\Tools"},
        ("filehash", "sha256:ab12", "sha256:AB12"): {"FileHashValue": "AB12"},
    }
    for (etype, key, value), expected in cases.items():
        got = deployable.entity_conditions(etype, key, value)
        assert {c["conditionProperties"]["propertyName"]: c["conditionProperties"]["propertyValues"][0] for c in got} == expected
    assert deployable.entity_conditions("process", "pid:4242", "pid:4242") is None  # nothing stable to match


def test_watchlist_csv_round_trips_and_defender_tuning_covers_product_alerts(sample):
    recs, *_ = sample
    rows = [[*row, "reason"] for row in deployable.watchlist_rows(recs)]
    parsed = list(csv.reader(io.StringIO(csv_text(WATCHLIST_COLUMNS, rows))))
    assert parsed[0] == list(WATCHLIST_COLUMNS) and parsed[1:] == rows
    assert len({r[-2] for r in rows}) == len(rows)  # recommendation ids are unique
    tuning = deployable.defender_tuning(recs)
    assert len(tuning) == sum(not r["has_rule_query"] for r in recs)
    json.dumps(tuning)


def test_owner_report_links_every_deployable_form(sample_warehouse):
    day = sample_warehouse.reports_dir
    pages = [p for p in day.rglob("owners/*/*.html")]
    assert pages
    for report in [*pages, *day.rglob("firewall/*.html")]:  # and says how the checks of its data went
        assert "Data quality (run " in report.read_text(encoding="utf-8"), report
    linked = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if "Deploy</h2>" not in text:
            continue
        linked += 1
        stem = page.stem
        for name in (f"clauses-{stem}.kql", f"automation-rules-{stem}.json", f"watchlist-{stem}.csv",
                     f"defender-tuning-{stem}.json"):
            assert f'href="{name}"' in text and (page.parent / name).stat().st_size > 0
    assert linked
