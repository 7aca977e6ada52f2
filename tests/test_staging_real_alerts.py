"""Real SecurityAlert samples (msticpy) stage into alerts and alert_entities without losing an entity."""

import json
from datetime import date

import duckdb
import pyarrow.csv as pcsv
import pytest

from pipelines.sources.schemas import conform
from pipelines.warehouse import staging
from pipelines.warehouse.entities import flatten_entities
from tests.realdata import real


def _count_entities(node) -> int:
    """Independent count: objects carrying $id (inline anywhere) plus top-level objects without one."""
    ids = set()

    def walk(n):
        if isinstance(n, dict):
            if "$id" in n and "$ref" not in n:
                ids.add(str(n["$id"]))
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    walk(node)
    top_plain = sum(1 for e in node if isinstance(e, dict) and "$id" not in e and "$ref" not in e)
    return len(ids) + top_plain


@pytest.fixture(scope="module")
def staged():
    raw = pcsv.read_csv(real("msticpy/alertlist.csv"), parse_options=pcsv.ParseOptions(newlines_in_values=True))
    table, dropped = conform(raw, "security_alert")
    con = duckdb.connect()
    staging.create_tables(con)
    bad = staging.stage_raw(con, "security_alert", "demo", date(2019, 1, 12), table)
    yield raw, table, dropped, bad, con
    con.close()


def test_every_real_alert_lands_once(staged):
    raw, table, dropped, bad, con = staged
    assert bad == []
    assert con.execute("select count(*), count(distinct system_alert_id) from alerts").fetchone() == (189, 189)
    assert "" in dropped and "IsIncident" in dropped  # unknown columns are reported, not absorbed


def test_every_entity_is_accounted_for(staged):
    raw, table, _, _, con = staged
    expected = {
        alert_id: _count_entities(json.loads(text))
        for alert_id, text in zip(table.column("SystemAlertId").to_pylist(), table.column("Entities").to_pylist(), strict=True)
        if text
    }
    got = dict(con.execute("select system_alert_id, count(*) from alert_entities group by 1").fetchall())
    assert sum(expected.values()) > 1000
    assert got == {k: v for k, v in expected.items() if v}


def test_refs_resolve_to_host_context(staged):
    *_, con = staged
    # accounts in the sample reference their host with {"$ref": ...}; after resolution the host name is inline
    hosts = con.execute(
        "select count(*) from alert_entities where entity_type = 'account' and properties->>'$.Host.value' is not null"
    ).fetchone()[0]
    assert hosts > 100


def test_legacy_column_names_map_onto_current_schema(staged):
    _, table, *_ = staged
    assert table.column("StartTime").null_count == 0
    assert table.column("AlertSeverity").null_count == 0


@pytest.mark.parametrize(
    "entity, etype, key",
    [
        ({"$id": "1", "Type": "account", "Name": "Svc_Backup", "NTDomain": "CONTOSO"}, "account", "contoso\\svc_backup"),
        ({"$id": "1", "Type": "account", "Name": "jdoe", "UPNSuffix": "Contoso.com"}, "account", "jdoe@contoso.com"),
        ({"$id": "1", "Type": "host", "HostName": "SRV-Backup01", "DnsDomain": "contoso.local"}, "host", "srv-backup01"),
        ({"$id": "1", "Type": "ip", "Address": "2001:DB8::1"}, "ip", "2001:db8::1"),
        ({"$id": "1", "Type": "file", "Directory": "C:\\Windows\\", "Name": "Evil.exe"}, "file", "c:\\windows\\evil.exe"),
        ({"$id": "1", "Type": "process", "ProcessId": "0x10"}, "process", "pid:0x10"),
    ],
)
def test_entity_keys_are_normalised(entity, etype, key):
    (row,) = list(flatten_entities(json.dumps([entity])))
    assert (row["entity_type"], row["entity_key"]) == (etype, key)


def test_ref_to_nested_inline_entity_is_resolved():
    doc = [
        {"$id": "2", "Type": "process", "CommandLine": "a.exe", "ImageFile": {"$id": "3", "Type": "file", "Name": "a.exe"}},
        {"$id": "4", "Type": "process", "CommandLine": "b.exe", "ParentProcess": {"$ref": "2"}, "ImageFile": {"$ref": "3"}},
    ]
    rows = list(flatten_entities(json.dumps(doc)))
    assert [r["entity_type"] for r in rows] == ["process", "file", "process"]
    child = json.loads(rows[2]["properties"])
    assert child["ParentProcess"] == {"Type": "process", "value": "a.exe"}
    assert child["ImageFile"] == {"Type": "file", "value": "a.exe"}


def test_malformed_entities_are_reported_not_fatal():
    import pyarrow as pa

    alerts = pa.table({"SystemAlertId": ["a", "b"], "Entities": ['[{"$id":"1","Type":"ip","Address":"1.2.3.4"}]', "{not json"]})
    entities, bad = staging.flatten_alert_entities(alerts)
    assert entities.num_rows == 1
    assert [b[0] for b in bad] == ["b"]
