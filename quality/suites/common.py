"""Building blocks shared by the suites."""

from __future__ import annotations

import great_expectations as gx
import pyarrow as pa

from quality.checks import NOT_AFTER, TYPE_NAMES, WINDOW_END_COLUMN, WINDOW_START_COLUMN, Check, error, warn

E = gx.expectations
CLASSIFICATIONS = ["true_positive", "benign_positive", "false_positive", "undetermined"]


def type_name(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return TYPE_NAMES["timestamp"]
    return TYPE_NAMES[str(arrow_type)]


def typed_columns(schema: pa.Schema, names: list[str]) -> list[Check]:
    """Required columns with their types. ERROR: SQL models address these columns by name and type."""
    return [
        error(
            E.ExpectColumnValuesToBeOfType(column=name, type_=type_name(schema.field(name).type)),
            "models and staging SQL read this column with this type; a missing or retyped column breaks them",
        )
        for name in names
    ]


def not_null(columns: list[str], why: str) -> list[Check]:
    return [error(E.ExpectColumnValuesToNotBeNull(column=c), why) for c in columns]


def not_blank(columns: list[str], why: str) -> list[Check]:
    """Text with at least one non-blank character (NULL is left to `not_null`)."""
    return [error(E.ExpectColumnValuesToMatchRegex(column=c, regex=r"\S"), why, "not blank") for c in columns]


def ports(columns: list[str], low: int = 0, high: int = 65535, reason: str = "a port outside 0-65535") -> list[Check]:
    return [
        error(
            E.ExpectColumnValuesToBeBetween(column=c, min_value=low, max_value=high),
            f"{reason} is corrupt input; extract quarantines such rows, so one here bypassed it",
        )
        for c in columns
    ]


def in_window(column: str) -> list[Check]:
    """The row's column lies in its partition's window (with tolerance), from the window columns the
    frame carries; a NULL is the not-null checks' business."""
    why = ("the column places the row in its partition; a row outside the window (plus tolerance) would be "
           "counted on the wrong day by every daily model")
    return [
        error(E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=column, column_B=WINDOW_START_COLUMN, or_equal=True, ignore_row_if="either_value_is_missing"),
            why, "inside the partition window, from its start"),
        error(E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=WINDOW_END_COLUMN, column_B=column, or_equal=True, ignore_row_if="either_value_is_missing"),
            why, "inside the partition window, to its end"),
    ]


def not_future(column: str) -> Check:
    return error(
        E.ExpectColumnValuesToBeBetween(column=column, max_value=NOT_AFTER),
        "an event cannot happen after it was extracted; a future timestamp is a clock or parsing error "
        "and would poison trailing baselines",
        "not in the future",
    )


def json_parses(column: str, severity: str = "WARN", why: str = "") -> Check:
    make = warn if severity == "WARN" else error
    return make(E.ExpectColumnValuesToBeJsonParseable(column=column), why or f"{column} is JSON text in Microsoft's schema")


def unique(columns: list[str], why: str) -> Check:
    return error(E.ExpectCompoundColumnsToBeUnique(column_list=columns), why)
