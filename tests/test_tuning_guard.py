"""The true-positive guard reads the whole history at the incident level, with account forms merged
into one identity: a true positive older than the fit window, recorded under another account form,
or split over two alerts of one incident still guards."""

from __future__ import annotations

import pytest

from tests.tuning_fixture import TuningFixture, settings

SID = "S-1-5-21-100-200-300-1107"
JDOE_UPN = ("account", "jdoe@contoso.com", "jdoe@contoso.com",
            {"Name": "jdoe", "UPNSuffix": "contoso.com", "AadUserId": "6c5b2a9e-0000-4000-8000-00000000a1b2",
             "Sid": SID})
JDOE_DOMAIN = ("account", "contoso\\jdoe", "CONTOSO\\jdoe", {"Name": "jdoe", "NTDomain": "CONTOSO", "Sid": SID})
JDOE_SID = ("account", SID.lower(), SID, {"Sid": SID})
ASMITH = ("account", "contoso\\asmith", "CONTOSO\\asmith", {"Name": "asmith", "NTDomain": "CONTOSO",
                                                              "Sid": "S-1-5-21-100-200-300-1200"})
OLD_HOST = ("host", "old01", "OLD01")
SVC = ("account", "contoso\\svc_x", "CONTOSO\\svc_x")
SRV = ("host", "srv-x", "SRV-X")
AS_OF = 59


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    fx = TuningFixture()
    # day 2: a true positive on old01, 28 days before the 30-day fit window opens
    fx.alert("r9", 2, [OLD_HOST, ("account", "contoso\\intruder", "CONTOSO\\intruder")], "true_positive")
    # day 35: a true positive recorded under jdoe's UPN only
    fx.alert("r9", 35, [JDOE_UPN], "true_positive")
    # day 36: one true-positive incident whose two alerts carry svc_x and srv-x apart
    fx.alert("r9", 36, [SVC, ("host", "laptop9", "LAPTOP9")], "true_positive")
    fx.alert("r9", 36, [SRV, ("account", "contoso\\other", "CONTOSO\\other")], None, incident=fx.last_incident)
    for day in range(30, 60):
        fx.alert("r1", day, [OLD_HOST], "benign_positive")
        fx.alert("r1", day, [JDOE_DOMAIN], "benign_positive")
        fx.alert("r1", day, [JDOE_SID], "benign_positive")
        fx.alert("r1", day, [ASMITH], "benign_positive")
        fx.alert("r1", day, [SVC, SRV], "benign_positive")
    # an alert merged into a later benign incident stays a true positive
    merged = fx.alert("r9", 50, [("host", "merged01", "MERGED01")], "true_positive")
    fx.alert("r9", 51, [("host", "merged02", "MERGED02")], "benign_positive")
    fx.con.execute("INSERT INTO incident_alerts VALUES ('t1', ?, ?)", [fx.last_incident, merged])
    fx.merged_alert = merged
    fx.build(settings(tmp_path_factory.mktemp("home"), fit_days=30, backtest_days=7), as_of_day=AS_OF)
    return fx


def single(fx, key: str) -> dict:
    [row] = fx.rows("SELECT * FROM tuning_exclusion_candidates WHERE rule_id = 'r1' AND exclusion_kind = 'single' "
                    "AND entity_key_1 = ?", [key])
    return row


def test_a_true_positive_older_than_the_fit_window_guards(world):
    assert world.rows("SELECT count(*) AS n FROM alert_labels WHERE day < DATE '2026-10-31'") == [{"n": 0}]
    old = single(world, OLD_HOST[1])
    assert (old["true_positive_incidents"], old["verdict"]) == (1, "fails guard: in a true-positive incident")


def test_a_true_positive_under_the_upn_guards_the_domain_and_sid_forms(world):
    for form in (JDOE_DOMAIN[1], JDOE_SID[1]):
        row = single(world, form)
        assert (row["true_positive_incidents"], row["recommended"]) == (1, False), form
    # an account never seen in a true positive, in any form, is still recommended
    assert single(world, ASMITH[1])["recommended"]


def test_a_pair_is_guarded_through_another_alert_of_the_same_incident(world):
    [pair] = world.rows("SELECT * FROM tuning_exclusion_candidates WHERE rule_id = 'r1' AND exclusion_kind = 'pair' "
                        "AND entity_key_1 = ? AND entity_key_2 = ?", [SVC[1], SRV[1]])
    assert (pair["true_positive_incidents"], pair["true_positive_alerts"]) == (1, 0)
    assert pair["verdict"] == "fails guard: in a true-positive incident"


def test_an_alert_in_several_incidents_is_a_true_positive_if_any_was(world):
    [row] = world.rows("SELECT label FROM alert_labels WHERE system_alert_id = ?", [world.merged_alert])
    assert row["label"] == "true_positive"
