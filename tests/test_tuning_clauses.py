"""Clauses that match: for every entity type the emitted clause, run by the clause evaluator, drops a
row holding that entity and keeps a row of another entity; the hash, SID, folder-prefix and IPv6
cases that used to never match; no clause where no stable column exists."""

from __future__ import annotations

import pytest

from models.tuning.kql import entity_condition, kql_exclusion
from models.tuning.kql_eval import clause_removes, keeps, parse, rows_of_alert

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
CASES = [
    # (entity type, key, a row holding it, a row holding another entity of the type)
    ("account", "contoso\\svc_backup", {"AccountName": "svc_backup", "AccountDomain": "CONTOSO"},
     {"AccountName": "svc_backup", "AccountDomain": "FABRIKAM"}),
    ("account", "jdoe@contoso.com", {"AccountUpn": "JDoe@Contoso.com"}, {"AccountUpn": "jdoe@contoso.org"}),
    ("account", "s-1-5-21-100-200-300-1107", {"AccountSid": "S-1-5-21-100-200-300-1107", "AccountName": "jdoe"},
     {"AccountSid": "S-1-5-21-100-200-300-1108", "AccountName": "s-1-5-21-100-200-300-1107"}),
    ("account", "6c5b2a9e-0000-4000-8000-00000000a1b2", {"AccountObjectId": "6C5B2A9E-0000-4000-8000-00000000A1B2"},
     {"AccountName": "6c5b2a9e-0000-4000-8000-00000000a1b2"}),
    ("account", "svc_scan", {"AccountName": "SVC_SCAN"}, {"AccountName": "svc_scan2"}),
    ("host", "srv-backup01", {"DeviceName": "srv-backup01.contoso.local"}, {"DeviceName": "srv-backup02.contoso.local"}),
    ("ip", "10.20.30.40", {"IPAddress": "10.20.30.40"}, {"IPAddress": "10.20.30.41"}),
    ("ip", "fe80::1a2b", {"IPAddress": "FE80::1A2B"}, {"IPAddress": "fe80::1a2c"}),
    ("file", "c:\\program files\\app\\x.exe", {"FileName": "x.exe", "FolderPath": "C:\\Program Files\\App\\x.exe"},
     {"FileName": "x.exe", "FolderPath": "C:\\Program Files\\App-evil\\x.exe"}),
    ("file", "c:\\program files\\app\\x.exe", {"FileName": "X.EXE", "FolderPath": "C:\\Program Files\\App"},
     {"FileName": "x.exe", "FolderPath": "C:\\Program Files\\App\\sub"}),
    ("file", "x.exe", {"FileName": "x.exe"}, {"FileName": "y.exe"}),
    ("process", "vssadmin.exe delete shadows /for=d: /oldest /quiet",
     {"ProcessCommandLine": "vssadmin.exe delete shadows /for=D: /oldest /quiet"},
     {"ProcessCommandLine": "vssadmin.exe delete shadows /all /quiet"}),
    ("url", "http://pki.contoso.local/crl/root.crl", {"Url": "http://pki.contoso.local/crl/root.crl"},
     {"Url": "http://pki.contoso.local/crl/root.crl.exe"}),
    ("filehash", f"sha256:{SHA}", {"SHA256": SHA.upper()}, {"SHA256": SHA[:-1] + "9"}),
    ("filehash", f"sha1:{SHA[:40]}", {"SHA1": SHA[:40]}, {"SHA256": SHA}),
    ("filehash", f"md5:{SHA[:32]}", {"MD5": SHA[:32]}, {"MD5": SHA[1:33]}),
    ("dns", "update.contoso.com", {"DomainName": "update.contoso.com"}, {"DomainName": "update.contoso.com.evil"}),
    ("mailbox", "ap@contoso.com", {"RecipientEmailAddress": "AP@contoso.com"},
     {"RecipientEmailAddress": "ap@contoso.co"}),
]


@pytest.mark.parametrize("etype, key, holding, other", CASES, ids=[f"{c[0]}:{c[1][:24]}" for c in CASES])
def test_clause_drops_the_row_holding_the_entity_and_keeps_another(etype, key, holding, other):
    clause = kql_exclusion(etype, key)
    assert clause is not None
    assert keeps(clause, holding) is False
    assert keeps(clause, other) is True
    assert keeps(clause, {}) is True


def test_hash_clause_has_no_algorithm_prefix():
    assert entity_condition("filehash", f"sha256:{SHA}") == f"SHA256 =~ '{SHA}'"


def test_sid_and_object_id_use_their_own_columns():
    assert entity_condition("account", "s-1-5-18") == "AccountSid =~ 's-1-5-18'"
    assert entity_condition("account", "6c5b2a9e-0000-4000-8000-00000000a1b2").startswith("AccountObjectId =~")
    assert entity_condition("account", "a@b.com") == "AccountUpn =~ 'a@b.com'"  # not AccountUPN


def test_folder_is_never_a_bare_prefix():
    cond = entity_condition("file", "c:\\tools\\app\\x.exe")
    assert "startswith" not in cond
    assert keeps(f"| where not({cond})", {"FileName": "x.exe", "FolderPath": "C:\\Tools\\App-Evil\\x.exe"})


def test_no_clause_for_a_pid_key_or_an_unmapped_type():
    assert kql_exclusion("process", "pid:4242") is None
    assert kql_exclusion("cloud-application", "Office 365") is None
    assert kql_exclusion("account", "contoso\\svc", "process", "pid:1") is None


