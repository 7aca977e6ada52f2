"""A small evaluator for exactly the KQL exclusion clauses models/tuning/kql.py emits, so the
backtest measures what pasting the clause would do, not entity equality.

Grammar (anything else is refused with ValueError, never guessed at):
    clause     := '|' 'where' 'not' '(' expr ')'
    expr       := conj ('or' conj)*
    conj       := atom ('and' atom)*
    atom       := '(' expr ')' | column op literal | column 'in~' '(' literal (',' literal)* ')'
    column     := Name | 'tostring' '(' 'split' '(' Name ',' literal ')' '[' int ']' ')'
    op         := '=~' | '==' | 'startswith'
    literal    := a single-quoted KQL string with backslash escapes (\\\\ \\' \\" \\n \\r \\t)
Semantics as the KQL docs define them: `=~` and `in~` compare case-insensitively, `==` exactly,
`startswith` is a case-insensitive prefix test; a column the row lacks is the empty string (as a
missing string column is in KQL); `split(s, sep)[i]` out of range is empty.

`rows_of_alert` turns one alert's entities into the query rows the clause is evaluated on: the
standard entity columns, and, given a rule's entity mappings (kql.parse_mappings), the columns its
own query projects, filled from the entity by Sentinel's identifiers (`identifier_values`).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Mapping

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op>=~|==|in~)|(?P<punct>[()\[\],|])|(?P<int>\d+)|(?P<name>[A-Za-z_]\w*))"
)
_UNESCAPE = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"unsupported clause text at {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(token: str) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _UNESCAPE:
                raise ValueError(f"unsupported escape in {token!r}")
            out.append(_UNESCAPE[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            raise ValueError(f"expected {value or kind}, got {tok[1] if tok else 'end of clause'!r}")
        self.i += 1
        return tok[1]

    def clause(self):
        for word in ("|", "where", "not", "("):
            self.take(word)
        expr = self.expr()
        self.take(")")
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()[1]!r} after the clause")
        return ("not", expr)

    def expr(self):
        parts = [self.conj()]
        while self.peek() == ("name", "or"):
            self.take("or")
            parts.append(self.conj())
        return ("or", parts) if len(parts) > 1 else parts[0]

    def conj(self):
        parts = [self.atom()]
        while self.peek() == ("name", "and"):
            self.take("and")
            parts.append(self.atom())
        return ("and", parts) if len(parts) > 1 else parts[0]

    def atom(self):
        if self.peek() == ("punct", "("):
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        column = self.column()
        op = self.peek()
        if op == ("op", "in~"):
            self.take("in~")
            self.take("(")
            values = [_literal(self.take(kind="str"))]
            while self.peek() == ("punct", ","):
                self.take(",")
                values.append(_literal(self.take(kind="str")))
            self.take(")")
            return ("in~", column, values)
        if op in (("op", "=~"), ("op", "=="), ("name", "startswith")):
            self.i += 1
            return (op[1], column, _literal(self.take(kind="str")))
        raise ValueError(f"unsupported operator {op[1] if op else 'end of clause'!r}")

    def column(self):
        name = self.take(kind="name")
        if name != "tostring":
            return ("col", name)
        self.take("(")
        self.take("split")
        self.take("(")
        inner = self.take(kind="name")
        self.take(",")
        sep = _literal(self.take(kind="str"))
        self.take(")")
        self.take("[")
        index = int(self.take(kind="int"))
        self.take("]")
        self.take(")")
        return ("split", inner, sep, index)


@functools.lru_cache(maxsize=4096)
def parse(clause: str):
    return _Parser(clause).clause()


def _value(column, row: Mapping[str, str | None]) -> str:
    if column[0] == "col":
        return row.get(column[1]) or ""
    _, name, sep, index = column
    parts = (row.get(name) or "").split(sep)
    return parts[index] if index < len(parts) else ""


def _eval(node, row) -> bool:
    kind = node[0]
    if kind == "not":
        return not _eval(node[1], row)
    if kind == "and":
        return all(_eval(p, row) for p in node[1])
    if kind == "or":
        return any(_eval(p, row) for p in node[1])
    value = _value(node[1], row)
    if kind == "=~":
        return value.lower() == node[2].lower()
    if kind == "==":
        return value == node[2]
    if kind == "startswith":
        return value.lower().startswith(node[2].lower())
    if kind == "in~":
        return value.lower() in {v.lower() for v in node[2]}
    raise ValueError(f"unknown node {kind!r}")


def keeps(clause: str, row: Mapping[str, str | None]) -> bool:
    """True when `| where not(...)` keeps the row (the alert still fires)."""
    return _eval(parse(clause), row)


# ---- the query rows of one alert ----------------------------------------------------------------

_HASH_COLUMNS = {"sha256": "SHA256", "sha1": "SHA1", "md5": "MD5"}
_SID = re.compile(r"s-1-\d+(-\d+)+", re.IGNORECASE)
_GUID = re.compile(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)
MAX_ROWS = 64


def _props(raw) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def entity_columns(entity_type: str, value: str, properties=None) -> dict[str, str]:
    """The columns a rule's query row holds for one entity (original casing of the value)."""
    t, p = (entity_type or "").lower(), _props(properties)
    value = value or ""
    if t == "account":
        cols: dict[str, str] = {}
        if "\\" in value:
            cols["AccountDomain"], cols["AccountName"] = value.rsplit("\\", 1)
        elif "@" in value:
            cols["AccountUpn"], cols["AccountName"] = value, value.split("@", 1)[0]
        elif _SID.fullmatch(value):
            cols["AccountSid"] = value
        elif _GUID.fullmatch(value):
            cols["AccountObjectId"] = value
        else:
            cols["AccountName"] = value
        if p.get("Name") and p.get("UPNSuffix"):
            cols.setdefault("AccountUpn", f"{p['Name']}@{p['UPNSuffix']}")
        if p.get("Sid"):
            cols.setdefault("AccountSid", str(p["Sid"]))
        if p.get("AadUserId"):
            cols.setdefault("AccountObjectId", str(p["AadUserId"]))
        return cols
    if t == "host":
        domain = p.get("DnsDomain")
        return {"DeviceName": f"{value}.{domain}" if domain and "." not in value else value}
    if t == "ip":
        return {"IPAddress": value}
    if t == "file":
        sep = "\\" if "\\" in value else "/"
        return {"FileName": value.rsplit(sep, 1)[-1], "FolderPath": value} if sep in value else {"FileName": value}
    if t == "process":
        return {} if value.lower().startswith("pid:") else {"ProcessCommandLine": value}
    if t == "filehash":
        algorithm, _, digest = value.rpartition(":")
        column = _HASH_COLUMNS.get(algorithm.lower())
        return {column: digest} if column else {}
    simple = {"url": "Url", "dns": "DomainName", "mailbox": "RecipientEmailAddress"}
    return {simple[t]: value} if t in simple else {}


