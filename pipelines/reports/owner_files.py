"""File plumbing for the rule-owner reports: safe file names, atomic writes, injection-safe CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Cells a spreadsheet would evaluate as a formula (OWASP CSV injection); tab and CR too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_file_stem(owner: str) -> str:
    """A file-name stem for an owner: letters, digits, '.', '_' and '-', never a path or a dot-file.

    Names that had to change get a short hash of the original, so two owners that sanitise to the
    same text ('sec ops' and 'sec/ops') still get different files.
    """
    stem = _UNSAFE.sub("_", owner).strip("._-")[:80]
    if stem != owner or not stem:
        digest = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:8]
        stem = f"{stem or 'owner'}-{digest}"
    return stem


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


