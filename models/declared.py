"""Models the registry cannot read from a SQL header: tables written from Python. Two kinds:
- the run logs and quarantine, written by the pipeline (their DDL is in models/staging/00_tables.sql
  or the writer, the rows come from Python);
- Python steps of a model group's build (`python=` the step's name in that group's package, e.g.
  models/tuning STEPS), which the registry orders by their dependencies among the group's files.

Same fields as a header (models/registry.py); the order here is the order Dagster lists the
tables that no build step writes.
"""

from __future__ import annotations

from models.registry import Column, Model, parse_columns


def _columns(text: str) -> tuple[Column, ...]:
    return parse_columns(text, "models/declared.py")


DECLARED: tuple[Model, ...] = (
    # written by pipelines/warehouse/lake_sync.py
    Model(name="quarantine", kind="incremental", group="staging", catch_up="partitions", depends_on=("staging_tables",),
          grain="one row per unusable raw row of a (tbl, tenant, day) partition, with its reason",
          key=("tbl", "tenant", "day"), description="Rows that could not be used, with the reason.",
          columns=_columns("""
   tbl VARCHAR: raw table: device_events, security_alert, security_incident, analytic_rules
   tenant VARCHAR: tenant name
   day DATE: partition day
   reason VARCHAR: why: missing key column, outside the window, a value that does not fit its type, port
     outside 0-65535, a timestamp in the future, AdditionalFields / ExtendedProperties not JSON (extract);
     Entities not JSON (staging: the alert row is kept)
   row_json VARCHAR: the raw row as JSON
   loaded_at TIMESTAMPTZ: when the warehouse took it in
""")),
    Model(name="load_log", kind="log", group="staging", catch_up="log", depends_on=("staging_tables",),
          grain="one row per lake partition load", key=("tbl", "tenant", "day", "loaded_at"),
          description="One row per lake partition load: rows, query windows, splits, retries, watermark.",
          columns=_columns("""
   tbl VARCHAR: raw table
   tenant VARCHAR: tenant name
   day DATE: partition day
   rows BIGINT: rows in the partition
   quarantined BIGINT: rows quarantined at extract
   sha256 VARCHAR: hash of the Parquet file (unchanged hash = nothing to reload)
   file VARCHAR: the Parquet file
   written_at TIMESTAMPTZ: when the extract committed it
   loaded_at TIMESTAMPTZ: when this warehouse loaded it
   source_kind VARCHAR: sample, sentinel, defender
   query_windows INTEGER: API queries issued (more than 1 after splits)
   splits INTEGER: window splits after truncation or timeouts
   retries INTEGER: retried calls (429, 5xx, resets)
   duration_s DOUBLE: extract duration, seconds
   watermark TIMESTAMPTZ: latest ingestion/modification time seen
   dropped_columns VARCHAR[]: source columns outside the contract (schema drift)
""")),
    # written by pipelines/warehouse/decisions.py from <home>/decisions/<tenant>.jsonl, whole, every build
    Model(name="tuning_decisions", kind="window", group="staging", catch_up="whole", depends_on=("staging_tables",),
          grain="one row per line of the tenant's decisions file", key=("tenant", "recommendation_id", "sequence"),
          description="Rule owners' decisions on tuning recommendations (accepted, dismissed, revoked), with "
                      "history; is_latest marks the current one.",
          columns=_columns("""
   tenant VARCHAR: tenant name
   recommendation_id VARCHAR: the recommendation (`tuning_recommendations.recommendation_id`)
   sequence BIGINT: line number in the decisions file: the order of decisions
   decision VARCHAR: `accepted`, `dismissed` or `revoked` (withdraws the previous acceptance or dismissal)
   decided_at TIMESTAMPTZ: when it was recorded (UTC)
   decided_by VARCHAR: who: `--by`, else `$HUNTHOUSE_USER`, else the login name; a CSV's `decided_by` column
   reason VARCHAR: the owner's reason (required to dismiss)
   expires_on DATE: accepted: the exclusion's expiry (`--until`, default the recommendation's `expires_on`);
     NULL otherwise
   rule_id VARCHAR: analytic rule id
   rule_name VARCHAR: the rule's name when decided
   exclusion_kind VARCHAR: `single`, `pair` or `triple`
   entity_type VARCHAR: the whole exclusion's type, as in `tuning_recommendations`
   entity_key VARCHAR: normalised keys, as in `tuning_recommendations`
   entity_value VARCHAR: display values, as in `tuning_recommendations`
   entity_type_1 VARCHAR: as in `tuning_recommendations`
   entity_key_1 VARCHAR: as in `tuning_recommendations`
   entity_value_1 VARCHAR: as in `tuning_recommendations`
   entity_type_2 VARCHAR: NULL for `single`
   entity_key_2 VARCHAR: NULL for `single`
   entity_value_2 VARCHAR: NULL for `single`
   entity_type_3 VARCHAR: NULL unless `triple`
   entity_key_3 VARCHAR: NULL unless `triple`
   entity_value_3 VARCHAR: NULL unless `triple`
   decisions_at_decision BIGINT: the recommendation's `decisions` when decided: a dismissal ends when the live
     `decisions` reach twice this
   removed_share_at_decision DOUBLE: its `alerts_removed_share` when decided: a dismissal ends when the live share
     moves by more than half of this
   source VARCHAR: `cli`, or `csv:<file name>` for `hunthouse tuning import-csv`
   is_latest BOOLEAN: the recommendation's current decision (its last line)
""")),
    # steps of the tuning build (models/tuning/__init__.py STEPS)
    Model(name="tuning_subject_patterns", kind="scratch", group="tuning", phase="setup", python="load_subject_patterns",
          grain="one row per entity pattern never recommended alone", key=("entity_type", "pattern"),
          description="The never-alone list (models/tuning/never_alone.csv), tier-0 host globs and never_exclude "
                      "globs."),
    Model(name="tuning_rule_priors", kind="window", group="tuning", phase="fit", python="fit_priors",
          catch_up="whole", depends_on=("tuning_rule_label_counts",), grain="one row per tenant with labelled rules",
          key=("tenant",), description="The Beta prior fitted per tenant across rules (empirical Bayes).",
          columns=_columns("""
   tenant VARCHAR: tenant name
   alpha DOUBLE: Beta prior parameter: pseudo-count of benign alerts
   beta DOUBLE: Beta prior parameter: pseudo-count of true-positive alerts; `alpha + beta` is the prior's
     strength in labelled alerts
   method VARCHAR: how it was fitted: `moments` (method of moments across rules, strength at least 2);
     `moments, capped at the largest rule's labels` or `moments, capped: no spread beyond binomial noise`
     (strength capped at the largest rule's labelled alerts); `uniform: fewer than 3 rules with labels`
     (Beta(1, 1))
   rules_with_labels INTEGER: rules with at least one labelled alert, the sample the prior is fitted on
""")),
    Model(name="quality_results", kind="log", group="quality", catch_up="log",
          description="One row per expectation evaluated by the quality gate (quality/results.py).",
          columns=_columns("""
   tenant VARCHAR: (view) the tenant whose shard recorded it
   run_id VARCHAR: Dagster run id of the warehouse run that recorded it
   checked_at TIMESTAMPTZ: when the expectation was evaluated
   asset VARCHAR: asset checked: `raw_device_events`, `device_events`, `fw_findings`, …
   partition VARCHAR: `tenant|day` for day partitions, `tenant` for per-tenant tables
   expectation VARCHAR: GX expectation type, its column(s) and a tag, e.g.
     `expect_column_values_to_be_between(RemotePort)`
   severity VARCHAR: `ERROR` (blocking) or `WARN`
   success BOOLEAN: passed; an expectation GX could not compute counts as failed
   observed_value VARCHAR: what was observed (value, or unexpected count with examples, or the GX error)
   unexpected_count BIGINT: rows that failed a row-level expectation (NULL for table-level ones)
""")),
    Model(name="publish_log", kind="log", group="publish", catch_up="log",
          description="One row per publish of this file: when, for which as_of (pipelines/warehouse/build.py).",
          columns=_columns("""
   tenant VARCHAR: (view) the tenant whose shard was published
   published_at TIMESTAMPTZ: when it was published
   as_of DATE: the run's day
   build_file VARCHAR: name of the build file that became the warehouse
""")),
    Model(name="model_versions", kind="seed", group="system", catch_up="whole",
          description="The layout version of each model group's incremental tables (models/firewall/__init__.py).",
          columns=_columns("""
   tenant VARCHAR: (view) the tenant whose shard holds this version
   model_group VARCHAR: the model group (`firewall`)
   version INTEGER: the layout its incremental tables were built with (`SCHEMA_VERSION` in
     `models/<group>/__init__.py`)
   changed_at TIMESTAMPTZ: when this warehouse moved to that version
""")),
)
