"""The vectorised connector parsing reads every cell as the per-value parser did before it.

Oracle: the per-value implementation the connectors used until the landing rework (`reference_*`
below, kept verbatim: per-cell `parse_datetime`, JSON text for object cells, `str()` for other
cells of text columns, type inference for the rest), fed for Sentinel the way the SDK's LogsTable
fed it. Each test compares whole Arrow tables, so types and nulls count, not only values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from azure.monitor.query._models import LogsQueryResult

from pipelines.sources import defender, sentinel
from pipelines.sources.arrow_rows import (
    column_array,
    decode_json,
    parse_datetime,
    table_from_columns,
    table_from_typed_rows,
)
from pipelines.sources.errors import Retryable, SplitNeeded
from pipelines.sources.row_rules import _malformed_json, _malformed_json_mask, conform_or_quarantine
from pipelines.sources.schemas import TS
from tests.realdata import real

# -- the per-value parser as it was (oracle) ------------------------------------------------------


def _json_text(value):
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value


def reference_column_array(values: list, type_name: str) -> pa.Array:
    kind = (type_name or "").lower()
    if kind in {"datetime", "date"}:
        return pa.array([parse_datetime(v) for v in values], type=TS)
    values = [_json_text(v) for v in values]
    if kind in {"dynamic", "object"} or kind in {"string", "guid", "timespan"}:
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def reference_table(names, types, columns) -> pa.Table:
    return pa.table({n: reference_column_array(list(c), t) for n, t, c in zip(names, types, columns, strict=True)})


def reference_log_analytics(body: bytes) -> pa.Table:
    """What SentinelSource._query built: the SDK's LogsTable (its own datetime/guid conversion), then
    the rows transposed into `column_array`."""
    result = LogsQueryResult._from_generated(json.loads(body))
    if not result.tables:
        return reference_table([], [], [])
    primary = result.tables[0]
    columns = [[row[i] for row in primary.rows] for i in range(len(primary.columns))]
    return reference_table(primary.columns, primary.columns_types, columns)


def reference_hunting(payload: dict) -> pa.Table:
    schema = payload.get("schema", payload.get("Schema"))
    results = payload.get("results", payload.get("Results"))
    if schema:
        cols = [{str(k).lower(): v for k, v in col.items()} for col in schema]
        names = [str(col.get("name")) for col in cols]
        types = [str(col.get("type") or "") for col in cols]
    else:
        names = list(dict.fromkeys(k for row in results for k in row))
        types = [""] * len(names)
    return reference_table(names, types, [[row.get(name) for row in results] for name in names])


def assert_same(got: pa.Table, want: pa.Table) -> None:
    assert got.schema == want.schema
    assert got.to_pylist() == want.to_pylist()


# -- tricky cells -------------------------------------------------------------------------------

DATETIME_CELLS = {
    "kusto 7 digits": ["2026-10-27T00:00:01.7428710Z", "2026-10-27T23:59:59.9999999Z", None, ""],
    "whole seconds and mixed": ["2022-01-06T13:01:34Z", "2023-02-20T11:04:02.6371632Z", "2023-02-20T11:04:02.5Z"],
    "offsets": ["2026-10-27T01:00:00.123+01:00", "2026-10-26T20:00:00-04:00", None],
    "no zone, spaces, short forms": ["2026-10-27T00:00:01", " 2026-10-27T00:00:01.1234567Z ", "2026-10-27 00:00:01Z",
                                     "2026-10-27T00:00Z", "2026-10-27"],
    "9 digits": ["2026-10-27T00:00:01.123456789Z"],
    "edge years": ["0001-01-01T00:00:00.0000000Z", "9999-12-31T23:59:59.9999999Z"],
    "all null or empty": [None, "", None],
    "empty column": [],
}


@pytest.mark.parametrize("cells", DATETIME_CELLS.values(), ids=DATETIME_CELLS.keys())
@pytest.mark.parametrize("type_name", ["datetime", "DateTime"])
def test_datetime_columns_match_the_per_value_parser(cells, type_name):
    got = column_array(cells, type_name)
    assert got.type == TS
    assert got.to_pylist() == reference_column_array(cells, type_name).to_pylist()


@pytest.mark.parametrize("cells", [["2026-10-27T24:00:00Z"], ["2026-02-30T00:00:00.0000000Z"], ["yesterday"],
                                   ["0000-01-01T00:00:00.0000000Z"], ["2026-10-27T00:00:60.0000000Z"],
                                   ["9999-12-31T23:59:59-01:00"],
                                   ["2026-10-27T00:00:01.1234567Z", "garbage"], [12345]])
def test_unreadable_datetimes_stay_text_and_extract_quarantines_only_their_rows(cells):
    with pytest.raises((ValueError, OverflowError)):
        reference_column_array(cells, "datetime")
    got = column_array(cells, "datetime")
    assert got.to_pylist() == [None if c is None else str(c) for c in cells]
    typed = table_from_typed_rows(["Timestamp"], ["datetime"], [(c,) for c in cells]) if all(
        isinstance(c, str) for c in cells) else None
    if typed is not None:
        assert typed.column("Timestamp").to_pylist() == got.to_pylist()
    landed, _, quarantined = conform_or_quarantine(pa.table({"Timestamp": got}), "device_events")
    readable = []
    for c in cells:
        try:
            readable.append(parse_datetime(c))
        except (ValueError, OverflowError):
            pass
    assert landed.column("Timestamp").to_pylist() == readable
    assert quarantined.num_rows == len(cells) - len(readable)
    assert all(r.startswith("Timestamp value ") for r in quarantined.column("reason").to_pylist())


def test_an_int_beyond_int64_fails_as_before():
    for type_name in ("long", ""):
        with pytest.raises(OverflowError):
            reference_column_array([2**63, 1], type_name)
        with pytest.raises(OverflowError):
            column_array([2**63, 1], type_name)


OTHER_CELLS = {
    "plain text": (["a", None, "", "é😀"], ["string", "guid", "dynamic", ""]),
    "numbers in a text column": ([1, "x", None, 2.5, 1e20, -0.0], ["string", "timespan"]),
    "booleans in a text column": ([True, False, None, "True"], ["string", "dynamic"]),
    "objects and arrays": ([{"b": 1, "a": [1, "é"]}, [1, {"x": None}], None, "{}"], ["dynamic", "object", "string", ""]),
    "ints": ([1, None, 2**40, -5], ["long", "int", "Int64", ""]),
    "ints and floats": ([1, 2.5, None], ["real", "long", ""]),
    "floats": ([0.1, None, 1e300], ["real", "Double"]),
    "booleans": ([True, None, False], ["bool", "Boolean", ""]),
    "mixed types": ([1, "a", True, None, {"k": 1}], ["", "long", "bool"]),
    "nested only": ([{"a": 1}, None], ["", "long"]),
    "all null": ([None, None], ["long", "string", "", "bool", "real"]),
    "nothing": ([], ["long", "string", ""]),
}


@pytest.mark.parametrize(("cells", "type_names"), OTHER_CELLS.values(), ids=OTHER_CELLS.keys())
def test_other_columns_match_the_per_value_parser(cells, type_names):
    for type_name in type_names:
        want = reference_column_array(cells, type_name)
        got = column_array(cells, type_name)
        assert (got.type, got.to_pylist()) == (want.type, want.to_pylist()), type_name
        assert column_array(tuple(cells), type_name).equals(got)  # columns arrive as tuples from zip


TYPED_ROWS = {
    "device events": (["Timestamp", "DeviceId", "RemotePort", "IsProcessRemoteSession", "AdditionalFields",
                       "ProcessCreationTime", "_BilledSize"],
                      ["datetime", "string", "int", "bool", "dynamic", "datetime", "real"],
                      [("2026-10-27T00:00:01.7428710Z", "d1", 443, True, '{"a":1}', None, 0.25),
                       ("2026-10-27T00:00:02.0000000Z", None, None, None, None, "", 1)]),
    "real column of integers": (["a", "b"], ["real", "long"], [(1, 2), (None, 3), (5, None)]),
    "all-null typed columns": (["a", "b", "c", "d"], ["long", "bool", "real", "guid"], [(None, None, None, None)] * 3),
    "mixed datetime spellings": (["t"], ["datetime"], [("2022-01-06T13:01:34Z",), ("2023-02-20T11:04:02.6371632Z",)]),
    "no rows": (["a", "t"], ["long", "datetime"], []),
    "duplicate names": (["a", "a"], ["long", "string"], [(1, "x")]),
}


@pytest.mark.parametrize(("names", "types", "rows"), TYPED_ROWS.values(), ids=TYPED_ROWS.keys())
def test_typed_rows_convert_as_columns_do(names, types, rows):
    got = table_from_typed_rows(names, types, rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    assert_same(got, reference_table(names, types, columns))
    assert_same(got, table_from_columns(names, types, columns))


def test_typed_rows_refuse_values_they_cannot_hold_exactly():
    assert table_from_typed_rows(["a"], ["long"], [(2**63,)]) is None
    assert table_from_typed_rows(["a"], ["real"], [(2**53 + 1,)]) is None


# -- whole bodies -------------------------------------------------------------------------------


def la_body(columns: list[tuple[str, str]], rows: list[list], **extra) -> bytes:
    return json.dumps({"tables": [{"name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in columns],
                                   "rows": rows}], **extra}).encode()


def recorded_la_bodies() -> dict[str, bytes]:
    bodies = {"msticpy SecurityAlert": real("msticpy/az_mon_raw_query.json").read_bytes()}
    recordings = json.loads(real("azure_sdk_monitor_query/loganalytics_query_api_recordings_extracted.json").read_text())
    for name, rec in recordings.items():
        if rec["status"] == 200 and "error" not in rec["response_body"]:
            bodies[name.split("::")[-1]] = json.dumps(rec["response_body"]).encode()
    return bodies


SYNTHETIC_LA = {
    "device events with every kind": la_body(
        [("Timestamp", "datetime"), ("DeviceId", "string"), ("RemotePort", "int"), ("ReportId", "long"),
         ("IsProcessRemoteSession", "bool"), ("AdditionalFields", "dynamic"), ("_BilledSize", "real"),
         ("Id", "guid"), ("Took", "timespan")],
        [["2026-10-27T00:00:01.7428710Z", "d1", 443, 2**40, True, '{"Direction":"Inbound"}', 0.001, "6f1f0e3c", "00:01:00"],
         ["2026-10-27T00:00:02Z", "", None, None, None, None, 2, "x", "1.00:00:00"]]),
    "numbers and objects in text columns": la_body(
        [("A", "string"), ("B", "dynamic"), ("C", "long")],
        [[5, {"k": [1, 2]}, 1], ["x", [1, "é"], 2.0], [True, None, None]]),
    "no rows": la_body([("A", "string"), ("T", "datetime")], []),
    "unknown column type": la_body([("D", "decimal"), ("A", "string")], [["1.5", "a"], [None, None]]),
    "no tables": json.dumps({"tables": []}).encode(),
}


@pytest.mark.parametrize("body", [*recorded_la_bodies().values(), *SYNTHETIC_LA.values()],
                         ids=[*recorded_la_bodies(), *SYNTHETIC_LA])
def test_log_analytics_bodies_parse_as_through_the_sdk(body):
    assert_same(sentinel.log_analytics_table_from_json(body), reference_log_analytics(body))
    assert_same(sentinel.log_analytics_table(decode_json(body)), reference_log_analytics(body))


def test_consecutive_bodies_with_different_columns_each_parse_right():
    """The typed decoder of the previous body's columns is tried first: a new layout is detected."""
    a = la_body([("T", "datetime"), ("N", "long")], [["2026-10-27T00:00:01.0000000Z", 1]])
    b = la_body([("N", "long"), ("T", "datetime")], [[2, "2026-10-27T00:00:02.0000000Z"]])
    c = la_body([("N", "string"), ("T", "datetime")], [["2", "2026-10-27T00:00:02.0000000Z"]])  # same names
    for body in (a, b, c, a, la_body([("N", "long"), ("T", "datetime")], [["not a number", None]])):
        assert_same(sentinel.log_analytics_table_from_json(body), reference_log_analytics(body))


