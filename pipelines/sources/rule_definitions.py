"""Analytic rule definitions mapped onto the `analytic_rules` raw table (schemas.ANALYTIC_RULES).

- Sentinel: an alertRules resource (Microsoft.SecurityInsights, api-version 2024-09-01) keeps its
  ARM property names: `kind`, `properties.displayName`, `enabled`, `severity`, `query`,
  `queryFrequency`/`queryPeriod` (ISO 8601 durations), `tactics`, `techniques`, `entityMappings`.
  RuleId is the resource `name` lower-cased: the rule GUID that SecurityAlert's "Analytic Rule Ids"
  and SecurityIncident's RelatedAnalyticRuleIds carry, which staging also lower-cases.
- Defender XDR: a Graph custom detection rule (`/beta/security/rules/detectionRules`). RuleId is
  its `detectorId` lower-cased (the `detectorId` of the alerts it raises, graph_mapping.alert_row),
  ResourceId its Graph `id`; Kind is `CustomDetection`; the schedule period goes to QueryFrequency.
  Its `alertTemplate.impactedAssets` become entity mappings: the identifier names a result column
  (`deviceId` -> DeviceId), the asset type an entity type.

EntityMappings is JSON text in Sentinel's shape either way:
`[{"entityType": "Host", "fieldMappings": [{"identifier": "HostName", "columnName": "Computer"}]}]`.
"""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa

from pipelines.sources.graph_mapping import rows_to_table
from pipelines.sources.schemas import ANALYTIC_RULES

SENTINEL = "Microsoft Sentinel"
DEFENDER = "Microsoft Defender XDR"
CUSTOM_DETECTION = "CustomDetection"

# Graph impacted-asset types -> Sentinel entity types; Graph identifiers -> Sentinel identifiers,
# where the column holds what that identifier means (else the Graph identifier is kept as is).
_ASSET_ENTITY = {"impacteddeviceasset": "Host", "impacteduserasset": "Account", "impactedmailboxasset": "Mailbox"}
_GRAPH_IDENTIFIER = {
    "deviceName": "FullName", "remoteDeviceName": "FullName", "deviceId": "MdatpDeviceId",
    "accountName": "Name", "accountDomain": "NTDomain", "accountSid": "Sid", "accountUpn": "FullName",
    "accountObjectId": "AadUserId", "initiatingProcessAccountSid": "Sid",
    "initiatingProcessAccountUpn": "FullName", "initiatingProcessAccountObjectId": "AadUserId",
    "recipientEmailAddress": "MailboxPrimaryAddress", "senderFromAddress": "MailboxPrimaryAddress",
    "senderMailFromAddress": "MailboxPrimaryAddress",
}


def _json(value: object) -> str | None:
    if value is None or value == [] or value == "":
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def rule_id(name: object) -> str | None:
    """The id alerts carry for a rule: the last path segment, lower-case (as staging reads alerts)."""
    text = str(name or "").strip().rstrip("/")
    return text.rsplit("/", 1)[-1].lower() or None


def sentinel_row(rule: dict, snapshot: datetime) -> dict:
    props = rule.get("properties") if isinstance(rule.get("properties"), dict) else {}
    return {
        "SnapshotTime": snapshot,
        "RuleId": rule_id(rule.get("name") or rule.get("id")),
        "ResourceId": rule.get("id"),
        "Source": SENTINEL,
        "Kind": rule.get("kind"),
        "DisplayName": props.get("displayName"),
        "Description": props.get("description"),
        "Enabled": props.get("enabled"),
        "Severity": props.get("severity"),
        "Query": props.get("query"),
        "QueryFrequency": props.get("queryFrequency"),
        "QueryPeriod": props.get("queryPeriod"),
        "Tactics": _json(props.get("tactics")),
        "Techniques": _json(props.get("techniques")),
        "EntityMappings": _json(props.get("entityMappings")),
        "AlertRuleTemplateName": props.get("alertRuleTemplateName"),
        "LastModifiedTime": props.get("lastModifiedUtc"),
    }


def _column(identifier: str) -> str:
    return identifier[:1].upper() + identifier[1:]


def impacted_asset_mappings(assets: object) -> list[dict]:
    """Sentinel-shaped entity mappings of a custom detection's impacted assets (one per asset)."""
    out: list[dict] = []
    for asset in assets if isinstance(assets, list) else []:
        if not isinstance(asset, dict) or not asset.get("identifier"):
            continue
        kind = str(asset.get("@odata.type", "")).rsplit(".", 1)[-1].lower()
        identifier = str(asset["identifier"])
        out.append({"entityType": _ASSET_ENTITY.get(kind, kind or "Unknown"),
                    "fieldMappings": [{"identifier": _GRAPH_IDENTIFIER.get(identifier, identifier),
                                       "columnName": _column(identifier)}]})
    return out


def defender_row(rule: dict, snapshot: datetime) -> dict:
    template = ((rule.get("detectionAction") or {}).get("alertTemplate") or {})
    category = template.get("category")
    return {
        "SnapshotTime": snapshot,
        "RuleId": rule_id(rule.get("detectorId") or rule.get("id")),
        "ResourceId": None if rule.get("id") is None else str(rule.get("id")),
        "Source": DEFENDER,
        "Kind": CUSTOM_DETECTION,
        "DisplayName": rule.get("displayName"),
        "Description": template.get("description"),
        "Enabled": rule.get("isEnabled"),
        "Severity": template.get("severity"),
        "Query": (rule.get("queryCondition") or {}).get("queryText"),
        "QueryFrequency": (rule.get("schedule") or {}).get("period"),
        "QueryPeriod": None,
        "Tactics": _json([category] if category else []),
        "Techniques": _json(template.get("mitreTechniques")),
        "EntityMappings": _json(impacted_asset_mappings(template.get("impactedAssets"))),
        "AlertRuleTemplateName": None,
        "LastModifiedTime": rule.get("lastModifiedDateTime"),
    }


def sentinel_rules_table(rules: list[dict], snapshot: datetime) -> pa.Table:
    return rows_to_table([sentinel_row(r, snapshot) for r in rules if isinstance(r, dict)], ANALYTIC_RULES)


def defender_rules_table(rules: list[dict], snapshot: datetime) -> pa.Table:
    return rows_to_table([defender_row(r, snapshot) for r in rules if isinstance(r, dict)], ANALYTIC_RULES)
