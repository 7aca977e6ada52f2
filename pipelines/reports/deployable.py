"""Deployable forms of a rule owner's recommendations, beside the report (issue 14, first part).

- a combined KQL clause per analytic rule: one `| where not(P1 or P2 …)` the owner pastes once,
  made of the recommendations' own clauses, so it removes exactly what they remove one by one
  (models/tuning/kql_eval.py evaluates both in the tests);
- a Sentinel watchlist CSV (`hunthouse_exclusions`): SearchKey, RuleId, EntityType, EntityValue,
  ExpiresOn, RecommendationId, one row per recommendation;
- an ARM template of Sentinel automation rules, one per recommendation of an analytic rule: on
  incident creation for that rule with the entity's properties, close as BenignPositive /
  SuspiciousButExpected, expiring on the recommendation's `expires_on`; the alert stays in the log;
- Defender XDR alert tuning conditions for product alerts (no analytic rule, so no query and no
  automation-rule rule id): the alert title and the evidence, to enter in the portal (no write API).

Every value is data from alerts (attacker-controlled): it only ever appears inside JSON strings
(json.dumps) or CSV cells (owner_files.csv_text), never in template expressions.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import date

WATCHLIST_ALIAS = "hunthouse_exclusions"
WATCHLIST_COLUMNS = ("SearchKey", "RuleId", "EntityType", "EntityValue", "ExpiresOn", "RecommendationId")
AUTOMATION_API_VERSION = "2023-02-01"
AUTOMATION_TYPE = "Microsoft.OperationalInsights/workspaces/providers/automationRules"
TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
_NAMESPACE = uuid.UUID("5d1f0c3e-8f0a-4b8e-9a43-6b7c2e1d9f10")  # Hunthouse's, for stable rule names
_CLAUSE_HEAD, _CLAUSE_TAIL = "| where not(", ")"
_PARTS = (1, 2, 3)


def recommendation_id(rec: Mapping) -> str:
    """Stable over nights: the same exclusion of the same rule gets the same id."""
    key = "|".join(str(rec.get(k) or "") for k in (
        "tenant", "rule_id", "exclusion_kind", *(f"entity_{w}_{i}" for i in _PARTS for w in ("type", "key"))))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _predicate(clause: str) -> str:
    if not (clause.startswith(_CLAUSE_HEAD) and clause.endswith(_CLAUSE_TAIL)):
        raise ValueError(f"not an exclusion clause: {clause[:40]!r}")
    return clause[len(_CLAUSE_HEAD):-len(_CLAUSE_TAIL)]


def combined_clause(recs: Iterable[Mapping]) -> str | None:
    """One clause for a rule that removes exactly the rows any of its recommendations' clauses remove."""
    predicates = [_predicate(r["kql_exclusion"]) for r in recs if r.get("kql_exclusion")]
    if not predicates:
        return None
    return _CLAUSE_HEAD + " or ".join(f"({p})" for p in predicates) + _CLAUSE_TAIL


def watchlist_rows(recs: Iterable[Mapping]) -> list[list[str]]:
    """SearchKey is the exclusion's normalised key (parts joined by ' + ', as `entity_key`)."""
    return [[r["entity_key"], r["rule_id"], r["entity_type"], r["entity_value"], _iso(r["expires_on"]),
             recommendation_id(r)] for r in recs]


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _condition(name: str, value: str, operator: str = "Equals") -> dict:
    return {"conditionType": "Property",
            "conditionProperties": {"propertyName": name, "operator": operator, "propertyValues": [value]}}


def entity_conditions(entity_type: str, key: str, value: str) -> list[dict] | None:
    """Automation-rule conditions (all must hold) naming one entity, or None when incidents expose no
    property that identifies it (a process known only by its pid, a DNS name)."""
    shown = value or key
    if entity_type == "account":
        if "\\" in shown:
            domain, _, name = shown.rpartition("\\")
            return [_condition("AccountName", name), _condition("AccountNTDomain", domain)]
        if "@" in shown:
            name, _, suffix = shown.partition("@")
            return [_condition("AccountName", name), _condition("AccountUPNSuffix", suffix)]
        if key.lower().startswith("s-1-"):
            return [_condition("AccountSid", shown)]
        try:
            uuid.UUID(key)
            return [_condition("AccountAadUserId", key)]
        except ValueError:
            return [_condition("AccountName", shown)]
    if entity_type == "host":
        return [_condition("HostName", shown.split(".")[0])]
    if entity_type == "ip":
        return [_condition("IPAddress", shown)]
    if entity_type == "process":
        return None if key.startswith("pid:") else [_condition("ProcessCommandLine", shown)]
    if entity_type == "file":
        folder, sep, name = shown.replace("/", "\\").rpartition("\\")
        return [_condition("FileName", name)] + ([_condition("FileDirectory", folder)] if sep else [])
    if entity_type == "filehash":
        return [_condition("FileHashValue", shown.split(":", 1)[-1])]
    if entity_type == "url":
        return [_condition("Url", shown)]
    return None


