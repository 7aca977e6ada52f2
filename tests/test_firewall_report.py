"""The firewall report: hostile device and process names appear only escaped, drafts quote them
safely, the file is written per tenant from a read-only warehouse with its netsh and PowerShell
scripts beside it (the drafts and only them), findings_summary counts, and over several nights the
report leads with new and escalated findings, collapses ongoing ones and lists resolved ones."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from pipelines.reports.firewall import findings_summary, write_firewall_reports
from pipelines.reports.firewall_scripts import NETSH, POWERSHELL, script_text
from tests.fw_testlib import build_firewall, changed, raw_table, settings, stage_raw, staging_db
from tests.test_firewall_derived_fields import _read_kql_string, _read_ps_single_quoted
from tests.test_firewall_situations import START, event

AS_OF = date(2026, 11, 10)
EVIL_PROCESS = "<script>alert(1)</script>.exe"
EVIL_DEVICE = '"><img src=x onerror=alert(1)>'
EVIL_FOLDER = "C:\\Users\\mallory\\AppData\\it's\\" + EVIL_PROCESS


def rows() -> list[dict]:
    out = []
    for i in range(12):  # an outbound program blocked repeatedly to a public address today
        out.append({
            "Timestamp": datetime(2026, 11, 10, 1, i, tzinfo=UTC), "DeviceId": "dev-evil",
            "DeviceName": EVIL_DEVICE, "ActionType": "FirewallOutboundConnectionBlocked",
            "RemoteIP": "198.51.100.7", "RemotePort": 8443, "LocalPort": 50000 + i,
            "InitiatingProcessFileName": EVIL_PROCESS, "InitiatingProcessFolderPath": EVIL_FOLDER,
            "ReportId": 100 + i,
        })
    out.append({
        "Timestamp": datetime(2026, 11, 9, 5, tzinfo=UTC), "DeviceId": "dev-evil", "DeviceName": EVIL_DEVICE,
        "ActionType": "FirewallServiceStopped", "ReportId": 7,
    })
    for d in range(1, 8):  # some ordinary history on another device
        out.append({
            "Timestamp": datetime(2026, 11, 10, 3, tzinfo=UTC) - timedelta(days=d), "DeviceId": "dev-ok",
            "DeviceName": "ok-host", "ActionType": "FirewallInboundConnectionBlocked", "RemoteIP": "10.0.0.5",
            "LocalPort": 137, "RemotePort": 137, "InitiatingProcessFileName": "System", "ReportId": d,
        })
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fwreport")
    path = tmp / "warehouse.duckdb"
    con = staging_db()
    con.execute(f"ATTACH '{path}' AS wh")  # build in memory, then copy into a file: the published warehouse
    changed(con, stage_raw(con, "contoso", raw_table(rows())))
    build_firewall(con, ["contoso"], AS_OF)
    con.execute("COPY FROM DATABASE memory TO wh")
    con.close()
    ro = duckdb.connect(str(path), read_only=True)
    cfg = settings(["contoso"], tmp=tmp)
    paths = write_firewall_reports(ro, cfg, AS_OF)
    findings = ro.sql("select * from fw_findings").to_arrow_table().to_pylist()
    summary = findings_summary(ro, "contoso", AS_OF)
    ro.close()
    return cfg, paths, paths[0].read_text(encoding="utf-8"), findings, summary


def test_report_is_written_per_tenant_under_as_of(report):
    cfg, paths, html, _, _ = report
    folder = cfg.reports_dir / "2026-11-10" / "firewall"
    assert paths == [folder / "contoso.html", folder / "contoso-rules.cmd", folder / "contoso-rules.ps1"]
    assert not [p for p in paths[0].parent.iterdir() if p.name.endswith(".tmp")]
    assert html.startswith("<!doctype html>") and "<svg" in html


def test_hostile_names_appear_only_escaped(report):
    _, _, html, findings, _ = report
    assert {f["finding_type"] for f in findings} >= {"outbound_blocked_app", "firewall_service_stopped"}
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.exe" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert not re.search(r"https?://", html.replace("http://www.w3.org/2000/svg", ""))  # no CDN


def test_powershell_draft_quotes_the_hostile_program(report):
    _, _, _, findings, _ = report
    [f] = [f for f in findings if f["finding_type"] == "outbound_blocked_app"]
    ps = f["powershell"]
    program, rest = _read_ps_single_quoted(ps[ps.index("-Program ") + len("-Program "):])
    # the user's own path: the firewall service cannot expand %UserProfile%
    assert program == "c:\\users\\mallory\\appdata\\it's\\" + EVIL_PROCESS.lower()
    assert rest.startswith(" -RemoteAddress 'Internet' -Action Block")
    name, rest = _read_ps_single_quoted(ps[ps.index("-DisplayName ") + len("-DisplayName "):])
    assert EVIL_PROCESS.lower() in name and rest.startswith(" -Direction Outbound")


def test_kql_draft_quotes_the_hostile_values(report):
    _, _, _, findings, _ = report
    [f] = [f for f in findings if f["finding_type"] == "outbound_blocked_app"]
    kql = f["hunting_kql"]
    value, rest = _read_kql_string(kql[kql.index("InitiatingProcessFileName =~ ") + 29:])
    assert value == EVIL_PROCESS.lower() and rest.startswith("\n")
    assert kql.splitlines()[-1].startswith("| project Timestamp, DeviceId, DeviceName, ReportId")


def test_findings_summary_counts_per_type(report):
    _, _, _, findings, summary = report
    assert summary["total"] == len(findings)
    assert summary["counts"]["firewall_service_stopped"] == 1
    assert "| firewall_service_stopped | 1 | 0 | 0 | 1 | 0 | 0 | 1 |" in summary["markdown"]
    assert summary["states"] == {"new": 2, "ongoing": 0, "resolved": 0}


def _script_lines(path, comment: str, prologue: tuple[str, ...]) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    return [line for line in text.splitlines() if line and not line.startswith(comment) and line not in prologue]


def test_script_files_hold_the_drafts_and_only_them(report):
    _, paths, html, findings, _ = report
    by_name = {p.name: p for p in paths}
    assert by_name["contoso-rules.cmd"].read_bytes().count(b"\r\n") >= 5  # cmd wants CRLF
    for kind, name in ((NETSH, "contoso-rules.cmd"), (POWERSHELL, "contoso-rules.ps1")):
        drafts = [line for f in findings for line in (f[kind.column] or "").split("\n") if f[kind.column]]
        assert drafts and sorted(_script_lines(by_name[name], kind.comment, kind.prologue)) == sorted(drafts)
        assert "drafts to review, not to run blindly" in by_name[name].read_text(encoding="utf-8-sig").lower()
        assert f'href="{name}"' in html  # linked from the report


def test_a_draft_with_a_smuggled_line_is_withheld_whole():
    f = {"finding_id": "0" * 32, "finding_type": "outbound_blocked_app", "severity": "high", "state": "new",
         "netsh": 'netsh advfirewall firewall add rule name="x"\ndel /q C:\\*', "powershell": None}
    text, written, withheld = script_text(NETSH, AS_OF, [f])
    assert (written, withheld) == (0, 1) and "del /q" not in text
    resolved = {**f, "state": "resolved", "netsh": 'netsh advfirewall firewall add rule name="y"'}
    assert script_text(NETSH, AS_OF, [resolved])[1:] == (0, 0)  # a resolved situation needs no rule
    assert script_text(NETSH, AS_OF, [{**resolved, "state": "ongoing"}])[1:] == (1, 0)


def test_new_fields_of_a_finding_appear_escaped(report):
    _, _, html, findings, _ = report
    [f] = [f for f in findings if f["finding_type"] == "outbound_blocked_app"]
    assert f["netsh"] and f["sample_events"]
    assert "Rule draft, netsh" in html and "<script" not in html.lower()
    # the netsh draft names the hostile program: shown as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.exe" in html.split("Rule draft, netsh")[1]
    for sample in f["sample_events"]:
        assert f"<td>{sample['report_id']}</td>" in html and sample["device_id"] in html


# Several nights: gone.exe stops before the report night (resolved), steady.exe and rising.exe keep
# going (ongoing; rising.exe was one severity lower the night before: escalated), fresh.exe starts
# on the report night (new).
NIGHT0 = date(2026, 11, 20)
REPORT_NIGHT = NIGHT0 + timedelta(days=4)
PROGRAMS = {  # program: (device, first day, last day, remote address)
    "gone.exe": ("ws-0", NIGHT0 - timedelta(days=2), NIGHT0 + timedelta(days=1), "203.0.113.61"),
    "steady.exe": ("ws-1", NIGHT0 + timedelta(days=2), REPORT_NIGHT, "203.0.113.62"),
    "rising.exe": ("ws-2", NIGHT0 + timedelta(days=2), REPORT_NIGHT, "203.0.113.63"),
    "fresh.exe": ("ws-3", REPORT_NIGHT, REPORT_NIGHT, "203.0.113.64"),
}


def lifecycle_rows() -> list[dict]:
    rows, day = [], START
    while day <= REPORT_NIGHT:
        for dev in ("ws-0", "ws-1", "ws-2", "ws-3", "ws-4"):
            rows += [event(dev, day, h) for h in range(3)]
        for program, (dev, first, last, ip) in PROGRAMS.items():
            if first <= day <= last:
                rows += [event(dev, day, h, ActionType="FirewallOutboundConnectionBlocked", RemoteIP=ip,
                               RemotePort=8443, LocalPort=50000 + h, InitiatingProcessFileName=program,
                               InitiatingProcessFolderPath=r"C:\ProgramData\App") for h in range(12)]
        day += timedelta(days=1)
    return rows


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fwlife")
    path = tmp / "warehouse.duckdb"
    con = staging_db()
    con.execute(f"ATTACH '{path}' AS wh")
    changed(con, stage_raw(con, "contoso", raw_table(lifecycle_rows())))
    for k in range(5):
        build_firewall(con, ["contoso"], NIGHT0 + timedelta(days=k))
        changed(con, [])
    # rising.exe was published one severity lower the night before (as when a low new_pattern gains
    # a medium signal): the report must call it escalated
    con.execute("UPDATE fw_findings SET severity = 'low' WHERE as_of = ? AND process_name = 'rising.exe'",
                [REPORT_NIGHT - timedelta(days=1)])
    con.execute("COPY FROM DATABASE memory TO wh")
    con.close()
    ro = duckdb.connect(str(path), read_only=True)
    cfg = settings(["contoso"], tmp=tmp)
    paths = write_firewall_reports(ro, cfg, REPORT_NIGHT)
    cur = ro.execute("select * from fw_findings where as_of = ?", [REPORT_NIGHT])
    names = [d[0] for d in cur.description]
    findings = {r["process_name"]: r for r in (dict(zip(names, v, strict=True)) for v in cur.fetchall())}
    ro.close()
    return {p.name: p.read_text(encoding="utf-8-sig") for p in paths}, findings


def _section(html: str, title: str) -> str:
    start = html.index(f"<h2>{title}")
    return html[start:html.index("</section>", start)]


def test_states_of_the_planted_situations(lifecycle):
    _, findings = lifecycle
    assert {p: findings[p]["state"] for p in PROGRAMS} == {
        "gone.exe": "resolved", "steady.exe": "ongoing", "rising.exe": "ongoing", "fresh.exe": "new"}


def test_report_leads_with_new_and_escalated_findings_in_full(lifecycle):
    pages, findings = lifecycle
    html = pages["contoso.html"]
    lead = _section(html, "New and escalated findings")
    assert html.index("New and escalated findings") < html.index("Ongoing findings") < html.index("Resolved findings")
    assert "fresh.exe" in lead and "rising.exe" in lead and "steady.exe" not in lead and "gone.exe" not in lead
    assert "escalated</b> from low" in lead
    fresh = findings["fresh.exe"]
    assert ", ".join(fresh["signals"]) in lead and "Rule draft, PowerShell" in lead and "Rule draft, netsh" in lead
    for sample in fresh["sample_events"]:
        assert f"<td>{sample['report_id']}</td>" in lead


def test_ongoing_findings_collapse_to_one_line_and_resolved_are_listed(lifecycle):
    pages, findings = lifecycle
    html = pages["contoso.html"]
    ongoing = _section(html, "Ongoing findings")
    assert ongoing.count("<details>") == 1 and "<details open" not in ongoing
    summary = ongoing[ongoing.index("<summary>"):ongoing.index("</summary>")]
    assert "steady.exe" in summary and "\n" not in summary
    assert f"{findings['steady.exe']['nights_open']} night(s) open" in summary
    resolved = _section(html, "Resolved findings")
    assert resolved.count("<li>") == 1 and "gone.exe" in resolved and "Rule draft" not in resolved


def test_scripts_carry_the_open_findings_rules_not_the_resolved_ones(lifecycle):
    pages, findings = lifecycle
    script = pages["contoso-rules.ps1"]
    for program in ("fresh.exe", "steady.exe", "rising.exe"):
        assert findings[program]["powershell"] in script
    assert "gone.exe" not in script
