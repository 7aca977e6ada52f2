"""The generations of a warehouse file: start the build file, publish it, keep the standby.

(The run's other steps: lake_sync.py loads the changed partitions, build.py runs the models,
catchup.py brings the standby up to the published file.)

A run starts its build file `<home>/build/<run>.duckdb` from a complete earlier generation, reloads
only the lake partitions whose manifests changed, rebuilds incremental models for the changed days,
then CHECKPOINTs, closes, fsyncs and `os.replace`s it over `<home>/warehouse.duckdb`. Analysts
holding a read-only connection keep reading the old file and never see a half-built one; a failed
run leaves the published file untouched (the build file is simply discarded).

Where the build file comes from (`start_build`, recorded as `build_from`):
- "resume": this run's build file exists (a retried run continues it);
- "standby": `publish` keeps the generation it replaces under a second name, `build/standby.duckdb`
  (a hard link taken before the rename, so no bytes are copied). The next run takes that file over
  (rename) and brings it up to the published generation with `catch_up`: the rows that the runs it
  missed changed, read from the published file attached read-only. Cost: the missed runs' changed
  partitions plus the window-sized model tables, not the history;
- "copy": anything else (no standby, an analyst still reads it, it is not an ancestor of the
  published file, a schema or a table `catch_up` does not know): a copy of the published file, as
  before.
Steady state holds two generations on disk (published + standby), as a copy-based run did at its peak.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from pipelines.config import Settings
from pipelines.lake import fsync_dir
from pipelines.warehouse import staging
from pipelines.warehouse.catchup import StandbyUnusable, catch_up
from pipelines.warehouse.connect import connect, open_writer

Progress = Callable[[str], None]


STANDBY = "standby.duckdb"  # the previously published generation, in <home>/build


def build_path(settings: Settings, run_key: str) -> Path:
    safe = "".join(c for c in run_key if c.isalnum() or c in "-_")[:64] or "run"
    if f"{safe}.duckdb" == STANDBY:
        safe = f"run-{safe}"
    return settings.build_dir / f"{safe}.duckdb"


def standby_path(settings: Settings) -> Path:
    return settings.build_dir / STANDBY


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


@dataclass(frozen=True)
class BuildStart:
    path: Path
    source: str  # "resume" | "standby" | "copy"
    reason: str


def start_build(settings: Settings, run_key: str, progress: Progress | None = None) -> BuildStart:
    """Start (or resume, for a retried run) the build file of this run; say where it came from."""
    path = build_path(settings, run_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        source, reason = "resume", "this run's build file exists: a retried run continues it"
    else:
        # a WAL left by an earlier file of this name must never be replayed onto a new one
        _wal(path).unlink(missing_ok=True)
        refused = _take_standby(settings, path, progress)
        if refused is None:
            source, reason = "standby", "the previous generation, caught up with the published one"
        else:
            source, reason = "copy", refused
            tmp = path.with_suffix(".copying")
            if settings.warehouse_path.exists():
                shutil.copyfile(settings.warehouse_path, tmp)
            else:
                reason = "no published warehouse yet: a new empty file"
                connect(tmp).close()
            os.replace(tmp, path)
    with connect(path) as con:
        staging.create_tables(con)
    if progress:
        progress(f"build file {path.name} from {source}: {reason}")
    return BuildStart(path, source, reason)


# -- the standby generation -------------------------------------------------------------------
def _drop_standby(settings: Settings) -> None:
    """Unlink the standby name (a reader still holding it keeps its inode until it closes)."""
    standby = standby_path(settings)
    standby.unlink(missing_ok=True)
    _wal(standby).unlink(missing_ok=True)


def _open_in_this_process(path: Path) -> bool:
    """True when a file descriptor of this process refers to path's inode. DuckDB's file lock is a
    POSIX lock, which a process never conflicts with itself on: a read-only connection of this same
    process to the old generation would not stop a read-write open."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return False
    target = path.stat()
    for fd in fds.iterdir():
        try:
            st = fd.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def _take_standby(settings: Settings, target: Path, progress: Progress | None) -> str | None:
    """Catch the standby up and rename it to target. None when done, else why not (it is dropped)."""
    standby, published = standby_path(settings), settings.warehouse_path
    if not standby.exists():
        return "no standby generation"
    if not published.exists():
        refused = "no published warehouse to catch the standby up with"
    elif _wal(standby).exists():
        refused = "a WAL lies beside the standby: a run died while catching it up"
    elif os.path.samefile(standby, published):
        refused = "the standby is the published file itself"
    elif _open_in_this_process(standby):
        refused = "this process still has the standby open"
    else:
        refused = None
    if refused is None:
        try:
            con = open_writer(standby, settings)
        except duckdb.Error as exc:  # IOException "Could not set lock": an analyst still reads it
            refused = f"cannot open the standby read-write: {str(exc).splitlines()[0][:200]}"
        else:
            try:
                with con:
                    caught = catch_up(con, published)
                    con.execute("CHECKPOINT")
                if progress:
                    progress(f"standby caught up: {caught}")
            except (StandbyUnusable, duckdb.Error) as exc:
                refused = f"standby not usable: {str(exc).splitlines()[0][:300]}"
            else:
                if _wal(standby).exists():
                    refused = "a WAL is left beside the standby after CHECKPOINT"
    if refused is not None:
        _drop_standby(settings)
        return refused
    os.rename(standby, target)
    fsync_dir(target.parent)
    return None


