"""A plain-text line about data quality for report footers."""

from __future__ import annotations

from datetime import UTC

import duckdb


def footer_summary(con: duckdb.DuckDBPyConnection) -> str:
    """E.g. 'Data quality (run 1a2b3c4d, 2026-11-08 02:14 UTC): 212 checks, 0 errors, 2 warnings: ...'."""
    present = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'quality_results'").fetchall()[0][0]
    if not present:
        return "Data quality: no checks recorded in this warehouse."
    row = con.execute(
        """
        WITH latest AS (
            SELECT * FROM quality_results
            WHERE run_id = (SELECT run_id FROM quality_results ORDER BY checked_at DESC LIMIT 1)
        )
        SELECT any_value(run_id), max(checked_at), count(*),
               count(*) FILTER (WHERE NOT success AND severity = 'ERROR'),
               count(*) FILTER (WHERE NOT success AND severity = 'WARN'),
               list(DISTINCT asset || ': ' || expectation ORDER BY asset || ': ' || expectation) FILTER (WHERE NOT success)
        FROM latest
        """
    ).fetchall()[0]
    run_id, checked_at, total, errors, warnings, failed = row
    when = checked_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if checked_at else "?"
    text = f"Data quality (run {str(run_id)[:8]}, {when}): {total} checks, {errors} errors, {warnings} warnings"
    if failed:
        shown = "; ".join(failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
        text += f": {shown}"
    return text + "."
