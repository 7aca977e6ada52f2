"""Planted truth on the sample tenant: the simulator plants exclusions (single and pair) and
entities that must never be excluded; at default settings the tuning models must find every
planted exclusion, recommend nothing that appears in a true-positive incident, and the backtest
must remove no true positive.

Written against the documented interfaces of the simulator (`SampleSource(tenant_cfg, as_of)
.fetch(table, window, FetchStats())`, `pipelines.sources.sample.truth.planted_truth(tenant_cfg)`)
and of the staging loader (`pipelines.warehouse.staging.create_tables / stage_raw /
refresh_latest_state`).
"""

from __future__ import annotations

import fnmatch
import pathlib
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from models.runner import ModelContext
from models.tuning import subject_patterns
from pipelines.config import TenantConfig
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.sample import truth as truth_module
from pipelines.sources.sample.source import SampleSource
from pipelines.warehouse import staging
from tests.tuning_fixture import settings

AS_OF = date(2026, 11, 29)
TENANT = TenantConfig(name="sample", kind="sample", seed=1, scale=0.5, start=AS_OF - timedelta(days=59), end=AS_OF)
ALERT_TABLES = ("security_alert", "security_incident")


def _day_window(day: date) -> Window:
    start = datetime.combine(day, datetime.min.time(), UTC)
    return Window(start, start + timedelta(days=1))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    con = duckdb.connect()
    staging.create_tables(con)
    con.execute("CREATE TEMP TABLE changed_partitions (tbl VARCHAR, tenant VARCHAR, day DATE)")
    source = SampleSource(TENANT, AS_OF)
    day = TENANT.start
    while day <= AS_OF:
        for table in ALERT_TABLES:
            batches = list(source.fetch(table, _day_window(day), FetchStats()))
            parts = [pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in batches]
            if parts:
                staging.stage_raw(con, table, TENANT.name, day, pa.concat_tables(parts))
                con.execute("INSERT INTO changed_partitions VALUES (?, ?, ?)", [table, TENANT.name, day])
        day += timedelta(days=1)
    staging.refresh_latest_state(con)
    from models.tuning import build

    build(con, ModelContext(settings=settings(tmp_path_factory.mktemp("home"), tenants=(TENANT,)), as_of=AS_OF))
    return con


def _tuning_truth() -> list[dict]:
    return [t for t in truth_module.planted_truth(TENANT) if t.get("area") == "tuning"]


def _recommendations(con) -> list[dict]:
    cur = con.execute("SELECT * FROM tuning_recommendations WHERE tenant = ?", [TENANT.name])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_every_planted_exclusion_is_recommended(warehouse):
    recs = _recommendations(warehouse)
    singles = {(r["rule_id"], r["entity_type_1"], r["entity_key_1"]) for r in recs if r["exclusion_kind"] == "single"}
    pairs = {
        (r["rule_id"], frozenset({(r["entity_type_1"], r["entity_key_1"]), (r["entity_type_2"], r["entity_key_2"])}))
        for r in recs if r["exclusion_kind"] == "pair"
    }
    planted = _tuning_truth()
    assert any(t["kind"] in ("exclusion", "pair_exclusion") for t in planted)
    missing = []
    for t in planted:
        if t["kind"] == "exclusion" and (t["rule_id"], t["entity_type"], t["entity_key"]) not in singles:
            missing.append(t)
        if t["kind"] == "pair_exclusion" and (
            t["rule_id"], frozenset(tuple(e) for e in t["entities"])
        ) not in pairs:
            missing.append(t)
    assert missing == []


