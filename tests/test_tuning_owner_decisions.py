"""Owner decisions on the tuning recommendations, night after night, on a small sample tenant.

Night 1 publishes three host exclusions of one rule. The owner accepts two (one with a near expiry)
and dismisses the third, through the same code as `hunthouse tuning`; every later night loads the
decisions file as the build does (pipelines/warehouse/decisions.py) and rebuilds the tuning models:
the dismissed one stays away until its evidence doubles, the accepted ones are deployed (backtest)
and watched in exclusion_health, where a true positive planted after the acceptance on an accepted
host, in another rule, raises a high-severity row, and the near expiry warns 14 days before."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines import cli, config
from pipelines.reports.deployable import recommendation_id
from pipelines.sources.sample.toml import sample_config
from pipelines.tuning_cli import Decider, import_csv
from pipelines.warehouse import decisions_file
from pipelines.warehouse.connect import connect
from pipelines.warehouse.decisions import load_decisions
from pipelines.warehouse.lake_sync import sync_lake
from pipelines.warehouse.staging import create_tables
from tests.tuning_fixture import START, TuningFixture

HOSTS = {"A": ("host", "alpha01", "ALPHA01"), "B": ("host", "bravo01", "BRAVO01"), "C": ("host", "charlie01", "CHARLIE01")}
NIGHT1 = 25  # as_of of the first night (days after START)
DECIDED = datetime.combine(START + timedelta(days=NIGHT1 + 1), datetime.min.time(), UTC) + timedelta(hours=7)
B_UNTIL = START + timedelta(days=NIGHT1 + 16)  # 15 days after night 2, 14 after night 3


def write_settings(directory) -> config.Settings:
    path = directory / "hunthouse.toml"
    path.write_text(sample_config(directory / "home", tenants=(("t1", 7),)))
    return config.load(path)


class Nights:
    """The sample tenant's warehouse file, rebuilt night by night like a published shard."""

    def __init__(self, settings: config.Settings):
        self.settings = settings
        self.path = settings.for_tenant("t1").warehouse_path
        self.path.parent.mkdir(parents=True)
        self.fx = TuningFixture(connect(self.path))
        for day in range(14):  # each host: 14 incidents closed benign by an analyst
            for key in HOSTS.values():
                self.fx.alert("r1", day, [key], "benign_positive")
        for i in range(60):  # open incidents on other hosts keep each host under the removed-share cap
            self.fx.alert("r1", i % 25, [("host", f"pc{i}", f"PC{i}")], None)

    def night(self, as_of_day: int) -> None:
        self.fx.con.close()  # a new connection per night, as each build opens its file
        self.fx.con = connect(self.path)
        load_decisions(self.fx.con, self.settings)
        self.fx.build(self.settings, as_of_day)
        self.fx.con.execute("CHECKPOINT")

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        return self.fx.rows(sql, params)

    def close(self) -> None:
        self.fx.con.close()


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    base = tmp_path_factory.mktemp("decisions")
    n = Nights(write_settings(base))
    out: dict = {"settings": n.settings}
    n.night(NIGHT1)
    recs = {k: r for k, host in HOSTS.items()
            for r in n.rows("SELECT * FROM tuning_recommendations WHERE entity_key = ?", [host[1]])}
    out["night1"] = recs
    n.close()
    shutil.copyfile(n.path, base / "night1.duckdb")
    out["night1_file"] = base / "night1.duckdb"

    decider = Decider(n.settings, None, now=DECIDED)
    ids = {k: recommendation_id(r) for k, r in recs.items()}
    out["ids"] = ids
    out["recorded"] = [
        decider.record("accept", ids["A"], by="alice"),
        decider.record("accept", ids["B"], until=B_UNTIL, by="alice"),
        decider.record("dismiss", ids["C"], reason="charlie01 is the scanner we run", by="bob"),
    ]

    n.night(NIGHT1 + 1)  # night 2: a benign alert on A after the acceptance, removed by it
    out["night2"] = _snapshot(n)
    n.fx.alert("r1", NIGHT1 + 1, [HOSTS["A"]], "benign_positive")
    n.night(NIGHT1 + 1)
    out["night2_removed"] = _snapshot(n)

    # night 3: an attack on A, raised by another rule after the acceptance; one on an unrelated host
    n.fx.alert("r2", NIGHT1 + 2, [HOSTS["A"], ("account", "contoso\\eve", "CONTOSO\\eve")], "true_positive")
    n.fx.alert("r2", NIGHT1 + 2, [("host", "zulu01", "ZULU01")], "true_positive")
    n.night(NIGHT1 + 2)
    out["night3"] = _snapshot(n)
    shutil.copyfile(n.path, base / "night3.duckdb")  # checkpointed by night()
    out["night3_file"] = base / "night3.duckdb"

    # night 4: C's evidence doubles (14 more benign incidents): its dismissal no longer holds
    for day in range(14):
        n.fx.alert("r1", NIGHT1 + 3 - day % 3, [HOSTS["C"]], "benign_positive")
    n.night(NIGHT1 + 3)
    out["night4"] = _snapshot(n)

    # night 5: the tenant's rule definitions arrive (analytic_rules), r1 disabled by its owner
    n.fx.con.execute("INSERT INTO analytic_rules (tenant, day, rule_id, display_name, enabled) "
                     "VALUES ('t1', ?, 'r1', 'rule r1', false)", [START + timedelta(days=NIGHT1 + 4)])
    n.night(NIGHT1 + 4)
    out["night5"] = _snapshot(n)
    n.close()
    return out


