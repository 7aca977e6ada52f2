"""KQL exclusion clauses for a rule's query: `| where not(...)`, one table, no join (NRT-safe).

Entity values are attacker-controlled (an account name, a command line), so every literal goes
through `kql_string`, and column names come only from ENTITY_COLUMNS.

Literal form: single-quoted with backslash escapes, as the KQL string docs define them
(learn.microsoft.com/kusto/query/scalar-data-types/string): `\\` -> `\\\\`, `'` -> `\\'`, and the
newline, carriage return and tab become `\\n`, `\\r`, `\\t`, so a clause always stays on one line.
KQL documents no escape for other control characters, so a value holding one is refused
(ValueError) rather than guessed at; the recommendation then offers only the watchlist row.

Entity type -> columns (the names Defender XDR and the Sentinel ASIM-style tables use for mapped
entities; a rule whose query projects other names needs the clause adapted, which the report says):
- account: key `domain\\name` -> AccountName and AccountDomain; `name@suffix` -> AccountUPN;
  bare name -> AccountName
- host: short host name -> the first label of DeviceName (DeviceName is often an FQDN)
- ip: IPAddress, exact match
- file: key `directory\\name` -> FileName and FolderPath (prefix); bare name -> FileName
- process: ProcessCommandLine
- url: Url
- filehash: SHA256, SHA1 or MD5
- dns: DomainName
- mailbox: RecipientEmailAddress
Any other type gets no clause (NULL): the watchlist row still carries it.
"""

from __future__ import annotations

_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def kql_string(value: str) -> str:
    """A single-quoted KQL string literal denoting exactly `value`, on one line."""
    out = []
    for ch in str(value):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "\u2028\u2029\x85":
            raise ValueError(f"control character U+{ord(ch):04X} has no KQL string escape")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def _split_last(key: str, sep: str) -> tuple[str, str]:
    head, _, tail = key.rpartition(sep)
    return head, tail


def entity_condition(entity_type: str, key: str) -> str | None:
    """The KQL condition that matches one entity, or None when the type has no mapped column."""
    t = (entity_type or "").lower()
    if key is None or key == "":
        return None
    if t == "account":
        if "\\" in key:
            domain, name = _split_last(key, "\\")
            return f"(AccountName =~ {kql_string(name)} and AccountDomain =~ {kql_string(domain)})"
        if "@" in key:
            return f"AccountUPN =~ {kql_string(key)}"
        return f"AccountName =~ {kql_string(key)}"
    if t == "host":
        return f"tostring(split(DeviceName, '.')[0]) =~ {kql_string(key)}"
    if t == "ip":
        return f"IPAddress == {kql_string(key)}"
    if t == "file":
        if "\\" in key:
            folder, name = _split_last(key, "\\")
            return f"(FileName =~ {kql_string(name)} and FolderPath startswith {kql_string(folder)})"
        return f"FileName =~ {kql_string(key)}"
    if t == "filehash":
        lit = kql_string(key)
        return f"(SHA256 =~ {lit} or SHA1 =~ {lit} or MD5 =~ {lit})"
    simple = {"process": "ProcessCommandLine", "url": "Url", "dns": "DomainName", "mailbox": "RecipientEmailAddress"}
    if t in simple:
        return f"{simple[t]} =~ {kql_string(key)}"
    return None


def kql_exclusion(type_1: str, key_1: str, type_2: str | None = None, key_2: str | None = None) -> str | None:
    """`| where not(<cond>)` for a single entity, or `not(<cond1> and <cond2>)` for a pair.

    None when an entity type has no mapped column or a value cannot be written as a KQL literal.
    """
    try:
        parts = [entity_condition(type_1, key_1)]
        if type_2 is not None:
            parts.append(entity_condition(type_2, key_2))
    except ValueError:
        return None
    if any(p is None for p in parts):
        return None
    return f"| where not({' and '.join(parts)})"
