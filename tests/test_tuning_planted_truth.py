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


def _parts(r: dict) -> set[tuple[str, str]]:
    parts = {(r["entity_type_1"], r["entity_key_1"])}
    if r["exclusion_kind"] == "pair":
        parts.add((r["entity_type_2"], r["entity_key_2"]))
    return parts


def _benign_alerts_carrying(con, rule_id: str, parts: set[tuple[str, str]]) -> set[str]:
    """Benign alerts of the live fit of `rule_id` carrying every entity of `parts`."""
    rows = con.execute(
        "SELECT l.system_alert_id, e.entity_type, e.entity_key FROM alert_labels AS l "
        "JOIN alert_entities AS e USING (tenant, system_alert_id) WHERE l.tenant = ? AND l.rule_id = ? AND l.is_benign",
        [TENANT.name, rule_id]).fetchall()
    by_alert: dict[str, set] = {}
    for alert, etype, key in rows:
        by_alert.setdefault(alert, set()).add((etype, key))
    return {a for a, ents in by_alert.items() if parts <= ents}


def test_every_planted_exclusion_is_recommended_in_its_narrowest_shape(warehouse):
    """A planted entity is recommended alone or inside a narrower pair, and the recommendations
    holding it remove every benign alert of the rule that carries it."""
    recs = _recommendations(warehouse)
    planted = _tuning_truth()
    assert any(t["kind"] in ("exclusion", "pair_exclusion") for t in planted)
    missing = []
    for t in planted:
        if t["kind"] == "exclusion":
            entity = {(t["entity_type"], t["entity_key"])}
        elif t["kind"] == "pair_exclusion":
            entity = {tuple(e) for e in t["entities"]}
        else:
            continue
        holding = [r for r in recs if r["rule_id"] == t["rule_id"] and entity <= _parts(r)]
        removed = set().union(*(_benign_alerts_carrying(warehouse, t["rule_id"], _parts(r)) for r in holding))
        if not holding or not _benign_alerts_carrying(warehouse, t["rule_id"], entity) <= removed:
            missing.append(t)
    assert missing == []
    # the planted pair itself, not a broader single of either of its parts
    pair = next(t for t in planted if t["kind"] == "pair_exclusion")
    assert [r for r in recs if r["rule_id"] == pair["rule_id"] and _parts(r) == {tuple(e) for e in pair["entities"]}]


def test_no_recommendation_is_shadowed_by_narrower_recommendations(warehouse):
    """No recommended exclusion whose benign alerts the narrower recommendations of its rule (those
    whose alerts are a subset of its alerts) already remove: the broad one would add only risk."""
    recs = _recommendations(warehouse)
    benign = {id(r): _benign_alerts_carrying(warehouse, r["rule_id"], _parts(r)) for r in recs}
    shadowed = []
    for x in recs:
        narrower = [y for y in recs if y is not x and y["rule_id"] == x["rule_id"]
                    and benign[id(y)] <= benign[id(x)] and y["alerts"] <= x["alerts"] and _parts(x) < _parts(y)]
        if benign[id(x)] and benign[id(x)] <= set().union(*(benign[id(y)] for y in narrower)):
            shadowed.append((x["entity_value"], [y["entity_value"] for y in narrower]))
    assert shadowed == []


def test_shape_choice_keeps_the_benign_alerts_of_the_passing_candidates(warehouse):
    """Choosing narrow shapes drops only broad candidates whose extra benign decisions beyond their
    narrower ones are too thin to pass on their own: at most 1% of the benign alerts go unremoved."""
    passing = warehouse.execute(
        "SELECT * FROM tuning_exclusion_candidates WHERE tenant = ? AND verdict = 'passes'", [TENANT.name]).fetchall()
    cols = [d[0] for d in warehouse.description]
    passing = [dict(zip(cols, row, strict=True)) for row in passing]
    recs = _recommendations(warehouse)
    assert len(recs) < len(passing)
    wanted_total = lost_total = 0
    for rule_id in {r["rule_id"] for r in passing}:
        by_candidate = {id(r): _benign_alerts_carrying(warehouse, rule_id, _parts(r))
                        for r in passing if r["rule_id"] == rule_id}
        wanted = set().union(*by_candidate.values())
        removed = set().union(*(_benign_alerts_carrying(warehouse, rule_id, _parts(r))
                                for r in recs if r["rule_id"] == rule_id))
        lost = wanted - removed
        droppers = {r["shape_verdict"] for r in passing if r["rule_id"] == rule_id and by_candidate[id(r)] & lost}
        assert droppers <= {"covered by narrower exclusions"}, rule_id
        wanted_total += len(wanted)
        lost_total += len(lost)
    assert lost_total <= 0.01 * wanted_total


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


