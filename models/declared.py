"""Models the registry cannot read from a SQL header: tables written from Python (the run logs and
quarantine: their DDL is in models/staging/00_tables.sql or the writer, the rows come from Python),
and the tuning group, whose SQL files get their headers once the tuning work in flight has merged
(then these entries move into models/tuning/*.sql and SQL_WITHOUT_HEADERS empties).

Same fields as a header (models/registry.py); the order here is the order Dagster lists them in.
"""

from __future__ import annotations

from models.registry import Model

# model folders whose SQL carries no header yet: their tables are declared below
SQL_WITHOUT_HEADERS = ("tuning",)
TUNING_INPUTS = ("alerts", "alert_entities", "incidents", "incident_alerts")


def _tuning(name: str, description: str, depends_on: tuple[str, ...] = TUNING_INPUTS,
            params: tuple[str, ...] = ("as_of",)) -> Model:
    return Model(name=name, kind="window", group="tuning", description=description, depends_on=depends_on,
                 params=params, catch_up="whole")


DECLARED: tuple[Model, ...] = (
    # written by pipelines/warehouse/lake_sync.py
    Model(name="quarantine", kind="incremental", group="staging", catch_up="partitions", depends_on=("staging_tables",),
          grain="one row per unusable raw row of a (tbl, tenant, day) partition, with its reason",
          key=("tbl", "tenant", "day"), description="Rows that could not be used, with the reason."),
    Model(name="load_log", kind="log", group="staging", catch_up="log", depends_on=("staging_tables",),
          grain="one row per lake partition load", key=("tbl", "tenant", "day", "loaded_at"),
          description="One row per lake partition load: rows, query windows, splits, retries, watermark."),
    # written by pipelines/warehouse/decisions.py from <home>/decisions/<tenant>.jsonl, whole, every build
    Model(name="tuning_decisions", kind="window", group="staging", catch_up="whole", depends_on=("staging_tables",),
          grain="one row per line of the tenant's decisions file", key=("tenant", "recommendation_id", "sequence"),
          description="Rule owners' decisions on tuning recommendations (accepted, dismissed, revoked), with "
                      "history; is_latest marks the current one."),
    _tuning("alert_labels", "Each alert with the label of its latest incident."),
    _tuning("rule_noise", "Per analytic rule: volume, label mix, shrunk benign rate with 90% interval, hours "
            "wasted, rank."),
    _tuning("rule_top_entities", "Top ten entities per analytic rule with their share and label mix."),
    _tuning("tuning_exclusion_candidates", "Every judged exclusion candidate with its evidence and verdict."),
    _tuning("tuning_recommendations", "Recommended exclusions (single entities and pairs) with evidence and KQL."),
    _tuning("tuning_backtest", "Recommendations fitted without the last N days, replayed on them."),
    _tuning("tuning_backtest_exclusions", "Effect of each backtested exclusion on the held-out days."),
    _tuning("tuning_rule_priors", "The Beta prior fitted per tenant across rules (empirical Bayes)."),
    _tuning("exclusion_health", "Per accepted exclusion: alerts it removed in 7/30 days, true positives since "
            "acceptance on its entity, days to expiry, the rule's state; severity high/warn/ok.",
            depends_on=(*TUNING_INPUTS, "tuning_decisions")),
    Model(name="quality_results", kind="log", group="quality", catch_up="log",
          description="One row per expectation evaluated by the quality gate (quality/results.py)."),
    Model(name="publish_log", kind="log", group="publish", catch_up="log",
          description="One row per publish of this file: when, for which as_of (pipelines/warehouse/build.py)."),
    Model(name="model_versions", kind="seed", group="system", catch_up="whole",
          description="The layout version of each model group's incremental tables (models/firewall/__init__.py)."),
)
