"""Tenant shards on object storage: a worker publishes its local shard, readers fetch the current one.

With the lake on object storage (lake_root `abfs://…` or `s3://…`), a tenant's shard is built on the
worker's local disk (as on one host) and then uploaded beside the lake, under `<lake>/shards/<tenant>/`:
1. the shard file under a unique name (put-if-absent: never overwritten, so a reader is never
   served half of an upload);
2. last, the pointer `<tenant>/_current.json` (file, sha256, bytes, as_of), with If-Match on the
   pointer read before the upload: the pointer is the commit point, as the manifest is for the lake.
   A publisher that lost the race raises StalePointer and leaves the newer shard current.
Replaced shard files stay until `cleanup_shards` removes those older than an age that no pointer names.
Readers take a local copy (`fetch_current`, re-downloaded only when the pointer changed) and
ATTACH it read-only, or attach the remote file through fsspec (`attach_remote`).

Call `upload_shard(settings)` after the warehouse publish of a tenant's run.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from pipelines.config import Settings
from pipelines.objectstore import PreconditionFailed, is_remote, open_store

POINTER = "_current.json"


class StalePointer(RuntimeError):
    """Another publish of this tenant's shard moved the pointer during this upload."""


@dataclass(frozen=True)
class ShardPointer:
    tenant: str
    file: str  # the shard's URL
    sha256: str
    bytes: int
    uploaded_at: str
    as_of: str = ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def shards_url(settings: Settings) -> str:
    if not is_remote(settings.lake_root):
        raise ValueError("shards go to object storage only when lake_root is an abfs:// or s3:// URL")
    return settings.lake_root.rstrip("/") + "/shards"


def _pointer_key(prefix: str, tenant: str) -> str:
    return f"{prefix}/{tenant}/{POINTER}".lstrip("/")


def read_pointer(root_url: str, tenant: str) -> tuple[ShardPointer, str] | None:
    store, prefix = open_store(root_url)
    got = store.get_bytes(_pointer_key(prefix, tenant))
    return (ShardPointer(**json.loads(got[0])), got[1]) if got else None


def upload_shard(settings: Settings, as_of: str = "") -> ShardPointer:
    """Upload the tenant's published shard (<home>/warehouse/<tenant>.duckdb), then move its pointer."""
    root = shards_url(settings)
    tenant = settings.shard_name
    local = settings.warehouse_path
    if not local.exists():
        raise FileNotFoundError(f"{local} does not exist: publish the tenant's shard before uploading it")
    store, prefix = open_store(root)
    previous = read_pointer(root, tenant)
    key = f"{prefix}/{tenant}/{tenant}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.duckdb".lstrip("/")
    sha = _sha256(local)
    store.put_file(key, local)
    pointer = ShardPointer(tenant=tenant, file=store.url(key), sha256=sha, bytes=local.stat().st_size,
                           uploaded_at=datetime.now(UTC).isoformat(), as_of=as_of)
    body = json.dumps(pointer.__dict__).encode()
    try:
        if previous is None:
            store.put_bytes(_pointer_key(prefix, tenant), body, if_none_match=True)
        else:
            store.put_bytes(_pointer_key(prefix, tenant), body, if_match=previous[1])
    except PreconditionFailed:
        store.delete(key)
        raise StalePointer(f"shard of {tenant}: another publish moved {POINTER} during this upload; "
                           "the newer shard stays current") from None
    return pointer


def fetch_current(root_url: str, tenant: str, dest_dir: Path) -> Path | None:
    """A local copy of the tenant's current shard (<dest_dir>/<tenant>.duckdb), fetched only when the
    pointer names a different file than the copy has; None when the tenant has no shard yet."""
    got = read_pointer(root_url, tenant)
    if got is None:
        return None
    pointer = got[0]
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{tenant}.duckdb"
    stamp = dest_dir / f".{tenant}.sha256"
    if target.exists() and stamp.exists() and stamp.read_text().strip() == pointer.sha256:
        return target
    store, _ = open_store(root_url)
    tmp = dest_dir / f".{tenant}.{uuid.uuid4().hex[:8]}.part"
    try:
        if not store.download(pointer.file[len(store.url("")):], tmp):
            raise FileNotFoundError(f"{pointer.file} (named by {tenant}/{POINTER}) is missing")
        if _sha256(tmp) != pointer.sha256:
            raise ValueError(f"{pointer.file} does not match the sha256 of {tenant}/{POINTER}")
        os.replace(tmp, target)  # local disk: the rename is atomic, readers see whole files only
        stamp.write_text(pointer.sha256)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def attach_remote(con: duckdb.DuckDBPyConnection, root_url: str, tenant: str, alias: str | None = None) -> str:
    """ATTACH the tenant's current shard read-only straight from object storage (through fsspec).

    The connection must have been opened with autoinstall/autoload of known extensions off: DuckDB's
    own azure/httpfs extensions cannot be fetched offline."""
    got = read_pointer(root_url, tenant)
    if got is None:
        raise FileNotFoundError(f"tenant {tenant} has no shard under {root_url}")
    store, _ = open_store(root_url)
    fs = store.fsspec()
    if not con.filesystem_is_registered(fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]):
        con.register_filesystem(fs)
    name = alias or tenant
    con.execute(f"ATTACH '{got[0].file}' AS \"{name}\" (READ_ONLY)")
    return name


def cleanup_shards(root_url: str, older_than: timedelta, now: datetime | None = None) -> list[str]:
    """Delete shard files no pointer names, older than `older_than`; the keys deleted."""
    store, prefix = open_store(root_url)
    cutoff = (now or datetime.now(UTC)) - older_than
    current = {}
    objects = list(store.list(f"{prefix}/".lstrip("/")))
    for obj in objects:
        if obj.key.endswith(f"/{POINTER}"):
            got = store.get_bytes(obj.key)
            if got:
                doc = json.loads(got[0])
                current[doc["tenant"]] = doc["file"][len(store.url("")):]
    deleted = []
    for obj in objects:
        if obj.key.endswith(".duckdb") and obj.last_modified < cutoff and obj.key not in current.values():
            store.delete(obj.key)
            deleted.append(obj.key)
    return sorted(deleted)
