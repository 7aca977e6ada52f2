"""The raw Parquet lake on object storage (lake_root `abfs://…` or `s3://…`): same layout, no rename.

Layout under the URL's prefix, as on disk: `raw/<table>/tenant=<t>/day=<d>/part-<token>.parquet` and
`_manifest.json` beside it. Object storage has no atomic rename, so:
- a data file is written once under a unique name (put-if-absent) and never changed;
- the partition's manifest is the commit point, written last with a conditional PUT: put-if-absent
  for a new partition, If-Match on the ETag read before the load for a replacement. A writer that
  lost the race (another commit in between) raises ConcurrentCommit and removes its own file;
- readers read only the files manifests name (a listing would also read the orphans of failed
  loads); the replaced file stays until `cleanup_orphans` removes unnamed files older than an age,
  so a reader that took the previous manifest can still read its file;
- each tenant has a manifest index, `_index/<tenant>.json` (every committed manifest of the tenant),
  updated with If-Match after each commit, so listing the lake reads one object per tenant instead
  of one per partition (100 tenants × 180 days × 3 tables = 54,000 manifests). A crash between the
  commit and the index update leaves the index one load behind: `rebuild_index` repairs it, and the
  next load of the partition does too.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from pipelines.objectstore import PreconditionFailed, open_store

MANIFEST = "_manifest.json"
INDEX_DIR = "_index"
INDEX_ATTEMPTS = 20


class ConcurrentCommit(RuntimeError):
    """Another load committed this partition while this one was writing: this load was not applied."""


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p)


def partition_key(prefix: str, table: str, tenant: str, day: date, area: str = "raw") -> str:
    return _join(prefix, area, table, f"tenant={tenant}", f"day={day.isoformat()}")


def _index_key(prefix: str, tenant: str) -> str:
    return _join(prefix, INDEX_DIR, f"{tenant}.json")


def _key_of(store, url: str) -> str:
    head = store.url("")
    if not url.startswith(head):
        raise ValueError(f"{url} is not in {head}")
    return url[len(head):]


def read_manifest_doc(lake_root: str, table: str, tenant: str, day: date) -> tuple[dict, str] | None:
    store, prefix = open_store(lake_root)
    got = store.get_bytes(_join(partition_key(prefix, table, tenant, day), MANIFEST))
    if got is None:
        return None
    data, etag = got
    return json.loads(data), etag


def write_partition(
    lake_root: str,
    table: str,
    tenant: str,
    day: date,
    write_file: Callable[[Path], tuple[int, str]],
    write_quarantine: Callable[[Path], int],
    manifest_doc: Callable[[str, int, str, int, str], dict],
    before_commit: Callable[[int, int], None] | None = None,
    spool_dir: str | None = None,
) -> dict:
    """Write one partition: data (and quarantine) files spooled locally then uploaded, then the manifest.

    `write_file(path)` writes the Parquet data to a local path and returns (rows, sha256);
    `write_quarantine(path)` writes the quarantined rows (returns their count, 0 = no file);
    `manifest_doc(file_url, rows, sha, q_rows, q_url)` returns the manifest to commit.
    """
    store, prefix = open_store(lake_root)
    directory = partition_key(prefix, table, tenant, day)
    previous = store.get_bytes(_join(directory, MANIFEST))
    token = uuid.uuid4().hex[:12]
    uploaded: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lake-", dir=spool_dir) as spool:
        data_local = Path(spool) / f"part-{token}.parquet"
        rows, sha = write_file(data_local)
        q_local = Path(spool) / f"quarantine-{token}.parquet"
        q_rows = write_quarantine(q_local)
        try:
            if before_commit is not None:
                before_commit(rows, q_rows)
            data_key = _join(directory, data_local.name)
            store.put_file(data_key, data_local)
            uploaded.append(data_key)
            q_url = ""
            if q_rows:
                q_key = _join(directory, q_local.name)
                store.put_file(q_key, q_local)
                uploaded.append(q_key)
                q_url = store.url(q_key)
            doc = manifest_doc(store.url(data_key), rows, sha, q_rows, q_url)
            body = json.dumps(doc, default=str).encode()
            try:
                if previous is None:
                    store.put_bytes(_join(directory, MANIFEST), body, if_none_match=True)
                else:
                    store.put_bytes(_join(directory, MANIFEST), body, if_match=previous[1])
            except PreconditionFailed:
                raise ConcurrentCommit(
                    f"lake partition {table} {tenant} {day} was committed by another load while this one "
                    "was writing; this load was not applied (run it again to replace that one)") from None
        except BaseException:
            for key in uploaded:
                store.delete(key)
            raise
    _index_put(store, prefix, tenant, doc)
    return doc


def _index_put(store, prefix: str, tenant: str, doc: dict) -> None:
    """Record a committed manifest in its tenant's index (If-Match loop: other tables commit alongside)."""
    key = _index_key(prefix, tenant)
    entry = f"{doc['table']}/{doc['day']}"
    for attempt in range(INDEX_ATTEMPTS):
        got = store.get_bytes(key)
        index = json.loads(got[0]) if got else {"tenant": tenant, "partitions": {}}
        if index["partitions"].get(entry) == doc:
            return
        index["partitions"][entry] = doc
        body = json.dumps(index, sort_keys=True, default=str).encode()
        try:
            if got is None:
                store.put_bytes(key, body, if_none_match=True)
            else:
                store.put_bytes(key, body, if_match=got[1])
            return
        except PreconditionFailed:
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise ConcurrentCommit(f"manifest index of tenant {tenant}: still contended after {INDEX_ATTEMPTS} attempts")