def test_pair_clause_needs_both_entities_in_the_row():
    clause = kql_exclusion("account", "contoso\\svc_backup", "host", "srv-backup01")
    both = {"AccountName": "svc_backup", "AccountDomain": "contoso", "DeviceName": "SRV-BACKUP01"}
    assert keeps(clause, both) is False
    assert keeps(clause, {**both, "DeviceName": "ws-0001"}) is True
    assert keeps(clause, {**both, "AccountName": "attacker"}) is True


def test_hostile_values_are_matched_exactly():
    hostile = "O'Brien \"x\" \\\\srv\\c$\n| take 1 <script>"
    clause = kql_exclusion("process", hostile)
    assert keeps(clause, {"ProcessCommandLine": hostile}) is False
    assert keeps(clause, {"ProcessCommandLine": hostile + " "}) is True


@pytest.mark.parametrize("text", [
    "| where FileName =~ 'x'",                      # not an exclusion
    "| where not(FileName has 'x')",                # operator outside the grammar
    "| where not(FileName =~ 'x') | take 1",        # trailing pipe
    "| where not(FileName =~ 'x\\q')",              # unknown escape
])
def test_evaluator_refuses_text_outside_the_grammar(text):
    with pytest.raises(ValueError):
        parse(text)


def test_alert_rows_come_from_its_entities_and_properties():
    entities = [
        {"entity_type": "host", "entity_value": "SRV-BACKUP01", "properties": '{"DnsDomain": "contoso.local"}'},
        {"entity_type": "account", "entity_value": "CONTOSO\\svc_backup",
         "properties": '{"Name": "svc_backup", "NTDomain": "CONTOSO", "Sid": "S-1-5-21-1-2-3-1500"}'},
        {"entity_type": "file", "entity_value": "C:\\Windows\\System32\\vssadmin.exe"},
        {"entity_type": "filehash", "entity_value": f"SHA256:{SHA}"},
    ]
    [row] = rows_of_alert(entities)
    assert row == {"DeviceName": "SRV-BACKUP01.contoso.local", "AccountDomain": "CONTOSO", "AccountName": "svc_backup",
                   "AccountSid": "S-1-5-21-1-2-3-1500", "FileName": "vssadmin.exe",
                   "FolderPath": "C:\\Windows\\System32\\vssadmin.exe", "SHA256": SHA}
    assert clause_removes(kql_exclusion("account", "s-1-5-21-1-2-3-1500"), entities)
    assert clause_removes(kql_exclusion("host", "srv-backup01"), entities)
    assert not clause_removes(kql_exclusion("host", "srv-backup02"), entities)
    two_accounts = entities + [{"entity_type": "account", "entity_value": "CONTOSO\\jdoe"}]
    assert len(rows_of_alert(two_accounts)) == 2
    assert clause_removes(kql_exclusion("account", "contoso\\jdoe"), two_accounts)


# ---- the backtest applies the deployed clause --------------------------------------------------------

SID_KEY = "s-1-5-21-9-9-9-1500"


@pytest.fixture(scope="module")
def backtested(tmp_path_factory):
    from tests.tuning_fixture import TuningFixture, settings

    fx = TuningFixture()
    for day in range(30):
        if day < 16:  # the fit sees the account by its SID only
            fx.alert("r1", day, [("account", SID_KEY, SID_KEY.upper(), {"Sid": SID_KEY.upper()})], "benign_positive")
        else:  # the held-out days write it as domain\name, carrying the same SID
            fx.alert("r1", day, [("account", "contoso\\svc_sid", "CONTOSO\\svc_sid",
                                  {"Name": "svc_sid", "NTDomain": "CONTOSO", "Sid": SID_KEY.upper()})],
                     "benign_positive")
        for other in range(2):
            fx.alert("r1", day, [("host", f"pc{day}-{other}", f"PC{day}-{other}")], None)
        fx.alert("r2", day, [("ip", "10.9.9.9", "10.9.9.9")], "benign_positive", product=True)
        fx.alert("r2", day, [("ip", f"10.8.8.{day}", f"10.8.8.{day}")], None, product=True)
    fx.build(settings(tmp_path_factory.mktemp("home"), backtest_days=14), as_of_day=29)
    return fx


def test_backtest_removes_what_the_deployed_clause_removes_not_what_equals_the_key(backtested):
    [x] = backtested.rows("SELECT * FROM tuning_backtest_exclusions WHERE rule_id = 'r1'")
    assert (x["entity_key_1"], x["deployed_clause"]) == (SID_KEY, f"| where not(AccountSid =~ '{SID_KEY}')")
    # every held-out alert carries the account under another key, with the same SID
    assert (x["alerts_removed"], x["benign_alerts_removed"]) == (14, 14)


def test_product_alerts_get_no_clause_and_are_backtested_as_watchlist_rows(backtested):
    [rec] = backtested.rows("SELECT * FROM tuning_recommendations WHERE rule_id = 'r2'")
    assert (rec["entity_key"], rec["has_rule_query"], rec["kql_exclusion"]) == ("10.9.9.9", False, None)
    [x] = backtested.rows("SELECT * FROM tuning_backtest_exclusions WHERE rule_id = 'r2'")
    assert x["deployed_clause"] is None and x["alerts_removed"] == 14