def test_partial_error_still_splits_and_names_the_innermost_message():
    recordings = json.loads(real("azure_sdk_monitor_query/loganalytics_query_api_recordings_extracted.json").read_text())
    partial = next(v["response_body"] for k, v in recordings.items() if "partial" in k)
    body = json.dumps(partial).encode()
    with pytest.raises(SplitNeeded, match=r"^PartialError PartialError: There were some errors"):
        sentinel.log_analytics_table_from_json(body)
    with pytest.raises(SplitNeeded, match="PartialError"):
        sentinel.log_analytics_table(json.loads(body))
    # as the SDK's LogsQueryError: the message of the innermost `innererror`
    nested = {"code": "PartialError", "message": "outer", "innererror": {"message": "middle",
                                                                          "innererror": {"message": "inner"}}}
    with pytest.raises(SplitNeeded, match=r"^PartialError PartialError: inner$"):
        sentinel.log_analytics_table_from_json(la_body([("A", "long")], [[1]], error=nested))
    # any truthy `error` member is a partial result, as in the SDK, whatever the rows
    with pytest.raises(SplitNeeded):
        sentinel.log_analytics_table_from_json(la_body([("A", "string")], [[1]], error={"code": "X"}))


def test_row_cap_splits_and_malformed_bodies_are_retried():
    body = la_body([("A", "long")], [[1], [2], [3]])
    with pytest.raises(SplitNeeded, match="3 rows reached the 3-row cap"):
        sentinel.log_analytics_table_from_json(body, row_cap=3)
    assert sentinel.log_analytics_table_from_json(body, row_cap=4).num_rows == 3
    with pytest.raises(Retryable, match="do not match the columns"):
        sentinel.log_analytics_table_from_json(la_body([("A", "long"), ("B", "long")], [[1, 2], [3]]))
    with pytest.raises(ValueError):
        sentinel.log_analytics_table_from_json(b'{"tables": [{"name": "PrimaryResult", "rows": [[1, 2,')
    with pytest.raises(Retryable, match="unexpected JSON"):
        sentinel.log_analytics_table_from_json(b"[1, 2]")


