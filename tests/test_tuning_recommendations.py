"""Guard, pair and threshold logic of the exclusion recommendations, and the backtest, on a
hand-made warehouse where every count is known."""

from __future__ import annotations

import pytest

from tests.tuning_fixture import TuningFixture, settings

INVENTORY = ("account", "contoso\\svc_inventory", "CONTOSO\\svc_inventory")
BACKUP = ("account", "contoso\\svc_backup", "CONTOSO\\svc_backup")
BACKUP_HOST = ("host", "srv-backup01", "SRV-BACKUP01")
WEB = ("host", "web01", "web01")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    fx = TuningFixture()
    for day in range(20):
        fx.alert("r1", day, [INVENTORY, WEB], "benign_positive")
        fx.alert("r1", day, [BACKUP, BACKUP_HOST], "false_positive")
    for day in range(4):
        fx.alert("r1", day, [("ip", "10.0.0.9", "10.0.0.9")], "benign_positive")
    for day in range(21):
        fx.alert("r4", day, [("ip", "10.0.0.7", "10.0.0.7")], "benign_positive")
    # the backup account and the backup host each appear in a true positive, but never together
    fx.alert("r2", 3, [BACKUP, ("host", "laptop7", "LAPTOP7")], "true_positive")
    fx.alert("r2", 4, [("account", "contoso\\jdoe", "CONTOSO\\jdoe"), BACKUP_HOST], "true_positive")
    # web01 turns up in a true positive only inside the backtest's held-out days
    fx.alert("r1", 22, [("account", "contoso\\intruder", "CONTOSO\\intruder"), WEB], "true_positive")
    for day in range(10):
        fx.alert("r2", day, [("host", f"pc{day}", f"PC{day}")], "benign_positive" if day % 2 else "true_positive")
        fx.alert("r3", day, [("host", "pc-x", "PC-X")], "false_positive" if day % 3 else "true_positive")
    home = tmp_path_factory.mktemp("home")
    fx.counts = fx.build(settings(home, backtest_days=14), as_of_day=29)
    return fx


def recommended(fx):
    return {
        (r["rule_id"], r["exclusion_kind"], r["entity_type"], r["entity_key"])
        for r in fx.rows("SELECT * FROM tuning_recommendations")
    }


def test_entity_in_one_true_positive_is_never_recommended_alone(world):
    recs = recommended(world)
    assert ("r1", "single", "account", "contoso\\svc_backup") not in recs
    assert ("r1", "single", "host", "srv-backup01") not in recs
    assert ("r1", "single", "host", "web01") not in recs
    guard = world.rows(
        "SELECT true_positive_alerts, verdict, recommended FROM tuning_exclusion_candidates "
        "WHERE rule_id = 'r1' AND exclusion_kind = 'single' AND entity_key_1 = 'contoso\\svc_backup'"
    )
    assert guard == [{"true_positive_alerts": 1, "verdict": "fails guard: in a true-positive incident",
                      "recommended": False}]


def test_narrower_pair_is_recommended_when_its_entities_fail_the_guard(world):
    recs = recommended(world)
    assert ("r1", "pair", "account+host", "contoso\\svc_backup + srv-backup01") in recs
    row = world.rows("SELECT * FROM tuning_recommendations WHERE exclusion_kind = 'pair' AND entity_key_1 = ?",
                     [BACKUP[1]])
    assert len(row) == 1
    pair = row[0]
    assert pair["entity_value"] == "CONTOSO\\svc_backup + SRV-BACKUP01"
    assert (pair["benign_alerts"], pair["labelled_alerts"], pair["true_positive_alerts"]) == (20, 20, 0)
    assert pair["kql_exclusion"] == (
        "| where not((AccountName =~ 'svc_backup' and AccountDomain =~ 'contoso') and "
        "tostring(split(DeviceName, '.')[0]) =~ 'srv-backup01')"
    )


def test_account_and_host_together_are_recommended_over_either_alone(world):
    """svc_inventory is clean alone, but every one of its alerts is on web01: the pair removes the
    same benign alerts and is the narrower shape, so the account alone is not emitted beside it."""
    recs = recommended(world)
    assert ("r1", "pair", "account+host", "contoso\\svc_inventory + web01") in recs
    assert ("r1", "single", "account", "contoso\\svc_inventory") not in recs
    [alone] = world.rows("SELECT verdict, shape_verdict FROM tuning_exclusion_candidates "
                         "WHERE rule_id = 'r1' AND exclusion_kind = 'single' AND entity_key_1 = ?", [INVENTORY[1]])
    assert alone == {"verdict": "passes", "shape_verdict": "covered by narrower exclusions"}
    row = world.rows("SELECT * FROM tuning_recommendations WHERE entity_key = 'contoso\\svc_inventory + web01'")[0]
    assert row["alerts_removed_share"] == pytest.approx(20 / 45)
    # 20 incidents over the 30 days the fit saw of r1, at the 95% edge of P(true positive)
    bound = 20 * 30 / 30 * (1 - 0.05 ** (1 / 21))
    assert row["rationale"] == (
        "20 of 20 decisions (20 of 20 labelled alerts) on incidents with account CONTOSO\\svc_inventory and host "
        f"web01 were benign; none in any true positive; at the 95% edge it could hide {bound:.1f} true positives "
        "per 30 days; excluding it removes 44% of this rule's alerts."
    )
    assert str(row["expires_on"]) == "2027-01-28"  # as_of 2026-10-30 + 90 days


