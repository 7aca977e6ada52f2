"""Progress of `demo`, `run` and `backfill`: per tenant, partitions landed of the total, rows landed,
the warehouse phase, elapsed time and an estimate of what is left.

A `Reporter` receives the run's events. On a terminal, `RichReporter` draws one live bar per tenant;
elsewhere (systemd's journal, CI, a pipe) `PlainReporter` prints timestamped lines, at most one per
tenant every `interval` seconds while partitions land, and every phase change. Verbosity: 0 (--quiet)
prints only failures; 1 the default; 2 (--verbose) every change in landed partitions and every extract run.
The base class is also what a plain `progress(str)` callable becomes (messages only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

QUIET, NORMAL, VERBOSE = 0, 1, 2


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Reporter:
    """Events of one pipeline run, turned into messages through `say` (a plain callable)."""

    def __init__(self, say: Callable[[str], None] = lambda _: None, verbosity: int = NORMAL,
                 clock: Callable[[], float] = time.monotonic):
        self.say, self.verbosity, self.clock = say, verbosity, clock
        self.started = clock()
        self.totals: dict[str, int] = {}
        self.phases: dict[str, str] = {}

    def __call__(self, text: str) -> None:  # a Reporter is also a Progress callable
        self.message(text)

    def message(self, text: str, level: int = NORMAL) -> None:
        if self.verbosity >= level:
            self.say(text)

    def error(self, text: str) -> None:
        self.say(text)

    def plan(self, totals: dict[str, int]) -> None:
        """The run's tenants and their lake partitions (tenant-days × raw tables)."""
        self.totals = dict(totals)
        for tenant in totals:
            self.phases[tenant] = "extracting"

    def landed(self, tenant: str, done: int, rows: int, final: bool = False) -> None:
        """`done` of the tenant's partitions have every table in the lake, `rows` rows in all."""

    def phase(self, tenant: str, text: str) -> None:
        self.phases[tenant] = text

    def estimate(self, done: int, total: int) -> str:
        elapsed = self.clock() - self.started
        if not done or done >= total:
            return ""
        return f", about {duration(elapsed / done * (total - done))} left"

    def close(self) -> None:
        pass


class PlainReporter(Reporter):
    """Timestamped lines (UTC), throttled to one per tenant every `interval` seconds while landing."""

    def __init__(self, say: Callable[[str], None], verbosity: int = NORMAL, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime] | None = None):
        super().__init__(say, verbosity, clock)
        self.interval = interval
        self.now = now or (lambda: datetime.now(UTC))
        self._last_line: dict[str, float] = {}
        self._shown: dict[str, tuple[int, int]] = {}

    def _line(self, text: str) -> str:
        return f"{self.now().strftime('%Y-%m-%dT%H:%M:%SZ')} {text}"

    def message(self, text: str, level: int = NORMAL) -> None:
        if self.verbosity >= level:
            self.say(self._line(text.strip()))

    def error(self, text: str) -> None:
        self.say(self._line(text.strip()))

    def plan(self, totals: dict[str, int]) -> None:
        super().plan(totals)
        self.message(f"plan: {', '.join(f'{t} {n} lake partitions' for t, n in totals.items())}")

    def landed(self, tenant: str, done: int, rows: int, final: bool = False) -> None:
        total = self.totals.get(tenant, 0)
        at = self.clock()
        due = at - self._last_line.get(tenant, self.started) >= self.interval
        if self._shown.get(tenant) == (done, rows):
            return
        if self.verbosity >= VERBOSE or (self.verbosity >= NORMAL and (due or final or done == total)):
            self._last_line[tenant], self._shown[tenant] = at, (done, rows)
            self.message(f"{tenant}: {done}/{total} partitions landed, {rows:,} rows, elapsed "
                         f"{duration(at - self.started)}{self.estimate(done, total)}", QUIET)

    def phase(self, tenant: str, text: str) -> None:
        if self.phases.get(tenant) != text:
            self.message(f"{tenant}: {text}, elapsed {duration(self.clock() - self.started)}")
        super().phase(tenant, text)


class RichReporter(Reporter):
    """Live bars on a terminal, one per tenant: partitions, rows, phase, elapsed, time left."""

    def __init__(self, console=None, verbosity: int = NORMAL):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        super().__init__(lambda text: None, verbosity)
        self.console = console or Console()
        # fits 80 columns: the phase column takes what is left and is cut with an ellipsis
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", table_column=Column(width=12, no_wrap=True, overflow="ellipsis")),
            BarColumn(bar_width=12), MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:>9,} rows", table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[phase]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False, expand=True,
        )
        self.tasks: dict[str, int] = {}
        self.bars.start()

    def message(self, text: str, level: int = NORMAL) -> None:
        if self.verbosity >= level:
            self.bars.console.log(text.strip())

    def error(self, text: str) -> None:
        self.bars.console.log(f"[bold red]{text.strip()}", markup=True)

    def plan(self, totals: dict[str, int]) -> None:
        super().plan(totals)
        for tenant, total in totals.items():
            self.tasks[tenant] = self.bars.add_task(tenant, total=total, rows=0, phase="extracting")

    def landed(self, tenant: str, done: int, rows: int, final: bool = False) -> None:
        if tenant in self.tasks:
            self.bars.update(self.tasks[tenant], completed=done, rows=rows)

    def phase(self, tenant: str, text: str) -> None:
        super().phase(tenant, text)
        if tenant in self.tasks:
            self.bars.update(self.tasks[tenant], phase=text)
        self.message(f"{tenant}: {text}", VERBOSE)

    def close(self) -> None:
        self.bars.stop()


def reporter_for(say: Callable[[str], None], verbosity: int, terminal: bool) -> Reporter:
    """Bars on a terminal, timestamped lines elsewhere; --quiet prints failures only, as lines."""
    if terminal and verbosity > QUIET:
        return RichReporter(verbosity=verbosity)
    return PlainReporter(say, verbosity)
