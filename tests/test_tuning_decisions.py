"""Decision-level evidence: support and posterior count labelled incidents, not alerts; incidents
closed by automation are a separate label source, left out of the evidence unless configured."""

from __future__ import annotations

import pytest

from tests.tuning_fixture import TuningFixture, settings

BULK = ("host", "bulk01", "BULK01")
SINGLES = ("host", "one01", "ONE01")
AUTO = ("account", "contoso\\svc_auto", "CONTOSO\\svc_auto")
AUTOMATION_RULE = "Automation rule - Close known scanner noise"


def _build(tmp_path, **overrides) -> TuningFixture:
    fx = TuningFixture()
    # one incident of 13 alerts closed benign in bulk: 13 labelled alerts, one decision
    fx.alert("r1", 1, [BULK], "benign_positive")
    for _ in range(12):
        fx.alert("r1", 1, [BULK], None, incident=fx.last_incident)
    # 14 incidents of one alert each, closed benign by an analyst: 14 decisions
    for day in range(14):
        fx.alert("r1", day, [SINGLES], "benign_positive")
    # 20 incidents closed benign by an automation rule, 1 by an analyst
    for day in range(20):
        fx.alert("r2", day, [AUTO], "benign_positive", closed_by=AUTOMATION_RULE)
    fx.alert("r2", 20, [AUTO], "benign_positive")
    for day in range(40):  # open incidents keep every entity under the removed-share cap
        fx.alert("r1", day % 25, [("host", f"pc{day}", f"PC{day}")], None)
        fx.alert("r2", day % 25, [("host", f"pc{day}", f"PC{day}")], None)
    fx.build(settings(tmp_path, **overrides), as_of_day=25)
    return fx


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("home"))


def candidate(fx, key: str) -> dict:
    [row] = fx.rows("SELECT * FROM tuning_exclusion_candidates WHERE exclusion_kind = 'single' AND entity_key_1 = ?",
                    [key])
    return row


def test_a_bulk_closed_incident_is_one_decision_not_thirteen(default):
    bulk = candidate(default, BULK[1])
    assert (bulk["labelled_alerts"], bulk["decisions"], bulk["benign_decisions"]) == (13, 1, 1)
    assert bulk["verdict"] == "too few decisions" and not bulk["recommended"]
    one = candidate(default, SINGLES[1])
    assert (one["labelled_alerts"], one["decisions"], one["benign_decisions"]) == (14, 14, 14)
    assert one["recommended"]
    # Beta(1 + 14, 1): 5% quantile 0.05 ** (1 / 15)
    assert one["confidence"] == pytest.approx(0.05 ** (1 / 15), rel=1e-6)


def test_recommendation_shows_decisions_alerts_and_the_hidden_true_positive_bound(default):
    [rec] = default.rows("SELECT * FROM tuning_recommendations WHERE entity_key = ?", [SINGLES[1]])
    assert (rec["decisions"], rec["benign_decisions"], rec["labelled_alerts"], rec["benign_alerts"]) == (14, 14, 14, 14)
    # 14 incidents over the 26 days the fit saw of r1, at the 95% edge of P(true positive)
    bound = 14 * 30 / 26 * (1 - 0.05 ** (1 / 15))
    assert rec["max_true_positives_per_30d"] == pytest.approx(bound, rel=1e-6)
    assert rec["rationale"].startswith("14 of 14 decisions (14 of 14 labelled alerts) on incidents with host ONE01 "
                                       "were benign; none in any true positive; at the 95% edge it could hide "
                                       f"{bound:.1f} true positives per 30 days;")


def test_incidents_closed_by_automation_are_not_evidence_by_default(default):
    # one analyst decision: too little evidence to be judged at all (min_labelled_alerts 5)
    assert default.rows("SELECT * FROM tuning_exclusion_candidates WHERE entity_key_1 = ?", [AUTO[1]]) == []
    labels = default.rows("SELECT label_source, is_evidence, count(*) AS n FROM alert_labels WHERE rule_id = 'r2' "
                          "AND label IS NOT NULL GROUP BY ALL ORDER BY 1")
    assert labels == [{"label_source": "analyst", "is_evidence": True, "n": 1},
                      {"label_source": "automation", "is_evidence": False, "n": 20}]


def test_automation_labels_switch_counts_them(tmp_path):
    fx = _build(tmp_path, automation_labels=True)
    auto = candidate(fx, AUTO[1])
    assert (auto["decisions"], auto["automation_decisions"]) == (21, 0)
    assert auto["recommended"]
