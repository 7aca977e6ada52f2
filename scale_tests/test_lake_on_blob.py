"""The lake on Azure Blob storage (Azurite): manifests commit with conditional PUTs, readers see only
committed files, the per-tenant index lists partitions, orphans go by age, and a shard builds from it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from pipelines import lake, lake_remote
from pipelines.objectstore import PreconditionFailed, open_store
from pipelines.sources.schemas import conform

DAY = date(2026, 10, 5)


def _events(n: int, device: str = "d1") -> pa.Table:
    ts = datetime(2026, 10, 5, 1, tzinfo=UTC)
    raw = pa.table({
        "Timestamp": pa.array([ts] * n, pa.timestamp("us", tz="UTC")),
        "DeviceId": [device] * n,
        "ActionType": ["FirewallInboundConnectionBlocked"] * n,
        "ReportId": list(range(n)),
    })
    return conform(raw, "device_events")[0]


def _keys(lake_root: str) -> list[str]:
    store, prefix = open_store(lake_root)
    return sorted(o.key[len(prefix) + 1:] for o in store.list(prefix + "/"))


def test_conditional_puts_refuse_existing_and_stale_objects(abfs_lake):
    store, prefix = open_store(abfs_lake)
    etag = store.put_bytes(f"{prefix}/x", b"1", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put_bytes(f"{prefix}/x", b"2", if_none_match=True)
    store.put_bytes(f"{prefix}/x", b"3", if_match=etag)
    with pytest.raises(PreconditionFailed):
        store.put_bytes(f"{prefix}/x", b"4", if_match=etag)  # etag is stale now
    assert store.get_bytes(f"{prefix}/x")[0] == b"3"


def test_a_replaced_partition_reads_only_the_committed_file(abfs_lake, tmp_path):
    first = lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(5)])
    second = lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(3)])
    assert first.file != second.file and second.file.startswith("abfs://")
    # both files exist until cleanup (a reader of the first manifest may still be reading it) ...
    parquet = [k for k in _keys(abfs_lake) if k.endswith(".parquet")]
    assert len(parquet) == 2
    # ... but readers see the committed one only
    assert [m.rows for m in lake.list_manifests(abfs_lake)] == [3]
    assert lake.partition_manifest(abfs_lake, "device_events", "t1", DAY).sha256 == second.sha256
    with lake.committed_files(second, spool_dir=str(tmp_path)) as (data, bad):
        assert duckdb.read_parquet(str(data)).aggregate("count(*)").fetchall() == [(3,)]
        assert bad is None
    assert list(tmp_path.iterdir()) == []  # the local copy is gone after use


def test_a_failed_load_leaves_the_previous_partition_and_no_new_file(abfs_lake):
    good = lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(2)])

    def refuse(rows, bad):
        raise RuntimeError("too many bad rows")

    with pytest.raises(RuntimeError, match="too many"):
        lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(7)], before_commit=refuse)
    assert lake.partition_manifest(abfs_lake, "device_events", "t1", DAY).sha256 == good.sha256
    assert [k for k in _keys(abfs_lake) if k.endswith(".parquet")] == [good.file.split("/", 3)[3][len("hunthouse/"):]]


def test_a_load_that_lost_the_commit_race_is_not_applied(abfs_lake, monkeypatch):
    lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(2)])
    real = lake_remote.write_partition

    def racing(*args, **kwargs):
        make_doc = args[6]

        def doc_then_race(*a):
            # another worker commits this partition after this load read the manifest
            real(abfs_lake, "device_events", "t1", DAY, lambda p: lake._write_file(
                p, _events(9).schema, [_events(9)]), lambda p: 0, lambda *b: {**make_doc(*b), "rows": 9})
            return make_doc(*a)

        return real(*args[:6], doc_then_race, *args[7:], **kwargs)

    monkeypatch.setattr(lake_remote, "write_partition", racing)
    with pytest.raises(lake_remote.ConcurrentCommit, match="committed by another load"):
        lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(4)])
    monkeypatch.undo()
    assert lake.partition_manifest(abfs_lake, "device_events", "t1", DAY).rows == 9
    assert [m.rows for m in lake.list_manifests(abfs_lake)] == [9]


def test_concurrent_loads_of_one_tenant_all_reach_its_index(abfs_lake):
    days = [DAY + timedelta(days=i) for i in range(6)]
    errors = []

    def load(day):
        try:
            lake.write_partition(abfs_lake, "device_events", "t1", day, [_events(day.day)])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(d,)) for d in days]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [(m.day, m.rows) for m in lake.list_manifests(abfs_lake)] == [(d.isoformat(), d.day) for d in days]


def test_listing_reads_one_index_per_tenant_and_rebuild_repairs_a_lost_update(abfs_lake):
    lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(1)])
    lake.write_partition(abfs_lake, "device_events", "t2", DAY, [_events(2)])
    lake.write_partition(abfs_lake, "security_alert", "t2", DAY, [])
    assert sorted(k for k in _keys(abfs_lake) if k.startswith("_index/")) == ["_index/t1.json", "_index/t2.json"]
    assert [(m.table, m.tenant) for m in lake.list_manifests(abfs_lake, tenants=["t2"])] == [
        ("device_events", "t2"), ("security_alert", "t2")]
    store, prefix = open_store(abfs_lake)
    store.delete(f"{prefix}/_index/t2.json")  # a crash between a commit and its index update
    assert [m.tenant for m in lake.list_manifests(abfs_lake)] == ["t1"]
    assert lake_remote.rebuild_index(abfs_lake, "t2") == 2
    assert [m.tenant for m in lake.list_manifests(abfs_lake, "device_events")] == ["t1", "t2"]


def test_orphans_are_deleted_by_age_and_committed_files_never(abfs_lake):
    lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(5)])
    current = lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(3)])
    assert lake_remote.cleanup_orphans(abfs_lake, older_than=timedelta(hours=1)) == []  # too young
    deleted = lake_remote.cleanup_orphans(abfs_lake, older_than=timedelta(0), now=datetime.now(UTC) + timedelta(seconds=5))
    assert len(deleted) == 1 and current.file.rsplit("/", 1)[1] not in deleted[0]
    assert [k.rsplit("/", 1)[1] for k in _keys(abfs_lake) if k.endswith(".parquet")] == [current.file.rsplit("/", 1)[1]]


def test_a_dataset_over_the_manifests_skips_orphans(abfs_lake):
    lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(5)])
    lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(3)])  # the 5-row file is an orphan now
    lake.write_partition(abfs_lake, "device_events", "t2", DAY + timedelta(days=1), [_events(4)])
    table = lake_remote.dataset(abfs_lake, "device_events").to_table(columns=["tenant", "day"])
    counts = sorted(json.dumps(r) for r in table.group_by(["tenant", "day"]).aggregate([([], "count_all")]).to_pylist())
    assert counts == sorted([json.dumps({"tenant": "t1", "day": "2026-10-05", "count_all": 3}),
                             json.dumps({"tenant": "t2", "day": "2026-10-06", "count_all": 4})])


def test_a_tampered_remote_file_fails_verification(abfs_lake):
    m = lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(5)])
    store, _ = open_store(abfs_lake)
    key = m.file[len(store.url("")):]
    store.put_bytes(key, b"not parquet")
    with pytest.raises(lake.CorruptPartition, match="t1 2026-10-05 does not match its manifest"):
        lake.verify(m)


def test_the_run_progress_watch_sees_partitions_land_on_blob(abfs_lake):
    from pipelines.landing import LandingWatch

    lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(2)])  # from an earlier night
    watch = LandingWatch(abfs_lake, [("t1", DAY)], tables=("device_events",))
    assert watch.poll() == set()
    lake.write_partition(abfs_lake, "device_events", "t1", DAY, [_events(4)])
    assert watch.poll() == {"t1"}
    assert (watch.tenants["t1"].done, watch.tenants["t1"].rows) == (1, 4)
