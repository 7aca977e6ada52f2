"""SampleSource: the simulated tenant behind the same Source interface as Sentinel and Defender."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.config import TenantConfig
from pipelines.sources.base import FetchStats, Window
from pipelines.sources.schemas import RAW_TABLES, WINDOW_COLUMN

from .alerts import AlertSimulator
from .definitions import definitions_table
from .firewall_table import LATE_MAX_US, device_day_batches
from .incidents import incident_rows
from .params import SimulationParams
from .world import US_PER_DAY, World, to_us

# How many activity days before a window can still hold rows of it: alerts are ingested at most
# ~30 h after their activity; incidents are updated up to ~7 days after creation (+ late alerts).
ALERT_LOOKBACK_DAYS = 3
INCIDENT_LOOKBACK_DAYS = 11
# Per-instance caches: enough days for a day-by-day run to regenerate nothing.
CACHE_DAYS = {"security_alert": ALERT_LOOKBACK_DAYS + 1, "security_incident": INCIDENT_LOOKBACK_DAYS + 1}


class SampleSource:
    """Deterministic simulated tenant with planted ground truth (docs/sample-tenant.md).

    `as_of` simulates the moment of the query: only rows ingested by then (TimeGenerated <= as_of)
    are returned, so a partition pulled at midnight misses its late rows and a re-pull gets them.
    A date means the midnight after it (a nightly run for that day). None = everything.
    """

    kind = "sample"

    def __init__(self, tenant: TenantConfig, as_of: datetime | date | None = None,
                 params: SimulationParams | None = None):
        if isinstance(as_of, date) and not isinstance(as_of, datetime):
            # a run "as of" a day happens once that day is over: rows ingested by the next midnight
            as_of = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), UTC)
        if as_of is not None and as_of.tzinfo is None:
            raise ValueError("as_of must be a timezone-aware UTC datetime (or a date: the midnight after it)")
        self.tenant = tenant
        self.params = params or SimulationParams.from_scale(tenant.scale)
        self.world = World(tenant, self.params)
        self.as_of_us = None if as_of is None else to_us(as_of)
        self._alerts: AlertSimulator | None = None
        self._cache: dict[str, OrderedDict[int, pa.Table]] = {t: OrderedDict() for t in CACHE_DAYS}
        self._plan_cache: OrderedDict[int, list] = OrderedDict()

    @property
    def alerts(self) -> AlertSimulator:
        if self._alerts is None:
            self._alerts = AlertSimulator(self.world)
        return self._alerts

    # -- per-day tables, cached per instance ------------------------------------------------------
    def _day(self, table: str, k: int) -> pa.Table:
        cache = self._cache[table]
        if k not in cache:
            plans = self._plans(k)
            if table == "security_alert":
                cache[k] = self.alerts.alert_table(k, plans)
            else:
                cache[k] = incident_rows(self.world, plans)
            while len(cache) > CACHE_DAYS[table]:
                cache.popitem(last=False)
        cache.move_to_end(k)
        return cache[k]

    def _plans(self, k: int) -> list:
        # alerts and incident updates of a day come from the same plans: build them once
        cache = self._plan_cache
        if k not in cache:
            cache[k] = self.alerts.plan_day(k)
            while len(cache) > CACHE_DAYS["security_incident"]:
                cache.popitem(last=False)
        cache.move_to_end(k)
        return cache[k]

    # -- the Source interface --------------------------------------------------------------------------
    def fetch(self, table: str, window: Window, stats: FetchStats) -> Iterator[pa.Table]:
        if table not in RAW_TABLES:
            raise ValueError(f"unknown raw table {table!r} (known: {', '.join(RAW_TABLES)})")
        stats.query_windows += 1
        lo, hi = to_us(window.start), to_us(window.end)
        if self.as_of_us is not None:
            # every window column is <= TimeGenerated: nothing at or after as_of has been ingested
            hi = min(hi, self.as_of_us + 1)
            if hi <= lo:
                return
        if table == "device_events":
            batches = self._device_batches(lo, hi)
        elif table == "analytic_rules":
            batches = self._definition_batches(lo)
        else:
            batches = self._tuning_batches(table, lo, hi)
        size = self.params.max_batch_rows
        for batch in batches:
            watermark = pc.max(batch["TimeGenerated" if table != "analytic_rules" else "SnapshotTime"]).as_py()
            if watermark is not None:
                stats.watermark = watermark if stats.watermark is None else max(stats.watermark, watermark)
            for offset in range(0, batch.num_rows, size):
                yield batch.slice(offset, size)

    def _days(self, lo: int, hi: int, lookback: int) -> range:
        w = self.world
        first = max(0, (lo - w.day_us(0)) // US_PER_DAY - lookback)
        last = min(w.n_days - 1, (hi - 1 - w.day_us(0)) // US_PER_DAY)
        return range(first, last + 1)

    def _device_batches(self, lo: int, hi: int) -> Iterator[pa.Table]:
        # generated batch by batch and not cached: a day holds up to millions of rows at large scales
        w = self.world
        for k in self._days(lo, hi, 0):
            day_lo, day_hi = w.day_us(k), w.day_us(k + 1)
            # a whole day whose late rows have all arrived needs no filtering (the common nightly case)
            whole = lo <= day_lo and day_hi <= hi and (self.as_of_us is None or self.as_of_us >= day_hi + LATE_MAX_US)
            for batch in device_day_batches(w, k, self.params.max_batch_rows):
                if whole:
                    yield batch
                    continue
                keep = self._mask(batch, "Timestamp", lo, hi)
                if keep is not None:
                    yield batch if pc.all(keep).as_py() else batch.filter(keep)

    def _definition_batches(self, lo: int) -> Iterator[pa.Table]:
        """The rule definitions, snapshotted at the window's start, while the world exists."""
        if self.world.day_us(0) <= lo < self.world.end_us:
            yield definitions_table(self.world, lo)

    def _tuning_batches(self, table: str, lo: int, hi: int) -> Iterator[pa.Table]:
        lookback = ALERT_LOOKBACK_DAYS if table == "security_alert" else INCIDENT_LOOKBACK_DAYS
        column = WINDOW_COLUMN[table]
        parts = []
        for k in self._days(lo, hi, lookback):
            day_table = self._day(table, k)
            keep = self._mask(day_table, column, lo, hi)
            if keep is not None:
                parts.append(day_table.filter(keep))
        if parts:
            yield pa.concat_tables(parts).sort_by([(column, "ascending")])

    def _mask(self, table: pa.Table, column: str, lo: int, hi: int) -> pa.ChunkedArray | None:
        if table.num_rows == 0:
            return None
        ts = table[column].cast(pa.int64())
        keep = pc.and_(pc.greater_equal(ts, lo), pc.less(ts, hi))
        # nothing outside the world: rows exist only while their window column lies in it
        keep = pc.and_(keep, pc.and_(pc.greater_equal(ts, self.world.day_us(0)), pc.less(ts, self.world.end_us)))
        if self.as_of_us is not None:
            keep = pc.and_(keep, pc.less_equal(table["TimeGenerated"].cast(pa.int64()), self.as_of_us))
        if not pc.any(keep).as_py():
            return None
        return keep
