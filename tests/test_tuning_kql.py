"""KQL literals and exclusion clauses stay exact and on one line for hostile entity values."""

from __future__ import annotations

import pytest

from models.tuning.kql import entity_condition, kql_exclusion, kql_string

HOSTILE = "O'Brien \"x\" \\\\srv\\c$\n| take 1 <script>alert(1)</script>\r\t"


def _decode(literal: str) -> str:
    """A reference decoder for single-quoted KQL literals, written from the docs, not from kql_string."""
    assert literal[0] == literal[-1] == "'"
    body, out, i = literal[1:-1], [], 0
    table = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
    while i < len(body):
        ch = body[i]
        assert ch != "'", "an unescaped quote would end the literal early"
        if ch == "\\":
            out.append(table[body[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def test_hostile_value_round_trips_through_the_literal():
    literal = kql_string(HOSTILE)
    assert _decode(literal) == HOSTILE
    assert "\n" not in literal and "\r" not in literal


def test_clause_with_hostile_value_is_one_line_and_cannot_break_out():
    clause = kql_exclusion("process", HOSTILE)
    assert clause.startswith("| where not(ProcessCommandLine =~ '") and clause.endswith("')")
    assert "\n" not in clause and "\r" not in clause
    assert _decode(clause[len("| where not(ProcessCommandLine =~ "):-1]) == HOSTILE


def test_other_control_characters_are_refused_not_guessed():
    with pytest.raises(ValueError):
        kql_string("evil\x00value")
    assert kql_exclusion("account", "contoso\\bad\x1bname") is None


@pytest.mark.parametrize(
    "etype, key, expected",
    [
        ("account", "contoso\\svc_inventory", "(AccountName =~ 'svc_inventory' and AccountDomain =~ 'contoso')"),
        ("account", "svc@contoso.com", "AccountUpn =~ 'svc@contoso.com'"),
        ("ip", "10.20.30.40", "IPAddress =~ '10.20.30.40'"),
        ("file", "c:\\tools\\x.exe",
         "(FileName =~ 'x.exe' and FolderPath in~ ('c:\\\\tools', 'c:\\\\tools\\\\x.exe'))"),
        ("cloud-application", "x", None),
    ],
)
def test_entity_types_map_to_documented_columns(etype, key, expected):
    assert entity_condition(etype, key) == expected


def test_pair_clause_requires_both_entities():
    assert kql_exclusion("account", "svc", "ip", "10.0.0.1") == (
        "| where not(AccountName =~ 'svc' and IPAddress =~ '10.0.0.1')"
    )
