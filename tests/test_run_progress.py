"""Progress of demo/run/backfill: partitions landed are read from the lake's commit points, plain
output is timestamped and throttled, --quiet prints failures only, and the terminal bars show each
tenant's partitions, rows and phase."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from pipelines import lake
from pipelines.landing import LandingWatch
from pipelines.progress import NORMAL, QUIET, VERBOSE, PlainReporter, Reporter, RichReporter
from pipelines.sources.schemas import RAW_TABLES
from tests.conftest import SAMPLE_PROGRESS

DAY1, DAY2 = date(2026, 10, 1), date(2026, 10, 2)
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


def rows(table: str, n: int) -> pa.Table:
    schema = RAW_TABLES[table]
    return pa.table({f.name: pa.nulls(n, f.type) for f in schema}, schema=schema)


def test_landing_counts_only_partitions_committed_since_the_watch_began(tmp_path):
    root = str(tmp_path / "lake")
    tables = sorted(RAW_TABLES)
    lake.write_partition(root, tables[0], "contoso", DAY1, [rows(tables[0], 5)])  # from an earlier night
    watch = LandingWatch(root, [("contoso", DAY1), ("contoso", DAY2), ("fabrikam", DAY1)])
    n = len(tables)  # every raw table, per tenant and day
    assert {t: (s.total, s.done) for t, s in watch.tenants.items()} == {"contoso": (2 * n, 0), "fabrikam": (n, 0)}
    assert watch.poll() == set()
    lake.write_partition(root, tables[1], "contoso", DAY2, [rows(tables[1], 7)])
    lake.write_partition(root, tables[0], "contoso", DAY1, [rows(tables[0], 3)])  # re-extracted tonight
    assert watch.poll() == {"contoso"}
    assert (watch.tenants["contoso"].done, watch.tenants["contoso"].rows) == (2, 10)
    assert watch.poll() == set()  # a landed partition is counted once
    for table in tables:
        lake.write_partition(root, table, "fabrikam", DAY1, [rows(table, 1)])
    watch.poll()
    assert (watch.tenants["fabrikam"].done, watch.tenants["fabrikam"].rows) == (n, n)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def plain(verbosity=NORMAL):
    lines, clock = [], Clock()
    now = lambda: datetime(2026, 11, 9, 2, 15, int(clock.t) % 60, tzinfo=UTC)  # noqa: E731
    return PlainReporter(lines.append, verbosity, interval=10, clock=clock, now=now), lines, clock


def test_plain_lines_are_timestamped_throttled_and_estimate_the_rest():
    reporter, lines, clock = plain()
    reporter.plan({"contoso": 30, "fabrikam": 30})
    clock.t = 2
    reporter.landed("contoso", 1, 100)  # within the interval: not shown
    clock.t = 12
    reporter.landed("contoso", 10, 1_000)
    reporter.landed("contoso", 11, 1_100)  # throttled again
    clock.t = 13
    reporter.landed("contoso", 30, 3_000)  # done: always shown
    reporter.landed("contoso", 30, 3_000, final=True)  # nothing new: not repeated
    reporter.phase("contoso", "warehouse: staging")
    reporter.phase("contoso", "warehouse: staging")
    assert all(STAMP.match(line) for line in lines), lines
    assert [line[21:] for line in lines] == [
        "plan: contoso 30 lake partitions, fabrikam 30 lake partitions",
        "contoso: 10/30 partitions landed, 1,000 rows, elapsed 0:12, about 0:24 left",
        "contoso: 30/30 partitions landed, 3,000 rows, elapsed 0:13",
        "contoso: warehouse: staging, elapsed 0:13",
    ]


def test_quiet_prints_failures_only_and_verbose_every_partition():
    quiet, lines, clock = plain(QUIET)
    quiet.plan({"contoso": 3})
    quiet.landed("contoso", 3, 10)
    quiet.phase("contoso", "published")
    quiet("building and publishing 1 tenant shard(s)")
    quiet.error("extract run 1/1 FAILED contoso 2026-10-01: throttled")
    assert [line[21:] for line in lines] == ["extract run 1/1 FAILED contoso 2026-10-01: throttled"]
    verbose, lines, clock = plain(VERBOSE)
    verbose.plan({"contoso": 3})
    for done in (1, 2, 3):
        verbose.landed("contoso", done, done * 10)
    assert [line[21:].split(",")[0] for line in lines[1:]] == [f"contoso: {n}/3 partitions landed" for n in (1, 2, 3)]


def test_a_plain_callable_still_receives_messages():
    seen = []
    reporter = Reporter(seen.append)
    reporter.plan({"contoso": 3})
    reporter.landed("contoso", 3, 10)
    reporter("building")
    reporter.message("detail", VERBOSE)
    assert seen == ["building"]


def test_terminal_bars_show_each_tenants_partitions_rows_and_phase():
    from rich.console import Console

    out = io.StringIO()
    reporter = RichReporter(Console(file=out, width=160, force_terminal=False, record=True))
    reporter.plan({"contoso": 6, "fabrikam": 6})
    reporter.landed("contoso", 6, 12_345)
    reporter.landed("fabrikam", 3, 99)
    reporter.phase("contoso", "warehouse: firewall_models")
    reporter.close()
    text = out.getvalue()
    contoso = next(line for line in text.splitlines() if "contoso" in line)
    assert "6/6" in contoso and "12,345" in contoso and "warehouse: firewall_models" in contoso
    assert any("fabrikam" in line and "3/6" in line and " 99 rows" in line for line in text.splitlines())


@pytest.mark.xdist_group("sample_warehouse")  # built once, in one worker
def test_the_sample_run_reported_landing_and_publishing_per_tenant(sample_warehouse):
    assert SAMPLE_PROGRESS and all(STAMP.match(line) for line in SAMPLE_PROGRESS)
    text = "\n".join(SAMPLE_PROGRESS)
    for tenant in (t.name for t in sample_warehouse.tenants):
        done = [line for line in SAMPLE_PROGRESS if re.search(rf" {tenant}: (\d+)/\1 partitions landed, [\d,]+ rows", line)]
        assert done, text
        assert f" {tenant}: published, elapsed " in text
