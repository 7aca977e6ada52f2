"""The per-tenant firewall report: what the Defender firewall report shows (blocks over time, top
devices, ports, remote addresses, programs) plus what it lacks (baseline deviations, findings with
draft rules and hunting queries).

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
from pipelines.reports.render import render_html, render_markdown
from quality.summary import footer_summary

SQL_DIR = Path(__file__).resolve().parent / "sql"
REPORT_DAYS = 30  # the Defender firewall report's horizon
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
        "select finding_type, severity, count(*) from fw_findings where tenant = ? and as_of = ? group by all",
        [tenant, as_of],
    ).fetchall()
    counts: dict[str, int] = defaultdict(int)
    by_type: dict[str, dict[str, int]] = defaultdict(lambda: {"high": 0, "medium": 0, "low": 0})
    for ftype, severity, n in rows:
        counts[ftype] += n
        by_type[ftype][severity] = by_type[ftype].get(severity, 0) + n
    rows_md = [(ftype, s["high"], s["medium"], s["low"], counts[ftype])
               for ftype, s in sorted(by_type.items())]
    return {
        "tenant": tenant,
        "as_of": as_of.isoformat(),
        "total": sum(counts.values()),
        "counts": dict(sorted(counts.items())),
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


def render_firewall_report(con: duckdb.DuckDBPyConnection, tenant: str, as_of: date, banner: str = "") -> str:
    start = as_of - timedelta(days=REPORT_DAYS - 1)
    params = {"tenant": tenant, "start": start, "end": as_of, "as_of": as_of}
    days = [start + timedelta(days=i) for i in range(REPORT_DAYS)]
    summary = findings_summary(con, tenant, as_of)
    findings = [{**r, "first_seen": _when(r["first_seen"]), "last_seen": _when(r["last_seen"])}
                for r in _query(con, "firewall_findings", {"tenant": tenant, "as_of": as_of})]
    floor = FirewallThresholds().spike_mad_floor
    deviations = _query(con, "firewall_deviations", {"tenant": tenant, "as_of": as_of, "mad_floor": floor})
    return render_html(
        "firewall.html.j2",
        title=f"Firewall report · {tenant}",
        subtitle=f"{start.isoformat()} to {as_of.isoformat()} (UTC days) · blocked connections from Defender DeviceEvents",
        banner=banner,
        footer="Hunthouse · numbers come from fw_daily, fw_remote_daily, fw_baseline and fw_findings; "
               "every finding's hunting query returns its evidence rows. " + footer_summary(con),
        summary_kpis=[("findings", summary["total"]), *summary["counts"].items()],
        findings=findings,
        finding_rows=[(r["severity"], r["finding_type"], r["scope"], r["device_name"] or r["device_id"], r["process"],
                       r["local_port"], r["remote_port"], r["remote_ip"] or r["remote_class"], r["events"],
                       r["devices"], r["remote_ips"]) for r in findings],
        mad_floor=floor,
        deviation_rows=[(r["device"], r["direction"], r["events_today"], r["median"], r["p95"], r["mad"],
                         r["days_seen"], r["window_days"], r["robust_z"]) for r in deviations],
        traffic=_traffic_sections(con, params, days),
    )


def write_firewall_reports(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date,
                           night: date | None = None, banner: str = "") -> list[Path]:
    """Write <reports_dir>/<night>/firewall/<tenant>.html for every configured tenant, from the data
    as of `as_of` (the night itself, unless the tenant's shard is stale: then its last good day)."""
    out_dir = settings.reports_dir / (night or as_of).isoformat() / "firewall"
    written = []
    for tenant in (t.name for t in settings.tenants):  # names validated by config: safe as file names
        path = out_dir / f"{tenant}.html"
        write_atomic(path, render_firewall_report(con, tenant, as_of, banner))
        written.append(path)
    return written
