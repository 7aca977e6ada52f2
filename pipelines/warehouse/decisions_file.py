"""The owner decisions file of a tenant: <home>/decisions/<tenant>.jsonl, append-only JSON lines.

One line per decision (accepted, dismissed, revoked) on a recommendation, never rewritten: the file
is the history, and the latest line of a recommendation is its state. Writers (`hunthouse tuning
…`) take an exclusive fcntl lock on <tenant>.jsonl.lock, append one whole line with a single write
and fsync it before releasing the lock; a line torn by a crash (no final newline) is cut off by the
next writer under the lock, and a reader ignores it. The warehouse build reads the file
(pipelines/warehouse/decisions.py), so a decision reaches the next build without any lake change.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DECISIONS = ("accepted", "dismissed", "revoked")
# the fields of a decision line, in file order; readers take these and ignore any other
FIELDS = (
    "recommendation_id", "tenant", "decision", "decided_at", "decided_by", "reason", "expires_on",
    "rule_id", "rule_name", "exclusion_kind", "entity_type", "entity_key", "entity_value",
    "entity_type_1", "entity_key_1", "entity_value_1", "entity_type_2", "entity_key_2", "entity_value_2",
    "entity_type_3", "entity_key_3", "entity_value_3",
    "decisions_at_decision", "removed_share_at_decision", "source",
)


def decisions_dir(home: Path) -> Path:
    return Path(home) / "decisions"


def decisions_path(home: Path, tenant: str) -> Path:
    if not tenant or "/" in tenant or tenant.startswith("."):
        raise ValueError(f"not a tenant name: {tenant!r}")
    return decisions_dir(home) / f"{tenant}.jsonl"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _cut_torn_tail(fd: int) -> None:
    """Drop a last line without its newline (a write cut by a crash), so the next line starts clean."""
    size = os.fstat(fd).st_size
    if not size:
        return
    os.lseek(fd, max(0, size - 65536), os.SEEK_SET)
    tail = os.read(fd, 65536)
    if tail.endswith(b"\n"):
        return
    keep = size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
    os.ftruncate(fd, keep)


def append(home: Path, records: list[dict]) -> None:
    """Append decision records (each with a `tenant`), one fsync'ed write per tenant file, under its lock."""
    by_tenant: dict[str, list[dict]] = {}
    for r in records:
        if r.get("decision") not in DECISIONS:
            raise ValueError(f"unknown decision {r.get('decision')!r}")
        by_tenant.setdefault(r["tenant"], []).append(r)
    for tenant, rows in by_tenant.items():
        path = decisions_path(home, tenant)
        data = "".join(json.dumps({k: r.get(k) for k in FIELDS}, default=str, ensure_ascii=False) + "\n"
                       for r in rows).encode("utf-8")
        with _locked(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                _cut_torn_tail(fd)
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write to {path} ({written} of {len(data)} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)


def read(home: Path, tenant: str) -> list[dict]:
    """Every complete decision line of a tenant, in file order, with its line number as `sequence`."""
    path = decisions_path(home, tenant)
    if not path.exists():
        return []
    out: list[dict] = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                break  # a torn last line: the writer never finished it
            try:
                line = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None
            row = {k: line.get(k) for k in FIELDS}
            row["sequence"] = number
            out.append(row)
    return out


def latest(home: Path, tenant: str) -> dict[str, dict]:
    """recommendation_id -> its latest decision line."""
    return {r["recommendation_id"]: r for r in read(home, tenant)}