def _snapshot(n: Nights) -> dict:
    return {
        "recs": n.rows("SELECT * FROM tuning_recommendations ORDER BY entity_key"),
        "health": {r["entity_key"]: r for r in n.rows("SELECT * FROM exclusion_health")},
        "backtest": n.rows("SELECT * FROM tuning_backtest_exclusions WHERE accepted ORDER BY entity_key_1, backtest_origin"),
        "decisions": n.rows("SELECT * FROM tuning_decisions ORDER BY sequence"),
        "rules": n.rows("SELECT * FROM rule_noise WHERE rule_id = 'r1'"),
    }


def keys(snapshot) -> set[str]:
    return {r["entity_key"] for r in snapshot["recs"]}


def test_night_one_recommends_the_three_hosts_with_the_ids_the_reports_print(nights):
    assert set(nights["night1"]) == {"A", "B", "C"}
    for rec in nights["night1"].values():
        # the SQL id (tuning_recommendations) is the reports' id (deployable.recommendation_id)
        assert rec["recommendation_id"] == recommendation_id(rec)
        assert rec["owner_decision"] is None


def test_decisions_are_recorded_with_the_evidence_they_were_made_on(nights):
    accepted_a, accepted_b, dismissed = nights["recorded"]
    assert accepted_a["expires_on"] == nights["night1"]["A"]["expires_on"].isoformat()  # the recommendation's
    assert accepted_b["expires_on"] == B_UNTIL.isoformat()
    assert (dismissed["decision"], dismissed["reason"], dismissed["decided_by"]) == (
        "dismissed", "charlie01 is the scanner we run", "bob")
    assert dismissed["decisions_at_decision"] == nights["night1"]["C"]["decisions"] == 14
    assert dismissed["removed_share_at_decision"] == pytest.approx(nights["night1"]["C"]["alerts_removed_share"])
    loaded = nights["night2"]["decisions"]
    assert [(r["recommendation_id"], r["decision"], r["is_latest"]) for r in loaded] == [
        (nights["ids"]["A"], "accepted", True), (nights["ids"]["B"], "accepted", True),
        (nights["ids"]["C"], "dismissed", True)]


def test_the_dismissed_recommendation_stays_away_the_next_nights(nights):
    for night in ("night2", "night2_removed", "night3"):
        assert HOSTS["C"][1] not in keys(nights[night]), night
    assert HOSTS["C"][1] not in nights["night2"]["health"]


