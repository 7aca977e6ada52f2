"""The HTML page of one rule owner: per rule, volume over time, label mix, recommendations with
their evidence and backtest effect, and top entities. Built only from pipelines/reports/html.py
helpers, which escape every value (rule names and entity values are attacker-controlled).
"""

from __future__ import annotations

from datetime import date

from pipelines.reports import html as h


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


def _findings_table(findings: list[dict]) -> str:
    return h.table(
        ["entity type", "entity", "share of the rule's alerts", "alerts", "benign decisions",
         "true-positive incidents holding it", "subject of the rule", "finding"],
        [[f["entity_type"], f["entity_value"], _pct(f["alerts_removed_share"]), f"{f['alerts']} of {f['rule_alerts']}",
          f"{f['benign_decisions']} of {f['decisions']} decisions", f["true_positive_incidents"],
          f["subject_reason"] or "",
          f["finding"]] for f in findings],
    )


def _rule_section(rule: dict, recs: list[dict], entities: list[dict], backtest: list[dict],
                  daily: list[dict], backtest_days: int, findings: list[dict]) -> str:
    parts = [
        h.kpis([
            ("noise rank in tenant", rule["noise_rank"]),
            ("alerts", f"{rule['alerts']:,}"),
            ("incidents", f"{rule['incidents']:,}"),
            ("benign rate (90% interval)",
             f"{_pct(rule['benign_rate'])} ({_pct(rule['benign_rate_low'])}–{_pct(rule['benign_rate_high'])})"),
            ("analyst hours on benign incidents", f"{rule['analyst_hours_benign']:.1f}"),
            ("alerts last 7 days vs 7 before", f"{rule['alerts_last_7d']} vs {rule['alerts_prev_7d']}"),
        ]),
        h.para(f"Tenant {rule['tenant']} · rule id {rule['rule_id']}", "muted"),
        "<h3>Alert volume per day</h3>",
        h.daily_chart({
            "alerts": [(d["day"], d["alerts"]) for d in daily],
            "benign": [(d["day"], d["benign"]) for d in daily],
            "true positive": [(d["day"], d["true_positive"]) for d in daily],
        } if daily else {}),
        "<h3>Label mix</h3>",
        h.table(
            ["true positive", "benign positive", "false positive", "unlabelled", "labelled share",
             "median minutes to triage", "median hours to close"],
            [[rule["true_positive_alerts"], rule["benign_positive_alerts"], rule["false_positive_alerts"],
              rule["unlabelled_alerts"], _pct(rule["labelled_share"]), rule["median_minutes_to_triage"],
              rule["median_hours_to_close"]]],
        ),
        *(["<h3>Fix the rule logic</h3>", _findings_table(findings)] if findings else []),
        "<h3>Recommended exclusions</h3>",
        h.table(
            ["kind", "entity type", "entity", "decisions seen", "benign decisions",
             "benign of labelled alerts", "true positives it could hide per 30 days (95% edge)", "evidence",
             "alerts removed", "backtest", "expires", "KQL"],
            [[r["exclusion_kind"], r["entity_type"], r["entity_value"], r["decisions"], r["benign_decisions"],
              f"{r['benign_alerts']} of {r['labelled_alerts']}", f"{r['max_true_positives_per_30d']:.1f}",
              r["rationale"], _pct(r["alerts_removed_share"]), _effect(r, backtest_days), r["expires_on"],
              r["kql_exclusion"]]
             for r in recs],
            code_cols=(11,),
        ),
    ]
    if backtest:
        total = backtest[0]
        parts.append(h.para(
            f"Backtest {total['test_start_day']}–{total['test_end_day']}: of {total['alerts']} alerts "
            f"({total.get('true_positive_alerts', '?')} true positive), the exclusions fitted before each held-out "
            f"window removed {total['alerts_removed']} "
            f"({total['benign_alerts_removed']} benign, {total['true_positive_alerts_removed']} true positive, "
            f"{total['unlabelled_alerts_removed']} unlabelled), saving about "
            f"{total['analyst_hours_saved']:.1f} analyst hours."
        ))
        if len(backtest) > 1:
            parts.append(h.table(
                ["origin", "held-out days", "exclusions", "alerts", "true positives in window", "removed",
                 "benign removed", "true positives removed", "analyst hours saved"],
                [[b["backtest_origin"], f"{b['test_start_day']}–{b['test_end_day']}", b["exclusions_applied"],
                  b["alerts"], b["true_positive_alerts"], b["alerts_removed"], b["benign_alerts_removed"],
                  b["true_positive_alerts_removed"], f"{b['analyst_hours_saved']:.1f}"] for b in backtest[1:]],
            ))
    parts += [
        "<h3>Top entities</h3>",
        h.table(
            ["#", "type", "entity", "alerts", "share of alerts", "true positive", "benign", "false positive",
             "unlabelled"],
            [[e["entity_rank"], e["entity_type"], e["entity_value"], e["alerts"], _pct(e["alert_share"]),
              e["true_positive_alerts"], e["benign_positive_alerts"], e["false_positive_alerts"],
              e["unlabelled_alerts"]] for e in entities],
        ),
    ]
    return h.section(rule["rule_name"] or rule["rule_id"], *parts)


