"""docs/warehouse.md is generated from the model headers, and the headers describe every published
table and column of a built warehouse."""

import pytest

from models import docs, registry
from models.docs import DocsError, render
from pipelines.warehouse.hub import connect_warehouse

pytestmark = pytest.mark.xdist_group("sample_warehouse")
# DuckDB's catalog spells a few types longer than the headers do
CATALOG_TYPES = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}


@pytest.mark.fast
def test_the_committed_dictionary_is_the_generators_output():
    committed = docs.OUTPUT.read_text(encoding="utf-8")
    assert committed == docs.generate(), f"docs/warehouse.md is not current: run `{docs.COMMAND}`"


@pytest.mark.fast
def test_a_published_table_missing_from_the_template_is_one_line_naming_it():
    template = docs.TEMPLATE.read_text(encoding="utf-8").replace("{{columns rule_noise}}\n", "")
    with pytest.raises(DocsError) as err:
        render(registry.default(), template)
    assert str(err.value) == "docs/warehouse.template.md: no {{columns rule_noise}} for the published table rule_noise"


@pytest.mark.fast
def test_a_marker_naming_no_table_is_one_line_with_its_line_number():
    template = "# t\n{{table rule_nosie}}\n"
    with pytest.raises(DocsError, match=r"^docs/warehouse.template.md:2: \{\{table rule_nosie\}\} names no published"):
        render(registry.default(), template)


@pytest.mark.fast
def test_a_column_with_a_pipe_keeps_the_table_intact():
    text = docs.OUTPUT.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `kql_exclusion` |"))
    assert "\\| where not(" in row and row.count(" | ") == 2


def test_every_published_table_and_column_is_described(sample_warehouse):
    """The header `columns:` of each table are the built table's columns, with their types: a column
    added to a model without a description (or dropped and still described) fails here."""
    declared = {m.name: {c.name: c.type for c in m.columns} for m in registry.default().tables()}
    # what an analyst sees: the views over every tenant's shard
    with connect_warehouse(sample_warehouse) as con:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_catalog = 'memory' and table_schema = 'main' order by 1"
        ).fetchall()
    assert rows
    built: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        built.setdefault(table, {})[column] = CATALOG_TYPES.get(data_type, data_type)
    assert sorted(set(built) - set(declared)) == [], "tables of the warehouse that no model declares"
    undescribed = [f"{t}.{c}" for t, cols in built.items() for c in cols if c not in declared[t]]
    assert not undescribed, f"columns without a description in their model's `columns:` header: {undescribed}"
    stale = [f"{t}.{c}" for t in built for c in declared[t] if c not in built[t]]
    assert not stale, f"columns described in a header that the built table does not have: {stale}"
    wrong = [f"{t}.{c}: {declared[t][c]} declared, {ty} built" for t, cols in built.items() for c, ty in cols.items()
             if declared[t][c] != ty]
    assert not wrong, f"column types that differ from the header: {wrong}"
