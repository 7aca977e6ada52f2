"""The model registry: every SQL model declares itself in a header, and the run order, the table
lists, the catch-up rules and the Dagster asset specs are derived from those headers.

A header is the run of `-- key: value` lines at the very top of a `.sql` file (a value may go on
over lines starting `--   `, three spaces or more). `model:` opens a model; the keys after it
describe that model. A file may declare several models (a file of DDL, a scratch working set).

    -- model: fw_daily
    -- kind: incremental
    -- grain: tenant × day × device × direction × action_type × process × service_port × ...
    -- key: tenant, day, device_id, direction, action_type, process, service_port, protocol, remote_class
    -- depends_on: fw_events, fw_port_services
    -- params: tenants
    -- catch_up: event_days
    -- description: Daily rollup of blocked connections per device, ...

Kinds: `incremental` (rebuilt per changed tenant × day), `window` (rebuilt whole, sized by a
window), `as_of` (one set of rows per as-of day, history kept), `seed` (a constant table),
`scratch` (TEMP objects of one build, never published), `log` (append-only run log), `macros`,
`ddl` (creates tables other models maintain), `insert` (adds rows to the models it `feeds`,
creates nothing of its own) and `finding_rule` (a firewall finding rule: an insert into
`fw_candidates`, which `fw_findings` publishes).

More keys:
- `columns:` one continuation line per column of a published table, `--   name TYPE: meaning`
  (`--   name TYPE <- Source: meaning` names the source column of a staged table); a meaning may
  go on over lines indented deeper (`--       …`). docs/warehouse.md is generated from them
  (`python -m models.docs`), and a test holds them to the built warehouse's columns.
- `phase:` for a group run in phases (tuning): `setup` once per build, `fit` once per backtest
  origin and once live, `backtest` after each held-out fit, `report` after the live fit. A file
  depends on nothing of a later phase.
- `repeat_until: <model>.<column> = 0`: the file is run again until that one-row model of its
  own says 0 (a fixpoint, e.g. merging account forms into identities), at most MAX_REPEATS times.

Run order inside a group is a topological sort of the files: a file runs after the files that
declare what it `depends_on`, and a reader of a table runs after every file that `feeds` (inserts
into) it; ties keep file-name order. A missing dependency, a cycle, an unknown key or kind, or a
`getvariable('x')` whose `x` the file does not declare under `params:` is an error at load time,
in one line naming the file.

Models written by Python are declared in models/declared.py with the same fields. One that a
group's build runs as a step (`python=` the step's name, e.g. the tuning group's Beta prior fit)
is placed in the run order by its dependencies like a file; the run logs are written elsewhere.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
SHARED = "shared"  # the group of models/macros.sql: run before every group
SHARED_MACROS = MODELS_DIR / "macros.sql"
KINDS = ("incremental", "window", "as_of", "seed", "scratch", "log", "macros", "ddl", "insert", "finding_rule")
# How catch_up (pipelines/warehouse/build.py) brings an older generation's table up to the published one
CATCH_UP_RULES = ("log", "event_days", "incident_days", "partitions", "tenants", "alert_versions", "as_of", "whole")
KEYS = ("model", "kind", "grain", "key", "depends_on", "feeds", "params", "catch_up", "stage_from", "phase",
        "repeat_until", "description", "columns")
PHASES = ("setup", "fit", "backtest", "report")
MAX_REPEATS = 50  # a repeat_until file that has not reached 0 by then is an error
LIST_KEYS = ("key", "depends_on", "feeds", "params")
# kinds whose model is a table of the warehouse file (published); the others are not
TABLE_KINDS = ("incremental", "window", "as_of", "seed", "log")
FINDING_CANDIDATES = "fw_candidates"
RAW_PREFIX = "raw:"  # a lake table: `depends_on: raw:device_events`

_LINE = re.compile(r"^--\s([a-z_]+):\s*(.*?)\s*$")
_CONTINUED = re.compile(r"^--\s{3,}(\S.*?)\s*$")
_KEYLIKE = re.compile(r"^--\s*([a-z_]+)\s*:")
_COLUMN = re.compile(r"^([a-z_][a-z0-9_]*) ([A-Z][A-Z0-9_]*(?:\([^)]*\))?(?:\[\])?)(?: <- (.+?))?:(?: (.*))?$")
_REPEAT = re.compile(r"^([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*) = 0$")
_GETVARIABLE = re.compile(r"getvariable\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\)")


class RegistryError(ValueError):
    """A header that cannot be used: a missing dependency, a cycle, a bad key. One line."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    source: str = ""  # the source column a staged table takes it from


