"""KQL exclusion clauses for a rule's query: `| where not(...)`, one table, no join (NRT-safe).

Entity values are attacker-controlled (an account name, a command line), so every literal goes
through `kql_string`, and column names come only from ENTITY_COLUMNS.

Literal form: single-quoted with backslash escapes, as the KQL string docs define them
(learn.microsoft.com/kusto/query/scalar-data-types/string): `\\` -> `\\\\`, `'` -> `\\'`, and the
newline, carriage return and tab become `\\n`, `\\r`, `\\t`, so a clause always stays on one line.
KQL documents no escape for other control characters, so a value holding one is refused
(ValueError) rather than guessed at; the recommendation then offers only the watchlist row.

Entity type -> columns (the documented columns of the Defender XDR advanced-hunting tables, which
Sentinel's Defender connector tables share; a rule whose query projects other names needs the clause
adapted, which the report says; rule definitions with entity mappings will name them):
- account: key `domain\\name` -> AccountName and AccountDomain; `name@suffix` -> AccountUpn; a SID
  (`s-1-…`) -> AccountSid; an Entra object id (a GUID) -> AccountObjectId; bare name -> AccountName
- host: short host name -> the first label of DeviceName (DeviceName is often an FQDN)
- ip: IPAddress, `=~` (IPv6 text varies in case)
- file: key `directory\\name` -> FileName, and FolderPath equal to the folder or to the full path
  (tables differ on whether FolderPath holds the file name), never a bare prefix that would also
  match `app-evil\\`; bare name -> FileName
- process: ProcessCommandLine; a `pid:NNNN` key (no command line) has no stable column: no clause
- url: Url
- filehash: `algorithm:value` -> the algorithm's column (SHA256, SHA1 or MD5) with the bare value
- dns: DomainName
- mailbox: RecipientEmailAddress
Any other type gets no clause (NULL): the watchlist row still carries it. Product alerts (no
analytic rule) get no clause either: there is no query to paste it into (80_tuning_recommendations).
The clause grammar is exactly what models/tuning/kql_eval.py evaluates.

When the rule's definition is known (analytic_rules.entity_mappings), an entity type the rule maps
is matched on the columns the rule's own query projects for it, by Sentinel's entity identifiers
(`mapped_condition`): Account FullName (`domain\\name` or a UPN) / Name + NTDomain / Name + UPNSuffix
/ Sid / AadUserId, Host HostName / NetBiosName / FullName (first label), IP Address, Process
CommandLine, File Name + Directory, FileHash Value, URL Url, DNS DomainName, Mailbox
MailboxPrimaryAddress. A mapping that cannot express the key exactly (only Name for a
`domain\\name` account) falls back to the standard columns above; a column name that is not a
plain identifier is never written into a clause.
"""

from __future__ import annotations

import json
import re

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


_SID = re.compile(r"s-1-\d+(-\d+)+", re.IGNORECASE)
_GUID = re.compile(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)
_HASH_COLUMNS = {"sha256": "SHA256", "sha1": "SHA1", "md5": "MD5"}
_HASH_BY_LENGTH = {64: "SHA256", 40: "SHA1", 32: "MD5"}


def _account(key: str) -> str:
    if "\\" in key:
        domain, name = _split_last(key, "\\")
        return f"(AccountName =~ {kql_string(name)} and AccountDomain =~ {kql_string(domain)})"
    if _SID.fullmatch(key):
        return f"AccountSid =~ {kql_string(key)}"
    if _GUID.fullmatch(key):
        return f"AccountObjectId =~ {kql_string(key)}"
    if "@" in key:
        return f"AccountUpn =~ {kql_string(key)}"
    return f"AccountName =~ {kql_string(key)}"


def _file(key: str) -> str:
    if "\\" in key or "/" in key:
        sep = "\\" if "\\" in key else "/"
        folder, name = _split_last(key, sep)
        return f"(FileName =~ {kql_string(name)} and FolderPath in~ ({kql_string(folder)}, {kql_string(key)}))"
    return f"FileName =~ {kql_string(key)}"


def _filehash(key: str) -> str | None:
    algorithm, _, value = key.rpartition(":")
    column = _HASH_COLUMNS.get(algorithm.lower()) if algorithm else _HASH_BY_LENGTH.get(len(value))
    if column is None or not value:
        return None
    return f"{column} =~ {kql_string(value)}"


def entity_condition(entity_type: str, key: str) -> str | None:
    """The KQL condition that matches one entity, or None when the type has no stable column."""
    t = (entity_type or "").lower()
    if key is None or key == "":
        return None
    if t == "account":
        return _account(key)
    if t == "host":
        return f"tostring(split(DeviceName, '.')[0]) =~ {kql_string(key)}"
    if t == "ip":
        return f"IPAddress =~ {kql_string(key)}"
    if t == "file":
        return _file(key)
    if t == "filehash":
        return _filehash(key)
    if t == "process":
        if key.lower().startswith("pid:"):
            return None
        return f"ProcessCommandLine =~ {kql_string(key)}"
    simple = {"url": "Url", "dns": "DomainName", "mailbox": "RecipientEmailAddress"}
    if t in simple:
        return f"{simple[t]} =~ {kql_string(key)}"
    return None


