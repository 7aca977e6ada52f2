"""The sample tenant end to end (real Dagster run): its rule definitions reach `analytic_rules`, every
tuning rule id joins them, and its recommendations' clauses use the rules' own mapped columns."""

from __future__ import annotations

import json

import pytest

from models.tuning.kql import parse_mappings
from pipelines.warehouse.hub import connect_warehouse

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
    assert all(s["absence"] is None and s["rules"] == len(rules) for s in snapshots)
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
