"""The HTML page of one rule owner: per rule, volume over time, label mix, recommendations with
their evidence and backtest effect, and top entities. This module shapes the rows and sentences;
the layout is templates/owner.html.j2, which escapes every value (rule names and entity values are
attacker-controlled).
"""

from __future__ import annotations

from datetime import date

from pipelines.reports.render import render_html


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _effect(rec: dict, backtest_days: int) -> str:
    bt = rec.get("backtest")
    if bt is None:
        return f"not chosen when fitted without the last {backtest_days} days"
    return (
        f"fitted without the last {backtest_days} days, it removed {bt['alerts_removed']} alerts there "
        f"({bt['benign_alerts_removed']} benign, {bt['true_positive_alerts_removed']} true positive, "
        f"{bt['unlabelled_alerts_removed']} unlabelled)"
    )


def _backtest_sentence(backtest: list[dict]) -> str:
    if not backtest:
        return ""
    total = backtest[0]
    return (
        f"Backtest {total['test_start_day']}–{total['test_end_day']}: of {total['alerts']} alerts "
        f"({total.get('true_positive_alerts', '?')} true positive), the exclusions fitted before each held-out "
        f"window removed {total['alerts_removed']} "
        f"({total['benign_alerts_removed']} benign, {total['true_positive_alerts_removed']} true positive, "
        f"{total['unlabelled_alerts_removed']} unlabelled), saving about "
        f"{total['analyst_hours_saved']:.1f} analyst hours."
    )


def _rule(rule: dict, recs: list[dict], entities: list[dict], backtest: list[dict],
          daily: list[dict], backtest_days: int, findings: list[dict]) -> dict:
    """What the template shows of one rule: plain values, rows in the order of the table's columns."""
    return {
        "title": rule["rule_name"] or rule["rule_id"],
        "tenant": rule["tenant"],
        "rule_id": rule["rule_id"],
        "kpis": [
            ("noise rank in tenant", rule["noise_rank"]),
            ("alerts", f"{rule['alerts']:,}"),
            ("incidents", f"{rule['incidents']:,}"),
            ("benign rate (90% interval)",
             f"{_pct(rule['benign_rate'])} ({_pct(rule['benign_rate_low'])}–{_pct(rule['benign_rate_high'])})"),
            ("analyst hours on benign incidents", f"{rule['analyst_hours_benign']:.1f}"),
            ("alerts last 7 days vs 7 before", f"{rule['alerts_last_7d']} vs {rule['alerts_prev_7d']}"),
        ],
        "series": {
            "alerts": [(d["day"], d["alerts"]) for d in daily],
            "benign": [(d["day"], d["benign"]) for d in daily],
            "true positive": [(d["day"], d["true_positive"]) for d in daily],
        } if daily else {},
        "label_mix": [[rule["true_positive_alerts"], rule["benign_positive_alerts"], rule["false_positive_alerts"],
                       rule["unlabelled_alerts"], _pct(rule["labelled_share"]), rule["median_minutes_to_triage"],
                       rule["median_hours_to_close"]]],
        "findings": [[f["entity_type"], f["entity_value"], _pct(f["alerts_removed_share"]),
                      f"{f['alerts']} of {f['rule_alerts']}", f"{f['benign_decisions']} of {f['decisions']} decisions",
                      f["true_positive_incidents"], f["subject_reason"] or "", f["finding"]] for f in findings],
        "recommendations": [
            [r["exclusion_kind"], r["entity_type"], r["entity_value"], r["decisions"], r["benign_decisions"],
             f"{r['benign_alerts']} of {r['labelled_alerts']}", f"{r['max_true_positives_per_30d']:.1f}",
             r["rationale"], _pct(r["alerts_removed_share"]), _effect(r, backtest_days), r["expires_on"],
             r["kql_exclusion"]]
            for r in recs],
        "backtest": _backtest_sentence(backtest),
        # per rolling origin, when there are several (the first row is their total)
        "origins": [[b["backtest_origin"], f"{b['test_start_day']}–{b['test_end_day']}", b["exclusions_applied"],
                     b["alerts"], b["true_positive_alerts"], b["alerts_removed"], b["benign_alerts_removed"],
                     b["true_positive_alerts_removed"], f"{b['analyst_hours_saved']:.1f}"] for b in backtest[1:]],
        "entities": [[e["entity_rank"], e["entity_type"], e["entity_value"], e["alerts"], _pct(e["alert_share"]),
                      e["true_positive_alerts"], e["benign_positive_alerts"], e["false_positive_alerts"],
                      e["unlabelled_alerts"]] for e in entities],
    }


def render_owner_page(owner: str, as_of: date, rules: list[dict], recs: dict, entities: dict,
                      backtest: dict, daily: dict, backtest_days: int, findings: dict | None = None,
                      banner: str = "", deploy: tuple[dict, dict] | None = None, quality_note: str = "",
                      definitions: tuple[dict, list] | None = None, health: dict | None = None) -> str:
    """`deploy`: (label -> file name beside the page, (rule_id, rule_name) -> combined clause);
    `quality_note`: the data-quality line of the warehouse the page was written from (footer);
    `definitions`: owner_definitions.load_definitions' ((tenant, rule_id) -> definition, absences);
    `health`: (tenant, rule_id) -> exclusion_health rows of the owner's accepted exclusions."""
    findings = findings or {}
    definitions = definitions or ({}, [])
    n_recs = sum(len(recs.get((r["tenant"], r["rule_id"]), [])) for r in rules)
    owner_findings = [f for r in rules for f in findings.get((r["tenant"], r["rule_id"]), [])]
    hours = sum(r["analyst_hours_benign"] or 0 for r in rules)
    # exclusion_health: an accepted exclusion that now hides a true positive comes before anything
    attention = sorted((x for r in rules for x in (health or {}).get((r["tenant"], r["rule_id"]), [])
                        if x["severity"] != "ok"), key=lambda x: (x["severity"] != "high", x["rule_id"]))
    deploy_view = None
    if deploy is not None and n_recs:
        files, clauses = deploy
        deploy_view = {"files": list(files.items()),
                       "clauses": [(name or rule_id, clause) for (rule_id, name), clause in clauses.items()]}
    return render_html(
        "owner.html.j2",
        title=f"Rule tuning: {owner}",
        subtitle=f"As of {as_of.isoformat()} · {len(rules)} rules",
        banner=banner,
        footer=f"Generated by Hunthouse from the published warehouse. {quality_note}".strip(),
        summary_kpis=[("rules", len(rules)), ("recommended exclusions", n_recs),
                      ("fix-the-rule-logic findings", len(owner_findings)),
                      ("analyst hours on benign incidents", f"{hours:.1f}")],
        finding_rows=[[f["rule_name"] or f["rule_id"], f["entity_type"], f["entity_value"],
                       _pct(f["alerts_removed_share"]), f"{f['benign_decisions']} of {f['decisions']}",
                       f["true_positive_incidents"], f["finding"]] for f in owner_findings],
        attention_rows=[[x["severity"], x["rule_name"] or x["rule_id"], f"{x['entity_type']} {x['entity_value']}",
                         x["recommendation_id"], x["finding"], f"{x['alerts_removed_7d']} / {x['alerts_removed_30d']}",
                         x["expires_on"]] for x in attention],
        deploy=deploy_view,
        definition_absences=definitions[1],
        rules=[{**_rule(r, recs.get(key, []), entities.get(key, []), backtest.get(key, []), daily.get(key, []),
                     backtest_days, findings.get(key, [])), "definition": definitions[0].get(key)}
               for r in rules for key in [(r["tenant"], r["rule_id"])]],
    )
