"""Analytic-rule tuning models: rule noise, top entities, exclusion recommendations and their backtest.

The build runs the group's steps (the SQL files of this folder and the Python steps in STEPS, in
the registry's dependency order, models/registry.py) phase by phase, as each header's `phase:` says:
1. `setup` once;
2. for each of `backtest_origins` rolling origins (1 = the latest), the `fit` phase with
   fit_end_day = the first day of that origin's held-out window of `backtest_days` days, then the
   `backtest` phase keeps the exclusions it recommends;
3. the same `fit` with fit_end_day = as_of + 1 (everything), then the `report` phase scores step
   2's exclusions on the held-out days and builds the published rule reports from the live fit.
Running the one fit twice with a different cut-off is what makes the backtest honest: the
exclusions it scores were chosen by exactly the live logic, without the days they are scored on.
Python only for the Beta prior fit, the never-alone patterns and the UDFs.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from duckdb.sqltypes import BOOLEAN, DOUBLE, VARCHAR

from models import registry
from models.registry import MAX_REPEATS, Model, Registry
from models.runner import ModelContext, run_sql_file, set_params
from models.tuning.beta import beta_ppf
from models.tuning.kql import kql_exclusion, parse_mappings
from models.tuning.kql_eval import clause_removes
from models.tuning.prior import fit_beta_prior

HERE = Path(__file__).resolve().parent
GROUP = "tuning"
NEVER_ALONE = HERE / "never_alone.csv"
PUBLISHED = tuple(m.name for m in registry.default().tables(GROUP))
# TEMP tables of the build, never published: the fit's working sets (re-made for each cut-off) and
# the held-out fits' exclusions (published through tuning_backtest_exclusions)
SCRATCH = tuple(registry.default().scratch(GROUP))


def _beta_quantile(q: pa.Array, a: pa.Array, b: pa.Array) -> pa.Array:
    qs, as_, bs = (np.asarray(x.to_numpy(zero_copy_only=False), dtype=float) for x in (q, a, b))
    valid = ~(np.isnan(qs) | np.isnan(as_) | np.isnan(bs)) & (as_ > 0) & (bs > 0)
    out = np.full(qs.shape, np.nan)
    if valid.any():
        out[valid] = beta_ppf(qs[valid], as_[valid], bs[valid])
    return pa.array(out, mask=~valid)


@functools.lru_cache(maxsize=1024)
def _mappings(entity_mappings: str | None):
    return parse_mappings(entity_mappings)


def _clause_removes(clause: str | None, entities_json: str | None, entity_mappings: str | None = None) -> bool:
    """Whether the deployed clause drops an alert, from its entities (JSON list of
    {entity_type, entity_key, entity_value, properties}), laid out in the rule's own mapped
    columns too when its definition's entity mappings are given."""
    if clause is None or entities_json is None:
        return False
    return clause_removes(clause, json.loads(entities_json), _mappings(entity_mappings))


def register_functions(con: duckdb.DuckDBPyConnection, settings) -> None:
    """The scalar functions the tuning SQL calls: Beta quantiles, KQL clauses, rule owners."""
    for name in ("beta_quantile", "kql_exclusion", "kql_clause_removes", "rule_owner"):
        try:
            con.remove_function(name)
        except duckdb.Error:
            pass
    con.create_function("beta_quantile", _beta_quantile, [DOUBLE, DOUBLE, DOUBLE], DOUBLE, type="arrow")
    con.create_function(
        "kql_exclusion", kql_exclusion, [VARCHAR] * 7, VARCHAR, null_handling="special"
    )
    con.create_function(
        "kql_clause_removes", _clause_removes, [VARCHAR, VARCHAR, VARCHAR], BOOLEAN, null_handling="special"
    )
    con.create_function(
        "rule_owner", lambda rule_id, rule_name: settings.owner_of(rule_id or "", rule_name or ""),
        [VARCHAR, VARCHAR], VARCHAR, null_handling="special",
    )


def subject_patterns(settings) -> list[tuple[str, str, str]]:
    """(entity type, glob, reason) of every entity never recommended alone, whatever the rule: the
    never-alone list kept in the repo, the tier-0 host globs and the never_exclude globs."""
    with NEVER_ALONE.open(newline="", encoding="utf-8") as f:
        rows = [(r["entity_type"], r["pattern"].lower(), r["reason"]) for r in csv.DictReader(f)]
    rows += [("host", g.lower(), "tier-0 host (tier0_hosts)") for g in settings.tier0_hosts]
    rows += [(t, g.lower(), "configured never_exclude") for t, g in settings.never_exclude]
    return rows


def load_subject_patterns(con: duckdb.DuckDBPyConnection, settings) -> None:
    """tuning_subject_patterns: the rows of subject_patterns(settings)."""
    con.execute("CREATE OR REPLACE TEMP TABLE tuning_subject_patterns "
                "(entity_type VARCHAR, pattern VARCHAR, reason VARCHAR)")
    con.executemany("INSERT INTO tuning_subject_patterns VALUES (?, ?, ?)", subject_patterns(settings))


