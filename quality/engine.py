"""Great Expectations on pandas frames built from Arrow, chunk by chunk, with one context per process.

GX 1.24 has no working DuckDB datasource and no Polars support, so every suite validates pandas
frames converted from Arrow. A large partition is validated in chunks so memory stays bounded; the
chunks are hash buckets of the suite's natural key, so every row of one key lands in the same chunk
and a uniqueness expectation stays exact across chunk boundaries. Results of the chunks are folded
into one outcome per expectation. An expectation GX could not compute (an exception inside GX)
counts as failed, never as passed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa

from quality.checks import Check

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402 (after the analytics switch)
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

CHUNK_ROWS = 200_000
# Nullable pandas dtypes so an integer column with nulls keeps its integer type.
_DTYPES = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


@dataclass
class Outcome:
    asset: str
    partition: str
    expectation: str
    severity: str
    success: bool
    observed_value: str
    unexpected_count: int | None
    why: str = ""


class _Gx:
    """The process's ephemeral context and one validation definition per suite, built on first use."""

    def __init__(self) -> None:
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.ctx.data_sources.add_pandas(name="hunthouse_frames")
        self.batch = source.add_dataframe_asset(name="frame").add_batch_definition_whole_dataframe("whole")
        self.definitions: dict[str, tuple[gx.ValidationDefinition, list[str]]] = {}

    def definition(self, suite_name: str, checks: Sequence[Check]) -> tuple[gx.ValidationDefinition, list[str]]:
        """The suite's validation definition and its expectation ids in the order of `checks`
        (GX returns results in its own order, so results are matched by id, not position)."""
        found = self.definitions.get(suite_name)
        if found is None:
            suite = self.ctx.suites.add_or_update(
                gx.ExpectationSuite(name=suite_name, expectations=[c.expectation.copy() for c in checks])
            )
            ids = [e.id for e in suite.expectations]
            if [e.expectation_type for e in suite.expectations] != [c.expectation.expectation_type for c in checks]:
                raise RuntimeError(f"suite {suite_name}: GX reordered the expectations")
            vd = self.ctx.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite_name, data=self.batch, suite=suite)
            )
            found = self.definitions[suite_name] = (vd, ids)
        return found


_GX: _Gx | None = None


def _gx() -> _Gx:
    global _GX
    if _GX is None:
        _GX = _Gx()
    return _GX


def to_frame(tbl: pa.Table) -> pd.DataFrame:
    return tbl.to_pandas(types_mapper=_DTYPES.get)


def _exception(result) -> str | None:
    """The message of an exception GX caught while computing the expectation, if any. exception_info
    is either one {raised_exception, exception_message} dict or a dict of them keyed by metric."""
    info = result.exception_info or {}
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return (entry.get("exception_message") or "exception").strip()
    return None


def _observed(result) -> str:
    exc = _exception(result)
    if exc is not None:
        return f"could not compute: {exc[:300]}"
    res = result.result or {}
    if "observed_value" in res:
        return str(res["observed_value"])[:300]
    if res.get("unexpected_count"):
        sample = res.get("partial_unexpected_list") or []
        return f"{res['unexpected_count']} of {res.get('element_count')} unexpected, e.g. {sample[:3]}"[:300]
    return f"{res.get('element_count', 0)} rows ok" if "element_count" in res else ""


# Range expectations asserted on a column's min or max (cheap on big frames; see suites/firewall.py).
BOUND_TYPES = {"expect_column_min_to_be_between", "expect_column_max_to_be_between"}


def _vacuous_bound(result) -> bool:
    """A min/max bound over a chunk without values (an empty scope, or all NULL) holds: every value
    is within it. GX reports it failed with observed None; a row-level range would pass."""
    return (
        result.expectation_config.type in BOUND_TYPES
        and (result.result or {}).get("observed_value") is None
        and _exception(result) is None
    )


def referenced_columns(checks: Sequence[Check]) -> list[str]:
    """Columns the suite's expectations read. Every expectation here is column-level, so frames are
    projected to these before pandas conversion: GX filters whole frames with boolean masks, and
    carrying 60 unused DeviceEvents columns through every mask made validation several times slower."""
    names: list[str] = []
    for check in checks:
        e = check.expectation
        for attr in ("column", "column_A", "column_B"):
            value = getattr(e, attr, None)
            if isinstance(value, str) and value not in names:
                names.append(value)
        for value in getattr(e, "column_list", None) or []:
            if value not in names:
                names.append(value)
    return names


