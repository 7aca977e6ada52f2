"""Triples: where every two-part shape of an alert's account, host and process has been seen in a
true positive, the three together can still be excluded, and only then."""

from __future__ import annotations

import pytest

from models.tuning.kql_eval import keeps
from tests.tuning_fixture import TuningFixture, settings

SVC = ("account", "contoso\\svc_batch", "CONTOSO\\svc_batch")
SRV = ("host", "srv-batch01", "SRV-BATCH01")
JOB = ("process", "batchrun.exe --nightly --purge-temp", "batchrun.exe --nightly --purge-temp")
OTHER_ACCOUNT = ("account", "contoso\\intruder", "CONTOSO\\intruder")
OTHER_HOST = ("host", "laptop66", "LAPTOP66")
OTHER_JOB = ("process", "batchrun.exe --dump-creds", "batchrun.exe --dump-creds")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    fx = TuningFixture()
    for day in range(25):
        fx.alert("r1", day, [SVC, SRV, JOB], "benign_positive")
        for other in range(2):  # open incidents keep every shape under the removed-share cap
            fx.alert("r1", day, [("host", f"pc{day}-{other}", f"PC{day}-{other}")], None)
    # each two-part shape was once part of an attack (in three different incidents)
    fx.alert("r9", 3, [SVC, SRV, OTHER_JOB], "true_positive")
    fx.alert("r9", 4, [SVC, OTHER_HOST, JOB], "true_positive")
    fx.alert("r9", 5, [OTHER_ACCOUNT, SRV, JOB], "true_positive")
    # r2: three other entities whose host + process was never in an attack: that pair suffices
    svc2, srv2, job2 = (("account", "contoso\\svc_etl", "CONTOSO\\svc_etl"), ("host", "srv-etl01", "SRV-ETL01"),
                        ("process", "etl.exe --load", "etl.exe --load"))
    fx.alert("r9", 6, [svc2, srv2, OTHER_JOB], "true_positive")
    fx.alert("r9", 7, [svc2, OTHER_HOST, job2], "true_positive")
    for day in range(25):
        fx.alert("r2", day, [svc2, srv2, job2], "benign_positive")
        for other in range(2):
            fx.alert("r2", day, [("host", f"pc{day}-{other}", f"PC{day}-{other}")], None)
    fx.build(settings(tmp_path_factory.mktemp("home"), backtest_days=7), as_of_day=29)
    return fx


def test_a_triple_is_recommended_when_every_pair_fails_the_guard(world):
    pairs = world.rows("SELECT verdict FROM tuning_exclusion_candidates WHERE rule_id = 'r1' AND exclusion_kind = 'pair'")
    assert pairs and {p["verdict"] for p in pairs} == {"fails guard: in a true-positive incident"}
    [rec] = world.rows("SELECT * FROM tuning_recommendations WHERE rule_id = 'r1'")
    assert (rec["exclusion_kind"], rec["entity_type"]) == ("triple", "account+host+process")
    assert rec["entity_key"] == f"{SVC[1]} + {SRV[1]} + {JOB[1]}"
    assert (rec["decisions"], rec["benign_decisions"], rec["true_positive_incidents"]) == (25, 25, 0)


def test_the_triple_clause_needs_all_three_in_the_row(world):
    [rec] = world.rows("SELECT kql_exclusion FROM tuning_recommendations WHERE rule_id = 'r1'")
    clause = rec["kql_exclusion"]
    row = {"AccountName": "svc_batch", "AccountDomain": "CONTOSO", "DeviceName": "srv-batch01.contoso.local",
           "ProcessCommandLine": JOB[2]}
    assert keeps(clause, row) is False
    for column, other in (("AccountName", "intruder"), ("DeviceName", "laptop66"),
                          ("ProcessCommandLine", OTHER_JOB[2])):
        assert keeps(clause, {**row, column: other}) is True, column


def test_no_triple_where_a_pair_still_passes(world):
    recs = world.rows("SELECT exclusion_kind, entity_type FROM tuning_recommendations WHERE rule_id = 'r2'")
    assert recs == [{"exclusion_kind": "pair", "entity_type": "host+process"}]
    assert world.rows("SELECT * FROM tuning_exclusion_candidates WHERE rule_id = 'r2' AND exclusion_kind = 'triple'") == []
