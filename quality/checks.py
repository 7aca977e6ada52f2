"""One expectation of a suite, with the severity it was given on purpose and the reason why.

ERROR expectations guard what the models and the published warehouse rely on: when one fails the
Dagster check is blocking, downstream models and the publish do not run, and the previous warehouse
stays. WARN expectations describe data that is suspicious but still usable: they annotate the asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import great_expectations as gx

Severity = Literal["ERROR", "WARN"]
GX_SEVERITY = {"ERROR": "critical", "WARN": "warning"}


@dataclass(frozen=True)
class Check:
    expectation: gx.expectations.Expectation
    severity: Severity
    why: str
    tag: str = ""

    @property
    def label(self) -> str:
        """Stable human-readable name: the GX type and its column(s)."""
        kw = self.expectation.configuration.kwargs
        cols = kw.get("column") or kw.get("column_list") or [kw.get("column_A"), kw.get("column_B")]
        if isinstance(cols, list):
            cols = ",".join(str(c) for c in cols if c)
        return f"{self.expectation.expectation_type}({cols or ''}){' ' + self.tag if self.tag else ''}"


def check(expectation: gx.expectations.Expectation, severity: Severity, why: str, tag: str = "") -> Check:
    expectation.severity = GX_SEVERITY[severity]
    return Check(expectation, severity, why, tag)


def error(expectation: gx.expectations.Expectation, why: str, tag: str = "") -> Check:
    return check(expectation, "ERROR", why, tag)


def warn(expectation: gx.expectations.Expectation, why: str, tag: str = "") -> Check:
    return check(expectation, "WARN", why, tag)


# A suite parameter resolved at validation time (a GX `$PARAMETER` reference): the same for every
# partition of a run, so partitions of several days still validate in one GX run.
NOT_AFTER = {"$PARAMETER": "not_after"}
# The bounds of the partition window each row belongs to, as per-row columns the frame builders attach
# (quality.gate.with_window) rather than parameters, for the same reason.
WINDOW_START_COLUMN, WINDOW_END_COLUMN = "window_start__", "window_end__"

# pandas/GX type names of the Arrow types the warehouse uses (frames come from Arrow with nullable
# integer and boolean dtypes, so a column with nulls keeps its integer type).
TYPE_NAMES = {"string": "str", "int32": "int32", "int64": "int64", "double": "float64", "bool": "bool", "timestamp": "Timestamp"}