def validate_tables(
    asset: str,
    partition: str,
    suite_name: str,
    checks: Sequence[Check],
    tables: Iterable[pa.Table],
    params: dict | None = None,
) -> list[Outcome]:
    """Validate every chunk with the suite; one folded Outcome per expectation."""
    vd, ids = _gx().definition(suite_name, checks)
    needed = referenced_columns(checks)
    position = {expectation_id: i for i, expectation_id in enumerate(ids)}
    success = [True] * len(checks)
    unexpected: list[int | None] = [None] * len(checks)
    observed = [""] * len(checks)
    for tbl in tables:
        present = [c for c in needed if c in tbl.column_names]
        frame = to_frame(tbl.select(present) if present else tbl)
        res = vd.run(batch_parameters={"dataframe": frame}, expectation_parameters=params or {})
        if len(res.results) != len(checks):
            raise RuntimeError(f"suite {suite_name}: {len(res.results)} results for {len(checks)} expectations")
        for r in res.results:
            i = position[r.expectation_config.id]
            raised = _exception(r) is not None
            ok = (bool(r.success) or _vacuous_bound(r)) and not raised
            count = (r.result or {}).get("unexpected_count")
            if count is not None:
                unexpected[i] = (unexpected[i] or 0) + int(count)
            if (success[i] and not ok) or not observed[i]:
                observed[i] = _observed(r)
            success[i] = success[i] and ok
    return [
        Outcome(asset, partition, c.label, c.severity, success[i], observed[i], unexpected[i], c.why)
        for i, c in enumerate(checks)
    ]


# Expectations that hold for a frame exactly when they hold for each of its parts, given parts of one
# schema: row-wise conditions, column existence and type, uniqueness (a key unique in the whole is
# unique in each part). Aggregates (min, max, row counts) are not among them.
ROW_WISE = {
    "expect_column_to_exist",
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_json_parseable",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_compound_columns_to_be_unique",
}


def validate_partitions(
    asset: str,
    suite_name: str,
    checks: Sequence[Check],
    parts: Sequence[tuple[str, pa.Table]],
    params: dict | None = None,
) -> list[list[Outcome]]:
    """The outcomes of each (label, table) part, one list per part in order, as if each were
    validated alone.

    GX costs per run, not per row: parts of one schema (at most CHUNK_ROWS rows in all, as the caller
    assembles them) are validated together, and a group that fails anywhere is split in halves until
    each failure is pinned to its own part. A clean night costs one GX run instead of one per partition;
    a failing part costs about log2(parts) more. A suite with an aggregate expectation validates each
    part alone.
    """
    if not all(c.expectation.expectation_type in ROW_WISE for c in checks):
        return [validate_tables(asset, label, suite_name, checks, [tbl], params) for label, tbl in parts]
    by_schema: dict[pa.Schema, list[int]] = {}
    for i, (_, tbl) in enumerate(parts):
        by_schema.setdefault(tbl.schema, []).append(i)
    found: dict[int, list[Outcome]] = {}
    for indices in by_schema.values():
        found.update(_together(asset, suite_name, checks, parts, indices, params))
    return [found[i] for i in range(len(parts))]


def _together(asset, suite_name, checks, parts, indices: list[int], params) -> dict[int, list[Outcome]]:
    if len(indices) == 1:
        label, tbl = parts[indices[0]]
        return {indices[0]: validate_tables(asset, label, suite_name, checks, [tbl], params)}
    whole = pa.concat_tables([parts[i][1] for i in indices])
    outcomes = validate_tables(asset, "", suite_name, checks, [whole], params)
    if all(o.success for o in outcomes):
        return {i: [_passed_part(o, parts[i][0], parts[i][1].num_rows) for o in outcomes] for i in indices}
    half = len(indices) // 2
    return {**_together(asset, suite_name, checks, parts, indices[:half], params),
            **_together(asset, suite_name, checks, parts, indices[half:], params)}


def _passed_part(whole: Outcome, label: str, rows: int) -> Outcome:
    """A part's outcome of an expectation its group passed: row-level results count its own rows."""
    observed = f"{rows} rows ok" if whole.observed_value.endswith(" rows ok") else whole.observed_value
    unexpected = None if whole.unexpected_count is None else 0
    return Outcome(whole.asset, label, whole.expectation, whole.severity, True, observed, unexpected, whole.why)


def quote_identifier(name: str) -> str:
    """A column name from code, double-quoted; anything but letters, digits and '_' is refused."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"bad column name {name!r}")
    return f'"{name}"'


def bucketed_chunks(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: list,
    key_columns: Sequence[str],
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pa.Table]:
    """The rows of `sql` in chunks of about chunk_rows, bucketed by a hash of the key columns.

    `sql` and `key_columns` come from code (suite definitions), values only as bound parameters.
    Always yields at least one (possibly empty) table, so an empty scope is still validated.
    """
    total = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]  # noqa: S608 (sql from code)
    buckets = max(1, math.ceil(total / chunk_rows))
    if buckets == 1:
        yield con.execute(sql, params).to_arrow_table()
        return
    key = ", ".join(quote_identifier(c) for c in key_columns)
    for i in range(buckets):
        yield con.execute(
            f"SELECT * FROM ({sql}) WHERE hash({key}) % ? = ?",  # noqa: S608 (sql and keys from code)
            [*params, buckets, i],
        ).to_arrow_table()
