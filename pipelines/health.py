"""Per-tenant run outcomes: which night each tenant published, and why the others did not.

One JSON line per tenant and run in `<home>/health/<tenant>.jsonl`, appended by whoever ran the
tenant's night (the CLI, or the Dagster run-status sensor for runs the daemon launched). A tenant's
published shard says what it holds; this ledger says what happened to the nights that did not
publish, so `hunthouse status` and the reports can name the failed step and its reason.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MAX_REASON = 400


@dataclass(frozen=True)
class TenantOutcome:
    tenant: str
    night: str  # the as_of day the run processed (ISO date)
    ok: bool
    step: str = ""  # extract | warehouse: where it failed ("" when it published)
    reason: str = ""  # one line
    failures: list[str] = field(default_factory=list)  # one line per failed run or partition
    trigger: str = ""
    run_id: str = ""
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def ledger_path(home: Path, tenant: str) -> Path:
    return home / "health" / f"{tenant}.jsonl"


def record(home: Path, outcome: TenantOutcome) -> None:
    """Append one outcome; a lock keeps concurrent writers' lines whole."""
    path = ledger_path(home, outcome.tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = asdict(outcome)
    line["reason"] = " ".join(line["reason"].split())[:MAX_REASON]
    line["failures"] = [" ".join(f.split())[:MAX_REASON] for f in line["failures"][:20]]
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps(line, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def history(home: Path, tenant: str) -> list[TenantOutcome]:
    path = ledger_path(home, tenant)
    if not path.exists():
        return []
    out = []
    known = set(TenantOutcome.__dataclass_fields__)
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            doc = json.loads(text)
        except ValueError:
            continue  # a line cut by a crash mid-write is not an outcome
        if isinstance(doc, dict) and {"tenant", "night", "ok"} <= set(doc):
            out.append(TenantOutcome(**{k: v for k, v in doc.items() if k in known}))
    return out


@dataclass(frozen=True)
class TenantHealth:
    tenant: str
    last_ok: TenantOutcome | None
    last: TenantOutcome | None
    # the first failed run after the last one that published: the tenant is stale since then
    stale_since: TenantOutcome | None

    @property
    def failing(self) -> bool:
        return self.last is not None and not self.last.ok


def health(home: Path, tenant: str) -> TenantHealth:
    runs = history(home, tenant)
    ok_at = [i for i, r in enumerate(runs) if r.ok]
    last_ok = runs[ok_at[-1]] if ok_at else None
    failed_after = [r for r in runs[(ok_at[-1] + 1 if ok_at else 0):] if not r.ok]
    return TenantHealth(tenant, last_ok, runs[-1] if runs else None, failed_after[0] if failed_after else None)