def hunting_body(schema: list[dict], results: list[dict]) -> bytes:
    return json.dumps({"@odata.context": "x", "schema": schema, "results": results}).encode()


S = [{"name": "Timestamp", "type": "DateTime"}, {"name": "DeviceName", "type": "String"},
     {"name": "RemotePort", "type": "Int32"}, {"name": "AdditionalFields", "type": "String"},
     {"name": "IsProcessRemoteSession", "type": "Boolean"}, {"name": "Score", "type": "Double"}]
ROW = {"Timestamp": "2026-10-27T00:00:01.7428710Z", "DeviceName": "ws1", "RemotePort": 443,
       "AdditionalFields": '{"a":1}', "IsProcessRemoteSession": False, "Score": 1}

SYNTHETIC_HUNTING = {
    "typed": hunting_body(S, [ROW, {**ROW, "Score": 0.5, "DeviceName": None}]),
    "missing and extra keys": hunting_body(S, [ROW, {"Timestamp": "2026-10-27T00:00:02Z", "NotInSchema": 1}]),
    "capitalised schema keys": json.dumps({"Schema": [{"Name": c["name"], "Type": c["type"]} for c in S],
                                           "Results": [ROW]}).encode(),
    "cells of other types": hunting_body(S, [{**ROW, "DeviceName": 7, "AdditionalFields": {"a": [1]}, "RemotePort": "443"}]),
    "object column": hunting_body([{"name": "Extra", "type": "Object"}], [{"Extra": {"b": 1}}, {"Extra": [1]}, {}]),
    "unknown column type": hunting_body([{"name": "X", "type": "Decimal"}], [{"X": "1.5"}, {"X": None}]),
    "no schema": json.dumps({"results": [{"a": 1, "b": "x"}, {"b": "y", "c": True}]}).encode(),
    "no rows": hunting_body(S, []),
    "duplicate column names": hunting_body([{"name": "a", "type": "String"}, {"name": "a", "type": "Int64"}],
                                           [{"a": 1}]),
    "duplicate keys in a row": b'{"schema": [{"name": "a", "type": "String"}, {"name": "b", "type": "Int64"}], '
                               b'"results": [{"a": "x", "b": 1, "a": "y"}]}',
}


