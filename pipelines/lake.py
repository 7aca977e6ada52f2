"""The raw Parquet lake: one directory per (table, tenant, day) partition, replaced atomically.

A partition directory holds data files and `_manifest.json`. The manifest names the current data
file and is the commit point: a new load writes a new uniquely named file, fsyncs it, then replaces
the manifest with `os.replace`. Readers (the warehouse sync) read only the file the manifest names,
so a crash mid-write leaves the previous partition in force and an orphan file that the next load
removes. Extract steps never open the DuckDB file, so they can run in parallel.

A lake_root URL `abfs://container/path` or `s3://bucket/path` puts the same layout on object
storage (pipelines/lake_remote.py): there the manifest commits with a conditional PUT instead of
os.replace, replaced files stay until `cleanup_orphans`, and a per-tenant index lists the manifests.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import lake_remote
from pipelines.objectstore import SCHEMES, is_remote
from pipelines.sources.schemas import RAW_TABLES

MANIFEST = "_manifest.json"


def _root(lake_root: str) -> Path:
    if lake_root.startswith("file://"):
        return Path(lake_root[len("file://") :])
    if is_remote(lake_root):
        raise ValueError(f"lake_root {lake_root!r} is object storage: it has no local partition directories")
    if "://" in lake_root:
        schemes = ", ".join(f"{s}://" for s in SCHEMES)
        raise ValueError(f"lake_root {lake_root!r}: use a local path, file://, or one of {schemes}")
    return Path(lake_root)


def partition_dir(lake_root: str, table: str, tenant: str, day: date, area: str = "raw") -> Path:
    if table not in RAW_TABLES:
        raise ValueError(f"unknown raw table {table!r}")
    return _root(lake_root) / area / table / f"tenant={tenant}" / f"day={day.isoformat()}"


@dataclass
class Manifest:
    table: str
    tenant: str
    day: str
    file: str
    rows: int
    sha256: str
    written_at: str
    quarantined: int = 0
    quarantine_file: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.file)


def fsync_dir(path: Path) -> None:
    """Make a rename or new file in `path` durable (fsync of the directory itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CorruptPartition(RuntimeError):
    """A partition's data file is not the one its manifest committed (changed or damaged since)."""


def _sha256(path: str | Path, fsync: bool = False) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
        if fsync:
            os.fsync(fh.fileno())
    return digest.hexdigest()


def verify(manifest: Manifest) -> None:
    """Raise CorruptPartition unless the data file still has the sha256 its manifest recorded."""
    if is_remote(manifest.file):
        with committed_files(manifest):
            return
    try:
        actual = _sha256(manifest.file)
    except FileNotFoundError:
        actual = "missing"
    if actual != manifest.sha256:
        _mismatch(manifest, actual)


def _mismatch(manifest: Manifest, actual: str) -> None:
    raise CorruptPartition(
        f"lake partition {manifest.table} {manifest.tenant} {manifest.day} does not match its manifest "
        f"(sha256 {actual[:12]} != {manifest.sha256[:12]}): re-extract it with `hunthouse backfill --tenant "
        f"{manifest.tenant} --start {manifest.day} --end {manifest.day}`")


def _write_file(path: Path, schema: pa.Schema, tables: Iterable[pa.Table]) -> tuple[int, str]:
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for tbl in tables:
            if tbl.num_rows:
                writer.write_table(tbl)
                rows += tbl.num_rows
    return rows, _sha256(path, fsync=True)


def write_partition(
    lake_root: str,
    table: str,
    tenant: str,
    day: date,
    tables: Iterable[pa.Table],
    quarantine: list[pa.Table] | None = None,
    stats: Callable[[], dict] | None = None,
    before_commit: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Replace one partition with the given Arrow tables (already conformed to the raw schema).

    `quarantine` is read after `tables` is consumed, so a streaming producer can fill it as it goes.
    `stats()` is called just before the commit, so it can report what the producer did.
    `before_commit(rows, quarantined)` may raise to abandon the load: the previous partition stays.
    """
    if table not in RAW_TABLES:
        raise ValueError(f"unknown raw table {table!r}")
    if is_remote(lake_root):
        return _write_remote(lake_root, table, tenant, day, tables, quarantine, stats, before_commit)
    directory = partition_dir(lake_root, table, tenant, day)
    directory.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    data_path = directory / f"part-{token}.parquet"
    rows, sha = _write_file(data_path, RAW_TABLES[table], tables)
    q_rows, q_file = 0, ""
    bad = [q for q in (quarantine or []) if q.num_rows]
    if bad:
        q_path = directory / f"quarantine-{token}.parquet"
        q_rows, _ = _write_file(q_path, bad[0].schema, bad)
        q_file = str(q_path)
    if before_commit is not None:
        try:
            before_commit(rows, q_rows)
        except BaseException:
            data_path.unlink(missing_ok=True)
            if q_file:
                Path(q_file).unlink(missing_ok=True)
            raise
    manifest = Manifest(
        table=table,
        tenant=tenant,
        day=day.isoformat(),
        file=str(data_path),
        rows=rows,
        sha256=sha,
        written_at=datetime.now(UTC).isoformat(),
        quarantined=q_rows,
        quarantine_file=q_file,
        stats=stats() if stats else {},
    )
    tmp = directory / f".{MANIFEST}.{token}"
    tmp.write_text(json.dumps(asdict(manifest), default=str), encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, directory / MANIFEST)
    fsync_dir(directory)
    _remove_stale(directory, keep={data_path.name, Path(q_file).name if q_file else ""})
    return manifest


def _write_remote(lake_root, table, tenant, day, tables, quarantine, stats, before_commit) -> Manifest:
    """The same load on object storage: files spooled locally, uploaded, then the manifest committed."""

    def write_quarantine(path: Path) -> int:
        bad = [q for q in (quarantine or []) if q.num_rows]
        return _write_file(path, bad[0].schema, bad)[0] if bad else 0

    def manifest_doc(file_url: str, rows: int, sha: str, q_rows: int, q_url: str) -> dict:
        return asdict(Manifest(
            table=table, tenant=tenant, day=day.isoformat(), file=file_url, rows=rows, sha256=sha,
            written_at=datetime.now(UTC).isoformat(), quarantined=q_rows, quarantine_file=q_url,
            stats=stats() if stats else {},
        ))

    doc = lake_remote.write_partition(
        lake_root, table, tenant, day, lambda path: _write_file(path, RAW_TABLES[table], tables),
        write_quarantine, manifest_doc, before_commit)
    return Manifest(**doc)


def _remove_stale(directory: Path, keep: set[str]) -> None:
    for entry in directory.iterdir():
        if entry.name == MANIFEST or entry.name in keep:
            continue
        if entry.suffix == ".parquet" or entry.name.startswith(f".{MANIFEST}."):
            entry.unlink(missing_ok=True)


def read_manifest(directory: Path) -> Manifest | None:
    path = directory / MANIFEST
    if not path.exists():
        return None
    return Manifest(**json.loads(path.read_text(encoding="utf-8")))


def partition_manifest(lake_root: str, table: str, tenant: str, day: date) -> Manifest | None:
    """The committed manifest of one partition, on disk or on object storage."""
    if is_remote(lake_root):
        got = lake_remote.read_manifest_doc(lake_root, table, tenant, day)
        return Manifest(**got[0]) if got else None
    return read_manifest(partition_dir(lake_root, table, tenant, day))


def list_manifests(lake_root: str, table: str | None = None, tenants: Iterable[str] | None = None) -> list[Manifest]:
    """Every committed partition of the lake (or of one table), in a stable order.

    `tenants` narrows what is read on object storage (one index per tenant); callers still filter."""
    if is_remote(lake_root):
        return [Manifest(**d) for d in lake_remote.list_manifest_docs(lake_root, table, tenants)]
    base = _root(lake_root) / "raw"
    tables = [table] if table else sorted(RAW_TABLES)
    found = []
    for tbl in tables:
        for path in sorted((base / tbl).glob(f"tenant=*/day=*/{MANIFEST}")):
            found.append(Manifest(**json.loads(path.read_text(encoding="utf-8"))))
    return found


@contextmanager
def committed_files(manifest: Manifest, spool_dir: str | None = None) -> Iterator[tuple[Path, Path | None]]:
    """Local paths of a committed partition's data and quarantine files, verified against the manifest.

    On disk these are the lake's own files; on object storage, copies streamed into a temporary
    directory (under `spool_dir`) and removed afterwards. Raises CorruptPartition on a mismatch."""
    if not is_remote(manifest.file):
        verify(manifest)
        yield Path(manifest.file), Path(manifest.quarantine_file) if manifest.quarantine_file else None
        return
    with lake_remote.local_copy(manifest.file, spool_dir) as data:
        actual = lake_remote.sha256_of(data) if data else "missing"
        if actual != manifest.sha256:
            _mismatch(manifest, actual)
        if not manifest.quarantine_file:
            yield data, None
            return
        with lake_remote.local_copy(manifest.quarantine_file, spool_dir) as bad:
            yield data, bad
