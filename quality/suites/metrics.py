"""Partition-level suites: facts about a whole partition (its source columns, its quarantined share,
its size against the trailing median, label coverage), computed once and validated with GX as a
one-row frame so they are reported exactly like the row-level expectations."""

from __future__ import annotations

from quality.checks import Check, error, warn
from quality.suites.common import E


def source_columns_suite(table: str, required: list[str]) -> list[Check]:
    """Run against an empty frame carrying the source's own column names (before conform)."""
    return [
        error(
            E.ExpectColumnToExist(column=c),
            "conform fills a missing column with nulls, which would look like real empty values downstream",
            "at the source",
        )
        for c in required
    ]


# Columns: rows, quarantined, bad_share, threshold, trailing_median, ratio_to_median, busy_but_empty
PARTITION_SUITE: list[Check] = [
    error(
        E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="threshold", column_B="bad_share", or_equal=True),
        "more bad rows than the configured quarantine_threshold means the export itself is broken",
        "quarantined share within threshold",
    ),
    warn(
        E.ExpectColumnValuesToBeBetween(column="quarantined", max_value=0),
        "some rows were quarantined (see the quarantine table); the rest landed",
        "no rows quarantined",
    ),
    warn(
        E.ExpectColumnValuesToBeBetween(column="ratio_to_median", min_value=0.5),
        "fewer than half the trailing median for this tenant and table usually means a broken export, "
        "but quiet days happen, so it annotates",
        "row count vs trailing median",
    ),
    error(
        E.ExpectColumnValuesToBeInSet(column="busy_but_empty", value_set=[False]),
        "an empty partition where the trailing median is busy is a broken export, not a quiet day; "
        "publishing it would show zero activity to analysts",
        "not empty while the trailing median is busy",
    ),
]
BUSY_MEDIAN = 20  # rows; below this an empty day is plausible

# Columns: labelled_incidents, coverage (share of labelled incidents whose alerts are all in alerts)
COVERAGE_SUITE: list[Check] = [
    warn(
        E.ExpectColumnValuesToBeBetween(column="coverage", min_value=0.95),
        "alerts can age out of retention before their incident closes; the tuning models then use fewer labels",
        "labelled incidents with their alerts present",
    ),
    error(
        E.ExpectColumnValuesToBeBetween(column="coverage", min_value=0.5),
        "when most labelled incidents lack their alerts, the alert export is broken and rule noise would be wrong",
        "labelled incidents with their alerts present, floor",
    ),
]
