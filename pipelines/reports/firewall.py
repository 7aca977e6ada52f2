"""The per-tenant firewall report: what the Defender firewall report shows (blocks over time, top
devices, ports, remote addresses, programs) plus what it lacks (baseline deviations, findings with
draft rules and hunting queries). Findings are situations with a lifecycle: the report leads with
new and escalated ones (severity above the previous night's for the same finding_id) in full, then
ongoing ones collapsed to a line each, then resolved ones briefly. Beside the report go the open
findings' drafts as a netsh batch file and a PowerShell script (pipelines/reports/firewall_scripts.py).

Reads the published warehouse through a read-only connection. This module gathers the rows; the
layout is templates/firewall.html.j2, which escapes every data string (device and program names are
attacker-controlled). The file is written atomically (temp file + os.replace).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from models.firewall.thresholds import FirewallThresholds
from pipelines.config import Settings
from pipelines.reports.files import write_atomic
from pipelines.reports.firewall_scripts import KINDS, NETSH, POWERSHELL, script_name, script_text
from pipelines.reports.render import render_html, render_markdown
from quality.summary import footer_summary

SQL_DIR = Path(__file__).resolve().parent / "sql"
REPORT_DAYS = 30  # the Defender firewall report's horizon
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
STATES = ("new", "ongoing", "resolved")
SCRIPT_LABELS = {NETSH: "netsh script (for GPO startup scripts)", POWERSHELL: "PowerShell script"}
SECTIONS = {
    "inbound": "Inbound connections blocked",
    "outbound": "Outbound connections blocked",
    "app": "Inbound connections to applications blocked",
}


def _query(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, object]) -> list[dict]:
    sql = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    used = {k: v for k, v in params.items() if f"${k}" in sql}  # DuckDB rejects unused named parameters
    cur = con.execute(sql, used)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def findings_summary(con: duckdb.DuckDBPyConnection, tenant: str, as_of: date) -> dict:
    """Counts of the tenant's findings for as_of per finding_type and severity, plus a markdown table
    (Dagster asset metadata)."""
    rows = con.execute(
        "select finding_type, severity, state, count(*) from fw_findings where tenant = ? and as_of = ? group by all",
        [tenant, as_of],
    ).fetchall()
    counts: dict[str, int] = defaultdict(int)
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*SEVERITY_RANK, *STATES), 0))
    states: dict[str, int] = dict.fromkeys(STATES, 0)
    for ftype, severity, state, n in rows:
        state = state or "new"  # rows published before the lifecycle existed
        counts[ftype] += n
        by_type[ftype][severity] = by_type[ftype].get(severity, 0) + n
        by_type[ftype][state] = by_type[ftype].get(state, 0) + n
        states[state] = states.get(state, 0) + n
    rows_md = [(ftype, s["high"], s["medium"], s["low"], s["new"], s["ongoing"], s["resolved"], counts[ftype])
               for ftype, s in sorted(by_type.items())]
    return {
        "tenant": tenant,
        "as_of": as_of.isoformat(),
        "total": sum(counts.values()),
        "counts": dict(sorted(counts.items())),
        "states": states,
        "markdown": render_markdown("findings_summary.md.j2", rows=rows_md) if rows else "No firewall findings.",
    }


def _traffic_sections(con, params: dict[str, object], days: list[date]) -> list[dict]:
    daily: dict[str, dict[date, int]] = defaultdict(dict)
    for r in _query(con, "firewall_daily", params):
        daily[r["section"]][r["day"]] = r["events"]
    tops: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in _query(con, "firewall_top", params):
        tops[(r["section"], r["kind"])].append(r)
    remote = _query(con, "firewall_remote_ips", params)
    out = []
    for key, title in SECTIONS.items():
        port_kind = "remote_port" if key == "outbound" else "local_port"
        out.append({
            "title": title,
            "kpis": [("blocked events", sum(daily[key].values())), ("days with blocks", len(daily[key]))],
            "series": {title: [(d, daily[key].get(d, 0)) for d in days]},
            "devices": [(r["item"], r["events"]) for r in tops[(key, "device")]],
            # application blocks have no port or remote-address tables
            "ports_side": None if key == "app" else "remote" if key == "outbound" else "local",
            "ports": [(r["item"], r["events"], r["devices"], r["days"]) for r in tops[(key, port_kind)]],
            "remote": [(r["remote_ip"], r["remote_class"], r["max_devices_per_day"], r["events"], r["days"])
                       for r in remote if r["direction"] == key],
            "programs": [(r["item"], r["events"], r["devices"], r["days"]) for r in tops[(key, "process")]],
        })
    return out


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "n/a"


def _escalated(row: dict) -> bool:
    before = row["previous_severity"]
    return before is not None and SEVERITY_RANK.get(row["severity"], 0) > SEVERITY_RANK.get(before, 0)


def _subject(row: dict) -> str:
    """What the finding is about, in a few words: device (or device count), program, ports, remote."""
    parts = [row["device_name"] or row["device_id"] or (f"{row['devices']} devices" if row["devices"] else None),
             row["process"],
             f"local port {row['local_port']}" if row["local_port"] is not None else None,
             f"remote port {row['remote_port']}" if row["remote_port"] is not None else None,
             row["remote_ip"] or row["remote_class"]]
    return " · ".join(str(p) for p in parts if p)


def _finding_view(row: dict) -> dict:
    """A finding as the template shows it: plain values, timestamps as text, sample events as rows."""
    samples = [(s["timestamp"].astimezone(UTC).isoformat() if s["timestamp"] else "", s["device_id"],
                "" if s["report_id"] is None else str(s["report_id"]))  # an id, not a quantity
               for s in row["sample_events"] or []]
    return {**row, "first_seen": _when(row["first_seen"]), "last_seen": _when(row["last_seen"]),
            "state": row["state"] or "new", "signals": list(row["signals"] or [row["finding_type"]]),
            "escalated": _escalated(row), "subject": _subject(row), "samples": samples}


def lifecycle_groups(rows: list[dict]) -> dict[str, list[dict]]:
    """`lead`: new findings and escalated ongoing ones (shown in full); `ongoing` (one line each);
    `resolved` (listed briefly). Each keeps the query's order (most severe first)."""
    groups: dict[str, list[dict]] = {"lead": [], "ongoing": [], "resolved": []}
    for f in map(_finding_view, rows):
        if f["state"] == "resolved":
            groups["resolved"].append(f)
        elif f["state"] == "ongoing" and not f["escalated"]:
            groups["ongoing"].append(f)
        else:
            groups["lead"].append(f)
    return groups


