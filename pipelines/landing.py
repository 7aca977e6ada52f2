"""Which of a run's lake partitions have landed, read from the lake itself while extracts run.

Extract runs execute in worker processes; rather than a channel back from inside Dagster, the
orchestrator watches the commit points: a partition has landed once its `_manifest.json` is a new
file (os.replace gives it a new inode) since the run started. The manifest says how many rows.
On object storage (lake_root abfs:// or s3://) the manifest's sha256 and written_at identify it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date

from pipelines.lake import MANIFEST, partition_dir, partition_manifest
from pipelines.objectstore import is_remote
from pipelines.sources.schemas import RAW_TABLES


def _identity(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


@dataclass
class TenantLanding:
    total: int  # the run's lake partitions of this tenant: days × raw tables
    done: int = 0  # of those, landed since the run started
    rows: int = 0
    quarantined: int = 0


@dataclass
class LandingWatch:
    lake_root: str
    parts: list[tuple[str, date]]
    tables: tuple[str, ...] = tuple(sorted(RAW_TABLES))
    tenants: dict[str, TenantLanding] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._before: dict[tuple[str, date, str], tuple[int, int] | None] = {}
        self._left: dict[tuple[str, date], set[str]] = {}
        for tenant, day in dict.fromkeys(self.parts):
            self.tenants.setdefault(tenant, TenantLanding(0)).total += len(self.tables)
            self._left[(tenant, day)] = set(self.tables)
            for table in self.tables:
                self._before[(tenant, day, table)] = self._state(tenant, day, table)[0]

    def _manifest(self, tenant: str, day: date, table: str):
        return partition_dir(self.lake_root, table, tenant, day) / MANIFEST

    def _state(self, tenant: str, day: date, table: str):
        """(identity, manifest doc or None) of one partition's commit point; identity None = none yet."""
        if is_remote(self.lake_root):
            m = partition_manifest(self.lake_root, table, tenant, day)
            return ((m.sha256, m.written_at), {"rows": m.rows, "quarantined": m.quarantined}) if m else (None, None)
        return _identity(self._manifest(tenant, day, table)), None

    def poll(self) -> set[str]:
        """Take in what landed since the last poll; the tenants whose counts changed."""
        changed = set()
        for (tenant, day), tables in list(self._left.items()):
            for table in list(tables):
                now, doc = self._state(tenant, day, table)
                if now is None or now == self._before[(tenant, day, table)]:
                    continue
                if doc is None:
                    try:
                        doc = json.loads(self._manifest(tenant, day, table).read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        continue  # replaced again while reading: the next poll reads the new one
                tables.discard(table)
                landing = self.tenants[tenant]
                landing.done += 1
                landing.rows += int(doc.get("rows") or 0)
                landing.quarantined += int(doc.get("quarantined") or 0)
                changed.add(tenant)
            if not tables:
                del self._left[(tenant, day)]
        return changed