def recorded_hunting_bodies() -> dict[str, bytes]:
    names = ["runHuntingQuery_example1_response.json", "runHuntingQuery_example2_timespan_response.json",
             "runHuntingQuery_example3_capitalized_schema_response.json"]
    return {name: real(f"msgraph_docs/{name}").read_bytes() for name in names}


@pytest.mark.parametrize("body", [*recorded_hunting_bodies().values(), *SYNTHETIC_HUNTING.values()],
                         ids=[*recorded_hunting_bodies(), *SYNTHETIC_HUNTING])
def test_hunting_bodies_parse_as_the_per_value_parser_did(body):
    want = reference_hunting(json.loads(body))
    assert_same(defender.hunting_table_from_json(body), want)
    assert_same(defender.hunting_table(json.loads(body)), want)


def test_consecutive_hunting_bodies_with_different_schemas_each_parse_right():
    other = [{"name": "DeviceName", "type": "String"}, {"name": "Timestamp", "type": "DateTime"}]
    for body in (SYNTHETIC_HUNTING["typed"], hunting_body(other, [ROW]), SYNTHETIC_HUNTING["typed"],
                 SYNTHETIC_HUNTING["cells of other types"], SYNTHETIC_HUNTING["typed"]):
        assert_same(defender.hunting_table_from_json(body), reference_hunting(json.loads(body)))


