"""The extract row rules and the raw GX suites agree on every row, because both come from the row
contract (pipelines/sources/contract.py).

Every kind of bad input the contract knows (generated from it, column by column) and every
real-world shape Sentinel, Defender and Graph send goes through both layers:
- extract (`extract_partition`, row rules included), then the raw suite on the committed partition
  (`gate.check_raw_partition`): a row lands and the partition passes every ERROR expectation, or
  the row is quarantined with the rule's reason;
- the same row as if it had bypassed the row rules, through the same raw suite: it fails exactly
  the ERROR expectation of the rule that quarantined it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.extract import extract_partition
from pipelines.sources.contract import RAW_CONTRACT, json_reason, key_reason, parses_as_json, range_reason
from pipelines.sources.graph_mapping import alerts_table, incidents_table
from pipelines.sources.rule_definitions import defender_rules_table, sentinel_rules_table
from pipelines.sources.schemas import conform
from pipelines.warehouse.staging import stage_raw as pipeline_stage_raw
from quality import gate
from quality.checks import WINDOW_END_COLUMN, WINDOW_START_COLUMN
from quality.engine import validate_tables
from quality.suites.raw import RAW_SUITES
from tests.conftest import write_config
from tests.fw_testlib import build_firewall, changed, staging_db
from tests.quality_fixtures import DAY, T0, alert, event, incident, rule

pytest_plugins = ["tests.fakes.fixtures"]  # the `fake` fixture (loopback Log Analytics and Graph)

DOC = Path(__file__).resolve().parents[1] / "docs" / "warehouse.md"
GRAPH_INCIDENTS = Path(__file__).resolve().parents[2] / "shared/data/real/msgraph_docs/security_list_incidents_example1_response.json"
# The column that names a case on its row (not a key, so a case may blank a key and still be found).
TAG = {"device_events": "DeviceName", "security_alert": "Description", "security_incident": "Title",
       "analytic_rules": "DisplayName"}
BASE = {"device_events": event, "security_alert": alert, "security_incident": incident, "analytic_rules": rule}
FUTURE = datetime.now(UTC) + timedelta(days=2)
IN_WINDOW_7_DIGITS = ("2026-10-05T08:30:00.1234567", datetime(2026, 10, 5, 8, 30, 0, 123456, tzinfo=UTC))


@dataclass(frozen=True)
class Case:
    table: str
    name: str
    overrides: dict
    reason: str | None = None  # the quarantine reason (prefix); None: the row lands
    fails: str | None = None  # the ERROR expectation the row fails when it bypasses the row rules
    lands_as: dict = field(default_factory=dict)  # column -> value on the committed row
    warns: str | None = None  # the WARN expectation a landed row fails (keep-and-warn rules)
    batch: pa.Table | None = None  # the source batch as a service connector builds it, when given


def _between(column: str, what: str = "") -> str:
    return f"expect_column_values_to_be_between({column}){' ' + what if what else ''}"


def _after(column_a: str, column_b: str, what: str) -> str:
    return f"expect_column_pair_values_a_to_be_greater_than_b({column_a},{column_b}) {what}"


def contract_cases() -> Iterator[Case]:
    """Every bad-input kind of every column the contract has a rule for, and its blank shapes."""
    for table, contract in RAW_CONTRACT.items():
        window = contract.window_column
        for c in contract.columns:
            name = c.name
            if c.key:
                yield Case(table, f"{name} null", {name: None}, key_reason(name), f"expect_column_values_to_not_be_null({name})")
                if pa.types.is_string(c.type):
                    for blank in ("", " \t"):
                        yield Case(table, f"{name} {blank!r}", {name: blank}, key_reason(name),
                                   f"expect_column_values_to_match_regex({name}) not blank")
            if c.json:
                for blank in ("", "   ", "\r\n\t"):
                    yield Case(table, f"{name} blank {blank!r}", {name: blank}, lands_as={name: None})
                yield Case(table, f"{name} NULL", {name: None}, lands_as={name: None})
                yield Case(table, f"{name} JSON null", {name: "null"}, lands_as={name: "null"})
                padded = f"\n  {BASE[table](0).get(name) or '[]'}  \r\n"  # the column's own shape, padded
                yield Case(table, f"{name} padded JSON", {name: padded}, lands_as={name: padded})
                label = f"expect_column_values_to_be_json_parseable({name})"
                for text in ("{not json", "[1,]", "[" * 5000):
                    if c.json.on_malformed == "quarantine":
                        yield Case(table, f"{name} not JSON {text[:9]!r}", {name: text}, json_reason(c), label)
                    else:
                        yield Case(table, f"{name} not JSON {text[:9]!r}", {name: text}, lands_as={name: text}, warns=label)
            if c.range:
                low, high = c.range
                for value in (low - 1, high + 1):
                    yield Case(table, f"{name} {value}", {name: value}, range_reason(c), _between(name))
                yield Case(table, f"{name} {high} as text", {name: str(high)}, lands_as={name: high})
                yield Case(table, f"{name} not a number", {name: "http"}, f"{name} value 'http' is not {c.type}",
                           f"expect_column_values_to_be_of_type({name})")
            if c.is_timestamp:
                text, parsed = IN_WINDOW_7_DIGITS
                yield Case(table, f"{name} 7 digits no zone", {name: text}, lands_as={name: parsed})
                if name == window:
                    yield Case(table, f"{name} in the future", {name: FUTURE}, f"{name} outside the partition window",
                               _after(WINDOW_END_COLUMN, name, "inside the partition window, to its end"))
                    yield Case(table, f"{name} before the window", {name: T0 - timedelta(hours=9)},
                               f"{name} outside the partition window",
                               _after(name, WINDOW_START_COLUMN, "inside the partition window, from its start"))
                else:
                    yield Case(table, f"{name} in the future", {name: FUTURE}, f"{name} in the future",
                               _between(name, "not in the future"))
                if c.typed:
                    yield Case(table, f"{name} unparseable", {name: "yesterday"}, f"{name} value 'yesterday' is not",
                               f"expect_column_values_to_be_of_type({name})")
            if c.known and c.known.ignore_case:  # Graph enums: its own casing, and its future values
                for value in ("unknownFutureValue", c.known.values[0].lower(), c.known.values[-1].upper()):
                    yield Case(table, f"{name} {value}", {name: value}, lands_as={name: value})
            elif c.known:
                value = c.known.values[-1]
                yield Case(table, f"{name} {value}", {name: value}, lands_as={name: value})


def _graph_incident() -> dict:
    found = json.loads(GRAPH_INCIDENTS.read_text(encoding="utf-8"))["value"][0]
    return {**found, "lastUpdateDateTime": "2026-10-05T09:00:00.1133333Z", "classification": "unknownFutureValue",
            "status": "unknownFutureValue", "severity": "unknownFutureValue", "displayName": "graph unknownFutureValue"}


def _graph_alert() -> dict:
    return {"id": "da637", "title": "Suspicious logon", "description": "graph alert unknownFutureValue",
            "createdDateTime": "2026-10-05T09:00:00.1234567Z", "severity": "unknownFutureValue",
            "status": "unknownFutureValue", "classification": "unknownFutureValue", "detectorId": "rule-9",
            "evidence": []}


def real_world_cases() -> Iterator[Case]:
    """Shapes real tenants send that must land (the issue's row first)."""
    yield Case("device_events", "FirewallServiceStopped without AdditionalFields",
               {"ActionType": "FirewallServiceStopped", "RemoteIP": "", "LocalIP": "", "RemotePort": None,
                "LocalPort": None, "AdditionalFields": ""}, lands_as={"AdditionalFields": None})
    yield Case("device_events", "IPv6 in upper case with zone ids",
               {"RemoteIP": "FE80::1%12", "LocalIP": "2001:DB8::5%eth0"},
               lands_as={"RemoteIP": "FE80::1%12", "LocalIP": "2001:DB8::5%eth0"})
    yield Case("device_events", "Log Analytics numbers as text",
               {"RemotePort": "3389", "LocalPort": "0", "ReportId": "1234"},
               lands_as={"RemotePort": 3389, "LocalPort": 0, "ReportId": 1234})
    yield Case("device_events", "Timestamp with 7 digits and no Z",
               {"Timestamp": "2026-10-05T12:00:00.1234567"},
               lands_as={"Timestamp": datetime(2026, 10, 5, 12, 0, 0, 123456, tzinfo=UTC)})
    yield Case("security_alert", "empty dynamic columns",
               {"Entities": "", "ExtendedProperties": "", "ExtendedLinks": " "},
               lands_as={"Entities": None, "ExtendedProperties": None, "ExtendedLinks": None})
    yield Case("security_incident", "empty dynamic columns",
               {"AlertIds": "", "AdditionalData": "", "Labels": "", "RelatedAnalyticRuleIds": "\n"},
               lands_as={"AlertIds": None, "AdditionalData": None, "Labels": None, "RelatedAnalyticRuleIds": None})
    incident_batch = incidents_table([_graph_incident()])
    yield Case("security_incident", "Graph incident with unknownFutureValue enums", {},
               lands_as={"Classification": "unknownFutureValue", "Status": "unknownFutureValue",
                         "Severity": "unknownFutureValue"}, batch=incident_batch)
    snapshot = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    yield Case("analytic_rules", "Sentinel incident-creation rule without query or mappings", {},
               lands_as={"Kind": "MicrosoftSecurityIncidentCreation", "Query": None, "EntityMappings": None},
               batch=sentinel_rules_table([{
                   "id": "/subscriptions/x/providers/Microsoft.SecurityInsights/alertRules/MicrosoftSecurityIncidentCreationRuleExample",
                   "name": "microsoftSecurityIncidentCreationRuleExample", "kind": "MicrosoftSecurityIncidentCreation",
                   "properties": {"productFilter": "Microsoft Cloud App Security", "displayName": "x", "enabled": True,
                                  "lastModifiedUtc": "2019-09-04T12:05:35.7296311Z"}}], snapshot))
    yield Case("analytic_rules", "Defender custom detection in Graph's lower case", {},
               lands_as={"Kind": "CustomDetection", "Severity": "low", "QueryFrequency": "24H"},
               batch=defender_rules_table([{
                   "id": "7506", "displayName": "ban file", "isEnabled": True, "detectorId": "67895317-b2a8-4ac3-8f8b-fa6b7765f2fe",
                   "lastModifiedDateTime": "2023-05-24T09:26:11.8630516Z",
                   "queryCondition": {"queryText": "DeviceFileEvents | where FileName == 'x.dll'"},
                   "schedule": {"period": "24H"},
                   "detectionAction": {"alertTemplate": {"title": "unwanted dll", "severity": "low", "category": "Malware",
                                                         "mitreTechniques": [], "impactedAssets": []}}}], snapshot))
    yield Case("security_alert", "Graph alert with unknownFutureValue enums", {},
               lands_as={"AlertSeverity": "unknownFutureValue", "Status": "unknownFutureValue"},
               batch=alerts_table([_graph_alert()]))


CASES = [*contract_cases(), *real_world_cases()]


def _tag(case: Case) -> str:
    return f"{case.table}: {case.name}"


def _batch(case: Case, i: int) -> pa.Table:
    if case.batch is not None:
        return case.batch.set_column(
            case.batch.schema.get_field_index(TAG[case.table]), TAG[case.table], pa.array([_tag(case)] * case.batch.num_rows)
        )
    row = {**BASE[case.table](i), TAG[case.table]: _tag(case)}
    row.update(case.overrides)
    return pa.Table.from_pylist([row])


class CaseSource:
    """One batch per case, as services send pages: a value's column type is that of its own page."""

    kind = "sample"

    def __init__(self, batches: dict[str, list[pa.Table]]):
        self.batches = batches

    def fetch(self, table, window, stats):
        stats.query_windows += 1
        yield from self.batches.get(table, [])


def _failed(outcomes, severity: str) -> set[str]:
    return {o.expectation for o in outcomes if not o.success and o.severity == severity}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Every case extracted into its table's partition, and the raw suite's outcomes on each."""
    settings = write_config(tmp_path_factory.mktemp("contract"), extra="\n[quality]\nquarantine_threshold = 0.95\n")
    batches: dict[str, list[pa.Table]] = {}
    for i, case in enumerate(CASES):
        batches.setdefault(case.table, []).append(_batch(case, i))
    result = {}
    for table in RAW_CONTRACT:
        m = extract_partition(settings, "contoso", table, DAY, source=CaseSource(batches))
        landed = {r[TAG[table]]: r for r in pq.read_table(m.file).to_pylist()}
        quarantined = {}
        for q in pq.read_table(m.quarantine_file).to_pylist() if m.quarantine_file else []:
            quarantined[json.loads(q["row_json"])[TAG[table]]] = q["reason"]
        outcomes = gate.check_raw_partition(settings, table, "contoso", DAY, "contract")
        result[table] = (landed, quarantined, outcomes, m.file)
    return result


def test_the_data_dictionary_documents_every_column_with_a_rule():
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Raw lake tables"):text.index("## Staging")]
    for contract in RAW_CONTRACT.values():
        ruled = contract.keys + [c.name for c in contract.json_columns + contract.ranged + contract.known]
        missing = [name for name in ruled if f"`{name}`" not in section]
        assert not missing, f"{contract.table}: {missing} not in docs/warehouse.md (Raw lake tables)"


def test_every_contract_rule_and_real_world_shape_has_a_case():
    kinds = {(c.table, c.name) for c in CASES}
    assert len(kinds) == len(CASES), "case names must be unique"
    for table, contract in RAW_CONTRACT.items():
        for column in contract.keys + [c.name for c in contract.json_columns + contract.ranged] + contract.timestamps:
            assert any(c.table == table and c.name.startswith(f"{column} ") for c in CASES), f"{table}.{column}"


@pytest.mark.parametrize("case", CASES, ids=_tag)
def test_extract_lands_or_quarantines_each_case_with_its_reason(extracted, case):
    landed, quarantined, _, _ = extracted[case.table]
    tag = _tag(case)
    if case.reason is None:
        assert tag not in quarantined, f"quarantined: {quarantined.get(tag)}"
        row = landed[tag]
        for column, value in case.lands_as.items():
            assert row[column] == value, column
    else:
        assert tag not in landed
        assert quarantined[tag].startswith(case.reason), quarantined[tag]


def test_the_committed_partitions_pass_every_error_expectation_and_warn_only_where_the_contract_keeps(extracted):
    for table, (_, _, outcomes, _) in extracted.items():
        assert _failed(outcomes, "ERROR") == set(), table
        kept_and_warned = {c.warns for c in CASES if c.table == table and c.warns}
        partition = {"expect_column_values_to_be_between(quarantined) no rows quarantined"}
        assert _failed(outcomes, "WARN") == kept_and_warned | partition, table


def _bypassing(case: Case, i: int) -> pa.Table:
    """The case's row as the suite would see it had it bypassed the row rules: conformed where the
    value fits its type, else with the column as the source sent it (the type check's business)."""
    raw = _batch(case, i)
    try:
        return conform(raw, case.table)[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        bad = [n for n in case.overrides if n in raw.column_names]
        typed, _ = conform(raw.drop_columns(bad), case.table)
        for name in bad:
            typed = typed.set_column(typed.schema.get_field_index(name), name, raw.column(name))
        return typed


@pytest.mark.parametrize("case", [c for c in CASES if c.reason], ids=_tag)
def test_a_quarantined_row_fails_the_same_rule_in_the_raw_suite(case):
    suite = RAW_SUITES[case.table]
    outcomes = validate_tables(f"raw_{case.table}", "bypass", f"raw_{case.table}", suite,
                               [gate.with_window(_bypassing(case, CASES.index(case)), DAY)], gate.window_params())
    assert case.fails in _failed(outcomes, "ERROR")


def test_firewall_service_stopped_without_additional_fields_reaches_fw_events(extracted):
    """The issue's row, landed with NULL AdditionalFields, is staged and read by the firewall models
    (with the other landed real-world shapes of the partition: IPv6 zone ids, 7-digit timestamps)."""
    *_, lake_file = extracted["device_events"]
    con = staging_db()
    try:
        pipeline_stage_raw(con, "device_events", "contoso", DAY, pq.read_table(lake_file))
        changed(con, [("device_events", "contoso", DAY)])
        build_firewall(con, ["contoso"], DAY)
        tag = "device_events: FirewallServiceStopped without AdditionalFields"
        staged = con.execute("SELECT additional_fields FROM device_events WHERE device_name = ?", [tag]).fetchall()
        assert staged == [(None,)]
        stopped = con.execute(
            "SELECT direction, profile, protocol, remote_ip, remote_class, remote_port FROM fw_events "
            "WHERE action_type = 'FirewallServiceStopped' AND device_name = ?", [tag]
        ).fetchall()
        assert stopped == [("none", None, "", "", "unspecified", None)]
        zoned = con.execute(
            "SELECT remote_ip, remote_class, local_ip FROM fw_events WHERE device_name = ?",
            ["device_events: IPv6 in upper case with zone ids"],
        ).fetchall()
        assert zoned == [("fe80::1", "link-local", "2001:db8::5")]
    finally:
        con.close()


def test_landed_alerts_and_incidents_stage_without_quarantine_except_broken_entities(extracted):
    """Staging reads every landed shape; it quarantines only what the contract keeps and warns about
    and staging cannot use (an alert's Entities that is not JSON), never the alert itself."""
    con = staging_db()
    try:
        reasons = {}
        for table in ("security_alert", "security_incident"):
            *_, lake_file = extracted[table]
            for record in pipeline_stage_raw(con, table, "contoso", DAY, str(lake_file)):
                reasons[json.loads(record["row_json"])["SystemAlertId"]] = record["reason"]
        alerts = con.execute("SELECT count(*) FROM alerts").fetchone()[0]
        landed_alerts = len(extracted["security_alert"][0])
        assert alerts == landed_alerts
        broken = {r["SystemAlertId"] for r in extracted["security_alert"][0].values()
                  if r["Entities"] is not None and not parses_as_json(r["Entities"])}
        assert set(reasons) == broken and len(broken) == 3
        history = con.execute("SELECT count(*) FROM incident_history").fetchone()[0]
        assert history == len(extracted["security_incident"][0])
    finally:
        con.close()


@pytest.mark.parametrize("kind", ["sentinel", "defender"])
def test_a_service_value_that_does_not_fit_its_type_quarantines_its_row_not_the_fetch(fake, tmp_path, kind):
    """Over loopback HTTP: the connectors pass such a page on, extract quarantines just its bad rows."""
    from pipelines.sources.defender import DefenderSource
    from pipelines.sources.sentinel import SentinelSource
    from tests.fakes.dataset import DAY as FAKE_DAY
    from tests.fakes.dataset import DAY_START
    from tests.fakes.fixtures import Sleeps, tenant

    good = {**fake.data.device_events[0], "ActionType": "FirewallInboundConnectionBlocked"}
    hostile = [
        {**good, "Timestamp": DAY_START + timedelta(hours=1), "ReportId": 90_001, "ProcessCreationTime": "yesterday"},
        {**good, "Timestamp": DAY_START + timedelta(hours=2), "ReportId": 90_002, "RemotePort": "http"},
        {**good, "Timestamp": DAY_START + timedelta(hours=3), "ReportId": 90_003, "RemotePort": "3389",
         "AdditionalFields": "", "ActionType": "FirewallInboundConnectionBlocked"},
    ]
    settings = write_config(tmp_path, extra="\n[quality]\nquarantine_threshold = 0.5\n")
    source_class = SentinelSource if kind == "sentinel" else DefenderSource
    fake.data.device_events.extend(hostile)
    try:
        m = extract_partition(settings, "contoso", "device_events", FAKE_DAY,
                              source=source_class(tenant(fake, kind), sleep=Sleeps()))
    finally:
        del fake.data.device_events[-len(hostile):]
    reasons = {json.loads(q["row_json"])["ReportId"]: q["reason"] for q in pq.read_table(m.quarantine_file).to_pylist()}
    assert reasons == {90_001: "ProcessCreationTime value 'yesterday' is not timestamp[us, tz=UTC]",
                       90_002: "RemotePort value 'http' is not int32"}
    landed = {r["ReportId"]: r for r in pq.read_table(m.file).to_pylist()}
    assert (landed[90_003]["RemotePort"], landed[90_003]["AdditionalFields"]) == (3389, None)
    assert len(landed) > 10
    outcomes = gate.check_raw_partition(settings, "device_events", "contoso", FAKE_DAY, "contract")
    assert _failed(outcomes, "ERROR") == set()
