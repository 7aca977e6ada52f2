"""Suites of the firewall model tables other than fw_findings (which lives with the staging suites).

fw_events, fw_daily and fw_remote_daily are incremental: their scope is only the (tenant, day) pairs whose
device_events partition this run changed, exactly what the model rebuilt; unchanged days were
validated by the run that built them. fw_baseline holds one baseline per tenant, for the run's as_of.
"""

from __future__ import annotations

from models import registry
from pipelines.sources.schemas import FIREWALL_ACTION_TYPES
from quality.checks import Check, error, warn
from quality.suites.common import E, not_null, unique
from quality.suites.staging import Scope, changed_partition

DIRECTIONS = ["inbound", "outbound", "none"]
# Every value fw_ip_class_norm (models/firewall/00_fw_macros.sql) can return.
REMOTE_CLASSES = ["public", "private", "loopback", "link-local", "multicast", "broadcast", "reserved",
                  "unspecified", "invalid"]
ROLLUP = "a rollup row exists because events were grouped into it"


def _ordered(a: str, b: str, why: str) -> Check:
    return error(E.ExpectColumnPairValuesAToBeGreaterThanB(column_A=a, column_B=b, or_equal=True), why,
                 f"{a} >= {b}")


# These tables have hundreds of thousands of rows per run, and GX 1.24 checks a range on a nullable
# integer column one Python call per value; so ranges are asserted on the column's min and max
# (pandas aggregates). The folded outcome is the same: every chunk's min/max within the bounds.
def at_least(column: str, value: float, why: str) -> Check:
    return error(E.ExpectColumnMinToBeBetween(column=column, min_value=value), why, f">= {value}")


def _port_warn(columns: list[str]) -> list[Check]:
    why = ("fw_events falls back to AdditionalFields ports when the columns are empty, and extract only "
           "screens the columns; a bad value shows as one odd pattern in the report but counts stay right")
    return [
        check
        for c in columns
        for check in (warn(E.ExpectColumnMinToBeBetween(column=c, min_value=0), why, "port >= 0"),
                      warn(E.ExpectColumnMaxToBeBetween(column=c, max_value=65535), why, "port <= 65535"))
    ]


FW_PORT_SERVICES = [
    *not_null(["port", "service", "is_sensitive"], "the seed is hand-written; every row names a port and a service"),
    error(E.ExpectColumnValuesToBeUnique(column="port"),
          "fw_daily LEFT JOINs the seed on port: a duplicate port would double every matching rollup row"),
    error(E.ExpectColumnValuesToBeBetween(column="port", min_value=0, max_value=65535), "a port"),
]

# fw_events derives these classes and fw_daily groups by them: both are checked against the same sets
DERIVED_CLASSES = [
    error(E.ExpectColumnValuesToBeInSet(column="direction", value_set=DIRECTIONS),
          "baselines and findings split by these directions; another value drops out of every finding"),
    error(E.ExpectColumnValuesToBeInSet(column="remote_class", value_set=REMOTE_CLASSES),
          "exposure and scanner findings select by remote_class; an unknown class is silently ignored"),
    *_port_warn(["service_port"]),
]

FW_EVENTS = [
    error(E.ExpectColumnValuesToBeInSet(column="action_type", value_set=list(FIREWALL_ACTION_TYPES)),
          "fw_events holds firewall events only; another ActionType means the model's filter is broken"),
    *DERIVED_CLASSES,
]

FW_DAILY = [
    # tenant, day, direction, action_type and process are NOT NULL in the DDL; device_id is not.
    *not_null(["device_id"], "the rollup grain; a null would merge the patterns of different devices"),
    unique(["tenant", "day", "device_id", "direction", "action_type", "process", "service_port",
            "protocol", "remote_class"],
           "the rollup grain: a duplicate means a changed day was inserted twice without its delete, "
           "doubling every baseline and finding built on it"),
    *DERIVED_CLASSES,
    at_least("events", 1, ROLLUP),
    _ordered("events", "remote_ips", "distinct remote addresses cannot outnumber the events they come from"),
    _ordered("last_seen", "first_seen", "the rollup's time span must be ordered"),
    warn(E.ExpectColumnValuesToNotBeNull(column="sample_report_id"),
         "the report pivots from a pattern back to Advanced Hunting through this sample event; without it "
         "the analyst has to search by time"),
]

