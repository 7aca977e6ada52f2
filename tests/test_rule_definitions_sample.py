"""The sample tenant end to end (the session's sample warehouse, built through the Dagster jobs): its
rule definitions reach `analytic_rules`, every tuning rule id joins them, and its recommendations'
clauses use the rules' own mapped columns."""

from __future__ import annotations

import json

import pytest

from models.tuning.kql import parse_mappings
from pipelines.warehouse.hub import connect_warehouse

# the session's sample warehouse (tests/conftest.py), built once in the worker of this group
pytestmark = pytest.mark.xdist_group("sample_warehouse")


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_the_sample_rules_are_staged_and_every_tuning_rule_id_joins_them(sample_warehouse):
    with connect_warehouse(sample_warehouse) as con:
        rules = _rows(con, "SELECT * FROM analytic_rules")
        snapshots = _rows(con, "SELECT * FROM analytic_rule_snapshots ORDER BY day")
        noise = _rows(con, "SELECT tenant, rule_id FROM rule_noise")
        unmatched = con.execute(
            "SELECT count(*) FROM rule_noise n ANTI JOIN analytic_rules a USING (tenant, rule_id)").fetchall()[0][0]
        unmatched_alerts = con.execute(
            "SELECT count(*) FROM alerts l ANTI JOIN analytic_rules a USING (tenant, rule_id)").fetchall()[0][0]
        unmatched_recs = con.execute(
            "SELECT count(*) FROM tuning_recommendations r ANTI JOIN analytic_rules a USING (tenant, rule_id)"
        ).fetchall()[0][0]
    assert rules and noise and snapshots
    assert unmatched == 0 and unmatched_alerts == 0 and unmatched_recs == 0
    assert len({(r["tenant"], r["rule_id"]) for r in rules}) == len(rules)
    latest = max(s["day"] for s in snapshots)
    assert all(r["day"] == latest and r["kind"] == "Scheduled" and r["enabled"] and r["query"] for r in rules)
    per_tenant = {t: sum(r["tenant"] == t for r in rules) for t in {r["tenant"] for r in rules}}
    assert all(s["absence"] is None and s["rules"] == per_tenant[s["tenant"]] for s in snapshots)
    assert all(r["entity_columns"] and json.loads(r["entity_mappings"]) for r in rules)


def test_recommendation_clauses_use_the_rules_mapped_columns(sample_warehouse):
    with connect_warehouse(sample_warehouse) as con:
        recs = _rows(con, "SELECT r.rule_name, r.entity_type_1, r.entity_type_2, r.entity_type_3, r.kql_exclusion, "
                          "a.entity_mappings::VARCHAR AS mappings FROM tuning_recommendations r "
                          "JOIN analytic_rules a USING (tenant, rule_id) WHERE r.kql_exclusion IS NOT NULL")
    assert recs
    checked = 0
    for rec in recs:
        mappings = parse_mappings(rec["mappings"])
        for etype in filter(None, (rec["entity_type_1"], rec["entity_type_2"], rec["entity_type_3"])):
            columns = {c for m in mappings.get(etype, []) for c in m.values()}
            if columns and etype in ("account", "host", "ip"):
                assert any(c in rec["kql_exclusion"] for c in columns), (rec["rule_name"], etype, rec["kql_exclusion"])
                checked += 1
    logons = [r for r in recs if r["rule_name"] == "Multiple failed logons for a single account"]
    assert logons and all("AccountName" not in r["kql_exclusion"] and "DeviceName" not in r["kql_exclusion"]
                          for r in logons)
    assert any("TargetAccount =~" in r["kql_exclusion"] or "Computer" in r["kql_exclusion"] for r in logons)
    assert checked


def test_mapped_clauses_remove_the_recommended_alerts_when_laid_out_in_the_rules_columns(sample_warehouse):
    """Evaluated on the rules' real alerts in the columns their queries project, each clause removes
    alerts carrying its exclusion and keeps the rest; in the standard columns alone a clause on
    mapped columns would remove nothing."""
    from models.tuning.kql_eval import clause_removes

    with connect_warehouse(sample_warehouse) as con:
        recs = _rows(con, "SELECT r.tenant, r.rule_id, r.kql_exclusion, a.entity_mappings::VARCHAR AS mappings "
                          "FROM tuning_recommendations r JOIN analytic_rules a USING (tenant, rule_id) "
                          "WHERE r.kql_exclusion IS NOT NULL")
        alerts: dict[tuple[str, str], dict[str, list[dict]]] = {}
        for tenant, rule_id, alert, etype, key, value, props in con.execute(
            "SELECT a.tenant, a.rule_id, a.system_alert_id, e.entity_type, e.entity_key, e.entity_value, e.properties "
            "FROM alerts a JOIN alert_entities e USING (tenant, system_alert_id) "
            "WHERE a.rule_id IN (SELECT rule_id FROM tuning_recommendations)"
        ).fetchall():
            alerts.setdefault((tenant, rule_id), {}).setdefault(alert, []).append(
                {"entity_type": etype, "entity_key": key, "entity_value": value, "properties": props})
    assert recs
    renamed = 0
    for rec in recs:
        mappings = parse_mappings(rec["mappings"])
        of_rule = alerts[(rec["tenant"], rec["rule_id"])].values()
        removed = sum(clause_removes(rec["kql_exclusion"], entities, mappings) for entities in of_rule)
        assert 0 < removed < len(of_rule), rec["kql_exclusion"]
        if not any(clause_removes(rec["kql_exclusion"], entities) for entities in of_rule):
            renamed += 1  # the clause names only the rule's own columns
    assert renamed  # some recommendations really use columns the standard layout lacks
