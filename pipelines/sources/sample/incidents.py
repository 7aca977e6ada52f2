"""SecurityIncident rows: one row per create or update, as Sentinel writes them.

An incident is created (New) a few minutes after its first alert is ingested, may get its later
grouped alerts added, is assigned (Active, Owner set) minutes to hours later and closed 0.5–7 days
after creation (true positives within 3 days) with a classification. Updates after the world's end
do not exist yet, so incidents created in the last days stay open.
"""

from __future__ import annotations

import json

import pyarrow as pa

from pipelines.sources.schemas import SECURITY_INCIDENT

from .alerts import MINUTE, IncidentPlan
from .rules import COMMENTS, REASONS
from .seeding import stable_guid, stable_int
from .world import World

# Scanner incidents of rule B an automation rule closes as benign without an analyst: a separate
# label source the tuning models leave out of the evidence by default.
AUTOMATION_RULE = "Automation rule - Close vulnerability scanner noise"
AUTOMATION_SHARE = 0.3
EMPTY_OWNER = json.dumps({"objectId": None, "email": None, "assignedTo": None, "userPrincipalName": None})


def _owner(world: World, analyst: int) -> str:
    name = world.analysts[analyst]
    email = name.lower().replace(" ", ".") + "@" + world.upn_suffix
    return json.dumps({"objectId": stable_guid(world.seed, world.name, "analyst", name), "email": email,
                       "assignedTo": name, "userPrincipalName": email})


def _rule_ref(world: World, rule_id: str, arm: bool) -> str:
    if not arm:
        return rule_id
    return (f"/subscriptions/{world.subscription_id}/resourceGroups/{world.resource_group}/providers/"
            f"Microsoft.OperationalInsights/workspaces/{world.workspace_name}/providers/"
            f"Microsoft.SecurityInsights/alertRules/{rule_id}")


def closed_by_automation(world: World, plan: IncidentPlan) -> bool:
    """A fixed share of scanner incidents, chosen by a hash of the first alert (no random draw, so
    the rest of the world stays as it was)."""
    return plan.scenario == "scanner" and stable_int(world.seed, plan.alert_ids[0], "automation") % 100 < (
        100 * AUTOMATION_SHARE)


def incident_rows(world: World, plans: list[IncidentPlan]) -> pa.Table:
    """Every update row of the plans that happened before the world's end, in LastModifiedTime order."""
    out: dict[str, list] = {f.name: [] for f in SECURITY_INCIDENT}
    for plan in plans:
        for row in _updates(world, plan):
            if row["LastModifiedTime"] < world.end_us:
                for name in out:
                    out[name].append(row.get(name))
    table = pa.table(out, schema=SECURITY_INCIDENT)
    return table.sort_by([("LastModifiedTime", "ascending"), ("IncidentNumber", "ascending")])


def _updates(world: World, plan: IncidentPlan) -> list[dict]:
    rule = world.rules[plan.rule]
    rule_id = world.rule_ids[plan.rule]
    name = stable_guid(world.seed, world.name, "incident", plan.number)
    analyst_email = json.loads(_owner(world, plan.analyst))["email"]
    created = plan.created
    n = len(plan.alert_ids)
    # (time, change, alerts visible) in time order
    events = [(created, "create", 1)]
    if n > 1:
        events.append((max(plan.alert_tg[-1] + 2 * MINUTE, created + MINUTE), "alerts", n))
    automated = closed_by_automation(world, plan)
    if automated:  # closed minutes after creation, nobody assigned
        closed = max(t for t, _, _ in events) + 3 * MINUTE
    else:
        events.append((created + plan.assign_delay, "assign", None))
        closed = max(created + plan.close_delay, max(t for t, _, _ in events) + 10 * MINUTE)
    events.append((closed, "close", None))
    events.sort(key=lambda e: e[0])
    state = {"status": "New", "owner": EMPTY_OWNER, "alerts": 1, "modified_by": "Incident created from alert"}
    rows = []
    for seq, (moment, change, alerts) in enumerate(events):
        if change == "alerts":
            state["alerts"] = alerts
            state["modified_by"] = "Alert added to incident"
        elif change == "assign":
            state.update(status="Active", owner=_owner(world, plan.analyst), modified_by=analyst_email)
        elif change == "close":
            state.update(status="Closed", modified_by=AUTOMATION_RULE if automated else analyst_email)
        k = state["alerts"]
        closed_now = state["status"] == "Closed"
        reason = REASONS[plan.label][stable_int(name, "reason") % len(REASONS[plan.label])] if closed_now else None
        rows.append({
            "TimeGenerated": moment + 5_000_000 + stable_int(name, seq) % 120_000_000,
            "TenantId": world.workspace_id,
            "IncidentNumber": plan.number,
            "IncidentName": name,
            "Title": rule.name,
            "Description": f"{rule.name}. Tactic: {rule.tactics}. Review the entities and the query results.",
            "Severity": rule.severity,
            "Status": state["status"],
            "Classification": plan.label if closed_now else None,
            "ClassificationReason": reason,
            "ClassificationComment": COMMENTS[plan.label] if closed_now else None,
            "Determination": None,
            "Owner": state["owner"],
            "ModifiedBy": state["modified_by"],
            "CreatedTime": created,
            "FirstModifiedTime": created,
            "LastModifiedTime": moment,
            "ClosedTime": moment if closed_now else None,
            "FirstActivityTime": min(plan.alert_start[:k]),
            "LastActivityTime": max(plan.alert_end[:k]),
            "AlertIds": json.dumps(plan.alert_ids[:k]),
            "RelatedAnalyticRuleIds": json.dumps([_rule_ref(world, rule_id, plan.arm_ids)]),
            "Labels": "[]",
            "ProviderName": "Azure Sentinel",
            "ProviderIncidentId": str(plan.number),
            "IncidentUrl": (f"https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/subscriptions/"
                            f"{world.subscription_id}/resourceGroups/{world.resource_group}/providers/"
                            f"Microsoft.OperationalInsights/workspaces/{world.workspace_name}/providers/"
                            f"Microsoft.SecurityInsights/Incidents/{name}"),
            "AdditionalData": json.dumps({"alertsCount": k, "bookmarksCount": 0, "commentsCount": int(closed_now),
                                          "alertProductNames": ["Azure Sentinel"],
                                          "tactics": rule.tactics.split(","), "techniques": list(rule.techniques)}),
            "Type": "SecurityIncident",
        })
    return rows
