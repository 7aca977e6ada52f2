"""`hunthouse sql --format/--output`: every format carries the rows exactly (commas, quotes, newlines,
pipes, non-ASCII, NULLs, nested values), files are written only at the named path, and the analyst
session stays read-only: the result is streamed out as Arrow, never through COPY."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import cli
from tests.conftest import write_config

ROWS = [
    (1, 'plain', None, [1, 2]),
    (2, 'comma, "quote"\nnewline | pipe', 1.25, []),
    (3, 'ünïcødé — ✓', -0.5, None),
]


@pytest.fixture()
def published(tmp_path):
    settings = write_config(tmp_path).for_tenant("contoso")
    settings.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table notes (id int, text varchar, score double, tags int[], seen_at timestamptz)")
        for row in ROWS:
            con.execute("insert into notes values (?, ?, ?, ?, TIMESTAMPTZ '2026-11-08 10:00:00+00')", list(row))
    return str(tmp_path / "hunthouse.toml"), settings


QUERY = "select id, text, score, tags, seen_at from notes order by id"


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["sql", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_csv_to_stdout_round_trips_awkward_text(published, capsys):
    cfg, _ = published
    code, out, _ = run(capsys, "--config", cfg, "--format", "csv", QUERY)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["text"] for r in rows] == [r[1] for r in ROWS]
    assert [r["score"] for r in rows] == ["", "1.25", "-0.5"]
    assert json.loads(rows[0]["tags"]) == [1, 2] and rows[2]["tags"] == ""


def test_json_and_jsonl_carry_types_and_nulls(published, capsys):
    cfg, _ = published
    code, out, _ = run(capsys, "--config", cfg, "--format", "json", QUERY)
    assert code == 0
    doc = json.loads(out)
    assert [(d["id"], d["text"], d["score"], d["tags"]) for d in doc] == [tuple(r) for r in ROWS]
    assert doc[0]["seen_at"] == "2026-11-08T10:00:00+00:00"
    code, out, _ = run(capsys, "--config", cfg, "--format", "jsonl", QUERY)
    assert [json.loads(line)["text"] for line in out.splitlines()] == [r[1] for r in ROWS]
    code, out, _ = run(capsys, "--config", cfg, "--format", "json", "select 1 as a where false")
    assert code == 0 and json.loads(out) == []


def test_parquet_file_is_written_at_the_named_path_only(published, capsys, tmp_path):
    cfg, _ = published
    target = tmp_path / "out" / "notes.parquet"
    target.parent.mkdir()
    code, _, err = run(capsys, "--config", cfg, "--format", "parquet", "--output", str(target), QUERY)
    assert code == 0 and "3 rows written" in err
    assert os.listdir(target.parent) == ["notes.parquet"]
    table = pq.read_table(target)
    assert table.column("text").to_pylist() == [r[1] for r in ROWS]
    assert table.column("tags").to_pylist() == [r[3] for r in ROWS]
    assert table.column("seen_at")[0].as_py() == datetime(2026, 11, 8, 10, tzinfo=UTC)


def test_csv_file_has_every_row_and_limit_cuts_it(published, capsys, tmp_path):
    cfg, _ = published
    target = tmp_path / "notes.csv"
    assert run(capsys, "--config", cfg, "--format", "csv", "--output", str(target), QUERY)[0] == 0
    assert len(list(csv.DictReader(target.open(newline="", encoding="utf-8")))) == 3
    code, _, err = run(capsys, "--config", cfg, "--format", "csv", "--output", str(target), "--limit", "2", QUERY)
    assert code == 0 and "first 2 rows" in err
    assert [r["id"] for r in csv.DictReader(target.open(newline="", encoding="utf-8"))] == ["1", "2"]


def test_markdown_escapes_pipes_and_newlines(published, capsys):
    cfg, _ = published
    code, out, _ = run(capsys, "--config", cfg, "--format", "markdown", QUERY)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "| id | text | score | tags | seen_at |" and len(lines) == 5
    assert all(line.count("|") - line.count("\\|") == 6 for line in lines)
    assert "comma, \"quote\"\\\\nnewline \\| pipe" in lines[3]


def test_table_limit_says_rows_were_left_out(published, capsys):
    cfg, _ = published
    code, out, _ = run(capsys, "--config", cfg, "--limit", "1", QUERY)
    assert code == 0 and "(1 row)" in out and "(first 1 rows; use --limit to see more)" in out


@pytest.mark.parametrize("args, message", [
    (["--format", "parquet"], "--format parquet writes a binary file"),
    (["--format", "csv", "--output", "/nonexistent-dir/x.csv"], "does not exist"),
    (["--limit", "-1"], "--limit must be 0 or more"),
])
def test_output_mistakes_are_one_line(published, capsys, args, message):
    cfg, _ = published
    code, _, err = run(capsys, "--config", cfg, *args, QUERY)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_a_refused_statement_writes_no_file(published, capsys, tmp_path):
    cfg, settings = published
    before = settings.warehouse_path.read_bytes()
    target = tmp_path / "x.csv"
    for statement in ("copy notes to '/tmp/hunthouse-exfil.csv'", "select * from read_csv('/etc/passwd')",
                      "create table y as select 1"):
        code, _, err = run(capsys, "--config", cfg, "--format", "csv", "--output", str(target), statement)
        assert code == 2 and err.startswith("hunthouse: query failed:")
    assert not target.exists() and not os.path.exists("/tmp/hunthouse-exfil.csv")
    assert settings.warehouse_path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.csv")] == []


def test_repeated_column_names_keep_their_own_values_or_are_refused_for_json(published, capsys):
    cfg, _ = published
    code, out, _ = run(capsys, "--config", cfg, "--format", "markdown", "select 1 as a, 2 as a")
    assert code == 0 and out.splitlines()[2] == "| 1 | 2 |"
    code, out, _ = run(capsys, "--config", cfg, "select 1 as a, 2 as a")
    assert code == 0 and out.splitlines()[2].split() == ["1", "2"]
    code, _, err = run(capsys, "--config", cfg, "--format", "json", "select 1 as a, 2 as a")
    assert code == 2 and "needs unique column names; 'a' appears twice" in err