def fit_priors(con: duckdb.DuckDBPyConnection, settings=None) -> None:
    """tuning_rule_priors: one Beta(alpha, beta) per tenant, fitted on tuning_rule_label_counts."""
    con.execute(
        "CREATE OR REPLACE TABLE tuning_rule_priors "
        "(tenant VARCHAR, alpha DOUBLE, beta DOUBLE, method VARCHAR, rules_with_labels INTEGER)"
    )
    counts = con.execute(
        "SELECT tenant, list(benign_alerts ORDER BY rule_id), list(labelled_alerts ORDER BY rule_id) "
        "FROM tuning_rule_label_counts GROUP BY tenant ORDER BY tenant"
    ).fetchall()
    for tenant, benign, labelled in counts:
        prior = fit_beta_prior(benign, labelled)
        con.execute(
            "INSERT INTO tuning_rule_priors VALUES (?, ?, ?, ?, ?)",
            [tenant, prior.alpha, prior.beta, prior.method, prior.rules],
        )


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the scratch tables: the TEMP ones of this connection, and the persistent copies that
    warehouses built before they became TEMP still carry (copied forward by every build)."""
    for name in SCRATCH:
        # a TEMP table hides a persistent one of the same name, so drop until neither is left
        while con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
            "AND (temporary OR database_name = current_database())",
            [name],
        ).fetchall()[0][0]:
            con.execute(f'DROP TABLE "{name}"')  # name from SCRATCH


# the Python steps the registry declares (models/declared.py, `python=`), by name
STEPS: dict[str, Callable[[duckdb.DuckDBPyConnection, object], None]] = {
    "load_subject_patterns": load_subject_patterns,
    "fit_priors": fit_priors,
}


def run_phase(con: duckdb.DuckDBPyConnection, phase: str, settings, models: Registry | None = None) -> None:
    """Run the group's steps of one phase in the registry's order."""
    for step in (models or registry.default()).steps(GROUP, phase):
        if isinstance(step, Model):
            STEPS[step.python](con, settings)
        else:
            _run(con, step, models)


def run_fit(con: duckdb.DuckDBPyConnection, fit_end_day: date, settings, models: Registry | None = None) -> None:
    set_params(con, {"fit_end_day": fit_end_day})
    run_phase(con, "fit", settings, models)


def _run(con: duckdb.DuckDBPyConnection, path: Path, models: Registry | None = None) -> None:
    """Run one model file; a file whose header says `repeat_until` again until it says 0."""
    repeat = next((m.repeat_until for m in (models or registry.default()).models
                   if m.file == path and m.repeat_until), None)
    for _ in range(MAX_REPEATS if repeat else 1):
        try:
            run_sql_file(con, path)
        except duckdb.Error as exc:
            raise RuntimeError(f"model tuning/{path.name} failed: {exc}") from exc
        if repeat is None:
            return
        table, column = repeat.split(" ")[0].split(".")
        if not con.execute(f'SELECT "{column}" FROM "{table}"').fetchall()[0][0]:  # noqa: S608 (names from the header)
            return
    raise RuntimeError(f"model tuning/{path.name} did not reach {repeat} in {MAX_REPEATS} runs")


def build(con: duckdb.DuckDBPyConnection, ctx: ModelContext) -> dict[str, int]:
    s = ctx.settings
    # the earliest held-out day of the rolling origins (see 50_tuning_backtest.sql)
    backtest_start = ctx.as_of - timedelta(days=s.backtest_origins * s.backtest_days - 1)
    register_functions(con, s)
    drop_scratch(con)
    set_params(
        con,
        {
            "as_of": ctx.as_of,
            "backtest_start": backtest_start,
            "backtest_days": int(s.backtest_days),
            "min_labelled_alerts": int(s.min_labelled_alerts),
            "min_confidence": float(s.min_confidence),
            "triage_minutes_per_incident": float(s.triage_minutes_per_incident),
            "exclusion_ttl_days": int(s.exclusion_ttl_days),
            "fit_days": int(s.fit_days),
            "max_removed_share": float(s.max_removed_share),
            "automation_labels": bool(s.automation_labels),
            "min_decisions": int(s.min_decisions),
        },
    )
    run_phase(con, "setup", s)
    first_day = con.execute("SELECT min(day) FROM alerts").fetchall()[0][0]
    for origin in range(1, s.backtest_origins + 1):
        test_end = ctx.as_of - timedelta(days=(origin - 1) * s.backtest_days)
        test_start = test_end - timedelta(days=s.backtest_days - 1)
        if first_day is None or test_start <= first_day:
            continue  # nothing before the cut-off to fit on: the origin would choose no exclusion
        set_params(con, {"backtest_origin": origin, "backtest_end": test_end})
        run_fit(con, test_start, s)
        run_phase(con, "backtest", s)
    run_fit(con, ctx.as_of + timedelta(days=1), s)
    run_phase(con, "report", s)
    drop_scratch(con)
    # fetchall, not fetchone: duckdb 2 keeps a half-read result open and refuses con.sql() after it
    return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in PUBLISHED}  # noqa: S608 (names from code)
