"""Owner reports from a published (read-only) warehouse: one set of files per owner, hostile entity
values escaped in HTML, defused in CSV, owner names that cannot escape the reports folder, and each
rule's definition (kind, enabled, schedule, query, entity mappings) or the reason it is missing."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from datetime import date

import duckdb
import pytest

from pipelines.config import OwnerRule
from pipelines.reports.owner_files import csv_cell, safe_file_stem
from pipelines.reports.owners import noise_summary, write_owner_reports
from tests.tuning_fixture import TuningFixture, settings

HOSTILE_ACCOUNT = "contoso\\o'brien\"<script>alert(1)</script>\\\nx"
FORMULA_HOST = "=cmd|' /c calc'!a0"
HOSTILE_HOST = "<img src=x onerror=alert(2)>"
RULE_QUERY = "SecurityEvent\n| where EventID == 4625 // <b>bold</b>\n| project TargetAccount, Computer"


def define_rule(con, rule_id: str, enabled: bool, day: date) -> None:
    """A Sentinel scheduled rule's definition as staging publishes it (analytic_rules + its snapshot)."""
    con.execute(
        "INSERT INTO analytic_rules (tenant, day, rule_id, source, kind, display_name, enabled, severity, query, "
        "query_frequency, query_period, tactics, entity_mappings, entity_columns) VALUES ('t1', ?, ?, "
        "'Microsoft Sentinel', 'Scheduled', ?, ?, 'Medium', ?, 'PT1H', 'P1D', '[\"CredentialAccess\"]', ?, "
        "[{'entity_type': 'account', 'identifier': 'FullName', 'column_name': 'TargetAccount'}])",
        [day, rule_id, f"Rule {rule_id}", enabled, RULE_QUERY,
         json.dumps([{"entityType": "Account", "fieldMappings": [{"identifier": "FullName",
                                                                  "columnName": "TargetAccount"}]}])])


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    cfg = settings(home, owner_rules=(OwnerRule(match="*noisy*", owner="../Blue Team"),))
    path = home / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        fx = TuningFixture(con)
        for day in range(20):
            fx.alert("r1", day, [("account", HOSTILE_ACCOUNT, HOSTILE_ACCOUNT.upper())], "benign_positive",
                     rule_name="Noisy <b>rule</b>")
            # still open, so the account alone removes under half of the rule's alerts
            fx.alert("r1", day, [("account", f"contoso\\user{day}", f"CONTOSO\\user{day}")], None,
                     rule_name="Noisy <b>rule</b>")
            fx.alert("r1", day, [("account", f"contoso\\other{day}", f"CONTOSO\\other{day}")], None,
                     rule_name="Noisy <b>rule</b>")
            fx.alert("r2", day, [("process", FORMULA_HOST, FORMULA_HOST)], "false_positive", rule_name="Quiet rule")
            fx.alert("r3", day, [("host", HOSTILE_HOST, HOSTILE_HOST)], "benign_positive", rule_name="Broad rule")
        fx.alert("r2", 3, [("host", "pc1", "PC1")], "true_positive", rule_name="Quiet rule")
        # r1 enabled, r2 disabled, r3 without a definition in the snapshot
        define_rule(con, "r1", True, date(2026, 10, 25))
        define_rule(con, "r2", False, date(2026, 10, 25))
        con.execute("INSERT INTO analytic_rule_snapshots VALUES ('t1', DATE '2026-10-25', 2, 1, "
                    "['Microsoft Sentinel'], NULL)")
        fx.build(cfg, as_of_day=25)
    con = duckdb.connect(str(path), read_only=True)
    yield cfg, con, write_owner_reports(con, cfg, date(2026, 10, 26))
    con.close()


def test_each_owner_gets_html_csv_json_and_watchlist_inside_the_reports_folder(published):
    cfg, _, paths = published
    out = cfg.reports_dir / "2026-10-26" / "owners" / cfg.shard_name
    assert {p.parent for p in paths} == {out}
    stem = safe_file_stem("../Blue Team")
    assert "/" not in stem and not stem.startswith(".")
    assert {p.name for p in paths} == {
        f"{s}{ext}" for s in (stem, "secops") for ext in (".html", ".csv", ".json")
    } | {f"{kind}-{s}.{ext}" for s in (stem, "secops") for kind, ext in (
        ("watchlist", "csv"), ("clauses", "kql"), ("automation-rules", "json"), ("defender-tuning", "json"))}
    assert not list(out.glob(".*.tmp"))


def test_hostile_values_are_escaped_in_the_html(published):
    cfg, _, paths = published
    page = next(p for p in paths if p.suffix == ".html" and p.stem != "secops").read_text()
    assert "<script>" not in page and "<b>rule</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Noisy &lt;b&gt;rule&lt;/b&gt;" in page
    assert "<svg" in page  # the alert-volume chart


