"""Rule-owner reports: per owner, an offline HTML page, CSV + JSON of the recommendations and a
Sentinel watchlist CSV of the exclusions, all under `<reports_dir>/<as_of>/owners/<tenant>/`.

Reads the published warehouse through a read-only connection; table names are fixed here and
every value reaches SQL as a bound parameter. Owners come from `settings.owner_of` at report time,
so a change of ownership in hunthouse.toml shows without a rebuild; rules no rule matches fall to
the default owner, whose report is always written.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb

from pipelines.config import Settings
from pipelines.reports import deployable
from pipelines.reports.files import write_atomic
from pipelines.reports.owner_definitions import load_definitions
from pipelines.reports.owner_files import csv_text, safe_file_stem
from pipelines.reports.owner_page import render_owner_page
from pipelines.reports.render import render_markdown
from pipelines.warehouse.load_log import has_table
from quality.summary import footer_summary

RECOMMENDATION_COLUMNS = (
    "tenant", "rule_id", "rule_name", "owner", "exclusion_kind", "entity_type", "entity_value", "entity_key",
    "decisions", "benign_decisions", "undetermined_incidents", "automation_decisions", "max_true_positives_per_30d",
    "alerts", "labelled_alerts", "benign_alerts", "true_positive_alerts", "alerts_removed_share",
    "kql_exclusion", "expires_on", "rationale", "watchlist_row",
)
WATCHLIST_COLUMNS = (*deployable.WATCHLIST_COLUMNS, "Reason")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]




def _jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}


def _load(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict]]:
    data = {
        "rules": _rows(con, "SELECT * FROM rule_noise ORDER BY tenant, noise_rank"),
        "recommendations": _rows(
            con,
            "SELECT * FROM tuning_recommendations ORDER BY tenant, rule_id, exclusion_kind DESC, "
            "benign_alerts DESC, entity_key",
        ),
        "entities": _rows(con, "SELECT * FROM rule_top_entities ORDER BY tenant, rule_id, entity_rank"),
        "backtest": _rows(con, "SELECT * FROM tuning_backtest ORDER BY tenant, rule_id"),
        "backtest_exclusions": _rows(con, "SELECT * FROM tuning_backtest_exclusions"),
        "daily": _rows(
            con,
            "SELECT tenant, rule_id, day, count(*) AS alerts, count(*) FILTER (WHERE is_benign) AS benign, "
            "count(*) FILTER (WHERE is_true_positive) AS true_positive FROM alert_labels "
            "WHERE rule_id IS NOT NULL GROUP BY ALL ORDER BY day",
        ),
    }
    # warehouses published before the removed-share cap have no finding column
    has_findings = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'tuning_exclusion_candidates' "
        "AND column_name = 'rule_logic_finding'"
    ).fetchall()[0][0]
    data["findings"] = _rows(
        con,
        "SELECT c.tenant, c.rule_id, r.rule_name, c.entity_type_1 AS entity_type, c.entity_key_1 AS entity_key, "
        "c.entity_value_1 AS entity_value, c.alerts, c.rule_alerts, c.alerts_removed_share, c.decisions, "
        "c.benign_decisions, c.labelled_alerts, c.benign_alerts, c.true_positive_incidents, c.subject_reason, "
        "c.rule_logic_finding AS finding FROM tuning_exclusion_candidates AS c JOIN rule_noise AS r "
        "USING (tenant, rule_id) WHERE c.is_rule_logic_finding "
        "ORDER BY c.tenant, c.rule_id, c.alerts_removed_share DESC, c.entity_key_1",
    ) if has_findings else []
    data["health"] = _rows(con, "SELECT * FROM exclusion_health") if has_table(con, "exclusion_health") else []
    return data


def _index(rows: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        out[tuple(row[k] for k in keys)].append(row)
    return out


def _exclusion_id(row: dict) -> tuple:
    return (row["tenant"], row["rule_id"], row["exclusion_kind"], row["entity_type_1"], row["entity_key_1"],
            row["entity_type_2"], row["entity_key_2"], row.get("entity_type_3"), row.get("entity_key_3"))


def write_owner_reports(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: date,
                        night: date | None = None, banner: str = "") -> list[Path]:
    """Write every owner's HTML, CSV, JSON and watchlist CSV of the data as of `as_of` under the
    folder of `night` (default: as_of); return the paths written."""
    if not has_table(con, "rule_noise"):
        return []
    data = _load(con)
    by_owner: dict[str, list[dict]] = defaultdict(list)
    by_owner[settings.default_owner] = []
    for rule in data["rules"]:
        by_owner[settings.owner_of(rule["rule_id"], rule["rule_name"])].append(rule)
    recs = _index(data["recommendations"], "tenant", "rule_id")
    entities = _index(data["entities"], "tenant", "rule_id")
    # per rule: every origin's row, the total (origin 0) first; per exclusion: the latest origin's
    # effect (warehouses built before rolling origins have one window, without the column)
    backtest: dict[tuple, list[dict]] = defaultdict(list)
    for r in sorted(data["backtest"], key=lambda r: r.get("backtest_origin", 0)):
        backtest[(r["tenant"], r["rule_id"])].append(r)
    effects = {_exclusion_id(r): r for r in data["backtest_exclusions"] if r.get("backtest_origin", 1) == 1}
    daily = _index(data["daily"], "tenant", "rule_id")
    findings = _index(data["findings"], "tenant", "rule_id")
    out_dir = settings.reports_dir / (night or as_of).isoformat() / "owners" / settings.shard_name
    written: list[Path] = []
    quality_note = footer_summary(con)
    definitions = load_definitions(con)
    for owner in sorted(by_owner):
        rules = by_owner[owner]
        owner_recs = [rec for r in rules for rec in recs.get((r["tenant"], r["rule_id"]), [])]
        for rec in owner_recs:
            rec["owner"] = owner
            rec["backtest"] = effects.get(_exclusion_id(rec))
        stem = safe_file_stem(owner)
        deploy_files = {"combined KQL clause per rule": f"clauses-{stem}.kql",
                        "Sentinel automation rules (ARM template)": f"automation-rules-{stem}.json",
                        "Sentinel watchlist (hunthouse_exclusions)": f"watchlist-{stem}.csv",
                        "Defender XDR alert tuning conditions": f"defender-tuning-{stem}.json"}
        html = render_owner_page(
            owner, as_of, rules, recs, entities, backtest, daily, settings.backtest_days, findings, banner=banner,
            deploy=(deploy_files, deployable.rule_clauses(owner_recs)), quality_note=quality_note,
            definitions=definitions,
            health=_index(data["health"], "tenant", "rule_id"),
        )
        written.append(write_atomic(out_dir / f"{stem}.html", html))
        written.append(write_atomic(
            out_dir / f"{stem}.csv",
            csv_text(RECOMMENDATION_COLUMNS, ([rec[c] for c in RECOMMENDATION_COLUMNS] for rec in owner_recs)),
        ))
        payload = [_jsonable({c: rec[c] for c in RECOMMENDATION_COLUMNS}) for rec in owner_recs]
        written.append(write_atomic(out_dir / f"{stem}.json", json.dumps(payload, indent=2, ensure_ascii=False)))
        reasons = [json.loads(rec["watchlist_row"])["reason"] for rec in owner_recs]
        watchlist = [[*row, reason] for row, reason in zip(deployable.watchlist_rows(owner_recs), reasons, strict=True)]
        written.append(write_atomic(out_dir / f"watchlist-{stem}.csv", csv_text(WATCHLIST_COLUMNS, watchlist)))
        for name, text in deployable.deployable_files(owner_recs, stem).items():
            written.append(write_atomic(out_dir / name, text))
    return written


def noise_summary(con: duckdb.DuckDBPyConnection, tenant: str, top: int = 10) -> dict:
    """Dagster metadata for the tuning assets: totals and a markdown table of the noisiest rules."""
    rules = _rows(
        con,
        "SELECT noise_rank, rule_name, rule_id, owner, alerts, benign_rate, benign_rate_low, benign_rate_high, "
        "analyst_hours_benign FROM rule_noise WHERE tenant = ? ORDER BY noise_rank LIMIT ?",
        [tenant, top],
    )
    totals = con.execute(
        "SELECT count(*), coalesce(sum(analyst_hours_benign), 0) FROM rule_noise WHERE tenant = ?", [tenant]
    ).fetchall()[0]
    recommended = con.execute("SELECT count(*) FROM tuning_recommendations WHERE tenant = ?", [tenant]).fetchall()[0][0]
    return {
        "rules": int(totals[0]),
        "analyst_hours_benign": float(totals[1]),
        "recommendations": int(recommended),
        "top_rules_markdown": render_markdown("noise_summary.md.j2", rules=rules),
    }
