"""Partitions validated together (quality.engine.validate_partitions) get exactly the outcomes each
would get alone: the same successes, and a failure pinned to its own partition with its own counts."""

from __future__ import annotations

import great_expectations as gx
import pyarrow as pa
import pytest

from quality.checks import error, warn
from quality.engine import validate_partitions, validate_tables

pytestmark = pytest.mark.fast
E = gx.expectations
ROW_WISE_SUITE = [
    error(E.ExpectColumnValuesToNotBeNull(column="key"), "keys"),
    error(E.ExpectColumnValuesToBeBetween(column="port", min_value=0, max_value=65535), "ports"),
    warn(E.ExpectColumnValuesToBeInSet(column="kind", value_set=["a", "b"]), "kinds"),
    error(E.ExpectCompoundColumnsToBeUnique(column_list=["key", "port"]), "unique"),
]


def _part(keys, ports, kinds) -> pa.Table:
    return pa.table({"key": pa.array(keys, pa.string()), "port": pa.array(ports, pa.int32()),
                     "kind": pa.array(kinds, pa.string())})


def _alone(parts, suite=ROW_WISE_SUITE, name="batched_alone") -> list:
    """Each part in its own validation (suite names are cached per process: one name per suite)."""
    return [validate_tables("t", label, name, suite, [tbl]) for label, tbl in parts]


def _flat(per_part: list[list]) -> list:
    return [o for outcomes in per_part for o in outcomes]


def test_clean_partitions_validated_together_equal_each_validated_alone():
    parts = [(f"p{i}", _part([f"k{i}", f"k{i}x"], [80, 443], ["a", "b"])) for i in range(5)]
    assert validate_partitions("t", "batched", ROW_WISE_SUITE, parts) == _alone(parts)


def test_failures_stay_with_their_own_partitions_and_counts():
    parts = [(f"p{i}", _part([f"k{i}"] * 3, [1, 2, 3], ["a"] * 3)) for i in range(7)]
    parts[2] = ("p2", _part(["k2", None, None], [1, 2, 3], ["a", "a", "c"]))  # two null keys, one unknown kind
    parts[5] = ("p5", _part(["k5", "k5", "k5"], [1, 1, 70000], ["a"] * 3))  # a duplicate and a bad port
    together = _flat(validate_partitions("t", "batched", ROW_WISE_SUITE, parts))
    assert together == _flat(_alone(parts))
    failed = {(o.partition, o.expectation.split("(")[0], o.unexpected_count) for o in together if not o.success}
    assert failed == {
        ("p2", "expect_column_values_to_not_be_null", 2),
        ("p2", "expect_column_values_to_be_in_set", 1),
        ("p5", "expect_column_values_to_be_between", 1),
        ("p5", "expect_compound_columns_to_be_unique", 2),
    }


def test_a_key_repeated_across_partitions_is_no_duplicate_within_either():
    parts = [("p0", _part(["k"], [1], ["a"])), ("p1", _part(["k"], [1], ["a"]))]
    assert all(o.success for o in _flat(validate_partitions("t", "batched", ROW_WISE_SUITE, parts)))


def test_a_suite_with_an_aggregate_validates_each_partition_alone():
    suite = [error(E.ExpectColumnMaxToBeBetween(column="port", max_value=100), "max")]
    parts = [("p0", _part(["a"], [50], ["a"])), ("p1", _part(["b"], [150], ["a"]))]
    together = _flat(validate_partitions("t", "batched_max", suite, parts))
    assert together == _flat(_alone(parts, suite, "batched_max_alone"))
    assert [o.success for o in together] == [True, False]