def test_broad_entities_above_the_cap_are_rule_logic_findings_not_exclusions(published):
    _, con, paths = published
    [finding] = con.execute("SELECT rule_id, entity_key_1, alerts_removed_share, benign_alerts FROM "
                            "tuning_exclusion_candidates WHERE is_rule_logic_finding").fetchall()
    assert finding == ("r3", HOSTILE_HOST.lower(), 1.0, 20)
    assert con.execute("SELECT count(*) FROM tuning_recommendations WHERE rule_id = 'r3'").fetchall() == [(0,)]
    page = next(p for p in paths if p.name == "secops.html").read_text()
    assert "Fix the rule logic" in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "fix the query" in page


def test_recommendations_files_carry_the_exclusions_of_that_owner(published):
    _, _, paths = published
    by_name = {p.name: p for p in paths}
    blue = json.loads(by_name[f"{safe_file_stem('../Blue Team')}.json"].read_text())
    assert [r["entity_key"] for r in blue] == [HOSTILE_ACCOUNT]
    assert "\n" not in blue[0]["kql_exclusion"]
    secops = json.loads(by_name["secops.json"].read_text())
    assert [r["entity_key"] for r in secops] == [FORMULA_HOST]


def test_watchlist_csv_defuses_formula_cells(published):
    _, _, paths = published
    rows = list(csv.DictReader(next(p for p in paths if p.name == "watchlist-secops.csv").open(newline="")))
    assert rows[0]["EntityValue"] == "'" + FORMULA_HOST
    assert rows[0]["RuleId"] == "r2" and rows[0]["ExpiresOn"] == "2027-01-24"
    assert [csv_cell(v) for v in ("+1", "-1", "@x", "ok")] == ["'+1", "'-1", "'@x", "ok"]


def test_noise_summary_ranks_rules_for_dagster_metadata(published):
    _, con, _ = published
    summary = noise_summary(con, "t1")
    assert summary["rules"] == 3 and summary["recommendations"] == 2
    assert summary["analyst_hours_benign"] == pytest.approx(60 * 30 / 60)
    lines = summary["top_rules_markdown"].splitlines()
    assert len(lines) == 5 and "Noisy &lt;b&gt;rule&lt;/b&gt;" in summary["top_rules_markdown"]


def test_owner_sees_decisions_and_the_hidden_true_positive_bound_not_a_bare_confidence(published):
    _, _, paths = published
    page = next(p for p in paths if p.name == "secops.html").read_text()
    assert "decisions seen" in page and "true positives it could hide per 30 days" in page
    assert ">confidence<" not in page
    rows = list(csv.DictReader(next(p for p in paths if p.name == "secops.csv").open(newline="")))
    assert "confidence" not in rows[0]
    assert (rows[0]["decisions"], rows[0]["benign_decisions"]) == ("20", "20")


def _rule_section(page: str, rule_id: str) -> str:
    start = page.index(f"rule id {rule_id}")
    return page[start:page.index("</section>", start)]


def test_each_rule_shows_its_definition_and_a_disabled_rule_is_flagged(published):
    _, _, paths = published
    blue = next(p for p in paths if p.suffix == ".html" and p.stem != "secops").read_text()
    r1 = _rule_section(blue, "r1")
    assert "Rule definition" in r1 and "Scheduled" in r1 and "PT1H" in r1 and "P1D" in r1
    assert "Tactics: CredentialAccess" in r1 and "is disabled" not in r1
    assert "<details><summary>Query</summary><pre><code>SecurityEvent\n| where EventID == 4625 // " \
           "&lt;b&gt;bold&lt;/b&gt;" in r1
    assert "<td>account</td><td>FullName</td><td>TargetAccount</td>" in r1
    secops = next(p for p in paths if p.name == "secops.html").read_text()
    assert "This rule is disabled: its recommendations are moot" in _rule_section(secops, "r2")
    assert "No definition of this rule" in _rule_section(secops, "r3")
    assert "Rule definitions not available" not in secops  # the snapshot was read


def test_a_snapshot_empty_on_purpose_says_why_on_the_owner_page(published, tmp_path):
    cfg, _, _ = published
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(cfg.home / "warehouse.duckdb", path)
    with duckdb.connect(str(path)) as con:  # the published warehouse, then a newer snapshot empty on purpose
        con.execute("DELETE FROM analytic_rules")
        con.execute("INSERT INTO analytic_rule_snapshots VALUES ('t1', DATE '2026-10-26', 0, 0, [], "
                    "'no workspace_resource_id configured <i>x</i>')")
    with duckdb.connect(str(path), read_only=True) as ro:
        paths = write_owner_reports(ro, replace(cfg, home=tmp_path), date(2026, 10, 26))
    page = next(p for p in paths if p.name == "secops.html").read_text()
    assert ("Rule definitions not available: no workspace_resource_id configured &lt;i&gt;x&lt;/i&gt;; clauses "
            "use the standard column names.") in page
    assert "No definition of this rule" in _rule_section(page, "r2")
