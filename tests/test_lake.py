"""Lake partitions are replaced atomically and idempotently; bad rows are quarantined with a reason."""

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from pipelines import lake
from pipelines.extract import QuarantineThresholdExceeded, day_window, split_bad_rows
from pipelines.sources.schemas import RAW_TABLES, conform

DAY = date(2026, 10, 5)


def _events(n: int, hour: int = 1, device: str = "d1") -> pa.Table:
    ts = datetime(2026, 10, 5, hour, tzinfo=UTC)
    raw = pa.table(
        {
            "Timestamp": pa.array([ts] * n, pa.timestamp("us", tz="UTC")),
            "DeviceId": [device] * n,
            "ActionType": ["FirewallInboundConnectionBlocked"] * n,
            "ReportId": list(range(n)),
        }
    )
    return conform(raw, "device_events")[0]


def test_rewrite_replaces_partition_and_leaves_one_file(tmp_path):
    root = str(tmp_path)
    first = lake.write_partition(root, "device_events", "t1", DAY, [_events(5)])
    second = lake.write_partition(root, "device_events", "t1", DAY, [_events(3)])
    directory = lake.partition_dir(root, "device_events", "t1", DAY)
    files = sorted(p.name for p in directory.glob("*.parquet"))
    assert files == [second.path.name]
    assert not first.path.exists()
    assert lake.read_manifest(directory).rows == 3


def test_same_content_twice_gives_same_rows_and_hash(tmp_path):
    root = str(tmp_path)
    a = lake.write_partition(root, "device_events", "t1", DAY, [_events(4)])
    b = lake.write_partition(root, "device_events", "t1", DAY, [_events(4)])
    assert (a.rows, a.sha256) == (b.rows, b.sha256)


def test_failure_before_commit_keeps_previous_partition(tmp_path):
    root = str(tmp_path)
    good = lake.write_partition(root, "device_events", "t1", DAY, [_events(2)])

    def exploding():
        yield _events(1)
        raise ConnectionResetError("source went away")

    with pytest.raises(ConnectionResetError):
        lake.write_partition(root, "device_events", "t1", DAY, exploding())
    directory = lake.partition_dir(root, "device_events", "t1", DAY)
    assert lake.read_manifest(directory).sha256 == good.sha256
    assert good.path.exists()


def test_rejected_commit_removes_new_files(tmp_path):
    root = str(tmp_path)
    lake.write_partition(root, "device_events", "t1", DAY, [_events(2)])

    def refuse(rows, bad):
        raise QuarantineThresholdExceeded("too many bad rows")

    with pytest.raises(QuarantineThresholdExceeded):
        lake.write_partition(root, "device_events", "t1", DAY, [_events(7)], before_commit=refuse)
    directory = lake.partition_dir(root, "device_events", "t1", DAY)
    assert len(list(directory.glob("*.parquet"))) == 1
    assert lake.read_manifest(directory).rows == 2


def test_rows_with_null_keys_or_outside_window_are_quarantined_with_reason():
    good = _events(3)
    null_device = _events(1, device=None)
    next_day = conform(
        pa.table(
            {
                "Timestamp": pa.array([datetime(2026, 10, 6, 0, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
                "DeviceId": ["d2"],
                "ActionType": ["FirewallOutboundConnectionBlocked"],
            }
        ),
        "device_events",
    )[0]
    kept, bad = split_bad_rows(pa.concat_tables([good, null_device, next_day]), "device_events", day_window(DAY))
    assert kept.num_rows == 3
    reasons = bad.column("reason").to_pylist()
    assert reasons[0] == "missing key column DeviceId"
    assert reasons[1].startswith("Timestamp outside the partition window")
    assert '"DeviceId": "d2"' in bad.column("row_json")[1].as_py()


def test_conform_reports_extra_columns_and_fills_missing_ones():
    raw = pa.table({"timestamp": pa.array([datetime(2026, 10, 5, tzinfo=UTC)]), "DEVICEID": ["x"], "Surprise": [1]})
    table, extra = conform(raw, "device_events")
    assert table.schema.equals(RAW_TABLES["device_events"])
    assert extra == ["Surprise"]
    assert table.column("DeviceId").to_pylist() == ["x"]
    assert table.column("RemoteIP").null_count == 1


def test_lake_root_rejects_unsupported_urls(tmp_path):
    with pytest.raises(ValueError, match="use a local path, file://, or one of abfs://"):
        lake.partition_dir("gs://bucket/lake", "device_events", "t1", DAY)
    with pytest.raises(ValueError, match="is object storage: it has no local partition directories"):
        lake.partition_dir("s3://bucket/lake", "device_events", "t1", DAY)
    assert lake.partition_dir(f"file://{tmp_path}", "device_events", "t1", DAY).is_relative_to(tmp_path)


def test_a_partition_file_changed_after_its_manifest_fails_that_tenants_build_only(tmp_path):
    import duckdb

    from pipelines.warehouse import build
    from tests.conftest import write_config

    settings = write_config(tmp_path)
    good = lake.write_partition(settings.lake_root, "device_events", "contoso", DAY, [_events(5)])
    bad = lake.write_partition(settings.lake_root, "device_events", "fabrikam", DAY, [_events(5)])
    with open(bad.file, "ab") as fh:  # bit rot, or a hand edit: the manifest no longer vouches for it
        fh.write(b"\0")
    lake.verify(good)
    with pytest.raises(lake.CorruptPartition, match="fabrikam 2026-10-05 does not match its manifest.*backfill --tenant fabrikam"):
        lake.verify(bad)
    for tenant, fails in (("contoso", False), ("fabrikam", True)):
        shard = settings.for_tenant(tenant)
        path = build.start_build(shard, "corrupt").path
        with duckdb.connect(str(path)) as con:
            if fails:
                with pytest.raises(lake.CorruptPartition):
                    build.sync_lake(con, shard)
                assert con.execute("SELECT count(*) FROM device_events").fetchone()[0] == 0
            else:
                assert build.sync_lake(con, shard) == [("device_events", "contoso", DAY)]
