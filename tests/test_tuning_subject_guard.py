"""Subject guard: an entity that is the rule's subject (named in its query, on the never-alone list,
a tier-0 host or a configured never_exclude glob) is never recommended alone, only inside a pair."""

from __future__ import annotations

import json

import pytest

from models.tuning import subject_patterns
from tests.tuning_fixture import TuningFixture, settings

AGENT = ("file", "c:\\program files\\contoso\\backupagent.exe", "C:\\Program Files\\Contoso\\backupagent.exe")
SERVER = ("host", "srv-files01", "SRV-FILES01")
ADMIN = ("account", "contoso\\administrator", "CONTOSO\\Administrator")
LOCAL_SYSTEM = ("account", "s-1-5-18", "S-1-5-18")
DC = ("host", "srv-dc01", "SRV-DC01")
BREAKGLASS = ("account", "contoso\\breakglass-01", "CONTOSO\\breakglass-01")
QUERY = "DeviceProcessEvents | where FileName =~ 'BackupAgent.exe' and ProcessCommandLine has 'purge'"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    fx = TuningFixture()
    for day in range(20):
        fx.alert("r_query", day, [AGENT, SERVER], "benign_positive")
        fx.alert("r_plain", day, [AGENT], "benign_positive")
        for other in range(2):  # open incidents: the file alone stays under the removed-share cap
            fx.alert("r_plain", day, [("host", f"pc{day}-{other}", f"PC{day}-{other}")], None)
        fx.alert("r_builtin", day, [ADMIN, SERVER], "benign_positive")
        fx.alert("r_builtin", day, [LOCAL_SYSTEM], "false_positive")
        fx.alert("r_tier0", day, [DC, BREAKGLASS], "benign_positive")
    # a host the data shows to be a domain controller: krbtgt tickets are logged there
    fx.alert("r_kerberos", 3, [("host", "corp-ad7", "CORP-AD7"), ("account", "contoso\\krbtgt", "CONTOSO\\krbtgt")],
             None)
    for day in range(20):
        fx.alert("r_dc", day, [("host", "corp-ad7", "CORP-AD7"), ("ip", f"10.1.0.{day}", f"10.1.0.{day}")],
                 "benign_positive")
        for other in range(2):
            fx.alert("r_dc", day, [("host", f"pc{day}-{other}", f"PC{day}-{other}")], None)
    # the server alone fails the true-positive guard, so only the pair can remove r_query's alerts
    fx.alert("r_other", 2, [SERVER, ("account", "contoso\\intruder", "CONTOSO\\intruder")], "true_positive")
    fx.con.execute("UPDATE alerts SET extended_properties = ?::JSON WHERE rule_id = 'r_query'",
                   [json.dumps({"Query": QUERY})])
    home = tmp_path_factory.mktemp("home")
    fx.build(settings(home, never_exclude=(("account", "*\\breakglass*"),)), as_of_day=25)
    return fx


def singles(fx, rule_id: str) -> set[str]:
    return {r["entity_key"] for r in fx.rows(
        "SELECT entity_key FROM tuning_recommendations WHERE rule_id = ? AND exclusion_kind = 'single'", [rule_id])}


def verdict(fx, rule_id: str, key: str) -> str:
    [row] = fx.rows("SELECT verdict FROM tuning_exclusion_candidates WHERE rule_id = ? AND exclusion_kind = 'single' "
                    "AND entity_key_1 = ?", [rule_id, key])
    return row["verdict"]


def test_a_value_named_in_the_rules_query_is_not_excluded_alone(world):
    assert AGENT[1] not in singles(world, "r_query")
    assert verdict(world, "r_query", AGENT[1]) == "fails subject guard: named in the rule's query"
    # the same file under a rule whose query does not name it is judged on its evidence
    assert AGENT[1] in singles(world, "r_plain")


def test_the_subject_may_still_be_part_of_a_narrower_pair(world):
    pairs = {r["entity_key"] for r in world.rows(
        "SELECT entity_key FROM tuning_recommendations WHERE rule_id = 'r_query' AND exclusion_kind = 'pair'")}
    assert pairs == {f"{AGENT[1]} + {SERVER[1]}"}


def test_built_in_accounts_and_well_known_sids_are_never_alone(world):
    assert singles(world, "r_builtin").isdisjoint({ADMIN[1], LOCAL_SYSTEM[1]})
    assert verdict(world, "r_builtin", ADMIN[1]) == "fails subject guard: built-in account"
    assert verdict(world, "r_builtin", LOCAL_SYSTEM[1]).startswith("fails subject guard: well-known SID")


def test_tier0_hosts_and_configured_globs_are_never_alone(world):
    assert singles(world, "r_tier0") == set()
    assert verdict(world, "r_tier0", DC[1]) == "fails subject guard: tier-0 host (tier0_hosts)"
    assert verdict(world, "r_tier0", BREAKGLASS[1]) == "fails subject guard: configured never_exclude"


def test_a_host_seen_as_a_domain_controller_is_never_alone(world):
    assert "corp-ad7" not in singles(world, "r_dc")
    assert verdict(world, "r_dc", "corp-ad7") == "fails subject guard: tier-0 host: seen as a domain controller (krbtgt, ntds)"


def test_never_alone_list_names_the_lolbas_binaries_and_built_in_identities(tmp_path):
    names = {p for _, p, _ in subject_patterns(settings(tmp_path))}
    assert names >= {"powershell.exe", "pwsh.exe", "cmd.exe", "certutil.exe", "vssadmin.exe", "wmic.exe",
                     "schtasks.exe", "net.exe", "net1.exe", "reg.exe", "rundll32.exe", "regsvr32.exe", "mshta.exe",
                     "bitsadmin.exe", "msiexec.exe", "wscript.exe", "cscript.exe", "ntdsutil.exe", "system",
                     "local service", "network service", "administrator", "krbtgt", "s-1-5-18", "s-1-5-19",
                     "s-1-5-20", "dc*"}
