"""Flatten SecurityAlert `Entities` JSON into one row per entity, after `$ref` resolution.

Entities is a JSON array; an entity may hold nested entities inline (with their own `$id`) or as
`{"$ref": "<id>"}` pointing at an `$id` elsewhere in the same array. Every object with an `$id` is
an entity; references are resolved before flattening so process and file entities keep their host
and account context. Each entity gets a normalised `entity_key` (lower-case, one per real-world
thing) used for grouping and exclusions, and an `entity_value` with original casing for display.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

ENTITY_REF_KEYS = ("$ref",)


def _s(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _host_name(ent: dict) -> str:
    name = _s(ent.get("HostName")) or _s(ent.get("NetBiosName"))
    if not name and _s(ent.get("FQDN")):
        name = _s(ent.get("FQDN")).split(".")[0]
    return name


def _account_name(ent: dict) -> str:
    name = _s(ent.get("Name"))
    if name and _s(ent.get("UPNSuffix")):
        return f"{name}@{_s(ent.get('UPNSuffix'))}"
    if name and _s(ent.get("NTDomain")):
        return f"{_s(ent.get('NTDomain'))}\\{name}"
    return name or _s(ent.get("AadUserId")) or _s(ent.get("Sid"))


def _file_name(ent: dict) -> str:
    directory, name = _s(ent.get("Directory")), _s(ent.get("Name"))
    if directory and name:
        return f"{directory.rstrip(chr(92))}\\{name}"
    return name or directory


def _first(*keys: str):
    return lambda ent: next((_s(ent.get(k)) for k in keys if _s(ent.get(k))), "")


DISPLAY = {
    "account": _account_name,
    "host": _host_name,
    "ip": _first("Address"),
    "file": _file_name,
    "process": lambda e: _s(e.get("CommandLine")) or (f"pid:{_s(e.get('ProcessId'))}" if _s(e.get("ProcessId")) else ""),
    "url": _first("Url"),
    "filehash": lambda e: f"{_s(e.get('Algorithm'))}:{_s(e.get('Value'))}" if _s(e.get("Value")) else "",
    "dns": _first("DomainName"),
    "mailbox": _first("MailboxPrimaryAddress", "Upn", "DisplayName"),
    "mailmessage": _first("InternetMessageId", "NetworkMessageId", "Subject"),
    "azure-resource": _first("ResourceId"),
    "cloud-application": _first("Name", "AppId", "SaasId"),
    "registry-key": lambda e: "\\".join(p for p in (_s(e.get("Hive")), _s(e.get("Key"))) if p),
    "registry-value": lambda e: "\\".join(p for p in (_s(e.get("Key")), _s(e.get("Name"))) if p),
    "security-group": _first("SID", "ObjectGuid", "DistinguishedName"),
    "malware": _first("Name", "Category"),
    "host-logon-session": _first("SessionId"),
}
GENERIC = _first("Name", "Value", "Address", "Id", "ResourceId", "Url")


def entity_value(etype: str, ent: dict) -> str:
    return DISPLAY.get(etype, GENERIC)(ent)


def entity_key(etype: str, value: str) -> str:
    if etype == "host":
        return value.split(".")[0].lower()
    return value.lower()


def _collect(node: Any, by_id: dict[str, dict], order: list[dict]) -> None:
    if isinstance(node, dict):
        if "$id" in node and "$ref" not in node:
            key = str(node["$id"])
            if key not in by_id:
                by_id[key] = node
                order.append(node)
        for value in node.values():
            _collect(value, by_id, order)
    elif isinstance(node, list):
        for item in node:
            _collect(item, by_id, order)


def _resolve(value: Any, by_id: dict[str, dict]) -> Any:
    if isinstance(value, dict) and set(value) == {"$ref"}:
        return by_id.get(str(value["$ref"]), value)
    return value


def _summary(value: Any, by_id: dict[str, dict], depth: int = 0) -> Any:
    """Nested entities become {Type, value}; scalars stay; depth-bounded against cycles."""
    value = _resolve(value, by_id)
    if isinstance(value, dict):
        if "Type" in value and depth > 0:
            etype = _s(value.get("Type")).lower()
            return {"Type": etype, "value": entity_value(etype, value)}
        if depth > 3:
            return None
        return {k: _summary(v, by_id, depth + 1) for k, v in value.items() if k != "$id"}
    if isinstance(value, list):
        return [_summary(v, by_id, depth + 1) for v in value]
    return value


def flatten_entities(entities_json: str | None) -> Iterator[dict]:
    """Yield one dict per entity: ordinal, type, key, value, properties (JSON text).

    Raises ValueError on text that is not a JSON array, so the caller can quarantine the alert.
    No value (NULL, blank, or JSON `null`: the row contract's "no value") yields no entities.
    """
    if entities_json is None or not entities_json.strip():
        return
    doc = json.loads(entities_json)
    if doc is None:
        return
    if not isinstance(doc, list):
        raise ValueError("Entities is not a JSON array")
    by_id: dict[str, dict] = {}
    order: list[dict] = []
    _collect(doc, by_id, order)
    # entities written without $id at top level count too
    order_ids = {id(e) for e in order}
    top_without_id = [e for e in doc if isinstance(e, dict) and "$ref" not in e and id(e) not in order_ids]
    for ordinal, ent in enumerate(order + top_without_id):
        etype = _s(ent.get("Type")).lower() or "unknown"
        value = entity_value(etype, ent)
        yield {
            "entity_ordinal": ordinal,
            "entity_type": etype,
            "entity_key": entity_key(etype, value) if value else None,
            "entity_value": value or None,
            "properties": json.dumps(_summary(ent, by_id), default=str, ensure_ascii=False),
        }