def test_malformed_hunting_bodies_are_retried():
    for body in (b'{"schema": [], "results": [', b"[1]", b'{"schema": []}'):
        with pytest.raises(Retryable):
            defender.hunting_table_from_json(body)


# -- JSON decoding and the JSON row rule --------------------------------------------------------


@pytest.mark.parametrize("body", [b'{"a": NaN, "b": Infinity}', b'{"a": 1e400}', b'{"a": "\\ud800"}',
                                  b'\xef\xbb\xbf{"a": 1}', b'{"a": 99999999999999999999999}', b'{"a": 1, "a": 2}',
                                  '{"a": "é"}'.encode("utf-16")])
def test_decoding_accepts_what_json_loads_accepts(body):
    got, want = decode_json(body), json.loads(body)
    assert repr(got) == repr(want)  # repr: NaN != NaN


@pytest.mark.parametrize("body", [b'{"a": 1', b"", b"[1,]", b'{"a": 1}x'])
def test_decoding_refuses_what_json_loads_refuses(body):
    with pytest.raises(ValueError):
        decode_json(body)


def test_json_column_rule_matches_json_loads_on_every_value():
    texts = ['{"a":1}', "{not json", "", "   ", None, "NaN", '{"a": Infinity}', "[1,]", '{"a":1,}', '"\\ud800"',
             "1e400", "\ufeff{}", '{"a":1}\n', "[]", "null", "01", '"\t"', '{"a":[1,2,{"b":null}]}']
    mask = _malformed_json_mask(pa.chunked_array([pa.array(texts, pa.string())]))
    assert mask.to_pylist() == [_malformed_json(t) for t in texts]


def test_reference_oracle_reads_kusto_ticks_as_documented():
    # the oracle itself: 7 digits truncated (not rounded) to microseconds, UTC
    assert reference_column_array(["2024-05-01T10:00:00.1234567Z"], "datetime").to_pylist() == [
        datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)]


def test_a_null_guid_or_timespan_cell_stays_null_where_the_sdk_wrote_none():
    """The one deliberate difference: the SDK's LogsTable turned a null guid/timespan cell into the
    text "None" (str(None)); read from the body directly it is null, like every other null cell."""
    body = la_body([("Id", "guid"), ("Took", "timespan")], [[None, None], ["6f1f0e3c", "00:01:00"]])
    assert reference_log_analytics(body).to_pylist()[0] == {"Id": "None", "Took": "None"}
    assert sentinel.log_analytics_table_from_json(body).to_pylist() == [
        {"Id": None, "Took": None}, {"Id": "6f1f0e3c", "Took": "00:01:00"}]
