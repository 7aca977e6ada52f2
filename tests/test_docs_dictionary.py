"""docs/warehouse.md names every published table and every column."""

import re
from pathlib import Path

import pytest

from pipelines.warehouse.hub import connect_warehouse

pytestmark = pytest.mark.xdist_group("sample_warehouse")
DOC = Path(__file__).resolve().parents[1] / "docs" / "warehouse.md"


def sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `([a-z_]+)`\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_published_table_and_column_is_documented(sample_warehouse):
    documented = sections()
    # what an analyst sees: the views over every tenant's shard
    with connect_warehouse(sample_warehouse) as con:
        columns = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_catalog = 'memory' and table_schema = 'main' order by 1"
        ).fetchall()
    assert columns
    missing_tables = sorted({t for t, _ in columns} - set(documented))
    assert not missing_tables, f"tables missing from docs/warehouse.md: {missing_tables}"
    missing = [f"{t}.{c}" for t, c in columns if f"`{c}`" not in documented[t]]
    assert not missing, f"columns missing from docs/warehouse.md: {missing}"