def test_a_dismissal_ends_when_its_decisions_double(nights):
    [back] = [r for r in nights["night4"]["recs"] if r["entity_key"] == HOSTS["C"][1]]
    assert back["decisions"] >= 28
    assert back["owner_decision"] == "dismissed, evidence changed"


def test_accepted_recommendations_are_listed_in_exclusion_health(nights):
    health = nights["night2"]["health"]
    assert set(health) == {HOSTS["A"][1], HOSTS["B"][1]}
    a = health[HOSTS["A"][1]]
    assert (a["recommendation_id"], a["accepted_by"], a["severity"], a["finding"]) == (nights["ids"]["A"], "alice", "ok", "")
    assert a["days_to_expiry"] == (nights["night1"]["A"]["expires_on"] - (START + timedelta(days=NIGHT1 + 1))).days
    assert a["true_positive_incidents_since_acceptance"] == 0
    # no analytic_rules rows for the tenant here: the rule's state is unknown and said so, judged from its alerts
    assert a["rule_exists"] is None and a["rule_enabled"] is None
    assert "analytic_rules" in a["rule_state_note"] and a["rule_alerts_30d"] > 0
    owned = {r["entity_key"]: r["owner_decision"] for r in nights["night2"]["recs"]}
    assert owned[HOSTS["A"][1]] == owned[HOSTS["B"][1]] == "accepted"


def test_exclusion_health_takes_the_rule_state_from_the_rule_definitions(nights):
    for key in (HOSTS["A"][1], HOSTS["B"][1]):
        row = nights["night5"]["health"][key]
        assert (row["rule_exists"], row["rule_enabled"], row["rule_state_note"]) == (True, False, None)
        assert "the rule is disabled" in row["finding"] and row["severity"] in ("warn", "high")
    # before the definitions arrived the same rows said the state was unknown
    assert nights["night4"]["health"][HOSTS["B"][1]]["rule_exists"] is None


def test_exclusion_health_counts_the_alerts_an_acceptance_removed(nights):
    before = nights["night2"]["health"][HOSTS["A"][1]]
    after = nights["night2_removed"]["health"][HOSTS["A"][1]]
    assert (before["alerts_removed_7d"], before["alerts_removed_30d"]) == (0, 0)  # its alerts predate acceptance
    assert (after["alerts_removed_7d"], after["alerts_removed_30d"]) == (1, 1)
    assert nights["night2_removed"]["health"][HOSTS["B"][1]]["alerts_removed_30d"] == 0


def test_the_backtest_applies_accepted_exclusions_as_deployed(nights):
    rows = nights["night2_removed"]["backtest"]
    assert {r["entity_key_1"] for r in rows} == {HOSTS["A"][1], HOSTS["B"][1]}
    latest_a = [r for r in rows if r["entity_key_1"] == HOSTS["A"][1] and r["backtest_origin"] == 1]
    # origin 1 holds out the last 14 days up to night 2: the alert planted on A falls in it
    assert latest_a and latest_a[0]["alerts_removed"] >= 1


def test_a_true_positive_after_acceptance_on_an_accepted_host_is_high_severity(nights):
    health = nights["night3"]["health"]
    a, b = health[HOSTS["A"][1]], health[HOSTS["B"][1]]
    assert a["severity"] == "high"
    assert a["true_positive_incidents_since_acceptance"] == 1 and len(a["true_positive_incident_numbers"]) == 1
    assert "hides an attack" in a["finding"]
    assert b["true_positive_incidents_since_acceptance"] == 0  # the unrelated host's attack is not B's
    assert list(health)[0] == HOSTS["A"][1]  # high first


def test_expiry_warns_fourteen_days_before_expires_on(nights):
    b2 = nights["night2"]["health"][HOSTS["B"][1]]
    b3 = nights["night3"]["health"][HOSTS["B"][1]]
    assert (b2["days_to_expiry"], b2["severity"]) == (15, "ok")
    assert (b3["days_to_expiry"], b3["severity"], b3["finding"]) == (14, "warn", "expires in 14 day(s)")


