"""File plumbing for the rule-owner reports: safe file names, atomic writes, injection-safe CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from pipelines.names import safe_file_stem

__all__ = ["csv_cell", "csv_text", "safe_file_stem"]
# Cells a spreadsheet would evaluate as a formula (OWASP CSV injection); tab and CR too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


