"""Suites of the raw lake tables, run on each committed Parquet partition (Microsoft column names).

Derived from the row contract (pipelines/sources/contract.py), like the extract row rules: every
rule extract quarantines on (missing key, type, range, future timestamp, window, malformed JSON in
a "quarantine" JSON column) is re-asserted here as an ERROR expectation on what was actually
committed; if one fails, a row bypassed quarantine and the partition must not reach the warehouse.
Keep-and-warn rules (malformed JSON in a "warn" column, values outside the known ones) are WARN.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.sources.contract import (
    RAW_CONTRACT,
    KnownValues,
    TableContract,
    known_values_regex,
    range_reason,
)
from pipelines.sources.schemas import RAW_TABLES
from quality.checks import Check, warn
from quality.suites.common import (
    E,
    in_window,
    json_parses,
    not_blank,
    not_future,
    not_null,
    ports,
    typed_columns,
)

NULL_KEY = "rows without their natural key cannot be de-duplicated or joined; extract quarantines them"

# Source columns without which a table is not what the warehouse expects: the natural keys and the
# columns the models read. `conform` would fill a missing one with nulls, so it is checked against
# the source's own column list (recorded by extract) before conform hides it.
REQUIRED_SOURCE_COLUMNS = {table: contract.required for table, contract in RAW_CONTRACT.items()}


def _known(column: str, known: KnownValues) -> Check:
    if known.ignore_case:
        return warn(E.ExpectColumnValuesToMatchRegex(column=column, regex=known_values_regex(known)),
                    f"compared case-insensitively: {known.why}")
    return warn(E.ExpectColumnValuesToBeInSet(column=column, value_set=list(known.values)), known.why)


def contract_suite(contract: TableContract) -> list[Check]:
    """The raw suite of one table, from its row contract."""
    string_keys = [c.name for c in contract.columns if c.key and pa.types.is_string(c.type)]
    checks = [
        *typed_columns(RAW_TABLES[contract.table], contract.typed),
        *not_null(contract.keys, NULL_KEY),
        *not_blank(string_keys, NULL_KEY),
        *in_window(contract.window_column),
        *[not_future(name) for name in contract.timestamps],
    ]
    for column in contract.ranged:
        checks += ports([column.name], *column.range, range_reason(column))
    for column in contract.json_columns:
        severity = "ERROR" if column.json.on_malformed == "quarantine" else "WARN"
        if severity == "ERROR":
            why = f"{column.json.why}; extract quarantines rows where it is not JSON ('' is NULL)"
        else:
            why = f"{column.json.why}; extract keeps such rows ('' is NULL)"
        checks.append(json_parses(column.name, severity, why))
    checks += [_known(column.name, column.known) for column in contract.known]
    return checks


RAW_SUITES: dict[str, list[Check]] = {table: contract_suite(contract) for table, contract in RAW_CONTRACT.items()}
# Key columns that bucket large partitions into chunks (rows of one key share a chunk).
RAW_KEYS = {
    "device_events": ["DeviceId", "Timestamp", "ReportId", "ActionType"],
    "security_alert": ["SystemAlertId"],
    "security_incident": ["IncidentNumber"],
    "analytic_rules": ["RuleId"],
}