def _deploy_section(files: dict[str, str], clauses: dict[tuple[str, str], str]) -> str:
    items = "".join(f"<li>{h.link(name, label)}</li>" for label, name in files.items())
    parts = [
        h.para("Every recommendation below in forms you can deploy. The combined clause removes exactly what the "
               "recommendations' own clauses remove; the automation rules close matching new incidents as "
               "BenignPositive / SuspiciousButExpected until each recommendation's expiry, keeping the alerts for "
               "audit; product alerts get Defender XDR alert tuning conditions instead.", "muted"),
        f"<ul>{items}</ul>",
    ]
    for (rule_id, name), clause in clauses.items():
        parts += [f"<h3>{h.esc(name or rule_id)}</h3>", h.code_block(clause)]
    return h.section("Deploy", *parts)


def render_owner_page(owner: str, as_of: date, rules: list[dict], recs: dict, entities: dict,
                      backtest: dict, daily: dict, backtest_days: int, findings: dict | None = None,
                      banner: str = "", deploy: tuple[dict, dict] | None = None, quality_note: str = "",
                      health: dict | None = None) -> str:
    """`deploy`: (label -> file name beside the page, (rule_id, rule_name) -> combined clause);
    `quality_note`: the data-quality line of the warehouse the page was written from (footer)."""
    findings = findings or {}
    n_recs = sum(len(recs.get((r["tenant"], r["rule_id"]), [])) for r in rules)
    owner_findings = [f for r in rules for f in findings.get((r["tenant"], r["rule_id"]), [])]
    hours = sum(r["analyst_hours_benign"] or 0 for r in rules)
    summary = h.section(
        "Summary",
        h.kpis([("rules", len(rules)), ("recommended exclusions", n_recs),
                ("fix-the-rule-logic findings", len(owner_findings)),
                ("analyst hours on benign incidents", f"{hours:.1f}")]),
        h.para(
            "Hours assume a flat triage cost per incident (setting triage_minutes_per_incident). "
            "KQL clauses assume the rule's query projects the documented Defender columns "
            "(AccountName, AccountDomain, AccountUpn, AccountSid, DeviceName, IPAddress, FileName, FolderPath, "
            "ProcessCommandLine, SHA256, …); adapt them if it does not, or use the watchlist CSV. Evidence is "
            "counted in decisions (labelled incidents; automation closures apart), and each exclusion shows the "
            "true positives per 30 days it could hide at the 95% edge of its interval.",
            "muted",
        ),
    )
    sections = [summary]
    attention = [x for r in rules for x in (health or {}).get((r["tenant"], r["rule_id"]), []) if x["severity"] != "ok"]
    if attention:  # exclusion_health: an accepted exclusion that now hides a true positive comes before anything
        attention.sort(key=lambda x: (x["severity"] != "high", x["rule_id"]))
        sections.insert(0, h.section(
            "Accepted exclusions that need attention",
            h.table(["severity", "rule", "excluded entity", "recommendation", "finding", "removed 7 / 30 days",
                     "expires on"],
                    [[x["severity"], x["rule_name"] or x["rule_id"], f"{x['entity_type']} {x['entity_value']}",
                      x["recommendation_id"], x["finding"], f"{x['alerts_removed_7d']} / {x['alerts_removed_30d']}",
                      x["expires_on"]] for x in attention]),
        ))
    if owner_findings:
        sections.append(h.section(
            "Fix the rule logic",
            h.para(
                "A file, an account or a host alone that would remove more than the configured share of a rule's "
                "alerts (setting max_removed_share) is not offered as an exclusion: the rule's logic is noisy for "
                "it. Narrow the query instead; the evidence is below.",
                "muted",
            ),
            h.table(
                ["rule", "entity type", "entity", "share of the rule's alerts", "benign decisions",
                 "true-positive incidents holding it", "finding"],
                [[f["rule_name"] or f["rule_id"], f["entity_type"], f["entity_value"], _pct(f["alerts_removed_share"]),
                  f"{f['benign_decisions']} of {f['decisions']}", f["true_positive_incidents"], f["finding"]]
                 for f in owner_findings],
            ),
        ))
    if deploy is not None and n_recs:
        sections.append(_deploy_section(*deploy))
    if not rules:
        sections.append(h.section("Rules", h.para("No rules are assigned to this owner.", "muted")))
    for r in rules:
        key = (r["tenant"], r["rule_id"])
        sections.append(_rule_section(
            r, recs.get(key, []), entities.get(key, []), backtest.get(key, []), daily.get(key, []), backtest_days,
            findings.get(key, []),
        ))
    return h.page(
        f"Rule tuning: {owner}",
        f"As of {as_of.isoformat()} · {len(rules)} rules",
        sections,
        footer=h.esc(f"Generated by Hunthouse from the published warehouse. {quality_note}".strip()),
        banner=banner,
    )
