"""The raw-table row contract, written once: what each raw column may hold.

Per column: its Arrow type (from schemas.py), whether it may be null (a key may not), what an
empty or whitespace-only string means, whether it is JSON text and what a malformed value costs
the row, its allowed range and its known values. Both layers are derived from it, so they cannot
disagree about a row:

- the extract row rules (pipelines/sources/row_rules.py and `split_bad_rows` in pipelines/extract.py):
  bad rows are quarantined with the reason of the rule they broke, blank JSON becomes NULL;
- the raw GX suites (quality/suites/raw.py): every quarantining rule is re-asserted as an ERROR
  expectation on the committed partition, every keep-and-warn rule as a WARN expectation.

A rule says what a row may carry, not how either layer checks it; docs/warehouse.md ("Raw lake
tables") documents the same contract for users.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import pyarrow as pa

from pipelines.sources.schemas import FIREWALL_ACTION_TYPES, RAW_TABLES, WINDOW_COLUMN

# How far past the moment of extraction (or validation) a timestamp may be before it is "in the future".
CLOCK_SKEW = timedelta(minutes=5)

OnMalformed = Literal["quarantine", "warn"]
Blank = Literal["missing", "null", "kept"]


@dataclass(frozen=True)
class JsonText:
    """The column holds JSON text (Microsoft `dynamic`). Blank means no value (NULL)."""

    on_malformed: OnMalformed
    why: str


@dataclass(frozen=True)
class KnownValues:
    """The values a consumer expects; another value is kept and warned about, never quarantined."""

    values: tuple[str, ...]
    ignore_case: bool
    why: str


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    key: bool = False  # not nullable: a row without a value (NULL, '' or blanks) is quarantined
    required: bool = False  # the source must send it: the models read it by name
    typed: bool = False  # the models read it with this type (re-asserted on the committed file)
    json: JsonText | None = None
    range: tuple[int, int] | None = None
    known: KnownValues | None = None

    @property
    def nullable(self) -> bool:
        return not self.key

    @property
    def blank(self) -> Blank:
        """What '' (or whitespace only) means: a missing key, no value (NULL), or a value kept as sent."""
        if self.key:
            return "missing"
        return "null" if self.json else "kept"

    @property
    def is_timestamp(self) -> bool:
        """Timestamps are ISO 8601 (fraction truncated to µs; no zone means UTC) and never in the future."""
        return pa.types.is_timestamp(self.type)


@dataclass(frozen=True)
class TableContract:
    table: str
    columns: tuple[Column, ...]
    window_column: str
    column: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column", {c.name: c for c in self.columns})

    @property
    def keys(self) -> list[str]:
        """Columns that may not be NULL (nor blank, when text)."""
        return [c.name for c in self.columns if not c.nullable]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def typed(self) -> list[str]:
        return [c.name for c in self.columns if c.typed]

    @property
    def json_columns(self) -> list[Column]:
        return [c for c in self.columns if c.json]

    @property
    def blank_is_null(self) -> list[str]:
        return [c.name for c in self.columns if c.blank == "null"]

    @property
    def ranged(self) -> list[Column]:
        return [c for c in self.columns if c.range]

    @property
    def timestamps(self) -> list[str]:
        return [c.name for c in self.columns if c.is_timestamp]

    @property
    def known(self) -> list[Column]:
        return [c for c in self.columns if c.known]


# Reasons shared by both layers: the quarantine reason of the row rule, the `why` of its expectation.
def range_reason(column: Column) -> str:
    low, high = column.range or (None, None)
    return f"{column.name} outside {low}-{high}"


def json_reason(column: Column) -> str:
    return f"{column.name} is not valid JSON"


def key_reason(column: str) -> str:
    return f"missing key column {column}"


def type_reason(column: str, value: object, arrow_type: pa.DataType) -> str:
    return f"{column} value {str(value)[:60]!r} is not {arrow_type}"


def future_reason(column: str, limit_iso: str) -> str:
    return f"{column} in the future (after {limit_iso})"


def parses_as_json(text: str) -> bool:
    """What 'JSON text' means, for both layers: `json.loads` reads it without raising. This is the
    exact test of GX's expect_column_values_to_be_json_parseable (any exception counts as not JSON,
    e.g. RecursionError on absurd nesting), so the row rule and the expectation judge alike."""
    try:
        json.loads(text)
    except Exception:  # noqa: BLE001 (GX's own judgement: anything json.loads cannot read)
        return False
    return True


def known_values_regex(known: KnownValues) -> str:
    """A case-insensitive pattern of the known values that also takes '' and a space between the
    words of a PascalCase value ('True Positive'), as exports spell them."""
    words = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ?", re.escape(v)) for v in known.values]
    return rf"(?i)^({'|'.join(words)})?$"


KEY = "rows without their natural key cannot be de-duplicated or joined"
GRAPH_ENUMS = "Sentinel sends PascalCase, Graph camelCase; Graph adds unknown and unknownFutureValue"
SEVERITIES = ("Informational", "Low", "Medium", "High", "Unknown", "unknownFutureValue")
# Sentinel alertRules kinds (2024-09-01) and Defender XDR custom detection rules (Graph)
RULE_KINDS = ("Scheduled", "NRT", "Fusion", "MicrosoftSecurityIncidentCreation", "MLBehaviorAnalytics",
              "ThreatIntelligence", "CustomDetection")

# Only the columns with more than a type; every other column is nullable, blank kept, no range.
_RULES: dict[str, dict[str, dict]] = {
    "device_events": {
        "Timestamp": {"key": True, "required": True, "typed": True},
        "DeviceId": {"key": True, "required": True, "typed": True},
        "ActionType": {
            "key": True, "required": True, "typed": True,
            "known": KnownValues(
                FIREWALL_ACTION_TYPES, False,
                "the firewall models only read Firewall* ActionTypes (exact casing); others are kept but "
                "ignored unless all_device_events is set, so they annotate rather than block",
            ),
        },
        "DeviceName": {"required": True},
        "RemoteIP": {"required": True},
        "LocalIP": {"required": True},
        "RemotePort": {"required": True, "typed": True, "range": (0, 65535)},
        "LocalPort": {"required": True, "typed": True, "range": (0, 65535)},
        "InitiatingProcessFileName": {"required": True},
        "InitiatingProcessFolderPath": {"required": True},
        "ReportId": {"required": True, "typed": True},
        "AdditionalFields": {
            "required": True,
            "json": JsonText("quarantine", "the firewall models read Direction and Profile from it"),
        },
    },
    "security_alert": {
        "TimeGenerated": {"key": True, "required": True, "typed": True},
        "SystemAlertId": {"key": True, "required": True, "typed": True},
        "AlertName": {"required": True, "typed": True},
        "ConfidenceScore": {"typed": True},
        "AlertSeverity": {
            "known": KnownValues(SEVERITIES, True, f"displayed as-is, nothing filters on it; {GRAPH_ENUMS}"),
        },
        "Status": {
            "known": KnownValues(
                ("New", "InProgress", "Resolved", "Dismissed", "Unknown", "unknownFutureValue"), True,
                f"displayed as-is, nothing filters on it; {GRAPH_ENUMS}",
            ),
        },
        "Entities": {
            "required": True, "typed": True,
            "json": JsonText(
                "warn",
                "an alert with broken Entities keeps its row and label (staging quarantines the entities), "
                "so the tuning models lose only its entities",
            ),
        },
        "ExtendedProperties": {
            "required": True, "json": JsonText("quarantine", "the tuning models read the analytic rule id from it"),
        },
        "ExtendedLinks": {"json": JsonText("warn", "kept for the analyst; no model reads it")},
    },
    "security_incident": {
        "TimeGenerated": {"required": True, "typed": True},
        "IncidentNumber": {"key": True, "required": True, "typed": True},
        "LastModifiedTime": {"key": True, "required": True, "typed": True},
        "CreatedTime": {"required": True},
        "Status": {
            "required": True,
            "known": KnownValues(
                ("New", "Active", "Closed", "InProgress", "Resolved", "Redirected", "AwaitingAction",
                 "unknownFutureValue"), True, f"displayed as-is; {GRAPH_ENUMS}",
            ),
        },
        "Severity": {"known": KnownValues(SEVERITIES, True, f"displayed as-is; {GRAPH_ENUMS}")},
        "Classification": {
            "required": True, "typed": True,
            "known": KnownValues(
                ("TruePositive", "BenignPositive", "FalsePositive", "Undetermined", "InformationalExpectedActivity",
                 "Unknown", "unknownFutureValue"), True,
                f"{GRAPH_ENUMS}; staging normalises any other value to 'undetermined', so it never counts "
                "as benign or true positive",
            ),
        },
        "AlertIds": {
            "required": True,
            "json": JsonText("warn", "staging reads the incident's alerts from it; a broken list loses the "
                                     "incident's labels for tuning, not the incident"),
        },
        "RelatedAnalyticRuleIds": {"json": JsonText("warn", "staging reads the incident's rule ids from it")},
        "Labels": {"json": JsonText("warn", "staging keeps it as JSON for the analyst")},
        "AdditionalData": {"json": JsonText("warn", "kept for the analyst; no model reads it")},
        # Owner is `dynamic` in Sentinel but plain text from Graph (assignedTo): text, not JSON.
    },
    "analytic_rules": {
        "SnapshotTime": {"key": True, "required": True, "typed": True},
        "RuleId": {"key": True, "required": True, "typed": True},
        "Kind": {
            "required": True,
            "known": KnownValues(
                RULE_KINDS, False,
                "displayed to rule owners; only Scheduled and NRT rules have a query an exclusion clause is pasted into",
            ),
        },
        "Enabled": {"typed": True},
        "Severity": {"known": KnownValues(SEVERITIES, True, f"displayed as-is; {GRAPH_ENUMS}")},
        "Tactics": {"json": JsonText("warn", "displayed to rule owners; no model reads it")},
        "Techniques": {"json": JsonText("warn", "displayed to rule owners; no model reads it")},
        "EntityMappings": {
            "json": JsonText(
                "warn",
                "the tuning clause reads the rule's mapped column names from it; a broken mapping falls back to "
                "the standard entity columns",
            ),
        },
    },
}


def _table_contract(table: str) -> TableContract:
    schema = RAW_TABLES[table]
    rules = _RULES[table]
    unknown = set(rules) - set(schema.names)
    if unknown:
        raise RuntimeError(f"row contract of {table} names columns the schema lacks: {sorted(unknown)}")
    columns = tuple(Column(f.name, f.type, **rules.get(f.name, {})) for f in schema)
    for c in columns:
        if c.json and not pa.types.is_string(c.type):
            raise RuntimeError(f"{table}.{c.name}: JSON text must be a string column")
        if c.range and not pa.types.is_integer(c.type):
            raise RuntimeError(f"{table}.{c.name}: a range needs an integer column")
    return TableContract(table, columns, WINDOW_COLUMN[table])


RAW_CONTRACT: dict[str, TableContract] = {table: _table_contract(table) for table in RAW_TABLES}
