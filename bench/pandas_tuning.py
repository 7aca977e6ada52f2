"""Rule noise and top entities as a notebook user would compute them: pandas over the raw lake.

Re-derives, independently of the SQL, what staging + models/tuning produce for the live fit
(as_of + 1 cut-off): each alert's latest version, its analytic rule id, the label of the incident
it belongs to (latest incident state, classification mapped to true/benign/false positive), then
per rule the alert and label counts and raw benign rate (60_rule_noise.sql), and per rule the ten
entities in most alerts (70_rule_top_entities.sql). Entities are flattened with the project's own
pipelines.warehouse.entities.flatten_entities, as a notebook would import it, because `$ref`
resolution is not something anyone would rewrite in a notebook.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from pipelines.warehouse.entities import flatten_entities

from .pandas_firewall import lake_files

LABELS = {"truepositive": "true_positive", "benignpositive": "benign_positive",
          "informationalexpectedactivity": "benign_positive", "falsepositive": "false_positive"}


def _read(lake_root: str, table: str, columns: list[str], last: date) -> pd.DataFrame:
    frames = []
    for path, day in lake_files(lake_root, table, date.min, last):
        df = pd.read_parquet(path, columns=columns)
        df["day"] = day
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _rule(ep: object, alert_type: object, alert_name: object) -> tuple[str | None, str | None]:
    rule_id = rule_name = None
    try:
        props = json.loads(ep) if isinstance(ep, str) else None
    except ValueError:
        props = None
    if isinstance(props, dict):
        rule_name = props.get("Analytic Rule Name")
        try:
            ids = json.loads(props["Analytic Rule Ids"])
            if isinstance(ids, list) and ids:
                rule_id = str(ids[0]).strip().rsplit("/", 1)[-1].lower()
        except (KeyError, TypeError, ValueError):
            pass
    if rule_id is None:
        rule_id = str(alert_type).lower() if isinstance(alert_type, str) else (
            str(alert_name).lower() if isinstance(alert_name, str) else None)
    return rule_id, rule_name if rule_name is not None else alert_name


def labelled_alerts(lake_root: str, as_of: date) -> pd.DataFrame:
    alerts = _read(lake_root, "security_alert",
                   ["SystemAlertId", "TimeGenerated", "AlertName", "AlertType", "ExtendedProperties", "Entities"], as_of)
    alerts = alerts.sort_values(["TimeGenerated", "day"], ascending=False).drop_duplicates("SystemAlertId")
    rules = [_rule(ep, t, n) for ep, t, n in zip(alerts["ExtendedProperties"], alerts["AlertType"], alerts["AlertName"],
                                                 strict=True)]
    alerts["rule_id"] = [r[0] for r in rules]

    incidents = _read(lake_root, "security_incident",
                      ["IncidentNumber", "LastModifiedTime", "TimeGenerated", "Classification", "AlertIds"], as_of)
    latest = incidents.sort_values(["LastModifiedTime", "TimeGenerated"], ascending=False).drop_duplicates("IncidentNumber")
    token = latest["Classification"].fillna("").str.lower().str.replace("[^a-z]", "", regex=True)
    latest["label"] = token.map(LABELS)
    latest["alert_ids"] = latest["AlertIds"].map(lambda t: json.loads(t) if isinstance(t, str) else [])
    bridge = latest[["IncidentNumber", "LastModifiedTime", "label", "alert_ids"]].explode("alert_ids").dropna(
        subset=["alert_ids"])
    # an alert in several incidents takes the most recently modified one, then the highest number
    bridge = bridge.sort_values(["LastModifiedTime", "IncidentNumber"], ascending=False).drop_duplicates("alert_ids")
    bridge = bridge.rename(columns={"alert_ids": "SystemAlertId"})[["SystemAlertId", "IncidentNumber", "label"]]
    return alerts.merge(bridge, on="SystemAlertId", how="left")


def rule_noise(labelled: pd.DataFrame) -> pd.DataFrame:
    a = labelled[labelled["rule_id"].notna()]
    out = a.groupby("rule_id").agg(
        alerts=("SystemAlertId", "size"),
        labelled_alerts=("label", "count"),
        true_positive_alerts=("label", lambda s: (s == "true_positive").sum()),
        benign_positive_alerts=("label", lambda s: (s == "benign_positive").sum()),
        false_positive_alerts=("label", lambda s: (s == "false_positive").sum()),
    ).reset_index()
    benign = out["benign_positive_alerts"] + out["false_positive_alerts"]
    out["benign_rate_raw"] = benign / out["labelled_alerts"].where(out["labelled_alerts"] > 0)
    return out


def top_entities(labelled: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    a = labelled[labelled["rule_id"].notna()]
    rows = []
    for alert_id, rule_id, label, text in zip(a["SystemAlertId"], a["rule_id"], a["label"], a["Entities"], strict=True):
        try:
            ents = list(flatten_entities(text))
        except (ValueError, TypeError):
            continue
        for e in ents:
            if e["entity_key"]:
                rows.append((alert_id, rule_id, label, e["entity_type"], e["entity_key"]))
    ent = pd.DataFrame(rows, columns=["SystemAlertId", "rule_id", "label", "entity_type", "entity_key"])
    ent = ent.drop_duplicates(["SystemAlertId", "entity_type", "entity_key"])
    counted = ent.groupby(["rule_id", "entity_type", "entity_key"], dropna=False).agg(
        alerts=("SystemAlertId", "size"),
        true_positive_alerts=("label", lambda s: (s == "true_positive").sum()),
        benign_positive_alerts=("label", lambda s: (s == "benign_positive").sum()),
        false_positive_alerts=("label", lambda s: (s == "false_positive").sum()),
        unlabelled_alerts=("label", lambda s: s.isna().sum()),
    ).reset_index()
    counted = counted.sort_values(["rule_id", "alerts", "entity_type", "entity_key"], ascending=[True, False, True, True])
    counted["entity_rank"] = counted.groupby("rule_id").cumcount() + 1
    return counted[counted["entity_rank"] <= top].reset_index(drop=True)
