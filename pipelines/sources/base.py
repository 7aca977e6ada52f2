"""The one interface every source implements: the sample tenant, Sentinel and Defender XDR."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Protocol

import pyarrow as pa


@dataclass(frozen=True)
class Window:
    """A half-open UTC window [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware UTC datetimes")
        if not self.start < self.end:
            raise ValueError(f"empty window [{self.start}, {self.end})")

    def split(self) -> tuple[Window, Window]:
        mid = self.start + (self.end - self.start) / 2
        return Window(self.start, mid), Window(mid, self.end)


def day_window(day: date) -> Window:
    """The UTC day a lake partition holds."""
    start = datetime.combine(day, dtime.min, tzinfo=UTC)
    return Window(start, start + timedelta(days=1))


@dataclass
class FetchStats:
    """What a fetch did, for the load log and the Dagster metadata. Never holds secrets."""

    query_windows: int = 0
    splits: int = 0
    retries: int = 0
    watermark: datetime | None = None
    dropped_columns: list[str] = field(default_factory=list)
    # raw columns the service itself sent (before conform fills missing ones with nulls); None when
    # the source yields its batches unconformed and extract can read them off the batch
    source_columns: set[str] | None = None
    # why a source that answered returned nothing on purpose (a permission not granted, a setting
    # not made): the partition is committed empty and the reason recorded, instead of a failed run
    absence: str | None = None


class Source(Protocol):
    """Yields Arrow batches for one raw table, one tenant and one half-open UTC window.

    Batches carry the raw columns of `pipelines.sources.schemas` (names matched case-insensitively;
    `schemas.conform` casts them). A source must either return the window complete or raise:
    truncated results are split and retried inside the source, never yielded as if whole.
    """

    kind: str

    def fetch(self, table: str, window: Window, stats: FetchStats) -> Iterator[pa.RecordBatch | pa.Table]: ...