def publish(settings: Settings, path: Path, as_of: date) -> Path:
    """CHECKPOINT, close, fsync and atomically rename the build file over the published warehouse;
    the generation it replaces stays as the standby (build/standby.duckdb) for the next run.

    Order, and what a crash between two steps leaves (the published file is always whole):
    1. publish_log row, CHECKPOINT, close (no WAL may be left), fsync the build file;
    2. hard-link the published file to build/standby.duckdb.tmp: a leftover tmp is discarded by the
       next run and never used (it may be the published file itself);
    3. os.replace(build file, warehouse.duckdb), fsync the home: the new generation is published;
    4. os.replace(tmp, build/standby.duckdb), fsync build/: the old generation is the standby. Before
       this step the standby is an older generation or missing: the next run catches it up further
       or copies.
    """
    with connect(path) as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS publish_log (published_at TIMESTAMPTZ, as_of DATE, build_file VARCHAR)"
        )
        con.execute("INSERT INTO publish_log VALUES (?, ?, ?)", [datetime.now(UTC), as_of, path.name])
        con.execute("CHECKPOINT")
    if _wal(path).exists():
        raise RuntimeError(f"{_wal(path).name} is left after CHECKPOINT: its changes would not be published")
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    target = settings.warehouse_path
    target.parent.mkdir(parents=True, exist_ok=True)
    standby = standby_path(settings)
    tmp = standby.with_name(STANDBY + ".tmp")
    tmp.unlink(missing_ok=True)
    previous = False
    if target.exists():
        try:
            os.link(target, tmp)
            previous = True
        except OSError:
            previous = False  # no hard links on this file system: the next runs copy
    if not previous:
        _drop_standby(settings)  # an older standby would only grow further behind
    try:
        os.replace(path, target)
    except OSError:  # the rename failed (e.g. ENOSPC): the published file is unchanged
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    if previous:
        _wal(standby).unlink(missing_ok=True)
        os.replace(tmp, standby)
        fsync_dir(standby.parent)
    return target


def discard_stale_builds(settings: Settings, keep: Path | None = None) -> None:
    """Remove build files of earlier runs that failed (and their WALs, copies, a half-made standby);
    keep `keep` with its WAL, and the standby. The published file is never touched."""
    kept = {STANDBY}
    if keep is not None:
        kept |= {keep.name, _wal(keep).name}
    for leftover in settings.build_dir.glob("*"):
        if leftover.name not in kept and leftover.is_file():
            leftover.unlink(missing_ok=True)
