"""Suites of the published staging tables and the main models, run on this run's build file.

Each suite has a scope query (bound parameters only) that selects what this run changed: one
(tenant, day) of device_events, or every row of a tenant for the small per-tenant tables, whose
latest state is recomputed per tenant. `keys` bucket large scopes into chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

from quality.checks import Check, error, warn
from quality.suites.common import (
    CLASSIFICATIONS,
    E,
    in_window,
    json_parses,
    not_future,
    not_null,
    ports,
    unique,
)

NULL_KEY = "the natural key; a null would merge or drop rows in every join and de-duplication"
DEDUP = "staging de-duplicates on this key; a duplicate after it means the model would double count"


def types(spec: dict[str, str]) -> list[Check]:
    return [
        error(E.ExpectColumnValuesToBeOfType(column=c, type_=t), "models read this column with this type")
        for c, t in spec.items()
    ]


@dataclass(frozen=True)
class Scope:
    sql: str  # selects the rows to validate; parameters bound in order
    # "tenant_day" (params tenant, day), "tenant" (param tenant), "as_of" (params tenant, as_of),
    # "changed" (param: this run's changed partitions as 'tbl|tenant|YYYY-MM-DD' keys, one frame),
    # "tenants" (param: the configured tenants, one frame) or "all" (no params).
    by: str
    keys: tuple[str, ...]


DEVICE_EVENTS = [
    *types({"timestamp": "Timestamp", "device_id": "str", "action_type": "str", "remote_port": "int32",
            "local_port": "int32", "report_id": "int64"}),
    *not_null(["timestamp", "device_id", "action_type"], NULL_KEY),
    *in_window("timestamp"),
    not_future("timestamp"),
    *ports(["remote_port", "local_port"]),
    unique(["tenant", "device_id", "timestamp", "report_id", "action_type"], DEDUP),
    json_parses("additional_fields", "WARN", "staging stores text that is not JSON as a JSON string, so this only warns"),
    warn(
        E.ExpectColumnValuesToMatchRegex(column="action_type", regex="^Firewall"),
        "non-firewall ActionTypes are ignored by the firewall models (expected only with all_device_events)",
    ),
]

ALERTS = [
    *types({"system_alert_id": "str", "time_generated": "Timestamp", "rule_id": "str", "alert_name": "str"}),
    *not_null(["system_alert_id", "time_generated"], NULL_KEY),
    error(E.ExpectColumnValuesToNotBeNull(column="rule_id"), "tuning groups alerts by rule_id; staging always derives one"),
    not_future("time_generated"),
    unique(["tenant", "system_alert_id"], "alerts holds the latest version per alert; a duplicate double counts rule noise"),
    json_parses("entities", "WARN", "NULL when the source was not JSON (quarantined); parseable otherwise"),
    json_parses("extended_properties", "WARN", "the rule id and name come from it"),
]

ALERT_ENTITIES = [
    *not_null(["system_alert_id", "entity_ordinal", "entity_type"], NULL_KEY),
    unique(["tenant", "system_alert_id", "entity_ordinal"], DEDUP),
    warn(
        E.ExpectColumnValuesToMatchRegex(column="entity_type", regex="^[a-z0-9_-]+$"),
        "entity types are lower-cased by staging; another casing splits one entity type into two in the tuning reports",
    ),
    json_parses("properties", "WARN", "the entity's fields as JSON"),
]

INCIDENT_HISTORY = [
    *types({"incident_number": "int64", "last_modified_time": "Timestamp"}),
    *not_null(["incident_number", "last_modified_time"], NULL_KEY),
    not_future("last_modified_time"),
    unique(["tenant", "incident_number", "last_modified_time"], DEDUP),
    error(
        E.ExpectColumnValuesToBeInSet(column="classification", value_set=CLASSIFICATIONS),
        "the tuning models count exactly these labels; any other value would silently drop out of the benign rate",
    ),
]

INCIDENTS = [
    *not_null(["incident_number"], NULL_KEY),
    unique(["tenant", "incident_number"], "incidents holds the latest state per incident"),
    error(
        E.ExpectColumnValuesToBeInSet(column="classification", value_set=CLASSIFICATIONS),
        "the tuning models count exactly these labels",
    ),
]

FW_FINDINGS = [
    *not_null(["finding_id", "finding_type", "severity", "hunting_kql"], "every finding needs an id, a type, a severity and its evidence query"),
    unique(["tenant", "finding_id"], "finding_id identifies a finding within one night's set"),
    *ports(["local_port", "remote_port"]),
    error(
        E.ExpectColumnValuesToBeInSet(column="severity", value_set=["high", "medium", "low"]),
        "the firewall report sorts and colours by these severities",
    ),
    warn(E.ExpectColumnValuesToBeBetween(column="events", min_value=1), "a finding without events has no evidence"),
]

RULE_NOISE = [
    *not_null(["rule_id"], NULL_KEY),
    unique(["tenant", "rule_id"], "one row per rule"),
    error(E.ExpectColumnValuesToBeBetween(column="benign_rate", min_value=0, max_value=1), "a rate"),
    error(
        E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="benign_rate_high", column_B="benign_rate_low", or_equal=True),
        "the credible interval must be ordered; otherwise the Beta quantile UDF is broken",
    ),
    error(E.ExpectColumnValuesToBeBetween(column="alerts", min_value=1), "a ranked rule has alerts"),
]

TUNING_RECOMMENDATIONS = [
    *not_null(["rule_id", "entity_type_1", "entity_key_1", "expires_on"], NULL_KEY),
    error(
        E.ExpectColumnValuesToBeBetween(column="true_positive_alerts", max_value=0),
        "the visibility guard: an exclusion that would hide a true positive must never be recommended",
    ),
    error(
        E.ExpectColumnValuesToBeBetween(column="true_positive_incidents", max_value=0),
        "the visibility guard: no true-positive incident, ever, may hold a recommended exclusion",
    ),
    error(
        E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="decisions", column_B="benign_decisions", or_equal=True),
        "benign decisions are a subset of the decisions the recommendation rests on",
    ),
    error(E.ExpectColumnValuesToBeBetween(column="confidence", min_value=0, max_value=1), "a probability"),
    unique(["tenant", "rule_id", "exclusion_kind", "entity_type_1", "entity_key_1", "entity_type_2", "entity_key_2",
            "entity_type_3", "entity_key_3"], "one recommendation per exclusion"),
]

INCIDENT_ALERTS = [
    *not_null(["tenant", "incident_number", "system_alert_id"], NULL_KEY),
    unique(["tenant", "incident_number", "system_alert_id"],
           "the bridge of the latest incident state; a duplicate counts an alert's label twice in alert_labels"),
]

QUARANTINE = [
    # tbl, tenant, day and reason are NOT NULL in the DDL.
    error(E.ExpectColumnValueLengthsToBeBetween(column="reason", min_value=1),
          "the reason is what tells an analyst why a row is missing from the tables"),
    error(E.ExpectColumnValuesToBeInSet(column="tbl", value_set=["device_events", "security_alert", "security_incident", "analytic_rules"]),
          "quarantine is keyed by the raw table; another name means a partition's rows were filed under the wrong table"),
    warn(E.ExpectColumnValuesToNotBeNull(column="row_json"),
         "the raw row is what an analyst needs to judge the reason; the reason alone still explains the gap"),
]

ANALYTIC_RULE_SNAPSHOTS = [
    *not_null(["rules", "enabled_rules"], "a snapshot row says how many rules the partition held"),
    unique(["tenant", "day"], "one snapshot per lake partition"),
    error(E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="rules", column_B="enabled_rules", or_equal=True),
          "enabled rules are a subset of the snapshot's rules"),
]

ANALYTIC_RULES = [
    *not_null(["tenant", "day", "rule_id"], NULL_KEY),
    unique(["tenant", "rule_id"],
           "one definition per rule of the latest snapshot; a duplicate joins twice to every tuning table"),
    warn(E.ExpectColumnValuesToMatchRegex(column="rule_id", regex="^[^A-Z]*$"),
         "rule ids are lower-case, as staging writes alerts.rule_id; another casing does not join", "lower-case"),
]

LOAD_LOG = [
    *not_null(["sha256", "file", "loaded_at"],  # tbl, tenant, day are NOT NULL in the DDL
              "the next run compares sha256 with the lake manifest to decide what to reload; a null reloads "
              "the partition forever or hides a change"),
    unique(["tbl", "tenant", "day", "loaded_at"],
           "the latest row per partition is the warehouse's record of what it holds; a tie makes it arbitrary"),
    error(E.ExpectColumnValuesToBeBetween(column="rows", min_value=0), "a row count"),
    error(E.ExpectColumnValuesToBeBetween(column="quarantined", min_value=0), "a row count"),
    warn(E.ExpectColumnValuesToBeBetween(column="retries", max_value=10),
         "many retries mean the source API throttled or failed often; the data landed, but the nightly run is at risk",
         "few retries"),
]

def changed_partition(table: str, alias: str = "") -> str:
    """SQL true when a row's (table, tenant, day) is a partition this run (re)loaded. `table` is SQL
    (a quoted name or the `tbl` column); the one parameter is the "changed" scope's list of
    'tbl|tenant|YYYY-MM-DD' keys (quality/gate.py)."""
    col = f"{alias}." if alias else ""
    return f"list_contains(?::VARCHAR[], {table} || '|' || {col}tenant || '|' || strftime({col}day, '%Y-%m-%d'))"


CHANGED_PARTITIONS = changed_partition("tbl")
CHANGED_INCIDENT_DAYS = changed_partition("'security_incident'")
CHANGED_RULE_SNAPSHOTS = changed_partition("'analytic_rules'")
# correlated on the outer table `x`: its key has a row on a day this run (re)loaded (constants only)
_ALERT_DAY, _INCIDENT_DAY = changed_partition("'security_alert'", "c"), changed_partition("'security_incident'", "c")
TOUCHED_ALERT = f"SELECT 1 FROM alerts AS c WHERE c.tenant = x.tenant AND c.system_alert_id = x.system_alert_id AND {_ALERT_DAY}"  # noqa: S608
TOUCHED_INCIDENT = (
    f"SELECT 1 FROM incident_history AS c WHERE c.tenant = x.tenant AND c.incident_number = x.incident_number AND {_INCIDENT_DAY}"  # noqa: S608
)

# asset -> (suite, scope). Day-scoped tables bind (tenant, day, window); tenant-scoped bind (tenant).
STAGING_SUITES: dict[str, tuple[list[Check], Scope]] = {
    "device_events": (DEVICE_EVENTS, Scope("SELECT * FROM device_events WHERE tenant = ? AND day = ?", "tenant_day",
                                           ("device_id", "timestamp", "report_id", "action_type"))),
    # The latest-state tables are validated for what this run touched (every row of each touched key, so
    # a duplicate is still seen); the rest was validated by the run that wrote it. Validating a
    # tenant's whole history every night would cost what the history costs.
    "alerts": (ALERTS, Scope(f"SELECT * FROM alerts AS x WHERE EXISTS ({TOUCHED_ALERT})", "changed",  # noqa: S608
                             ("tenant", "system_alert_id"))),
    "alert_entities": (ALERT_ENTITIES, Scope(f"SELECT * FROM alert_entities AS x WHERE EXISTS ({TOUCHED_ALERT})",  # noqa: S608
                                             "changed", ("tenant", "system_alert_id", "entity_ordinal"))),
    "incident_history": (INCIDENT_HISTORY, Scope(f"SELECT * FROM incident_history WHERE {CHANGED_INCIDENT_DAYS}",  # noqa: S608
                                                 "changed", ("tenant", "incident_number", "last_modified_time"))),
    "incidents": (INCIDENTS, Scope(f"SELECT * FROM incidents AS x WHERE EXISTS ({TOUCHED_INCIDENT})", "changed",  # noqa: S608
                                   ("tenant", "incident_number"))),
    "incident_alerts": (INCIDENT_ALERTS, Scope(f"SELECT * FROM incident_alerts AS x WHERE EXISTS ({TOUCHED_INCIDENT})",  # noqa: S608
                                               "changed", ("tenant", "incident_number", "system_alert_id"))),
    "analytic_rule_snapshots": (ANALYTIC_RULE_SNAPSHOTS, Scope(
        f"SELECT * FROM analytic_rule_snapshots WHERE {CHANGED_RULE_SNAPSHOTS}", "changed",  # noqa: S608
        ("tenant", "day"))),
    "analytic_rules": (ANALYTIC_RULES, Scope("SELECT * FROM analytic_rules WHERE tenant = ?", "tenant", ("rule_id",))),
    "quarantine": (QUARANTINE, Scope(f"SELECT * FROM quarantine WHERE {CHANGED_PARTITIONS}", "changed",  # noqa: S608
                                     ("tbl", "tenant", "day"))),
    "load_log": (LOAD_LOG, Scope(f"SELECT * FROM load_log WHERE {CHANGED_PARTITIONS}", "changed",  # noqa: S608
                                 ("tbl", "tenant", "day"))),
}
MODEL_SUITES: dict[str, tuple[list[Check], Scope]] = {
    "fw_findings": (FW_FINDINGS, Scope("SELECT * FROM fw_findings WHERE tenant = ? AND as_of = ?", "as_of", ("finding_id",))),
    "rule_noise": (RULE_NOISE, Scope("SELECT * FROM rule_noise WHERE tenant = ?", "tenant", ("rule_id",))),
    "tuning_recommendations": (TUNING_RECOMMENDATIONS, Scope("SELECT * FROM tuning_recommendations WHERE tenant = ?",
                                                             "tenant", ("rule_id", "entity_key_1"))),
}