_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Mappings = dict[str, list[dict[str, str]]]  # entity type -> one {identifier (lower): column} per mapping


def parse_mappings(entity_mappings: str | None) -> Mappings:
    """A rule's Sentinel entity mappings (JSON text) by lower-case entity type; columns that are not
    plain identifiers, and anything malformed, are left out."""
    try:
        raw = json.loads(entity_mappings) if entity_mappings else []
    except ValueError:
        return {}
    out: Mappings = {}
    for mapping in raw if isinstance(raw, list) else []:
        if not isinstance(mapping, dict) or not isinstance(mapping.get("fieldMappings"), list):
            continue
        fields = {str(f.get("identifier", "")).lower(): str(f.get("columnName", ""))
                  for f in mapping["fieldMappings"] if isinstance(f, dict)}
        fields = {k: v for k, v in fields.items() if k and _COLUMN.fullmatch(v)}
        if fields:
            out.setdefault(str(mapping.get("entityType", "")).lower(), []).append(fields)
    return out


def _account_mapped(key: str, m: dict[str, str]) -> str | None:
    if "\\" in key:
        domain, name = _split_last(key, "\\")
        if "fullname" in m:
            return f"{m['fullname']} =~ {kql_string(key)}"
        if "name" in m and "ntdomain" in m:
            return f"({m['name']} =~ {kql_string(name)} and {m['ntdomain']} =~ {kql_string(domain)})"
        return None
    if _SID.fullmatch(key):
        return f"{m['sid']} =~ {kql_string(key)}" if "sid" in m else None
    if _GUID.fullmatch(key):
        column = m.get("aaduserid") or m.get("objectguid")
        return f"{column} =~ {kql_string(key)}" if column else None
    if "@" in key:
        if "fullname" in m:
            return f"{m['fullname']} =~ {kql_string(key)}"
        name, suffix = _split_last(key, "@")
        if "name" in m and "upnsuffix" in m:
            return f"({m['name']} =~ {kql_string(name)} and {m['upnsuffix']} =~ {kql_string(suffix)})"
        return None
    column = m.get("name") or m.get("fullname")
    return f"{column} =~ {kql_string(key)}" if column else None


def _file_mapped(key: str, m: dict[str, str]) -> str | None:
    if "\\" in key or "/" in key:
        folder, name = _split_last(key, "\\" if "\\" in key else "/")
        if "name" in m and "directory" in m:
            return f"({m['name']} =~ {kql_string(name)} and {m['directory']} in~ ({kql_string(folder)}, {kql_string(key)}))"
        return None
    return f"{m['name']} =~ {kql_string(key)}" if "name" in m else None


_SIMPLE_MAPPED = {"ip": "address", "url": "url", "dns": "domainname", "mailbox": "mailboxprimaryaddress"}


def mapped_condition(entity_type: str, key: str, m: dict[str, str]) -> str | None:
    """The condition on the rule's own mapped columns `m` (identifier -> column), or None when they
    cannot express this key exactly."""
    t = (entity_type or "").lower()
    if t == "account":
        return _account_mapped(key, m)
    if t == "host":
        column = m.get("hostname") or m.get("netbiosname")
        if column:
            return f"{column} =~ {kql_string(key)}"
        return f"tostring(split({m['fullname']}, '.')[0]) =~ {kql_string(key)}" if "fullname" in m else None
    if t == "file":
        return _file_mapped(key, m)
    if t == "process":
        return None if key.lower().startswith("pid:") or "commandline" not in m else \
            f"{m['commandline']} =~ {kql_string(key)}"
    if t == "filehash":
        digest = key.rpartition(":")[2]
        return f"{m['value']} =~ {kql_string(digest)}" if "value" in m and digest else None
    if t in _SIMPLE_MAPPED and _SIMPLE_MAPPED[t] in m:
        return f"{m[_SIMPLE_MAPPED[t]]} =~ {kql_string(key)}"
    return None


def rule_condition(entity_type: str, key: str, mappings: Mappings) -> str | None:
    """The condition on the rule's mapped columns when a mapping of this type expresses the key, else
    on the standard columns (entity_condition)."""
    if key is None or key == "":
        return None
    for m in mappings.get((entity_type or "").lower(), []):
        condition = mapped_condition(entity_type, key, m)
        if condition is not None:
            return condition
    return entity_condition(entity_type, key)


def kql_exclusion(type_1: str, key_1: str, type_2: str | None = None, key_2: str | None = None,
                  type_3: str | None = None, key_3: str | None = None,
                  entity_mappings: str | None = None) -> str | None:
    """`| where not(<cond>)` for a single entity, `not(<cond1> and <cond2> [and <cond3>])` for a
    pair or a triple; on the rule's own mapped columns when `entity_mappings` (its definition's
    JSON) maps the entity type.

    None when an entity type has no mapped column or a value cannot be written as a KQL literal.
    """
    mappings = parse_mappings(entity_mappings)
    try:
        parts = [rule_condition(type_1, key_1, mappings)]
        for etype, key in ((type_2, key_2), (type_3, key_3)):
            if etype is not None:
                parts.append(rule_condition(etype, key, mappings))
    except ValueError:
        return None
    if any(p is None for p in parts):
        return None
    return f"| where not({' and '.join(parts)})"