def identifier_values(entity_type: str, value: str, properties=None) -> dict[str, str]:
    """What each Sentinel entity identifier (lower-case) holds for one entity, as a rule's query
    would project it for an entity mapping."""
    t, p = (entity_type or "").lower(), _props(properties)
    value = value or ""
    if t == "account":
        out = {"fullname": value}
        if "\\" in value:
            out["ntdomain"], out["name"] = value.rsplit("\\", 1)
        elif "@" in value:
            out["name"], out["upnsuffix"] = value.split("@", 1)
        elif _SID.fullmatch(value):
            out["sid"] = value
        elif _GUID.fullmatch(value):
            out["aaduserid"] = value
        else:
            out["name"] = value
        for identifier, prop in (("sid", "Sid"), ("aaduserid", "AadUserId"), ("ntdomain", "NTDomain"),
                                 ("upnsuffix", "UPNSuffix")):
            if p.get(prop):
                out.setdefault(identifier, str(p[prop]))
        return out
    if t == "host":
        short, domain = value.split(".", 1)[0], p.get("DnsDomain")
        return {"hostname": short, "netbiosname": short,
                "fullname": f"{value}.{domain}" if domain and "." not in value else value}
    if t == "file":
        sep = "\\" if "\\" in value else "/"
        if sep in value:
            folder, name = value.rsplit(sep, 1)
            return {"name": name, "directory": folder}
        return {"name": value}
    if t == "process":
        return {} if value.lower().startswith("pid:") else {"commandline": value}
    if t == "filehash":
        algorithm, _, digest = value.rpartition(":")
        return {"value": digest, "algorithm": algorithm}
    simple = {"ip": "address", "url": "url", "dns": "domainname", "mailbox": "mailboxprimaryaddress"}
    return {simple[t]: value} if t in simple else {}


def _mapped_columns(entity_type: str, value: str, properties, mappings) -> dict[str, str]:
    held = identifier_values(entity_type, value, properties)
    return {column: held[identifier]
            for m in mappings.get((entity_type or "").lower(), []) for identifier, column in m.items()
            if identifier in held}


def rows_of_alert(entities: Iterable[Mapping], mappings=None) -> list[dict[str, str]]:
    """Query rows for an alert: one per combination of one entity of each type (an alert with two
    accounts could come from either row), capped at MAX_ROWS. `mappings` (kql.parse_mappings of
    the rule's definition) adds the columns the rule's own query projects for each entity."""
    by_type: dict[str, list[dict[str, str]]] = {}
    for e in entities:
        value = e.get("entity_value") or e.get("entity_key")
        cols = entity_columns(e.get("entity_type"), value, e.get("properties"))
        if mappings:
            cols = {**cols, **_mapped_columns(e.get("entity_type"), value, e.get("properties"), mappings)}
        if cols and cols not in by_type.get(e.get("entity_type"), []):
            by_type.setdefault(e.get("entity_type"), []).append(cols)
    groups = [by_type[t] for t in sorted(by_type)]
    rows = []
    for combo in itertools.islice(itertools.product(*groups), MAX_ROWS):
        row: dict[str, str] = {}
        for cols in combo:
            for k, v in cols.items():
                row.setdefault(k, v)
        rows.append(row)
    return rows or [{}]


def clause_removes(clause: str, entities: Iterable[Mapping], mappings=None) -> bool:
    """True when the clause drops the alert: it excludes at least one of the alert's query rows
    (laid out in the rule's own columns too, given its `mappings`)."""
    return any(not keeps(clause, row) for row in rows_of_alert(entities, mappings))
