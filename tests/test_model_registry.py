"""The model registry: headers declare the models; run order, table lists and catch-up rules follow.

The end-to-end case is the issue's "done when": a new firewall finding rule is one SQL file with its
header, kept here in a temporary folder, and its rows reach fw_findings whatever its file name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from models import registry
from models.registry import Model, RegistryError, load, parse_header
from tests.fw_testlib import build_firewall, changed, raw_table, settings, stage_raw, staging_db

pytestmark = pytest.mark.fast

AS_OF = date(2026, 11, 16)

RULE = """-- model: test_night_owl
-- kind: finding_rule
-- grain: tenant × device
-- depends_on: fw_recent
-- params: as_of, recent_days
-- description: Devices with a blocked event between 02:00 and 03:00 (a throw-away rule of a test).
--
INSERT INTO fw_candidates BY NAME
SELECT
    tenant, 'test_night_owl' AS finding_type, 'low' AS severity, 'device' AS scope, device_id,
    ['FirewallInboundConnectionBlocked'] AS action_types,
    count(*) AS events, 1 AS devices, min(timestamp) AS first_seen, max(timestamp) AS last_seen,
    getvariable('as_of') - (getvariable('recent_days') - 1) AS evidence_from,
    getvariable('as_of') AS evidence_to,
    'blocked at night' AS explanation