FW_REMOTE_DAILY = [
    unique(["tenant", "day", "direction", "remote_ip", "remote_class"],
           "one row per address and day; a duplicate doubles the scanner finding's device count"),
    error(E.ExpectColumnValuesToBeInSet(column="remote_class", value_set=REMOTE_CLASSES),
          "the scanner finding selects public addresses by remote_class"),
    at_least("devices", 1, ROLLUP),
    _ordered("events", "devices", "an address cannot be blocked on more devices than it has events"),
    _ordered("last_seen", "first_seen", "the rollup's time span must be ordered"),
    *_port_warn(["top_local_port"]),
]

FW_BASELINE = [
    # The grain and the statistics are NOT NULL in the DDL; nothing to re-assert there.
    unique(["tenant", "as_of", "scope", "level", "device_id", "direction", "action_type", "process", "service_port",
            "protocol", "remote_class"],
           "findings join their pattern to exactly one baseline row; a duplicate doubles or hides a finding"),
    error(E.ExpectColumnValuesToBeInSet(column="scope", value_set=["device", "fleet"]), "findings read both scopes by name"),
    error(E.ExpectColumnValuesToBeInSet(column="level", value_set=["pattern", "direction"]), "findings read both levels by name"),
    at_least("median", 0, "a median of daily event counts"),
    at_least("mad", 0, "a median of absolute deviations"),
    _ordered("p95", "median", "quantiles of one series must be ordered; otherwise the list aggregate is broken and "
             "every spike finding is wrong"),
    _ordered("events", "p95", "no daily count exceeds the window's total"),
    _ordered("window_days", "days_seen", "a pattern cannot be seen on more days than the tenant reported"),
    at_least("days_seen", 1, "a baseline row comes from at least one day"),
    warn(E.ExpectTableRowCountToBeBetween(min_value=1),
         "a tenant without a baseline gets no volume or new-pattern findings; expected only in its first days",
         "baseline present"),
]

CHANGED_DEVICE_DAYS = changed_partition("'device_events'")



def _scope(table: str, sample_keys: tuple[str, ...], columns: str = "*") -> Scope:
    """The rows a run validates follow from the model's declaration (models/registry.py): an
    incremental table the changed device_events days, a table keyed by as_of the tenant's rows of
    the run's as_of, a seed all of it."""
    model = registry.default().by_name[table]
    if model.kind == "incremental" and model.catch_up == "event_days":
        return Scope(f"SELECT {columns} FROM {table} WHERE {CHANGED_DEVICE_DAYS}", "changed", sample_keys)  # noqa: S608
    if "as_of" in model.key:
        return Scope(f"SELECT {columns} FROM {table} WHERE tenant = ? AND as_of = ?", "as_of", sample_keys)  # noqa: S608
    if model.kind == "seed":
        return Scope(f"SELECT {columns} FROM {table}", "all", sample_keys)  # noqa: S608
    raise ValueError(f"no quality scope for {table} ({model.kind}, catch_up {model.catch_up})")


SUITES: dict[str, tuple[list[Check], tuple[str, ...], str]] = {
    "fw_port_services": (FW_PORT_SERVICES, ("port",), "*"),
    # only the columns the checks read: a night's fw_events is a day of events
    "fw_events": (FW_EVENTS, ("tenant", "day", "device_id", "report_id"),
                  "tenant, day, device_id, report_id, action_type, direction, remote_class, service_port"),
    "fw_daily": (FW_DAILY, ("tenant", "day", "device_id", "process"), "*"),
    "fw_remote_daily": (FW_REMOTE_DAILY, ("tenant", "day", "remote_ip"), "*"),
    "fw_baseline": (FW_BASELINE, ("device_id", "process", "service_port"), "*"),
}
FIREWALL_SUITES: dict[str, tuple[list[Check], Scope]] = {
    table: (checks, _scope(table, keys, columns)) for table, (checks, keys, columns) in SUITES.items()
}
