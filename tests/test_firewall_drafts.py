"""Rule drafts are right: every New-NetFirewallRule and netsh line of fw_findings parses, names only
documented parameters with values in their documented domains, and never uses a -Program the
firewall cannot match (a folder, %UserProfile%, a \\device\\ path). The checker lives in
tests/draft_checks.py; here it is proved to catch wrong drafts, then run on the sample warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.draft_checks import draft_problems, netsh_problems, parse_ps, program_problem, ps_problems

MACROS = Path(__file__).resolve().parents[1] / "models" / "firewall" / "00_fw_macros.sql"


@pytest.fixture(scope="module")
def macros():
    con = duckdb.connect(":memory:")
    con.execute(MACROS.read_text(encoding="utf-8"))
    yield con
    con.close()


def render(con, *args) -> tuple[str, str]:
    marks = ", ".join("?" for _ in args)
    return con.execute(f"select ps_fw_rule({marks}), netsh_fw_rule({marks})", [*args, *args]).fetchone()  # noqa: S608


@pytest.mark.fast
def test_the_draft_macros_write_what_the_checker_accepts(macros):
    ps, netsh = render(macros, "Hunthouse: block it's 'x'", "Outbound", "Block", r"%ProgramFiles%\a b\x.exe", "UDP",
                       None, 161, ["Internet", "10.0.0.0/8"], "Domain,Private")
    assert parse_ps(ps)["DisplayName"] == ["Hunthouse: block it's 'x'"]
    assert parse_ps(ps)["RemoteAddress"] == ["Internet", "10.0.0.0/8"]
    assert ps_problems(ps) == [] and netsh_problems(netsh) == []
    assert "remoteip=1.0.0.0-9.255.255.255," in netsh and ",10.0.0.0/8 " in netsh  # no Internet keyword in netsh


@pytest.mark.fast
@pytest.mark.parametrize(("line", "problem"), [
    ("New-NetFirewallRule -DisplayName 'x' -Direction Inbound -Program 'C:\\Program Files\\Vendor' -Action Allow",
     "folder"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Outbound -Program '%UserProfile%\\a.exe' -Action Block",
     "cannot expand"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Outbound -Program '\\device\\harddiskvolume3\\a.exe' -Action Block",
     "device path"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Inbound -LocalPort 161 -Action Block", "needs -Protocol"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Inbound -Protocol TCP -LocalPort 70000 -Action Block",
     "-LocalPort 70000"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Inbound -RemoteIP 'Internet' -Action Block", "unknown parameter"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Inbound -RemoteAddress 'Internet6' -Action Deny", "-Action"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction In -Action Block", "-Direction"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Inbound -Action Block -Profile Everything", "-Profile"),
    ("New-NetFirewallRule -DisplayName 'x' -Direction Inbound -RemoteAddress 'Internetz' -Action Block",
     "-RemoteAddress Internetz"),
    ("New-NetFirewallRule -Direction Inbound -Action Block", "DisplayName"),
])
def test_the_checker_rejects_a_wrong_draft(line, problem):
    assert any(problem in p for p in ps_problems(line)), ps_problems(line)


@pytest.mark.fast
def test_the_checker_rejects_a_wrong_netsh_line_and_a_missing_twin():
    assert netsh_problems('netsh advfirewall firewall add rule name="x" dir=in action=block localport=161')
    assert netsh_problems('netsh advfirewall firewall add rule name="x" dir=in action=deny')
    assert netsh_problems('netsh advfirewall firewall add rule name="x" dir=out action=block program="C:\\Tools"')
    ok = "New-NetFirewallRule -DisplayName 'x' -Direction Inbound -RemoteAddress '192.0.2.1' -Action Block -Profile Any"
    assert draft_problems(ok, None)
    assert draft_problems(ok, 'netsh advfirewall firewall add rule name="x" dir=in action=block remoteip=192.0.2.1 '
                              'profile=any') == []


@pytest.mark.fast
def test_program_paths_the_firewall_can_match():
    assert program_problem(r"%SystemRoot%\System32\svchost.exe") is None
    assert program_problem(r"c:\users\anna\appdata\local\temp\upd4te.exe") is None  # a per-user rule
    assert program_problem(r"%ProgramFiles%\fabrikam\edgeagent") is not None
    assert program_problem(r"%LocalAppData%\x.exe") is not None
    assert program_problem(r"x.exe") is not None


@pytest.mark.fast
def test_rule_program_folds_system_folders_and_refuses_what_the_firewall_cannot_match(macros):
    def rule_program(path):
        return macros.execute("select fw_rule_program(?)", [path]).fetchone()[0]

    assert rule_program(r"c:\windows\system32\svchost.exe") == r"%SystemRoot%\system32\svchost.exe"
    assert rule_program(r"\device\harddiskvolume3\program files\x\y.exe") == r"%ProgramFiles%\x\y.exe"
    assert rule_program(r"d:\tools\y.exe") == r"d:\tools\y.exe"
    assert rule_program(r"\device\harddiskvolume5\tools\y.exe") is None  # volume 5's letter is unknown
    assert rule_program(r"c:\program files\vendor") is None  # a folder
    assert rule_program(r"c:\users\anna\appdata\x.exe") == r"c:\users\anna\appdata\x.exe"


@pytest.mark.xdist_group("sample_warehouse")
def test_every_draft_of_the_sample_warehouse_matches_the_documented_parameter_set(sample_warehouse):
    from pipelines.warehouse.hub import connect_warehouse

    with connect_warehouse(sample_warehouse) as con:
        rows = con.execute(
            "select finding_type, powershell, netsh from fw_findings where powershell is not null or netsh is not null"
        ).fetchall()
    assert rows
    drafted = {t for t, ps, _ in rows if ps and "New-NetFirewallRule" in ps}
    assert {"public_inbound_exposure", "app_blocked_inbound", "remote_scanner", "outbound_blocked_app"} <= drafted
    problems = {(t, p) for t, ps, ns in rows for p in draft_problems(ps, ns)}
    assert not problems, sorted(problems)[:10]
