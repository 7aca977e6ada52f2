"""The model registry: headers declare the models; run order, table lists and catch-up rules follow.

The end-to-end case is the issue's "done when": a new firewall finding rule is one SQL file with its
header, kept here in a temporary folder, and its rows reach fw_findings whatever its file name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from models import registry
from models.registry import RegistryError, load, parse_header
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


def test_every_sql_file_of_the_firewall_and_staging_groups_declares_itself():
    models = registry.default()
    for group in ("staging", "firewall"):
        files = sorted((registry.MODELS_DIR / group).glob("*.sql"))
        assert sorted(models.run_order(group)) == files


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
        # owner decisions (issue 14): reloaded whole by every build, and their health
        "tuning_decisions": "whole", "exclusion_health": "whole",
    }


def test_dagster_lists_the_tables_in_the_order_and_with_the_deps_they_had():
    from pipelines.dagster_defs.warehouse_assets import STAGING_TABLES

    assert list(STAGING_TABLES) == ["device_events", "alerts", "alert_entities", "incident_history", "incidents",
                                    "incident_alerts", "quarantine", "load_log", "tuning_decisions"]
    assert registry.default().external_deps("firewall") == ["device_events"]
    assert registry.default().external_deps("tuning") == ["alerts", "alert_entities", "incidents", "incident_alerts",
                                                          "tuning_decisions"]
