"""Which of a run's lake partitions have landed, read from the lake itself while extracts run.

Extract runs execute in worker processes; rather than a channel back from inside Dagster, the
orchestrator watches the commit points: a partition has landed once its `_manifest.json` is a new
file (os.replace gives it a new inode) since the run started. The manifest says how many rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date

from pipelines.lake import MANIFEST, partition_dir
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
                self._before[(tenant, day, table)] = _identity(self._manifest(tenant, day, table))

    def _manifest(self, tenant: str, day: date, table: str):
        return partition_dir(self.lake_root, table, tenant, day) / MANIFEST

    def poll(self) -> set[str]:
        """Take in what landed since the last poll; the tenants whose counts changed."""
        changed = set()
        for (tenant, day), tables in list(self._left.items()):
            for table in list(tables):
                path = self._manifest(tenant, day, table)
                now = _identity(path)
                if now is None or now == self._before[(tenant, day, table)]:
                    continue
                try:
                    doc = json.loads(path.read_text(encoding="utf-8"))
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