def test_nothing_recommended_appears_in_a_true_positive_incident(warehouse):
    leaked = warehouse.execute(
        """
        WITH tp_alert_entities AS (
            SELECT DISTINCT e.system_alert_id, e.entity_type, e.entity_key
            FROM incidents AS i
            JOIN incident_alerts AS ia USING (tenant, incident_number)
            JOIN alert_entities AS e ON e.tenant = ia.tenant AND e.system_alert_id = ia.system_alert_id
            WHERE i.classification = 'true_positive' AND i.tenant = ?
        )
        SELECT r.rule_id, r.entity_type, r.entity_key
        FROM tuning_recommendations AS r
        JOIN tp_alert_entities AS a1 ON a1.entity_type = r.entity_type_1 AND a1.entity_key = r.entity_key_1
        LEFT JOIN tp_alert_entities AS a2
            ON a2.system_alert_id = a1.system_alert_id
            AND a2.entity_type = r.entity_type_2 AND a2.entity_key = r.entity_key_2
        WHERE r.exclusion_kind = 'single' OR a2.system_alert_id IS NOT NULL
        """,
        [TENANT.name],
    ).fetchall()
    assert leaked == []
    never = {(t["entity_type"], t["entity_key"]) for t in _tuning_truth() if t["kind"] == "never_exclude"}
    recs = _recommendations(warehouse)
    assert not [r for r in recs if r["exclusion_kind"] == "single" and (r["entity_type_1"], r["entity_key_1"]) in never]


def test_backtest_removes_no_true_positive(warehouse):
    rows = warehouse.execute(
        "SELECT alerts_removed, true_positive_alerts_removed FROM tuning_backtest WHERE tenant = ? AND rule_id = '*'",
        [TENANT.name],
    ).fetchall()
    assert len(rows) == 1
    removed, tp_removed = rows[0]
    assert removed > 0
    assert tp_removed == 0


def test_no_never_alone_binary_account_or_dc_is_recommended_alone(warehouse):
    """The attackers of the sample tenant live off the land with the System32 binaries benign admins
    use, so only the subject guard keeps the image files out of single-entity exclusions."""
    planted = [t for t in _tuning_truth() if t["kind"] == "never_alone"]
    assert len(planted) >= 5
    singles = [r for r in _recommendations(warehouse) if r["exclusion_kind"] == "single"]
    assert not [r for r in singles if (r["rule_id"], r["entity_type_1"], r["entity_key_1"]) in
                {(t["rule_id"], t["entity_type"], t["entity_key"]) for t in planted}]
    never_alone_names = {p for t, p, _ in subject_patterns(settings(pathlib.Path("."))) if "*" not in p}
    leaked = [r for r in singles
              if r["entity_key_1"].rsplit("\\", 1)[-1] in never_alone_names
              or (r["entity_type_1"] == "host" and fnmatch.fnmatchcase(r["entity_key_1"], "*-dc*"))]
    assert leaked == []
    [vss] = warehouse.execute(
        "SELECT verdict FROM tuning_exclusion_candidates WHERE exclusion_kind = 'single' "
        "AND entity_key_1 = 'c:\\windows\\system32\\vssadmin.exe'").fetchall()
    assert vss[0].startswith("fails subject guard")


def test_the_living_off_the_land_attacks_fall_in_the_backtest_window(warehouse):
    """The backtest is only a test of the subject guard if its fit had never seen these files in a
    true positive: each closed living-off-the-land attack lies in the held-out days."""
    for t in _tuning_truth():
        if t["kind"] == "never_alone":
            for day in t["true_positive_days"]:
                assert AS_OF - timedelta(days=13) <= day <= AS_OF


def test_broad_entities_above_the_cap_become_rule_logic_findings(warehouse):
    findings = warehouse.execute(
        "SELECT rule_id, entity_type, entity_key, alerts_removed_share FROM tuning_rule_logic_findings WHERE tenant = ?",
        [TENANT.name]).fetchall()
    vss = next(t for t in _tuning_truth() if t["kind"] == "never_alone" and t["entity_key"].endswith("vssadmin.exe"))
    assert (vss["rule_id"], "file", vss["entity_key"]) in {f[:3] for f in findings}
    assert all(share > 0.5 for *_, share in findings)
    recs = _recommendations(warehouse)
    assert not [r for r in recs if r["exclusion_kind"] == "single" and r["entity_type_1"] in ("file", "account", "host")
                and r["alerts_removed_share"] > 0.5]
    # a narrow shape (an exact command line) is judged on its own evidence, whatever its share
    assert [r for r in recs if r["rule_id"] == vss["rule_id"] and r["entity_type_1"] == "process"
            and r["alerts_removed_share"] > 0.5]
