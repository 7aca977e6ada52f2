"""Analytic-rule tuning models: rule noise, top entities, exclusion recommendations and their backtest.

Order of a build (all SQL in this folder; Python only for the Beta prior fit and the UDFs):
1. for each of `backtest_origins` rolling origins (1 = the latest), the fit (10-35, prior) with
   fit_end_day = the first day of that origin's held-out window of `backtest_days` days, then 40
   keeps the exclusions it recommends;
2. the same fit with fit_end_day = as_of + 1 (everything), then 50 scores step 1's exclusions on
   the held-out days, and 60-80 build the published rule reports from the live fit.
Running the one fit twice with a different cut-off is what makes the backtest honest: the
exclusions it scores were chosen by exactly the live logic, without the days they are scored on.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from duckdb.sqltypes import BOOLEAN, DOUBLE, VARCHAR

from models.runner import ModelContext, run_sql_file, set_params
from models.tuning.beta import beta_ppf
from models.tuning.decisions import prepare_rule_definitions
from models.tuning.kql import kql_exclusion
from models.tuning.kql_eval import clause_removes
from models.tuning.prior import fit_beta_prior

HERE = Path(__file__).resolve().parent
FIT_FILES = ("10_alert_labels.sql", "20_rule_label_counts.sql", "25_rule_query_literals.sql",
             "27_account_identities.sql", "28_account_identity_step.sql", "29_true_positive_guard.sql",
             "30_exclusion_candidates.sql", "35_exclusion_shapes.sql")
# label propagation over account forms converges in (longest chain of linked forms) steps
MAX_IDENTITY_STEPS = 50
NEVER_ALONE = HERE / "never_alone.csv"
PUBLISHED = (
    "alert_labels",
    "rule_noise",
    "rule_top_entities",
    "tuning_exclusion_candidates",
    "tuning_recommendations",
    "tuning_backtest",
    "tuning_backtest_exclusions",
    "tuning_rule_priors",
    "exclusion_health",
)
# Scratch of the build (TEMP tables, never published): the per-rule counts the prior is fitted on,
# and the held-out fit's exclusions (published through tuning_backtest_exclusions).
SCRATCH = ("tuning_rule_label_counts", "tuning_backtest_fitted", "tuning_rule_queries",
           "tuning_rule_query_literals", "tuning_subject_patterns", "tuning_candidates_judged", "tuning_passing",
           "tuning_passing_alerts", "tuning_tp_alerts", "tuning_account_forms", "tuning_account_edges",
           "tuning_account_identity", "tuning_account_identity_next", "tuning_account_identity_changes",
           "tuning_tp_incident_entities", "tuning_tp_guard_entities", "tuning_tp_guard_pairs", "tuning_analytic_rules",
           "tuning_tier0_hosts_seen", "tuning_decided", "tuning_rule_definitions", "tuning_accepted_parts",
           "tuning_since_accepted", "tuning_accepted_removed", "tuning_accepted_true_positives")


def _beta_quantile(q: pa.Array, a: pa.Array, b: pa.Array) -> pa.Array:
    qs, as_, bs = (np.asarray(x.to_numpy(zero_copy_only=False), dtype=float) for x in (q, a, b))
    valid = ~(np.isnan(qs) | np.isnan(as_) | np.isnan(bs)) & (as_ > 0) & (bs > 0)
    out = np.full(qs.shape, np.nan)
    if valid.any():
        out[valid] = beta_ppf(qs[valid], as_[valid], bs[valid])
    return pa.array(out, mask=~valid)


def _clause_removes(clause: str | None, entities_json: str | None) -> bool:
    """Whether the deployed clause drops an alert, from its entities (JSON list of
    {entity_type, entity_key, entity_value, properties})."""
    if clause is None or entities_json is None:
        return False
    return clause_removes(clause, json.loads(entities_json))


def register_functions(con: duckdb.DuckDBPyConnection, settings) -> None:
    """The scalar functions the tuning SQL calls: Beta quantiles, KQL clauses, rule owners."""
    for name in ("beta_quantile", "kql_exclusion", "kql_clause_removes", "rule_owner"):
        try:
            con.remove_function(name)
        except duckdb.Error:
            pass
    con.create_function("beta_quantile", _beta_quantile, [DOUBLE, DOUBLE, DOUBLE], DOUBLE, type="arrow")
    con.create_function(
        "kql_exclusion", kql_exclusion, [VARCHAR] * 6, VARCHAR, null_handling="special"
    )
    con.create_function(
        "kql_clause_removes", _clause_removes, [VARCHAR, VARCHAR], BOOLEAN, null_handling="special"
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
    con.execute("CREATE OR REPLACE TEMP TABLE tuning_subject_patterns "
                "(entity_type VARCHAR, pattern VARCHAR, reason VARCHAR)")
    con.executemany("INSERT INTO tuning_subject_patterns VALUES (?, ?, ?)", subject_patterns(settings))


def fit_priors(con: duckdb.DuckDBPyConnection) -> None:
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


def run_fit(con: duckdb.DuckDBPyConnection, fit_end_day: date) -> None:
    set_params(con, {"fit_end_day": fit_end_day})
    for name in FIT_FILES:
        if name.startswith("30_"):
            fit_priors(con)
        if name.startswith("28_"):
            merge_account_identities(con, name)
            continue
        _run(con, name)


def merge_account_identities(con: duckdb.DuckDBPyConnection, step_file: str) -> None:
    """Repeat the label-propagation step until no account form changes identity."""
    for _ in range(MAX_IDENTITY_STEPS):
        _run(con, step_file)
        if not con.execute("SELECT changed FROM tuning_account_identity_changes").fetchall()[0][0]:
            return
    raise RuntimeError(f"account identities did not converge in {MAX_IDENTITY_STEPS} steps")


def _run(con: duckdb.DuckDBPyConnection, name: str) -> None:
    try:
        run_sql_file(con, HERE / name)
    except duckdb.Error as exc:
        raise RuntimeError(f"model tuning/{name} failed: {exc}") from exc


def build(con: duckdb.DuckDBPyConnection, ctx: ModelContext) -> dict[str, int]:
    s = ctx.settings
    # the earliest held-out day of the rolling origins (see 50_tuning_backtest.sql)
    backtest_start = ctx.as_of - timedelta(days=s.backtest_origins * s.backtest_days - 1)
    register_functions(con, s)
    drop_scratch(con)
    load_subject_patterns(con, s)
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
    _run(con, "39_backtest_fitted_table.sql")
    first_day = con.execute("SELECT min(day) FROM alerts").fetchall()[0][0]
    for origin in range(1, s.backtest_origins + 1):
        test_end = ctx.as_of - timedelta(days=(origin - 1) * s.backtest_days)
        test_start = test_end - timedelta(days=s.backtest_days - 1)
        if first_day is None or test_start <= first_day:
            continue  # nothing before the cut-off to fit on: the origin would choose no exclusion
        set_params(con, {"backtest_origin": origin, "backtest_end": test_end})
        run_fit(con, test_start)
        _run(con, "40_backtest_exclusions.sql")
    run_fit(con, ctx.as_of + timedelta(days=1))
    prepare_rule_definitions(con)
    # 45/46: owner decisions (dismissed stay away, accepted are deployed); 90: their health
    for name in ("45_tuning_decided.sql", "46_backtest_accepted.sql", "50_tuning_backtest.sql", "60_rule_noise.sql",
                 "70_rule_top_entities.sql", "80_tuning_recommendations.sql", "90_exclusion_health.sql"):
        _run(con, name)
    drop_scratch(con)
    # fetchall, not fetchone: duckdb 2 keeps a half-read result open and refuses con.sql() after it
    return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in PUBLISHED}  # noqa: S608 (names from code)