def test_backtest_removes_no_true_positive_in_any_origin(warehouse):
    rows = warehouse.execute(
        "SELECT backtest_origin, test_start_day, test_end_day, alerts, true_positive_alerts, alerts_removed, "
        "true_positive_alerts_removed FROM tuning_backtest WHERE tenant = ? AND rule_id = '*' ORDER BY 1",
        [TENANT.name],
    ).fetchall()
    assert [r[0] for r in rows] == [0, 1, 2, 3]
    total, *origins = rows
    assert (total[1], total[2]) == (AS_OF - timedelta(days=41), AS_OF)
    for origin, start, end, _alerts, true_positives, removed, tp_removed in origins:
        assert (end - start).days == 13 and end == AS_OF - timedelta(days=14 * (origin - 1))
        assert true_positives > 0 and removed > 0, origin  # each window held attacks and noise
        assert tp_removed == 0, origin
    assert total[3:] == tuple(sum(r[i] for r in origins) for i in range(3, 7))


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
        "SELECT rule_id, entity_type_1, entity_key_1, alerts_removed_share FROM tuning_exclusion_candidates "
        "WHERE tenant = ? AND is_rule_logic_finding AND rule_logic_finding LIKE '%fix the query%'",
        [TENANT.name]).fetchall()
    vss = next(t for t in _tuning_truth() if t["kind"] == "never_alone" and t["entity_key"].endswith("vssadmin.exe"))
    assert (vss["rule_id"], "file", vss["entity_key"]) in {f[:3] for f in findings}
    assert all(share > 0.5 for *_, share in findings)
    recs = _recommendations(warehouse)
    assert not [r for r in recs if r["exclusion_kind"] == "single" and r["entity_type_1"] in ("file", "account", "host")
                and r["alerts_removed_share"] > 0.5]
    # a narrow shape (an exact command line, here with its image path) is judged on its own
    # evidence, whatever its share
    assert [r for r in recs if r["rule_id"] == vss["rule_id"] and "process" in r["entity_type"]
            and r["alerts_removed_share"] > 0.5]


def test_an_account_compromised_under_its_upn_is_never_recommended_in_any_form(warehouse):
    """The busiest domain user's cloud identity forwarded mail out (true positives recorded under
    the UPN only); its domain\\name form is otherwise a clean-looking exclusion on the noisy rules."""
    [victim] = [t for t in _tuning_truth() if t["kind"] == "identity_guard"]
    forms = {victim["entity_key"], victim["upn_key"], victim["sid"].lower()}
    assert not [r for r in _recommendations(warehouse) if any(k in forms for _, k in _parts(r))]
    guarded = warehouse.execute(
        "SELECT verdict, true_positive_incidents FROM tuning_exclusion_candidates WHERE tenant = ? "
        "AND exclusion_kind = 'single' AND entity_key_1 = ?", [TENANT.name, victim["entity_key"]]).fetchall()
    assert guarded and all(v == "fails guard: in a true-positive incident" and n >= 2 for v, n in guarded)


def test_incidents_closed_by_automation_are_not_decisions(warehouse):
    [auto] = [t for t in _tuning_truth() if t["kind"] == "automation_closed"]
    scanner = next(t for t in _tuning_truth() if t["kind"] == "exclusion" and t["entity_type"] == "ip")
    [(decisions, automation, incidents, recommended)] = warehouse.execute(
        "SELECT decisions, automation_decisions, incidents, recommended FROM tuning_exclusion_candidates "
        "WHERE tenant = ? AND rule_id = ? AND exclusion_kind = 'single' AND entity_key_1 = ?",
        [TENANT.name, auto["rule_id"], scanner["entity_key"]]).fetchall()
    assert automation > 0.15 * (decisions + automation)  # about 30% of the scanner's closures
    assert decisions + automation <= incidents
    assert recommended  # the analysts' decisions alone carry it