def tenant_manifests(lake_root: str, tenant: str) -> list[dict]:
    store, prefix = open_store(lake_root)
    got = store.get_bytes(_index_key(prefix, tenant))
    if got is None:
        return []
    partitions = json.loads(got[0])["partitions"]
    return [partitions[k] for k in sorted(partitions)]


def list_manifest_docs(lake_root: str, table: str | None = None, tenants: Iterable[str] | None = None) -> list[dict]:
    """Committed manifests from the tenants' indexes: one GET per tenant, never one per partition."""
    store, prefix = open_store(lake_root)
    if tenants is None:
        index_prefix = _join(prefix, INDEX_DIR) + "/"
        tenants = [o.key[len(index_prefix):-len(".json")] for o in store.list(index_prefix) if o.key.endswith(".json")]
    docs = [d for t in sorted(tenants) for d in tenant_manifests(lake_root, t)]
    docs = [d for d in docs if table is None or d["table"] == table]
    return sorted(docs, key=lambda d: (d["table"], d["tenant"], d["day"]))


def rebuild_index(lake_root: str, tenant: str) -> int:
    """Re-read every manifest of a tenant from a listing and rewrite its index; the number indexed."""
    store, prefix = open_store(lake_root)
    raw = _join(prefix, "raw") + "/"
    docs = []
    for obj in store.list(raw):
        parts = obj.key[len(raw):].split("/")
        if len(parts) == 4 and parts[1] == f"tenant={tenant}" and parts[3] == MANIFEST:
            got = store.get_bytes(obj.key)
            if got:
                docs.append(json.loads(got[0]))
    index = {"tenant": tenant, "partitions": {f"{d['table']}/{d['day']}": d for d in docs}}
    store.put_bytes(_index_key(prefix, tenant), json.dumps(index, sort_keys=True, default=str).encode())
    return len(docs)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, path: Path) -> bool:
    store, _ = open_store(url)
    return store.download(_key_of(store, url), path)


@contextmanager
def local_copy(url: str, spool_dir: str | None = None) -> Iterator[Path | None]:
    """A lake object streamed to a local temporary file (None when it is gone), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="lake-read-", dir=spool_dir) as spool:
        path = Path(spool) / url.rsplit("/", 1)[-1]
        yield path if download(url, path) else None


def cleanup_orphans(lake_root: str, older_than: timedelta, now: datetime | None = None) -> list[str]:
    """Delete data files no manifest names that are older than `older_than`; the keys deleted.

    Files of failed or superseded loads. The age keeps a file that a load is about to commit, or
    that a reader of the previous manifest is still reading."""
    store, prefix = open_store(lake_root)
    cutoff = (now or datetime.now(UTC)) - older_than
    raw = _join(prefix, "raw") + "/"
    by_dir: dict[str, list] = {}
    for obj in store.list(raw):
        directory, _, name = obj.key.rpartition("/")
        by_dir.setdefault(directory, []).append((name, obj))
    deleted = []
    for directory, entries in by_dir.items():
        old = [o for name, o in entries if name.endswith(".parquet") and o.last_modified < cutoff]
        if not old:
            continue
        got = store.get_bytes(_join(directory, MANIFEST))
        named = set()
        if got:
            doc = json.loads(got[0])
            named = {_key_of(store, u) for u in (doc.get("file"), doc.get("quarantine_file")) if u}
        for obj in old:
            if obj.key not in named:
                store.delete(obj.key)
                deleted.append(obj.key)
    return sorted(deleted)


def put_sidecar(lake_root: str, table: str, tenant: str, day: date, name: str, body: bytes) -> None:
    """A small file beside a partition's manifest (e.g. its quality results), overwritten as a whole."""
    store, prefix = open_store(lake_root)
    store.put_bytes(_join(partition_key(prefix, table, tenant, day), name), body)


def get_sidecar(lake_root: str, table: str, tenant: str, day: date, name: str) -> bytes | None:
    store, prefix = open_store(lake_root)
    got = store.get_bytes(_join(partition_key(prefix, table, tenant, day), name))
    return got[0] if got else None


def dataset(lake_root: str, table: str, tenants: Iterable[str] | None = None) -> pa.dataset.Dataset:
    """A pyarrow dataset of the files the manifests name (never a listing), with tenant and day
    columns from the hive paths."""
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    store, prefix = open_store(lake_root)
    files = [_key_of(store, d["file"]) for d in list_manifest_docs(lake_root, table, tenants)]
    paths = [f"{store.container}/{k}" for k in files]
    fs = PyFileSystem(FSSpecHandler(store.fsspec()))
    base = "/".join(p for p in (store.container, prefix, "raw", table) if p)
    return ds.dataset(paths, format="parquet", filesystem=fs, partitioning="hive",
                      partition_base_dir=base)