def automation_rule(rec: Mapping, order: int) -> dict | None:
    """One automation rule resource for a recommendation of an analytic rule, or None when an entity
    part has no incident property to match on or the rule is a product alert."""
    if not rec.get("has_rule_query"):
        return None
    conditions = [_condition("IncidentRelatedAnalyticRuleIds", rec["rule_id"], "Contains")]
    for i in _PARTS:
        if rec.get(f"entity_type_{i}"):
            part = entity_conditions(rec[f"entity_type_{i}"], rec[f"entity_key_{i}"], rec[f"entity_value_{i}"])
            if part is None:
                return None
            conditions += part
    rid = recommendation_id(rec)
    return {
        "type": AUTOMATION_TYPE,
        "apiVersion": AUTOMATION_API_VERSION,
        "name": f"[concat(parameters('workspace'), '/Microsoft.SecurityInsights/{uuid.uuid5(_NAMESPACE, rid)}')]",
        "properties": {
            "displayName": f"Hunthouse {rid}: {rec['rule_name']} / {rec['entity_value']}"[:256],
            "order": order,
            "triggeringLogic": {
                "isEnabled": True,
                "expirationTimeUtc": f"{_iso(rec['expires_on'])}T00:00:00Z",
                "triggersOn": "Incidents",
                "triggersWhen": "Created",
                "conditions": conditions,
            },
            "actions": [{
                "order": 1,
                "actionType": "ModifyProperties",
                "actionConfiguration": {
                    "status": "Closed",
                    "classification": "BenignPositive",
                    "classificationReason": "SuspiciousButExpected",
                    "classificationComment": f"Hunthouse recommendation {rid}: {rec.get('rationale') or ''}"[:1000],
                },
            }],
        },
    }


def automation_template(recs: Iterable[Mapping]) -> dict:
    """An ARM template (`az deployment group create --template-file … --parameters workspace=…`)."""
    resources = [r for r in (automation_rule(rec, i) for i, rec in enumerate(recs, 1)) if r is not None]
    for order, resource in enumerate(resources, 1):
        resource["properties"]["order"] = min(order, 1000)
    return {
        "$schema": TEMPLATE_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"workspace": {"type": "string", "metadata": {
            "description": "Name of the Log Analytics workspace that Microsoft Sentinel runs on"}}},
        "resources": resources,
    }


def defender_tuning(recs: Iterable[Mapping]) -> list[dict]:
    """Alert tuning conditions for product alerts, one entry per recommendation (portal form)."""
    out = []
    for rec in recs:
        if rec.get("has_rule_query"):
            continue
        evidence = [{"type": rec[f"entity_type_{i}"], "value": rec[f"entity_value_{i}"] or rec[f"entity_key_{i}"]}
                    for i in _PARTS if rec.get(f"entity_type_{i}")]
        out.append({"recommendation_id": recommendation_id(rec), "alert_title": rec["rule_name"],
                    "action": "resolve", "evidence_all_of": evidence, "expires_on": _iso(rec["expires_on"])})
    return out


def rule_clauses(recs: Iterable[Mapping]) -> dict[tuple[str, str], str]:
    """(rule_id, rule_name) -> the rule's combined clause, for the rules that have one."""
    by_rule: dict[tuple[str, str], list[Mapping]] = {}
    for rec in recs:
        by_rule.setdefault((rec["rule_id"], rec["rule_name"]), []).append(rec)
    return {rule: clause for rule, group in by_rule.items() if (clause := combined_clause(group))}


def clauses_text(recs: Iterable[Mapping]) -> str:
    """The owner's combined clauses, one per analytic rule, each under a comment naming the rule."""
    clauses = rule_clauses(recs)
    if not clauses:
        return "// no combined clause: none of these recommendations is for an analytic rule's query\n"
    blocks = [f"// {' '.join(str(name).split())} (rule {rule_id})\n{clause}\n" for (rule_id, name), clause in clauses.items()]
    return "\n".join(blocks)


def deployable_files(recs: list[Mapping], stem: str) -> dict[str, str]:
    """File name -> text of every deployable form of one owner's recommendations."""
    return {
        f"clauses-{stem}.kql": clauses_text(recs),
        f"automation-rules-{stem}.json": json.dumps(automation_template(recs), indent=2, ensure_ascii=False),
        f"defender-tuning-{stem}.json": json.dumps(defender_tuning(recs), indent=2, ensure_ascii=False),
    }