def test_the_owner_page_lists_exclusions_that_need_attention_first(nights):
    from pipelines.reports.owner_page import render_owner_page

    health = nights["night3"]["health"]
    page = render_owner_page("secops", START, nights["night3"]["rules"], {}, {}, {}, {}, 14,
                             health={("t1", "r1"): list(health.values())})
    first = page.index("Accepted exclusions that need attention")
    assert first < page.index("Summary")
    assert page.index(nights["ids"]["A"]) < page.index(nights["ids"]["B"])


# -- the CLI ----------------------------------------------------------------------------------------
@pytest.fixture
def published(nights, tmp_path):
    """A home holding night 1's published shard, and no decision yet."""
    settings = write_settings(tmp_path)
    target = settings.for_tenant("t1").warehouse_path
    target.parent.mkdir(parents=True)
    shutil.copyfile(nights["night1_file"], target)
    return settings


def run_cli(settings, capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["tuning", *args, "--config", settings.source_path])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_accept_records_one_line_and_prints_it(published, nights, capsys):
    rid = nights["ids"]["A"]
    code, out, err = run_cli(published, capsys, "accept", rid, "--by", "carol")
    assert code == 0, err
    assert out.startswith(f"recorded: accepted {rid} (t1, rule Rule r1: host ALPHA01) until ")
    [line] = decisions_file.read(published.home, "t1")
    assert (line["decision"], line["decided_by"], line["source"]) == ("accepted", "carol", "cli")
    code, out, err = run_cli(published, capsys, "revoke", rid, "--by", "carol")
    assert code == 0 and out.startswith(f"recorded: revoked {rid}")
    assert [r["decision"] for r in decisions_file.read(published.home, "t1")] == ["accepted", "revoked"]


@pytest.mark.parametrize(("args", "message"), [
    (["accept", "0123456789abcdef"], "hunthouse: no recommendation '0123456789abcdef' in the published warehouse"),
    (["revoke", "{A}"], "hunthouse: {A} has no acceptance or dismissal to revoke"),
    (["dismiss", "{A}", "--reason", "  "], "hunthouse: dismiss needs a --reason"),
    (["accept", "{A}", "--until", "2020-01-01"], "hunthouse: --until 2020-01-01 is in the past"),
    (["accept", "{A}", "--tenant", "nobody"], "hunthouse: unknown tenant 'nobody'"),
])
def test_cli_mistakes_are_one_line_and_record_nothing(published, nights, capsys, args, message):
    args = [a.replace("{A}", nights["ids"]["A"]) for a in args]
    code, out, err = run_cli(published, capsys, *args)
    message = message.replace("{A}", nights["ids"]["A"])
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err
    assert decisions_file.read(published.home, "t1") == []


def test_cli_without_a_published_warehouse_is_one_line(tmp_path, capsys):
    settings = write_settings(tmp_path)
    code, _, err = run_cli(settings, capsys, "accept", "0123456789abcdef")
    assert code == 2 and err.count("\n") == 1 and "hunthouse run" in err


def test_a_reviewed_csv_records_its_decisions_once(published, nights, tmp_path, capsys):
    path = tmp_path / "tuning_decisions.csv"
    path.write_text("recommendation_id,decision,reason,until,decided_by\n"
                    f"{nights['ids']['A']},accept,,2027-01-31,dave\n"
                    f"{nights['ids']['C']},dismiss,known scanner,,erin\n", encoding="utf-8")
    code, out, err = run_cli(published, capsys, "import-csv", str(path))
    assert code == 0, err
    assert "2 decision(s) recorded, 0 already recorded" in out
    lines = decisions_file.read(published.home, "t1")
    assert [(r["decision"], r["decided_by"], r["expires_on"], r["source"]) for r in lines] == [
        ("accepted", "dave", "2027-01-31", "csv:tuning_decisions.csv"),
        ("dismissed", "erin", None, "csv:tuning_decisions.csv")]
    code, out, _ = run_cli(published, capsys, "import-csv", str(path))  # the same file again: nothing new
    assert code == 0 and "0 decision(s) recorded, 2 already recorded" in out
    path.write_text("recommendation_id,decision\n0123456789abcdef,maybe\n", encoding="utf-8")
    code, _, err = run_cli(published, capsys, "import-csv", str(path))
    assert code == 2 and err.count("\n") == 1 and "line 2: decision must be" in err


