"""pydantic's ValidationError as the user reads it: one line per mistake, naming the table and the key,
with the closest known key suggested for a typo, e.g.

    hunthouse.toml: [[tenant]] 'acme' unknown setting 'worksapce_id' (did you mean 'workspace_id'?)
    hunthouse.toml: [tuning] min_confidence: must be between 0 and 1 (got 1.5)

The value is echoed only for scalar fields not marked SECRET, and never for an unknown key (a
`client_secret = "…"` is exactly the mistake whose value must not reach a log).
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from pipelines.config.schema import SECRET, TENANT_KINDS, TENANT_NAME, ConfigFile, Table

# pydantic's error types, in the words of a TOML file
TYPE_WORDS = {
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "date_type": "must be a TOML date: YYYY-MM-DD, without quotes",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
}
ECHO_TYPES = (str, int, float, bool, date)


@dataclass
class Place:
    """Where in the file an error is: the table's label, the key (None: the table itself), its field."""

    where: str
    key: str | None
    model: type[BaseModel]
    field: FieldInfo | None


def config_lines(exc: ValidationError, doc: dict, source: str = "") -> tuple[str, ...]:
    """One line per mistake, in the order pydantic found them, each once.

    A misspelt required key is one mistake, not two: its "missing" line is dropped when an unknown key
    of the same table is the suggested spelling."""
    prefix = f"{source}: " if source else ""
    found = [(_place(err["loc"], doc), err) for err in exc.errors(include_url=False)]
    misspelt = {(p.where, _suggestion(p)) for p, err in found if err["type"] == "extra_forbidden"}
    lines = [prefix + _line(p, err) for p, err in found
             if not (err["type"] == "missing" and (p.where, p.key) in misspelt)]
    return tuple(dict.fromkeys(lines))


def _line(place: Place, err: dict) -> str:
    where = f"{place.where} " if place.where else ""
    kind = err["type"]
    if kind == "extra_forbidden":
        return where + _unknown(place)
    if kind == "missing":
        return f"{where}missing required setting '{place.key}'"
    if kind == "union_tag_not_found":
        return f"{where}missing required setting 'kind' (one of {', '.join(TENANT_KINDS)})"
    if kind == "union_tag_invalid":
        return f"{where}kind: must be one of {', '.join(TENANT_KINDS)}{_got(err['ctx']['tag'])}"
    message = _message(err)
    if place.key is None:
        return where + message
    echo = place.field is not None and SECRET not in place.field.metadata
    return f"{where}{place.key}: {message}{_got(err['input']) if echo else ''}"


def _message(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "hunthouse":
        return err["msg"]
    if kind in TYPE_WORDS:
        return TYPE_WORDS[kind]
    if kind == "literal_error":
        return f"must be one of {ctx['expected'].replace(' or ', ', ')}"
    if kind == "greater_than_equal":
        return f"must be {ctx['ge']} or more"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    return err["msg"][:1].lower() + err["msg"][1:]


def _got(value) -> str:
    if not isinstance(value, ECHO_TYPES):
        return ""
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return f" (got {text if len(text) <= 200 else text[:197] + '...'})"


def _unknown(place: Place) -> str:
    noun = place.model.unknown_noun if issubclass(place.model, Table) else "setting"
    line = f"unknown {noun} [{place.key}]" if noun == "section" else f"unknown {noun} '{place.key}'"
    this_kind = next((kind for kind, model in TENANT_KINDS.items() if model is place.model), None)
    kinds = [kind for kind, model in TENANT_KINDS.items() if this_kind and place.key in _keys(model)]
    if kinds:  # the tagged union's typical mistake: a key of another kind of tenant
        return f"{line}: it is a setting of kind {' or '.join(map(repr, kinds))}, not {this_kind!r}"
    close = _suggestion(place)
    if close:
        return f"{line} (did you mean {f'[{close}]' if noun == 'section' else repr(close)}?)"
    return f"{line} (known: {', '.join(_keys(place.model))})"


def _suggestion(place: Place) -> str | None:
    close = difflib.get_close_matches(str(place.key), _keys(place.model), n=1, cutoff=0.6)
    return close[0] if close else None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _field(model: type[BaseModel], key) -> tuple[str, FieldInfo] | None:
    for name, f in model.model_fields.items():
        if key in (name, f.alias):
            return f.alias or name, f
    return None


def _tables(annotation) -> tuple[str, object] | None:
    """('table', Model) for a sub-table, ('array', Model or tagged union) for an array of tables, else None."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table", annotation
    if typing.get_origin(annotation) is list and args and _is_table(args[0]):
        return "array", args[0]
    return None


def _is_table(annotation) -> bool:
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    members = typing.get_args(base) or (base,)
    return all(isinstance(m, type) and issubclass(m, Table) for m in members)


def _variants(annotation) -> dict[str, type[BaseModel]]:
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    members = typing.get_args(base) or (base,)
    return {typing.get_args(m.model_fields["kind"].annotation)[0]: m for m in members} if len(members) > 1 else {}


def _place(loc: tuple, doc: dict) -> Place:
    model: type[BaseModel] = ConfigFile
    path: list[str] = []
    where = ""
    node: object = doc
    i = 0
    while i < len(loc):
        found = _field(model, loc[i])
        if found is None:
            return Place(where, str(loc[i]), model, None)
        key, info = found
        shape = _tables(info.annotation)
        if shape is None:
            return Place(where, key, model, info)
        path.append(key)
        node = node.get(key) if isinstance(node, dict) else None
        if shape[0] == "table":
            model, where, i = shape[1], f"[{'.'.join(path)}]", i + 1
            continue
        if i + 1 >= len(loc):
            return Place(where, key, model, info)
        index = loc[i + 1]
        node = node[index] if isinstance(node, list) and isinstance(index, int) and index < len(node) else None
        where = f"[[{'.'.join(path)}]] {_element_label(node, index)}"
        variants = _variants(shape[1])
        i += 2
        if variants and i < len(loc) and loc[i] in variants:
            model, i = variants[loc[i]], i + 1
        elif variants:
            return Place(where, None, Table, None)
        else:
            model = shape[1]
    return Place(where, None, model, None)


def _element_label(node, index) -> str:
    """An array element with a valid name (a tenant) is called by it, any other by its position."""
    name = node.get("name") if isinstance(node, dict) else None
    if isinstance(name, str) and TENANT_NAME.match(name):
        return f"'{name}'"
    return f"#{index + 1}" if isinstance(index, int) else str(index)