def test_a_clean_single_makes_its_pairs_redundant(world):
    recs = recommended(world)
    assert ("r4", "single", "ip", "10.0.0.7") in recs
    assert not any(rule == "r4" and kind == "pair" for rule, kind, _, _ in recs)


def test_below_min_labelled_alerts_nothing_is_recommended(world):
    assert not any(key == "10.0.0.9" for *_, key in recommended(world))


def test_backtest_scores_exclusions_fitted_without_the_held_out_days(world):
    rows = {r["rule_id"]: r for r in world.rows("SELECT * FROM tuning_backtest WHERE tenant = 't1' "
                                                "AND backtest_origin = 1")}
    r1 = rows["r1"]
    # fitted on days 0-15, web01 looked clean, but the narrowest shape is svc_inventory on web01,
    # not web01 alone, so the intruder's alert on web01 on day 22 stays visible
    assert (r1["alerts"], r1["alerts_removed"], r1["benign_alerts_removed"], r1["true_positive_alerts_removed"]) == (
        9, 8, 8, 0,
    )
    assert r1["analyst_hours_saved"] == pytest.approx(8 * 30 / 60)
    assert rows["*"]["true_positive_alerts_removed"] == 0
    [web] = world.rows("SELECT shape_verdict FROM tuning_exclusion_candidates WHERE rule_id = 'r1' "
                       "AND exclusion_kind = 'single' AND entity_key_1 = 'web01'")
    assert web["shape_verdict"] is None  # fails the guard in the live fit


def test_backtest_counts_equal_a_recount_from_the_held_out_alerts_entities(world):
    """Each exclusion's backtest counts, recounted in Python from alert_labels and alert_entities."""
    entities: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for e in world.rows("SELECT tenant, system_alert_id, entity_type, entity_key FROM alert_entities"):
        entities.setdefault((e["tenant"], e["system_alert_id"]), set()).add((e["entity_type"], e["entity_key"]))
    labels = world.rows("SELECT * FROM alert_labels WHERE rule_id IS NOT NULL")
    exclusions = world.rows("SELECT * FROM tuning_backtest_exclusions")
    assert {x["exclusion_kind"] for x in exclusions} == {"single", "pair"}
    for x in exclusions:
        removed = [
            a for a in labels
            if a["tenant"] == x["tenant"] and a["rule_id"] == x["rule_id"]
            and x["test_start_day"] <= a["day"] <= x["test_end_day"]
            and (x["entity_type_1"], x["entity_key_1"]) in entities.get((a["tenant"], a["system_alert_id"]), set())
            and (x["exclusion_kind"] == "single"
                 or (x["entity_type_2"], x["entity_key_2"]) in entities[(a["tenant"], a["system_alert_id"])])
        ]
        assert (x["alerts_removed"], x["benign_alerts_removed"], x["true_positive_alerts_removed"],
                x["unlabelled_alerts_removed"]) == (
            len(removed), sum(a["is_benign"] for a in removed), sum(a["is_true_positive"] for a in removed),
            sum(not a["is_labelled"] for a in removed)), x
    assert sum(x["alerts_removed"] for x in exclusions) > 0


@pytest.mark.parametrize("benign, expected", [(4, False), (5, True)])
def test_threshold_of_labelled_alerts_decides(tmp_path, benign, expected):
    fx = TuningFixture()
    for day in range(benign):
        fx.alert("r9", day, [("ip", "10.1.1.1", "10.1.1.1")], "benign_positive")
    for day in range(10):
        fx.alert("r9", day, [("ip", "10.1.1.1", "10.1.1.1")], None)  # open incidents: unlabelled
    fx.build(settings(tmp_path, min_confidence=0.5), as_of_day=20)
    assert (("r9", "single", "ip", "10.1.1.1") in recommended(fx)) is expected


def test_the_fit_reads_only_the_fit_days_before_its_cut_off(tmp_path):
    fx = TuningFixture()
    for day in range(30):
        fx.alert("r9", day, [("ip", "10.1.1.1", "10.1.1.1")], "benign_positive")
    fx.build(settings(tmp_path, min_confidence=0.5, fit_days=10), as_of_day=29)
    [(alerts, first_offset)] = fx.con.execute(
        "SELECT count(*), min(day) - (SELECT min(day) FROM alerts) FROM alert_labels").fetchall()
    assert (alerts, first_offset) == (10, 20)  # days 20..29 of 0..29
    [noise] = fx.rows("SELECT * FROM rule_noise WHERE rule_id = 'r9'")
    assert noise["alerts"] == 10
