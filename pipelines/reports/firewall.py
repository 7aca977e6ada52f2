"""The per-tenant firewall report: what the Defender firewall report shows (blocks over time, top
devices, ports, remote addresses, programs) plus what it lacks (baseline deviations, findings with
draft rules and hunting queries).

Reads the published warehouse through a read-only connection. Every data string is escaped by the
helpers in pipelines.reports.html; the file is written atomically (temp file + os.replace).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from models.firewall.thresholds import FirewallThresholds
from pipelines.config import Settings
from pipelines.reports.files import write_atomic
from pipelines.reports.html import bar_chart, code_block, daily_chart, esc, kpis, page, para, section, table
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
    lines = ["| finding_type | high | medium | low | total |", "|---|---:|---:|---:|---:|"]
    for ftype in sorted(by_type):
        s = by_type[ftype]
        lines.append(f"| {ftype} | {s['high']} | {s['medium']} | {s['low']} | {counts[ftype]} |")
    return {
        "tenant": tenant,
        "as_of": as_of.isoformat(),
        "total": sum(counts.values()),
        "counts": dict(sorted(counts.items())),
        "markdown": "\n".join(lines) if rows else "No firewall findings.",
    }


def _traffic_sections(con, params: dict[str, object], days: list[date]) -> list[str]:
    daily: dict[str, dict[date, int]] = defaultdict(dict)
    for r in _query(con, "firewall_daily", params):
        daily[r["section"]][r["day"]] = r["events"]
    tops: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in _query(con, "firewall_top", params):
        tops[(r["section"], r["kind"])].append(r)
    remote = _query(con, "firewall_remote_ips", params)
    out = []
    for key, title in SECTIONS.items():
        series = {title: [(d, daily[key].get(d, 0)) for d in days]}
        parts = [
            kpis([("blocked events", sum(daily[key].values())), ("days with blocks", len(daily[key]))]),
            "<h3>Blocked over time</h3>",
            daily_chart(series),
            "<h3>Top devices</h3>",
            bar_chart([(r["item"], r["events"]) for r in tops[(key, "device")]]),
        ]
        port_kind = "remote_port" if key == "outbound" else "local_port"
        if key != "app":
            parts += [
                f"<h3>Top {'remote' if key == 'outbound' else 'local'} ports</h3>",
                table(["port", "events", "devices", "days"],
                      [(r["item"], r["events"], r["devices"], r["days"]) for r in tops[(key, port_kind)]]),
                "<h3>Remote addresses blocked on several devices</h3>",
                table(["remote address", "class", "max devices / day", "events", "days"],
                      [(r["remote_ip"], r["remote_class"], r["max_devices_per_day"], r["events"], r["days"])
                       for r in remote if r["direction"] == key]),
            ]
        parts += [
            "<h3>Top programs</h3>",
            table(["program", "events", "devices", "days"],
                  [(r["item"], r["events"], r["devices"], r["days"]) for r in tops[(key, "process")]]),
        ]
        out.append(section(title, *parts))
    return out


def _deviation_section(con, params: dict[str, object]) -> str:
    floor = FirewallThresholds().spike_mad_floor
    rows = _query(con, "firewall_deviations", {**params, "mad_floor": floor})
    return section(
        "Baseline deviations (as_of day vs the device's baseline)",
        para(f"Robust z = (today − median) / (1.4826 · max(MAD, {floor:g}, 0.1 · median)), as the volume-spike "
             "finding computes it; the baseline window ends the day before the report date.", "muted"),
        table(["device", "direction", "today", "median", "p95", "MAD", "days seen", "window days", "robust z"],
              [(r["device"], r["direction"], r["events_today"], r["median"], r["p95"], r["mad"], r["days_seen"],
                r["window_days"], r["robust_z"]) for r in rows]),
    )


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "n/a"


def _findings_section(con, params: dict[str, object]) -> str:
    rows = _query(con, "firewall_findings", params)
    overview = table(
        ["severity", "finding", "scope", "device", "program", "local port", "remote port", "remote", "events",
         "devices", "remote IPs"],
        [(r["severity"], r["finding_type"], r["scope"], r["device_name"] or r["device_id"], r["process"],
          r["local_port"], r["remote_port"], r["remote_ip"] or r["remote_class"], r["events"], r["devices"],
          r["remote_ips"]) for r in rows],
    )
    details = []
    for r in rows:
        details.append(
            f'<h3><span class="sev-{esc(r["severity"])}">{esc(r["severity"])}</span> · {esc(r["finding_type"])}'
            f' · <code>{esc(r["finding_id"][:12])}</code></h3>'
            + para(r["explanation"])
            + para("Suggested action: " + (r["suggested_action"] or ""))
            + para(f"First seen {_when(r['first_seen'])}, last seen {_when(r['last_seen'])}.", "muted")
            + ("<p>Rule draft (review before use):</p>" + code_block(r["powershell"]) if r["powershell"] else "")
            + "<p>Hunting query (Advanced Hunting):</p>"
            + code_block(r["hunting_kql"])
        )
    return section(f"Findings ({len(rows)})", overview, *details)


def render_firewall_report(con: duckdb.DuckDBPyConnection, tenant: str, as_of: date, banner: str = "") -> str:
    start = as_of - timedelta(days=REPORT_DAYS - 1)
    params = {"tenant": tenant, "start": start, "end": as_of, "as_of": as_of}
    days = [start + timedelta(days=i) for i in range(REPORT_DAYS)]
    summary = findings_summary(con, tenant, as_of)
    head = section(
        "Summary",
        kpis([("findings", summary["total"])] + list(summary["counts"].items())),
    )
    return page(
        f"Firewall report · {tenant}",
        f"{start.isoformat()} to {as_of.isoformat()} (UTC days) · blocked connections from Defender DeviceEvents",
        [head, _findings_section(con, {"tenant": tenant, "as_of": as_of}),
         _deviation_section(con, {"tenant": tenant, "as_of": as_of}), *_traffic_sections(con, params, days)],
        footer=esc("Hunthouse · numbers come from fw_daily, fw_remote_daily, fw_baseline and fw_findings; "
                   "every finding's hunting query returns its evidence rows. " + footer_summary(con)),
        banner=banner,
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