@dataclass(frozen=True)
class Model:
    name: str
    kind: str
    group: str
    description: str
    grain: str = ""
    key: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    catch_up: str | None = None
    stage_from: str | None = None  # raw table whose partitions this model's file stages
    phase: str | None = None
    repeat_until: str | None = None
    columns: tuple[Column, ...] = ()
    file: Path | None = None  # None: declared in Python (models/declared.py)
    python: str | None = None  # the build step (a function of the group) that writes it

    @property
    def is_step(self) -> bool:
        """Run by its group's build in dependency order: a SQL file's model, or a Python step."""
        return self.file is not None or self.python is not None

    @property
    def is_table(self) -> bool:
        return self.kind in TABLE_KINDS

    @property
    def where(self) -> str:
        return _where(self.file) if self.file else "models/declared.py"


def _where(path: Path) -> str:
    """models/<group>/<file> for this checkout's models, else the whole path (an extra folder)."""
    try:
        return str(path.resolve().relative_to(MODELS_DIR.parent))
    except ValueError:
        return str(path)


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parse_header(path: Path, group: str) -> list[Model]:
    """The models a SQL file declares, in header order (see the module docstring)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[dict[str, str]] = []
    last_key: str | None = None
    end = 0
    for end, line in enumerate(lines):  # noqa: B007 (end is used after the loop)
        m = _LINE.match(line)
        if m and m.group(1) in KEYS:
            key, value = m.groups()
            if key == "model":
                blocks.append({})
            elif not blocks:
                raise RegistryError(f"{_where(path)}: header key {key!r} before any 'model:' line")
            if key in blocks[-1]:
                raise RegistryError(f"{_where(path)}: {blocks[-1].get('model')} declares {key!r} twice")
            blocks[-1][key] = value
            last_key = key
            continue
        c = _CONTINUED.match(line)
        if c and blocks and last_key:
            blocks[-1][last_key] += ("\n" + line[2:]) if last_key == "columns" else (" " + c.group(1))
            continue
        break
    else:
        end = len(lines)
    after = lines[end] if end < len(lines) else ""
    typo = _KEYLIKE.match(after)
    if typo and typo.group(1) not in KEYS:
        raise RegistryError(f"{_where(path)}: unknown header key {typo.group(1)!r} (known: {', '.join(KEYS)})")
    if not blocks:
        raise RegistryError(f"{_where(path)}: no model header (a first line '-- model: <name>')")
    models = [_model(b, path, group) for b in blocks]
    declared = {p for m in models for p in m.params}
    used = set(_GETVARIABLE.findall("\n".join(lines[end:])))
    if used - declared:
        raise RegistryError(
            f"{_where(path)}: reads getvariable {', '.join(sorted(used - declared))} not declared under 'params:'"
        )
    return models


def _model(block: dict[str, str], path: Path, group: str) -> Model:
    name = block["model"]
    where = f"{_where(path)}: model {name}"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise RegistryError(f"{where}: a model name is lower_snake_case")
    kind = block.get("kind", "")
    if kind not in KINDS:
        raise RegistryError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not block.get("description"):
        raise RegistryError(f"{where}: needs a one-line 'description:'")
    catch_up = block.get("catch_up") or None
    if kind in TABLE_KINDS and catch_up not in CATCH_UP_RULES:
        raise RegistryError(f"{where}: a {kind} table needs 'catch_up:' one of {', '.join(CATCH_UP_RULES)}")
    lists = {k: _split_list(block.get(k, "")) for k in LIST_KEYS}
    if kind == "finding_rule" and FINDING_CANDIDATES not in lists["feeds"]:
        lists["feeds"] = (*lists["feeds"], FINDING_CANDIDATES)
    phase = block.get("phase") or None
    if phase is not None and phase not in PHASES:
        raise RegistryError(f"{where}: phase {phase!r} is not one of {', '.join(PHASES)}")
    repeat = block.get("repeat_until") or None
    if repeat is not None and not _REPEAT.match(repeat):
        raise RegistryError(f"{where}: repeat_until is '<model>.<column> = 0', not {repeat!r}")
    return Model(name=name, kind=kind, group=group, description=block["description"], grain=block.get("grain", ""),
                 catch_up=catch_up, stage_from=block.get("stage_from") or None, phase=phase, repeat_until=repeat,
                 columns=parse_columns(block.get("columns", ""), where), file=path, **lists)


def parse_columns(text: str, where: str) -> tuple[Column, ...]:
    """The `columns:` lines (after the `--`): `   name TYPE: meaning` (or `   name TYPE <- Source:
    meaning`), each meaning going on over the lines indented deeper than its name."""
    entries: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        if re.match(r"^ {3}\S", line):
            entries.append(line.strip())
        elif entries and line.startswith("    "):
            entries[-1] += " " + line.strip()
        else:
            raise RegistryError(f"{where}: a column is '--   name TYPE: meaning' on its own line, not {line.strip()!r}")
    columns = []
    for entry in entries:
        m = _COLUMN.match(entry)
        if not m:
            raise RegistryError(f"{where}: a column is 'name TYPE: meaning', not {entry[:60]!r}")
        name, type_, source, description = m.groups()
        if not description and not source:
            raise RegistryError(f"{where}: column {name} needs a meaning")
        columns.append(Column(name, type_, description or "", source or ""))
    names = [c.name for c in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RegistryError(f"{where}: column {', '.join(twice)} listed twice")
    return tuple(columns)


@dataclass
class Registry:
    models: list[Model]
    groups: dict[str, list[Step]] = field(default_factory=dict)  # group -> files and Python steps in run order

    def __post_init__(self) -> None:
        by_name: dict[str, Model] = {}
        for m in self.models:
            if m.name in by_name:
                raise RegistryError(f"{m.where}: model {m.name} is also declared in {by_name[m.name].where}")
            by_name[m.name] = m
        self.by_name = by_name
        for m in self.models:
            for dep in m.depends_on:
                if not dep.startswith(RAW_PREFIX) and dep not in by_name:
                    raise RegistryError(f"{m.where}: model {m.name} depends on {dep}, which no model declares")
            for fed in m.feeds:
                if fed not in by_name:
                    raise RegistryError(f"{m.where}: model {m.name} feeds {fed}, which no model declares")
            self._check_phase(m)
            if m.repeat_until:
                target = m.repeat_until.split(".")[0]
                if target not in by_name or by_name[target].file != m.file:
                    raise RegistryError(f"{m.where}: model {m.name} repeats until {target}, which its file does not "
                                        "declare")
        nodes = sorted({(m.group, _node(m)) for m in self.models if m.is_step}, key=lambda gn: (gn[0], _sort_name(gn[1])))
        for group in dict.fromkeys(g for g, _ in nodes):
            self.groups[group] = self._order(group, [n for g, n in nodes if g == group])

    def _check_phase(self, m: Model) -> None:
        """Within a phased group, every step has a phase and reads nothing of a later one."""
        phased = [x for x in self.models if x.group == m.group and x.phase]
        if not phased or not m.is_step:
            return
        if m.phase is None:
            raise RegistryError(f"{m.where}: model {m.name} needs 'phase:' one of {', '.join(PHASES)} "
                                f"(its group {m.group} runs in phases)")
        first = next(x for x in self.models if _node(x) == _node(m))
        if first.phase != m.phase:
            raise RegistryError(f"{m.where}: model {m.name} is of phase {m.phase}, {first.name} of the same file "
                                f"of phase {first.phase}")
        for dep in m.depends_on:
            d = self.by_name.get(dep)
            if d is not None and d.group == m.group and d.phase and PHASES.index(d.phase) > PHASES.index(m.phase):
                raise RegistryError(f"{m.where}: model {m.name} of phase {m.phase} depends on {dep} of the later "
                                    f"phase {d.phase}")

    def _order(self, group: str, files: list[Step]) -> list[Step]:
        """Kahn's topological sort of a group's files and Python steps; ties (and macros first) in
        file-name order."""
        models_of = {f: [m for m in self.models if m.is_step and _node(m) == f] for f in files}
        file_of = {m.name: _node(m) for ms in models_of.values() for m in ms}
        feeders: dict[str, set[Path]] = {}
        for f, ms in models_of.items():
            for m in ms:
                for fed in m.feeds:
                    feeders.setdefault(fed, set()).add(f)
        needs: dict[Path, set[Path]] = {f: set() for f in files}
        for f, ms in models_of.items():
            for m in ms:
                for dep in m.depends_on + m.feeds:
                    if dep in file_of:
                        needs[f].add(file_of[dep])  # the file that creates it
                    if dep in feeders and dep not in m.feeds:
                        needs[f] |= feeders[dep]  # every writer of a table runs before its readers
                needs[f].discard(f)
            if any(m.kind != "macros" for m in ms):  # macros of the group run first
                needs[f] |= {g for g, gms in models_of.items() if g != f and all(x.kind == "macros" for x in gms)}

        def rank(f: Step) -> tuple[int, str]:
            return (0 if all(m.kind == "macros" for m in models_of[f]) else 1, _sort_name(f))

        ready = [(rank(f), i, f) for i, f in enumerate(files) if not needs[f]]
        heapq.heapify(ready)
        index = {f: i for i, f in enumerate(files)}
        order: list[Step] = []
        while ready:
            _, _, f = heapq.heappop(ready)
            order.append(f)
            for g in files:
                if f in needs[g]:
                    needs[g].discard(f)
                    if not needs[g]:
                        heapq.heappush(ready, (rank(g), index[g], g))
        if len(order) < len(files):
            stuck = sorted(_sort_name(f) for f in files if f not in order)
            raise RegistryError(f"{group}: dependency cycle among {', '.join(stuck)}")
        return order

    # -- derived lists ------------------------------------------------------------------------
    def run_order(self, group: str) -> list[Path]:
        """The group's SQL files in run order."""
        return [f for f in self.groups.get(group, []) if isinstance(f, Path)]

    def steps(self, group: str, phase: str | None = None) -> list[Step]:
        """The group's files and Python steps (their Model) in run order, of one phase if given."""
        return [f for f in self.groups.get(group, []) if phase is None or self._phase_of(f) == phase]

    def _phase_of(self, step: Step) -> str | None:
        return step.phase if isinstance(step, Model) else next(m.phase for m in self.models if m.file == step)

    def tables(self, group: str | None = None) -> list[Model]:
        """The published tables (of one group), in run order: what Dagster, catch-up and docs list."""
        order = {f: i for g in self.groups.values() for i, f in enumerate(g)}
        tables = [m for m in self.models if m.is_table and (group is None or m.group == group)]
        return sorted(tables, key=lambda m: (not m.is_step, order.get(_node(m), 0) if m.is_step else 0)) \
            if group else tables

    def scratch(self, group: str) -> list[str]:
        """The group's scratch objects (TEMP tables of one build), in run order."""
        order = {f: i for i, f in enumerate(self.groups.get(group, []))}
        return [m.name for m in sorted((m for m in self.models if m.group == group and m.kind == "scratch"),
                                       key=lambda m: order.get(_node(m), len(order)) if m.is_step else len(order))]

    def catch_up(self) -> dict[str, str]:
        return {m.name: m.catch_up for m in self.models if m.is_table and m.catch_up}

    def stage_files(self) -> dict[str, Path]:
        """Raw table -> the staging file that loads one of its partitions."""
        out: dict[str, Path] = {}
        for m in self.models:
            if m.stage_from and m.file:
                if out.setdefault(m.stage_from, m.file) != m.file:
                    raise RegistryError(f"{m.where}: raw {m.stage_from} is staged by two files")
        return out

    def files_of_kind(self, group: str, kind: str) -> list[Path]:
        return [f for f in self.run_order(group) if any(m.file == f and m.kind == kind for m in self.models)]

    def external_deps(self, group: str) -> list[str]:
        """Tables of other groups this group's models read (the Dagster asset deps)."""
        deps = [d for m in self.models if m.group == group for d in m.depends_on
                if d in self.by_name and self.by_name[d].group != group and self.by_name[d].is_table]
        return list(dict.fromkeys(deps))

    def params(self, group: str) -> set[str]:
        return {p for m in self.models if m.group == group for p in m.params}


Step = Path | Model  # a SQL file, or a Python step's model


def _node(m: Model) -> Step:
    return m.file if m.file is not None else m


def _sort_name(step: Step) -> str:
    return step.name


def load(extra_dirs: Sequence[tuple[str, Path]] = (), root: Path = MODELS_DIR,
         declared: Iterable[Model] | None = None) -> Registry:
    """Parse every header under root/<group>/*.sql (plus root/macros.sql as group "shared") and
    add the Python declarations (models/declared.py unless `declared` is given). `extra_dirs` adds
    (group, directory) pairs: more model files of a group, e.g. a finding rule kept elsewhere."""
    from models.declared import DECLARED

    models: list[Model] = []
    if (root / "macros.sql").exists():
        models += parse_header(root / "macros.sql", SHARED)
    dirs = [(d.name, d) for d in sorted(root.iterdir())
            if d.is_dir() and any(d.glob("*.sql"))]
    for group, directory in [*dirs, *extra_dirs]:
        for path in sorted(Path(directory).glob("*.sql")):
            models += parse_header(path, group)
    models += list(DECLARED if declared is None else declared)
    return Registry(models)


@lru_cache(maxsize=1)
def default() -> Registry:
    """The registry of this checkout's models (parsed once per process)."""
    return load()
