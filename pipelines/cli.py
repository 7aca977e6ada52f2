"""`hunthouse`: demo, nightly run, backfill, read-only SQL, status and the Dagster UI.

A user mistake (bad config, unknown tenant, missing secret, bad date, bad SQL) prints one line and
exits 2; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

import duckdb
import pyarrow as pa

from pipelines import config, tuning_cli
from pipelines.plan import days_between, nightly_days, partitions, yesterday
from pipelines.warehouse.hub import connect_warehouse
from pipelines.warehouse.readonly import WarehouseUnavailable

# `hunthouse sql` runs queries only; the shards are attached read-only anyway, and this keeps the
# session's own scratch catalog untouched too.
QUERY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}
FORMATS = ("table", "csv", "json", "jsonl", "parquet", "markdown")


class UserError(Exception):
    pass


def say(message: str) -> None:
    print(message, flush=True)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _verbosity(args) -> int:
    from pipelines.progress import NORMAL, QUIET, VERBOSE

    return QUIET if args.quiet else VERBOSE if args.verbose else NORMAL


def _execute(settings: config.Settings, parts, as_of: date, label: str, args) -> int:
    from pipelines.orchestrate import run_pipeline
    from pipelines.progress import reporter_for

    started = time.monotonic()
    reporter = reporter_for(say, _verbosity(args), sys.stdout.isatty())
    try:
        outcome = run_pipeline(settings, parts, as_of, {"hunthouse/trigger": label}, reporter)
    finally:
        reporter.close()
    elapsed = time.monotonic() - started
    for line in outcome.failed[:20]:
        say(f"error: {line}")
    if outcome.published_tenants:
        say(f"published: {', '.join(outcome.published_tenants)} ({settings.warehouse_dir})")
    if outcome.failed_tenants:
        say(f"NOT published: {', '.join(outcome.failed_tenants)} (each keeps its last published shard; "
            "`hunthouse status` shows why)")
        say(f"{label} finished with failures after {elapsed:.1f}s")
        return 1
    say(f"{label} finished in {elapsed:.1f}s")
    return 0


def cmd_run(args, settings: config.Settings) -> int:
    night = args.date or yesterday()
    tenants = [args.tenant] if args.tenant else None
    parts = partitions(settings, nightly_days(settings, night), tenants)
    return _execute(settings, parts, night, "nightly run", args)


def cmd_backfill(args, settings: config.Settings) -> int:
    days = days_between(args.start, args.end)
    tenants = [args.tenant] if args.tenant else None
    return _execute(settings, partitions(settings, days, tenants), args.end, "backfill", args)


def cmd_demo(args, settings: config.Settings) -> int:
    samples = [t for t in settings.tenants if t.kind == "sample"]
    if not samples:
        raise UserError("the demo needs at least one tenant of kind 'sample' in the configuration")
    start = min(t.start or settings.start_date for t in samples)
    end = max(t.end or yesterday() for t in samples)
    if not args.quiet:
        say(f"Hunthouse demo: {len(samples)} sample tenants, {start} → {end}, data home {settings.home}")
    started = time.monotonic()
    parts = partitions(settings, days_between(start, end), [t.name for t in samples])
    code = _execute(settings, parts, end, "demo", args)
    if code or args.quiet:
        return code
    _print_summary(settings, end, time.monotonic() - started)
    return 0


def _print_summary(settings: config.Settings, as_of: date, elapsed: float) -> None:
    from pipelines.status import published_summary

    summary = published_summary(settings)
    say("")
    say(f"Demo pipeline finished in {elapsed:.1f}s (extract, warehouse, models, reports).")
    say(f"Tenants: {', '.join(summary['tenants'])}; days: {summary['first_day']} → {summary['last_day']}")
    say("Rows per table:")
    for table, rows in summary["tables"].items():
        say(f"  {table:<24} {rows:>12,}")
    say(f"Warehouse: {settings.warehouse_dir}/<tenant>.duckdb, one shard per tenant "
        f"(plain duckdb: duckdb -init {settings.warehouse_dir / 'attach.sql'})")
    reports = settings.reports_dir / as_of.isoformat()
    for path in sorted(reports.rglob("*.html")):
        if path.name != "index.html":
            say(f"Report:    {path}")
    say(f"Index:     {settings.reports_dir / 'latest' / 'index.html'} (every report of the newest night)")
    say("Next: .venv/bin/hunthouse sql \"select finding_type, count(*) from fw_findings group by 1\"")
    say("      make dev   # the Dagster UI on the same instance, http://127.0.0.1:3000")


def cmd_sql(args, settings: config.Settings) -> int:
    from pipelines import sql_output

    try:
        target = sql_output.check_target(args.format, args.output)
    except sql_output.OutputError as exc:
        raise UserError(str(exc)) from None
    if args.limit is not None and args.limit < 0:
        raise UserError(f"--limit must be 0 or more, got {args.limit}")
    display = args.format in sql_output.DISPLAY_FORMATS
    limit = args.limit if args.limit is not None else (sql_output.DEFAULT_DISPLAY_LIMIT if display else None)
    try:
        con = connect_warehouse(settings, [args.tenant] if args.tenant else None)
    except WarehouseUnavailable as exc:
        raise UserError(str(exc)) from None
    with con:
        try:
            kinds = {s.type.name for s in con.extract_statements(args.query)}
            if not kinds <= QUERY_STATEMENTS:
                refused = ", ".join(sorted(kinds - QUERY_STATEMENTS))
                raise UserError(f"query failed: only queries (SELECT, EXPLAIN) are allowed here, not {refused}")
            relation = con.sql(args.query)
            if relation is None:
                return 0
            reader = relation.to_arrow_reader(sql_output.BATCH_ROWS)
            rows, more = sql_output.write_result(reader, args.format, target, limit)
        except (duckdb.Error, pa.ArrowException) as exc:
            raise UserError(f"query failed: {str(exc).splitlines()[0]}") from None
        except sql_output.OutputError as exc:
            raise UserError(str(exc)) from None
        except BrokenPipeError:  # `hunthouse sql … | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except OSError as exc:
            raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    if more:
        note = f"first {limit} rows; use --limit to see more"
        if target is None and display:
            say(f"({note})")
        else:
            print(f"hunthouse: {note}", file=sys.stderr)
    if target is not None:
        print(f"hunthouse: {rows} rows written to {target}",
              file=sys.stderr)
    return 0


def cmd_status(args, settings: config.Settings) -> int:
    if args.json or args.check:
        import json

        from pipelines import monitor

        if args.max_age_hours <= 0:
            raise UserError("--max-age-hours must be positive")
        doc = monitor.report(settings, args.max_age_hours)
        if args.json:
            say(json.dumps(doc, indent=2, default=str))
        else:
            say(monitor.summary_line(doc))
        return doc["exit_code"] if args.check else 0
    from pipelines.status import print_status

    print_status(settings, say)
    return 0


def cmd_dev(args, settings: config.Settings) -> int:
    from pipelines.orchestrate import prepare_instance

    home = prepare_instance(settings)
    os.environ["HUNTHOUSE_CONFIG"] = settings.source_path
    os.environ["HUNTHOUSE_HOME"] = str(settings.home)
    say(f"Dagster UI on the Hunthouse instance ({home}); Ctrl-C to stop")
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "--host", args.host, "--port", str(args.port)],
    )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hunthouse", description="Firewall baselines and rule tuning for Defender XDR and Sentinel.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="hunthouse.toml to use (default: $HUNTHOUSE_CONFIG, ./hunthouse.toml, the example)")
    sub = p.add_subparsers(dest="command", required=True)
    noise = argparse.ArgumentParser(add_help=False)
    level = noise.add_mutually_exclusive_group()
    level.add_argument("--quiet", "-q", action="store_true", help="print only failures and the final result")
    level.add_argument("--verbose", "-v", action="store_true", help="a line at every change in landed partitions, and one per extract run")
    sub.add_parser("demo", parents=[common, noise], help="run the pipeline over the sample tenants and summarise")
    run = sub.add_parser("run", parents=[common, noise], help="the nightly job: yesterday plus the lookback window")
    run.add_argument("--date", type=_date, help="the day to process (default: yesterday, UTC)")
    run.add_argument("--tenant", help="only this tenant")
    bf = sub.add_parser("backfill", parents=[common, noise], help="load a date range")
    bf.add_argument("--start", type=_date, required=True)
    bf.add_argument("--end", type=_date, required=True)
    bf.add_argument("--tenant", help="only this tenant")
    sql = sub.add_parser("sql", parents=[common], help="read-only SQL on the published warehouse")
    sql.add_argument("query")
    sql.add_argument("--limit", type=int, help="at most N rows (default: 100 for table and markdown, all otherwise)")
    sql.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    sql.add_argument("--output", metavar="FILE", help="write the result to FILE (required for parquet)")
    sql.add_argument("--tenant", help="attach only this tenant's shard (the other tenants' rows are not readable)")
    st = sub.add_parser("status", parents=[common], help="partitions loaded, freshness, last run, checks")
    st.add_argument("--json", action="store_true", help="per tenant, as JSON (for monitoring)")
    st.add_argument("--check", action="store_true",
                    help="one line and exit 0 (ok), 1 (stale) or 2 (error): for Nagios and systemd OnFailure=")
    st.add_argument("--max-age-hours", type=float, default=30.0,
                    help="with --check/--json: a shard published longer ago than this is stale (default: 30)")
    tuning_cli.add_parser(sub, common)  # accept | dismiss | revoke | import-csv
    dev = sub.add_parser("dev", parents=[common], help="the Dagster UI on the Hunthouse instance")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    return p


def cmd_tuning(args, settings: config.Settings) -> int:
    return tuning_cli.run(args, settings, say)


COMMANDS = {"demo": cmd_demo, "run": cmd_run, "backfill": cmd_backfill, "sql": cmd_sql, "status": cmd_status, "dev": cmd_dev,
            "tuning": cmd_tuning}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = config.load(args.config)
        return COMMANDS[args.command](args, settings)
    except (config.ConfigError, UserError, tuning_cli.TuningError) as exc:
        print(f"hunthouse: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hunthouse: interrupted; the published warehouse is unchanged", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `hunthouse status | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