def render_firewall_report(con: duckdb.DuckDBPyConnection, tenant: str, as_of: date, banner: str = "",
                           scripts: dict[str, tuple[str, int, int]] | None = None) -> str:
    """`scripts`: label -> (file name beside the report, drafts written, drafts withheld)."""
    start = as_of - timedelta(days=REPORT_DAYS - 1)
    params = {"tenant": tenant, "start": start, "end": as_of, "as_of": as_of}
    days = [start + timedelta(days=i) for i in range(REPORT_DAYS)]
    summary = findings_summary(con, tenant, as_of)
    groups = lifecycle_groups(_query(con, "firewall_findings", {"tenant": tenant, "as_of": as_of}))
    findings = groups["lead"] + groups["ongoing"] + groups["resolved"]
    floor = FirewallThresholds().spike_mad_floor
    deviations = _query(con, "firewall_deviations", {"tenant": tenant, "as_of": as_of, "mad_floor": floor})
    return render_html(
        "firewall.html.j2",
        title=f"Firewall report · {tenant}",
        subtitle=f"{start.isoformat()} to {as_of.isoformat()} (UTC days) · blocked connections from Defender DeviceEvents",
        banner=banner,
        footer="Hunthouse · numbers come from fw_daily, fw_remote_daily, fw_baseline and fw_findings; "
               "every finding's hunting query returns its evidence rows. " + footer_summary(con),
        summary_kpis=[("findings", summary["total"]), ("new", summary["states"]["new"]),
                      ("escalated", sum(f["escalated"] for f in groups["lead"])),
                      ("ongoing", summary["states"]["ongoing"]), ("resolved", summary["states"]["resolved"]),
                      *summary["counts"].items()],
        lead=groups["lead"],
        ongoing=groups["ongoing"],
        resolved=groups["resolved"],
        scripts=[(label, name, written, withheld) for label, (name, written, withheld) in (scripts or {}).items()],
        finding_rows=[(r["severity"], r["state"] + (" (escalated)" if r["escalated"] else ""), r["finding_type"],
                       ", ".join(r["signals"]), r["scope"], r["device_name"] or r["device_id"], r["process"],
                       r["local_port"], r["remote_port"], r["remote_ip"] or r["remote_class"], r["events"],
                       r["devices"], r["nights_open"]) for r in findings],
        mad_floor=floor,
        deviation_rows=[(r["device"], r["direction"], r["events_today"], r["median"], r["p95"], r["mad"],
                         r["days_seen"], r["window_days"], r["robust_z"]) for r in deviations],
        traffic=_traffic_sections(con, params, days),
    )


def write_firewall_reports(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date,
                           night: date | None = None, banner: str = "") -> list[Path]:
    """Write <reports_dir>/<night>/firewall/<tenant>.html for every configured tenant, from the data
    as of `as_of` (the night itself, unless the tenant's shard is stale: then its last good day),
    and beside it the open findings' drafts as <tenant>-rules.cmd (netsh) and <tenant>-rules.ps1."""
    out_dir = settings.reports_dir / (night or as_of).isoformat() / "firewall"
    written = []
    for tenant in (t.name for t in settings.tenants):  # names validated by config: safe as file names
        groups = lifecycle_groups(_query(con, "firewall_findings", {"tenant": tenant, "as_of": as_of}))
        texts = {kind: script_text(kind, as_of, groups["lead"] + groups["ongoing"]) for kind in KINDS}
        links = {SCRIPT_LABELS[kind]: (script_name(tenant, kind), n_written, n_withheld)
                 for kind, (_, n_written, n_withheld) in texts.items()}
        written.append(write_atomic(out_dir / f"{tenant}.html",
                                    render_firewall_report(con, tenant, as_of, banner, scripts=links)))
        written += [write_atomic(out_dir / script_name(tenant, kind), text) for kind, (text, _, _) in texts.items()]
    return written
