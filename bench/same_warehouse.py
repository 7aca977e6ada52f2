"""Are two warehouse files the same, table by table? For refactors that must not change any output.

    python -m bench.same_warehouse OLD.duckdb NEW.duckdb

Every table of both files is compared EXCEPT ALL both ways (a multiset difference: duplicates
count), ignoring only the columns that record a run's own wall clock or file names. Exit 0 and
"IDENTICAL" when every table holds the same rows; else exit 1 naming the tables that differ.
"""

from __future__ import annotations

import sys

import duckdb

WALL_CLOCK = {
    "load_log": {"loaded_at", "written_at", "file", "duration_s"},
    "publish_log": {"published_at", "build_file"},
    "quality_results": {"checked_at", "run_id"},
    "model_versions": {"changed_at"},
}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compare(old: str, new: str) -> list[str]:
    """One line per table (rows, rows only in old, rows only in new), then the verdict."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("ATTACH ? AS old (READ_ONLY)", [old])
    con.execute("ATTACH ? AS new (READ_ONLY)", [new])

    def columns(db: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' "
            "ORDER BY table_name, column_index", [db]
        ).fetchall():
            out.setdefault(table, []).append(column)
        return out

    a, b = columns("old"), columns("new")
    lines, differ = [], []
    for table in sorted(set(a) ^ set(b)):
        lines.append(f"{table}: only in {'old' if table in a else 'new'}")
        differ.append(table)
    for table in sorted(set(a) & set(b)):
        if a[table] != b[table]:
            lines.append(f"{table}: columns differ")
            differ.append(table)
            continue
        cols = ", ".join(_q(c) for c in a[table] if c not in WALL_CLOCK.get(table, set()))
        q = _q(table)
        rows, only_old, only_new = con.execute(
            f"SELECT (SELECT count(*) FROM old.main.{q}), "  # noqa: S608 (names from the catalogs)
            f"(SELECT count(*) FROM (SELECT {cols} FROM old.main.{q} EXCEPT ALL SELECT {cols} FROM new.main.{q})), "
            f"(SELECT count(*) FROM (SELECT {cols} FROM new.main.{q} EXCEPT ALL SELECT {cols} FROM old.main.{q}))"
        ).fetchone()
        lines.append(f"{table:32s} rows={rows:8d} only_old={only_old} only_new={only_new}")
        if only_old or only_new:
            differ.append(table)
    lines.append("IDENTICAL" if not differ else f"DIFFERENT: {', '.join(differ)}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    lines = compare(*argv)
    print("\n".join(lines))
    return 0 if lines[-1] == "IDENTICAL" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
