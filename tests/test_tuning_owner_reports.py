"""Owner reports from a published (read-only) warehouse: one set of files per owner, hostile entity
values escaped in HTML, defused in CSV, and owner names that cannot escape the reports folder."""

from __future__ import annotations

import csv
import json
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