def test_import_keeps_the_latest_decision_of_each_id(published, nights, tmp_path):
    decider = Decider(published, "t1", now=DECIDED)
    decider.record("dismiss", nights["ids"]["B"], reason="first look")
    path = tmp_path / "d.csv"
    path.write_text(f"recommendation_id,decision,reason\n{nights['ids']['B']},dismiss,first look\n", encoding="utf-8")
    recorded, skipped = import_csv(Decider(published, "t1", now=DECIDED), path, None)
    assert (recorded, skipped) == ([], 1)


# -- the decisions file and its load --------------------------------------------------------------
def test_a_torn_last_line_is_ignored_and_cut_by_the_next_writer(tmp_path):
    row = {"recommendation_id": "r" * 16, "tenant": "t1", "decision": "accepted", "decided_at": DECIDED.isoformat()}
    decisions_file.append(tmp_path, [row])
    path = decisions_file.decisions_path(tmp_path, "t1")
    with path.open("ab") as f:
        f.write(b'{"recommendation_id": "torn", "ten')  # a writer that died mid-line
    assert [r["recommendation_id"] for r in decisions_file.read(tmp_path, "t1")] == ["r" * 16]
    decisions_file.append(tmp_path, [{**row, "decision": "revoked"}])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["decision"] for line in lines] == ["accepted", "revoked"]


def test_every_build_loads_the_decisions_even_when_no_lake_partition_changed(tmp_path):
    settings = write_settings(tmp_path)
    decisions_file.append(settings.home, [
        {"recommendation_id": "a" * 16, "tenant": "t1", "decision": "accepted", "decided_at": DECIDED.isoformat(),
         "expires_on": "2027-01-01"},
        {"recommendation_id": "a" * 16, "tenant": "t1", "decision": "revoked", "decided_at": DECIDED.isoformat()},
    ])
    with connect(tmp_path / "build.duckdb") as con:
        create_tables(con)
        assert sync_lake(con, settings) == []  # an empty lake: nothing changed
        rows = con.execute("SELECT decision, expires_on, is_latest FROM tuning_decisions ORDER BY sequence").fetchall()
    assert rows == [("accepted", date(2027, 1, 1), False), ("revoked", None, True)]


def test_status_shows_a_line_for_high_severity_exclusion_health(nights, tmp_path):
    from pipelines.status import print_status

    settings = write_settings(tmp_path)
    target = settings.for_tenant("t1").warehouse_path
    target.parent.mkdir(parents=True)
    shutil.copyfile(nights["night3_file"], target)
    lines: list[str] = []
    print_status(settings, lines.append)
    [line] = [x for x in lines if x.startswith("Exclusion health HIGH")]
    assert line.startswith("Exclusion health HIGH t1: 1 accepted exclusion(s) carry the entity of 1 true-positive")


def test_the_new_tuning_sql_files_carry_registry_headers():
    from models.registry import MODELS_DIR, parse_header

    declared = {name: [(m.name, m.kind, m.phase) for m in parse_header(MODELS_DIR / "tuning" / name, "tuning")]
                for name in ("45_tuning_decided.sql", "46_backtest_accepted.sql", "90_exclusion_health.sql")}
    assert declared == {
        "45_tuning_decided.sql": [("tuning_decided", "scratch", "report")],
        # adds rows to the backtest's fitted exclusions, creates nothing of its own
        "46_backtest_accepted.sql": [("tuning_backtest_accepted", "insert", "report")],
        "90_exclusion_health.sql": [("tuning_accepted_parts", "scratch", "report"),
                                    ("tuning_since_accepted", "scratch", "report"),
                                    ("tuning_accepted_removed", "scratch", "report"),
                                    ("tuning_accepted_true_positives", "scratch", "report"),
                                    ("exclusion_health", "window", "report")]}