FROM fw_recent
WHERE hour(timestamp) = 2
GROUP BY tenant, device_id;
"""


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _night_events() -> list[dict]:
    rows = []
    for back in range(3):
        day = AS_OF - timedelta(days=back)
        for device, hour in (("owl", 2), ("lark", 9)):
            rows.append({
                "Timestamp": datetime(day.year, day.month, day.day, hour, tzinfo=UTC), "DeviceId": f"id-{device}",
                "DeviceName": device, "ActionType": "FirewallInboundConnectionBlocked", "ReportId": 10 * back + hour,
                "RemoteIP": "10.0.0.2", "RemotePort": 137, "LocalPort": 137,
            })
    return rows


@pytest.mark.parametrize("file_name", ["00_a_first_name.sql", "99_after_the_publish.sql"])
def test_a_finding_rule_file_in_another_folder_reaches_fw_findings(tmp_path, file_name):
    """Named to sort before every firewall file, or after 59_fw_findings.sql: the header decides."""
    from models.firewall import build
    from models.firewall.thresholds import FirewallThresholds
    from models.runner import ModelContext

    _write(tmp_path / "rules", file_name, RULE)
    models = load(extra_dirs=[("firewall", tmp_path / "rules")])
    order = [p.name for p in models.run_order("firewall")]
    assert order.index("40_fw_recent.sql") < order.index(file_name) < order.index("59_fw_findings.sql")

    con = staging_db()
    changed(con, stage_raw(con, "t1", raw_table(_night_events())))
    build(con, ModelContext(settings=settings(["t1"]), as_of=AS_OF), FirewallThresholds(), models=models)
    rows = con.execute(
        "SELECT tenant, device_id, events, as_of FROM fw_findings WHERE finding_type = 'test_night_owl'"
    ).fetchall()
    assert rows == [("t1", "id-owl", 3, AS_OF)]
    # and without the extra folder the rule does not exist
    con2 = staging_db()
    changed(con2, stage_raw(con2, "t1", raw_table(_night_events())))
    build_firewall(con2, ["t1"], AS_OF)
    assert con2.execute("SELECT count(*) FROM fw_findings WHERE finding_type = 'test_night_owl'").fetchone()[0] == 0


def test_every_finding_rule_runs_between_the_candidates_and_the_publish():
    models = registry.default()
    order = models.run_order("firewall")
    rules = models.files_of_kind("firewall", "finding_rule")
    assert len(rules) == 8
    first, last = order.index(models.by_name["fw_candidates"].file), order.index(models.by_name["fw_findings"].file)
    assert all(first < order.index(r) < last for r in rules)
    assert order[0].name == "00_fw_macros.sql"


def test_a_missing_dependency_is_one_line_naming_the_file(tmp_path):
    _write(tmp_path / "rules", "50_x.sql", RULE.replace("depends_on: fw_recent", "depends_on: fw_recnet"))
    with pytest.raises(RegistryError) as err:
        load(extra_dirs=[("firewall", tmp_path / "rules")])
    assert str(err.value) == (f"{tmp_path / 'rules' / '50_x.sql'}: model test_night_owl depends on fw_recnet, "
                              "which no model declares")


def test_a_cycle_is_an_error_at_load_time(tmp_path):
    root = tmp_path / "models"
    _write(root / "g", "1_a.sql", "-- model: a\n-- kind: scratch\n-- depends_on: b\n-- description: a\n--\nSELECT 1;\n")
    _write(root / "g", "2_b.sql", "-- model: b\n-- kind: scratch\n-- depends_on: a\n-- description: b\n--\nSELECT 1;\n")
    with pytest.raises(RegistryError, match=r"^g: dependency cycle among 1_a.sql, 2_b.sql$"):
        load(root=root, declared=())


def test_dependencies_order_files_against_their_names(tmp_path):
    root = tmp_path / "models"
    _write(root / "g", "1_reads.sql", "-- model: reader\n-- kind: scratch\n-- depends_on: base\n"
                                      "-- description: r\n--\nSELECT 1;\n")
    _write(root / "g", "2_makes.sql", "-- model: base\n-- kind: scratch\n-- description: b\n--\nSELECT 1;\n")
    assert [p.name for p in load(root=root, declared=()).run_order("g")] == ["2_makes.sql", "1_reads.sql"]


@pytest.mark.parametrize(("header", "message"), [
    ("-- model: x\n-- kind: table\n-- description: d\n", "kind 'table' is not one of"),
    ("-- model: x\n-- kind: scratch\n", "needs a one-line 'description:'"),
    ("-- model: x\n-- kind: window\n-- description: d\n", "a window table needs 'catch_up:'"),
    ("-- model: x\n-- kind: scratch\n-- description: d\n-- depend_on: y\n", "unknown header key 'depend_on'"),
    ("-- Why: no header at all\n", "no model header"),
    ("-- model: x\n-- kind: scratch\n-- description: d\n--\nSELECT getvariable('as_of');\n",
     "reads getvariable as_of not declared under 'params:'"),
    ("-- model: x\n-- kind: scratch\n-- phase: later\n-- description: d\n", "phase 'later' is not one of"),
    ("-- model: x\n-- kind: scratch\n-- repeat_until: y\n-- description: d\n",
     "repeat_until is '<model>.<column> = 0'"),
    ("-- model: x\n-- kind: window\n-- catch_up: whole\n-- description: d\n-- columns:\n--   tenant: no type\n",
     "a column is 'name TYPE: meaning'"),
])
def test_a_bad_header_is_one_clear_error(tmp_path, header, message):
    path = _write(tmp_path, "10_x.sql", header + "--\nSELECT 1;\n")
    with pytest.raises(RegistryError) as err:
        parse_header(path, "g")
    assert message in str(err.value) and str(err.value).startswith(f"{path}: ")
    assert "\n" not in str(err.value)


def test_a_header_value_may_continue_over_lines(tmp_path):
    path = _write(tmp_path, "10_x.sql", "-- model: x\n-- kind: scratch\n-- description: one\n--   two\n--\nSELECT 1;\n")
    assert parse_header(path, "g")[0].description == "one two"


def test_every_sql_file_of_every_group_declares_itself():
    models = registry.default()
    for group in ("staging", "firewall", "tuning"):
        files = sorted((registry.MODELS_DIR / group).glob("*.sql"))
        assert sorted(models.run_order(group)) == files


def _names(steps) -> list[str]:
    return [s.name for s in steps]


def test_the_tuning_phases_and_python_steps_come_from_the_headers():
    models = registry.default()
    fit = _names(models.steps("tuning", "fit"))
    # the prior fit is placed by what it reads (the per-rule counts), not by a file name
    assert fit.index("20_rule_label_counts.sql") < fit.index("tuning_rule_priors")
    assert fit[0] == "10_alert_labels.sql" and fit[-1] == "35_exclusion_shapes.sql"
    assert fit.index("27_account_identities.sql") < fit.index("28_account_identity_step.sql") \
        < fit.index("29_true_positive_guard.sql")
    assert set(_names(models.steps("tuning", "setup"))) == {"39_backtest_fitted_table.sql", "tuning_subject_patterns"}
    assert _names(models.steps("tuning", "backtest")) == ["40_backtest_exclusions.sql"]
    report = _names(models.steps("tuning", "report"))
    assert set(report) == {"45_tuning_decided.sql", "46_backtest_accepted.sql", "50_tuning_backtest.sql",
                           "60_rule_noise.sql", "70_rule_top_entities.sql", "80_tuning_recommendations.sql",
                           "90_exclusion_health.sql"}
    # owner decisions (issue 14): the decided state first, the accepted exclusions join the backtest before it is
    # scored, and their health after the recommendations
    assert report.index("45_tuning_decided.sql") < report.index("46_backtest_accepted.sql") \
        < report.index("50_tuning_backtest.sql")
    assert report.index("80_tuning_recommendations.sql") < report.index("90_exclusion_health.sql")
    assert models.by_name["tuning_account_identity_next"].repeat_until == "tuning_account_identity_changes.changed = 0"


def test_the_tuning_build_lists_its_tables_and_scratch_from_the_registry():
    import models.tuning as tuning

    # the lists models/tuning/__init__.py kept by hand before the headers declared them
    assert set(tuning.PUBLISHED) == {"alert_labels", "rule_noise", "rule_top_entities", "tuning_exclusion_candidates",
                                     "tuning_recommendations", "tuning_backtest", "tuning_backtest_exclusions",
                                     "tuning_rule_priors", "exclusion_health"}
    assert set(tuning.SCRATCH) >= {
        "tuning_rule_label_counts", "tuning_backtest_fitted", "tuning_rule_queries", "tuning_rule_query_literals",
        "tuning_subject_patterns", "tuning_candidates_judged", "tuning_passing", "tuning_passing_alerts",
        "tuning_tp_alerts", "tuning_account_forms", "tuning_account_edges", "tuning_account_identity",
        "tuning_account_identity_next", "tuning_account_identity_changes", "tuning_tp_incident_entities",
        "tuning_tp_guard_entities", "tuning_tp_guard_pairs", "tuning_analytic_rules", "tuning_tier0_hosts_seen",
        # and those of the owner decisions, which the decisions branch listed by hand
        "tuning_decided", "tuning_accepted_parts", "tuning_since_accepted", "tuning_accepted_removed",
        "tuning_accepted_true_positives"}
    assert not set(tuning.SCRATCH) & set(tuning.PUBLISHED)
    steps = {m.python for m in registry.default().models if m.group == "tuning" and m.python}
    assert steps == set(tuning.STEPS)


def _scratch(name: str, **fields) -> str:
    lines = [f"-- model: {name}", "-- kind: scratch"] + [f"-- {k}: {v}" for k, v in fields.items()]
    return "\n".join([*lines, f"-- description: {name}", "--", "SELECT 1;", ""])


def test_a_python_step_runs_after_what_it_depends_on_whatever_the_names(tmp_path):
    root = tmp_path / "models"
    _write(root / "g", "1_first.sql", _scratch("first", phase="fit"))
    _write(root / "g", "9_last.sql", _scratch("last", phase="fit", depends_on="fitted"))
    _write(root / "g", "5_input.sql", _scratch("counts", phase="fit"))
    step = Model(name="fitted", kind="scratch", group="g", phase="fit", python="fit", depends_on=("counts",),
                 description="d")
    order = _names(load(root=root, declared=[step]).steps("g", "fit"))
    assert order.index("5_input.sql") < order.index("fitted") < order.index("9_last.sql")


def test_a_step_reading_a_later_phase_is_one_line_naming_the_file(tmp_path):
    root = tmp_path / "models"
    _write(root / "g", "1_report.sql", _scratch("report", phase="report"))
    path = _write(root / "g", "2_fit.sql", _scratch("fit", phase="fit", depends_on="report"))
    with pytest.raises(RegistryError) as err:
        load(root=root, declared=())
    assert str(err.value) == f"{path}: model fit of phase fit depends on report of the later phase report"


def test_a_phased_group_needs_a_phase_on_every_file(tmp_path):
    root = tmp_path / "models"
    _write(root / "g", "1_a.sql", _scratch("a", phase="fit"))
    path = _write(root / "g", "2_b.sql", _scratch("b"))
    with pytest.raises(RegistryError, match=r"model b needs 'phase:'") as err:
        load(root=root, declared=())
    assert str(err.value).startswith(f"{path}: ")


def test_columns_are_one_line_each_and_may_go_on(tmp_path):
    path = _write(tmp_path, "10_x.sql", "-- model: x\n-- kind: window\n-- catch_up: whole\n-- description: d\n"
                  "-- columns:\n--   tenant VARCHAR: tenant name\n--   day DATE <- `Timestamp`: the UTC day,\n"
                  "--     of the event\n--\nSELECT 1;\n")
    columns = parse_header(path, "g")[0].columns
    assert [(c.name, c.type, c.source, c.description) for c in columns] == [
        ("tenant", "VARCHAR", "", "tenant name"), ("day", "DATE", "`Timestamp`", "the UTC day, of the event")]


def test_catch_up_rules_and_dagster_tables_come_from_the_registry():
    from pipelines.dagster_defs.warehouse_assets import FIREWALL_TABLES, STAGING_TABLES, TUNING_TABLES
    from pipelines.warehouse.build import CATCH_UP

    models = registry.default()
    published = {m.name for m in models.models if m.is_table}
    assert set(CATCH_UP) == published
    assert set(STAGING_TABLES) | set(FIREWALL_TABLES) | set(TUNING_TABLES) <= published
    assert list(FIREWALL_TABLES) == ["fw_port_services", "fw_events", "fw_daily", "fw_remote_daily", "fw_baseline",
                                     "fw_findings"]
    assert CATCH_UP["fw_findings"] == "as_of" and CATCH_UP["fw_daily"] == "event_days"


def test_the_derived_catch_up_rules_are_the_hand_kept_ones_they_replace():
    """build.CATCH_UP as it was written by hand at c041d42, before the headers declared it."""
    from pipelines.warehouse.build import CATCH_UP

    assert CATCH_UP == {
        "load_log": "log", "quality_results": "log", "publish_log": "log",
        "device_events": "event_days", "fw_events": "event_days", "fw_daily": "event_days",
        "fw_remote_daily": "event_days", "incident_history": "incident_days", "quarantine": "partitions",
        "alerts": "alert_versions", "alert_entities": "alert_versions", "incidents": "tenants",
        "incident_alerts": "tenants", "fw_findings": "as_of", "fw_port_services": "whole", "fw_baseline": "whole",
        "model_versions": "whole", "alert_labels": "whole", "rule_noise": "whole", "rule_top_entities": "whole",
        "tuning_exclusion_candidates": "whole", "tuning_recommendations": "whole", "tuning_backtest": "whole",
        "tuning_backtest_exclusions": "whole", "tuning_rule_priors": "whole",
        # added with the rule definitions (small tables, copied whole)
        "analytic_rule_snapshots": "whole", "analytic_rules": "whole",
        # owner decisions (issue 14): reloaded whole by every build, and their health
        "tuning_decisions": "whole", "exclusion_health": "whole",
    }


def test_dagster_lists_the_tables_in_the_order_and_with_the_deps_they_had():
    from pipelines.dagster_defs.warehouse_assets import STAGING_TABLES

    assert list(STAGING_TABLES) == ["device_events", "alerts", "alert_entities", "incident_history", "incidents",
                                    "incident_alerts", "analytic_rule_snapshots", "analytic_rules", "quarantine",
                                    "load_log", "tuning_decisions"]
    assert registry.default().external_deps("firewall") == ["device_events"]
    # incident_history too, since the tuning headers declare what their SQL reads (labels, the guard, triage
    # times), and analytic_rules (the rules' mapped columns for clauses and the backtest)
    assert registry.default().external_deps("tuning") == ["alerts", "incident_alerts", "incident_history",
                                                          "alert_entities", "analytic_rules", "tuning_decisions",
                                                          "incidents"]
