"""hunthouse.toml: loading and validation with one precise message per mistake.

Secrets never live in the file: a tenant names the environment variable that holds its client
secret (`client_secret_env`) or a certificate file (`certificate_path`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
KINDS = ("sample", "sentinel", "defender")
# lake_root: a local path, or one of these URLs (credentials from the environment, never this file)
LAKE_URL = re.compile(r"^(file://.+|(abfs|abfss|az)://[a-z0-9][a-z0-9-]{2,62}(@[A-Za-z0-9.-]+)?(/[^?#]*)?|s3://[a-z0-9][a-z0-9.-]{1,62}(/[^?#]*)?)$")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = PACKAGE_ROOT / "hunthouse.example.toml"


class ConfigError(ValueError):
    """A user mistake in configuration; the CLI prints it as one line."""


@dataclass(frozen=True)
class TenantConfig:
    name: str
    kind: str
    tenant_id: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    certificate_path: str = ""
    workspace_id: str = ""
    authority_host: str = "https://login.microsoftonline.com"
    log_analytics_endpoint: str = "https://api.loganalytics.io"
    graph_endpoint: str = "https://graph.microsoft.com"
    all_device_events: bool = False
    # sample tenant only: the simulated world
    seed: int = 1
    scale: float = 1.0
    start: date | None = None
    end: date | None = None
    # connectors: smallest window a truncated query may be split to, in seconds
    min_split_seconds: int = 60
    max_attempts: int = 6

    def client_secret(self) -> str:
        """Read the secret from the environment, at the moment it is needed."""
        value = os.environ.get(self.client_secret_env, "")
        if not value:
            raise ConfigError(
                f"tenant '{self.name}': environment variable {self.client_secret_env} is not set "
                "(it must hold the app registration's client secret)"
            )
        return value


@dataclass(frozen=True)
class OwnerRule:
    match: str
    owner: str


@dataclass(frozen=True)
class DeliveryConfig:
    """[delivery]: mail each rule owner their report after a publish, and post a chat summary."""

    sender: str = ""  # the From address
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password_env: str = ""  # the environment variable holding the SMTP password
    smtp_ca_file: str = ""  # a CA bundle for a relay with an internal CA (default: the system's)
    owners: tuple[tuple[str, tuple[str, ...]], ...] = ()  # owner -> addresses
    webhook_url_env: str = ""  # the environment variable holding the Teams/Slack incoming-webhook URL
    webhook_kind: str = "teams"  # teams | slack
    timeout_s: float = 30.0

    def addresses(self, owner: str) -> tuple[str, ...]:
        return dict(self.owners).get(owner, ())


@dataclass(frozen=True)
class Settings:
    home: Path
    lake_root: str
    start_date: date
    lookback_days: int
    schedule_cron: str
    tenants: tuple[TenantConfig, ...]
    baseline_days: int = 28
    min_labelled_alerts: int = 5
    min_decisions: int = 5
    min_confidence: float = 0.8
    backtest_days: int = 14
    backtest_origins: int = 3
    exclusion_ttl_days: int = 90
    fit_days: int = 90
    triage_minutes_per_incident: float = 30.0
    # subject guard: (entity type, glob) pairs never recommended alone, and tier-0 host globs
    never_exclude: tuple[tuple[str, str], ...] = ()
    tier0_hosts: tuple[str, ...] = ("dc*", "*-dc*")
    # a broad single entity removing more than this share of a rule's alerts is a rule-logic finding
    max_removed_share: float = 0.5
    # incidents closed by an automation rule, playbook or service principal count as decisions
    automation_labels: bool = False
    default_owner: str = "secops"
    owner_rules: tuple[OwnerRule, ...] = ()
    quarantine_threshold: float = 0.05
    # DuckDB's buffer limit for warehouse builds; above it DuckDB spills to <home>/spill instead of
    # growing, so a nightly run on a shared host stays inside a known budget (target: < 4 GB RSS).
    memory_limit: str = "3GB"
    threads: int = 0  # DuckDB worker threads for builds; 0 = one per core
    source_path: str = field(default="", compare=False)
    # The tenant whose warehouse shard these settings build (see for_tenant); None for the whole home.
    shard: str | None = None
    delivery: DeliveryConfig | None = None

    def for_tenant(self, name: str) -> Settings:
        """Settings of one tenant's shard: its tenant only, its own warehouse file, build and spill dirs."""
        return replace(self, tenants=(self.tenant(name),), shard=name)

    @property
    def shard_name(self) -> str:
        """The tenant whose shard these settings address: the shard, or the only configured tenant."""
        if self.shard:
            return self.shard
        if len(self.tenants) == 1:
            return self.tenants[0].name
        raise ValueError("these settings span several tenants: take one tenant's with for_tenant(name)")

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    def shard_path(self, tenant: str) -> Path:
        return self.warehouse_dir / f"{tenant}.duckdb"

    @property
    def warehouse_path(self) -> Path:
        """The published shard of this tenant (<home>/warehouse/<tenant>.duckdb)."""
        return self.shard_path(self.shard_name)

    @property
    def build_dir(self) -> Path:
        return self.home / "build" / self.shard_name

    @property
    def quality_dir(self) -> Path:
        return self.home / "quality" / self.shard_name

    @property
    def spill_dir(self) -> Path:
        # one per shard: two builds running at once must not share DuckDB's temporary files
        return self.home / "spill" / self.shard_name

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def tenant(self, name: str) -> TenantConfig:
        for t in self.tenants:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.tenants)
        raise ConfigError(f"unknown tenant '{name}' (configured: {known})")

    def owner_of(self, rule_id: str, rule_name: str) -> str:
        for rule in self.owner_rules:
            if rule.match.lower() == (rule_id or "").lower() or fnmatchcase(
                (rule_name or "").lower(), rule.match.lower()
            ):
                return rule.owner
        return self.default_owner


def _get(table: dict, key: str, kind: type, where: str, default=None):
    if key not in table:
        if default is None:
            raise ConfigError(f"{where}: missing required setting '{key}'")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: '{key}' must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _positive(value, key: str, where: str):
    if value <= 0:
        raise ConfigError(f"{where}: '{key}' must be positive, got {value!r}")
    return value


def _https(url: str, key: str, where: str) -> str:
    if not re.match(r"^https://[A-Za-z0-9.\-]+(:\d+)?(/[A-Za-z0-9._\-/]*)?$", url):
        raise ConfigError(f"{where}: '{key}' must be an https URL, got {url!r}")
    return url.rstrip("/")


EMAIL = re.compile(r"^[^@\s<>,;\"']+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
DELIVERY_KEYS = {"from", "smtp_host", "smtp_port", "smtp_starttls", "smtp_user", "smtp_password_env", "smtp_ca_file",
                 "owners", "webhook_url_env", "webhook_kind", "timeout_seconds"}


def _env_name(table: dict, key: str, where: str) -> str:
    value = _get(table, key, str, where, "")
    if value and not ENV_NAME.match(value):
        raise ConfigError(f"{where}: '{key}' must be an environment variable name, not the secret itself")
    return value


def _delivery(raw: object) -> DeliveryConfig | None:
    where = "[delivery]"
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(raw) - DELIVERY_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown setting '{unknown[0]}' (known: {', '.join(sorted(DELIVERY_KEYS))})")
    owners_raw = raw.get("owners", {})
    if not isinstance(owners_raw, dict):
        raise ConfigError("[delivery.owners]: must be a table of owner = \"address\" or [\"address\", ...]")
    owners = []
    for owner, value in owners_raw.items():
        addresses = [value] if isinstance(value, str) else value
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
            raise ConfigError(f"[delivery.owners]: '{owner}' must be an address or a list of addresses")
        for address in addresses:
            if not EMAIL.match(address):
                raise ConfigError(f"[delivery.owners]: '{owner}': not an e-mail address: {address!r}")
        owners.append((owner, tuple(addresses)))
    host = _get(raw, "smtp_host", str, where, "")
    sender = _get(raw, "from", str, where, "")
    if owners and not host:
        raise ConfigError(f"{where}: [delivery.owners] needs 'smtp_host' (the relay that sends the reports)")
    if host and not EMAIL.match(sender):
        raise ConfigError(f"{where}: 'from' must be the sender's e-mail address, got {sender!r}")
    kind = _get(raw, "webhook_kind", str, where, "teams")
    if kind not in ("teams", "slack"):
        raise ConfigError(f"{where}: 'webhook_kind' must be teams or slack, got {kind!r}")
    port = _positive(_get(raw, "smtp_port", int, where, 587), "smtp_port", where)
    if port > 65535:
        raise ConfigError(f"{where}: 'smtp_port' must be a TCP port, got {port}")
    ca_file = _get(raw, "smtp_ca_file", str, where, "")
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"{where}: 'smtp_ca_file' {ca_file} does not exist")
    user = _get(raw, "smtp_user", str, where, "")
    password_env = _env_name(raw, "smtp_password_env", where)
    if bool(user) != bool(password_env):
        raise ConfigError(f"{where}: set both 'smtp_user' and 'smtp_password_env' (the variable holding the password), or neither")
    return DeliveryConfig(
        sender=sender, smtp_host=host, smtp_port=port, smtp_starttls=_get(raw, "smtp_starttls", bool, where, True),
        smtp_user=user, smtp_password_env=password_env, smtp_ca_file=ca_file, owners=tuple(owners),
        webhook_url_env=_env_name(raw, "webhook_url_env", where), webhook_kind=kind,
        timeout_s=_positive(_get(raw, "timeout_seconds", float, where, 30.0), "timeout_seconds", where),
    )


TENANT_KEYS = {
    "name", "kind", "tenant_id", "client_id", "client_secret_env", "certificate_path", "workspace_id",
    "authority_host", "log_analytics_endpoint", "graph_endpoint", "all_device_events", "seed", "scale",
    "start", "end", "min_split_seconds", "max_attempts",
}


def _tenant(raw: dict, index: int) -> TenantConfig:
    where = f"[[tenant]] #{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(raw) - TENANT_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown setting '{unknown[0]}' (known: {', '.join(sorted(TENANT_KEYS))})")
    name = _get(raw, "name", str, where)
    if not TENANT_NAME.match(name):
        raise ConfigError(
            f"{where}: tenant name {name!r} must be 1-63 lower-case letters, digits, '-' or '_' "
            "(it is used in paths, partition keys and queries)"
        )
    where = f"tenant '{name}'"
    kind = _get(raw, "kind", str, where)
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    values = {"name": name, "kind": kind}
    if kind == "sample":
        values["seed"] = _get(raw, "seed", int, where, 1)
        values["scale"] = _positive(_get(raw, "scale", float, where, 1.0), "scale", where)
        for key in ("start", "end"):
            if key in raw:
                values[key] = _get(raw, key, date, where)
        if values.get("start") and values.get("end") and values["start"] > values["end"]:
            raise ConfigError(f"{where}: start {values['start']} is after end {values['end']}")
        return TenantConfig(**values)
    for key in ("tenant_id", "client_id"):
        value = _get(raw, key, str, where)
        if not GUID.match(value):
            raise ConfigError(f"{where}: '{key}' must be a GUID, got {value!r}")
        values[key] = value
    if kind == "sentinel":
        ws = _get(raw, "workspace_id", str, where)
        if not GUID.match(ws):
            raise ConfigError(f"{where}: 'workspace_id' must be a GUID, got {ws!r}")
        values["workspace_id"] = ws
    secret_env = raw.get("client_secret_env", "")
    cert = raw.get("certificate_path", "")
    if bool(secret_env) == bool(cert):
        raise ConfigError(f"{where}: set exactly one of 'client_secret_env' (an environment variable name) or 'certificate_path'")
    if secret_env:
        if not isinstance(secret_env, str) or not ENV_NAME.match(secret_env):
            raise ConfigError(f"{where}: 'client_secret_env' must be an environment variable name, not the secret itself")
        values["client_secret_env"] = secret_env
    if cert:
        values["certificate_path"] = _get(raw, "certificate_path", str, where)
    for key in ("authority_host", "log_analytics_endpoint", "graph_endpoint"):
        if key in raw:
            values[key] = _https(_get(raw, key, str, where), key, where)
    if "all_device_events" in raw:
        values["all_device_events"] = _get(raw, "all_device_events", bool, where)
    for key in ("min_split_seconds", "max_attempts"):
        if key in raw:
            values[key] = _positive(_get(raw, key, int, where), key, where)
    return TenantConfig(**values)


NEVER_EXCLUDE_TYPES = ("account", "host", "ip", "file", "process", "url", "filehash", "dns", "mailbox")


def _glob_list(raw, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(g, str) and g.strip() for g in raw):
        raise ConfigError(f"{where}: '{key}' must be a list of non-empty glob strings")
    return tuple(g.strip().lower() for g in raw)


def _never_exclude(tu: dict) -> tuple[tuple[str, str], ...]:
    raw = tu.get("never_exclude", {})
    where = "[tuning.never_exclude]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table of entity type = [globs]")
    out = []
    for etype, globs in raw.items():
        if etype not in NEVER_EXCLUDE_TYPES:
            raise ConfigError(f"{where}: unknown entity type '{etype}' (known: {', '.join(NEVER_EXCLUDE_TYPES)})")
        out += [(etype, g) for g in _glob_list(globs, etype, where)]
    return tuple(out)


def parse(doc: dict, base_dir: Path, source_path: str = "", home_override: str | None = None) -> Settings:
    known_sections = {"hunthouse", "firewall", "tuning", "owners", "quality", "tenant", "delivery"}
    unknown = sorted(set(doc) - known_sections)
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}] (known: {', '.join(sorted(known_sections))})")
    core = doc.get("hunthouse", {})
    where = "[hunthouse]"
    home_raw = home_override or os.environ.get("HUNTHOUSE_HOME") or _get(core, "home", str, where, ".hunthouse")
    home = Path(home_raw).expanduser()
    if not home.is_absolute():
        home = (base_dir / home).resolve()
    lake_root = _get(core, "lake_root", str, where, "") or str(home / "lake")
    if "://" in lake_root and not LAKE_URL.match(lake_root):
        raise ConfigError(f"{where}: 'lake_root' must be a local path, file://…, abfs://container/path or "
                          f"s3://bucket/path, got {lake_root!r}")
    tenants_raw = doc.get("tenant", [])
    if not isinstance(tenants_raw, list) or not tenants_raw:
        raise ConfigError("no tenants configured: add at least one [[tenant]] table")
    tenants = tuple(_tenant(t, i) for i, t in enumerate(tenants_raw))
    names = [t.name for t in tenants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"tenant '{dupes[0]}' is configured twice")
    cron = _get(core, "schedule_cron", str, where, "0 2 * * *")
    if len(cron.split()) != 5:
        raise ConfigError(f"{where}: 'schedule_cron' must have 5 fields, got {cron!r}")
    fw = doc.get("firewall", {})
    tu = doc.get("tuning", {})
    owners = doc.get("owners", {})
    rules = []
    for i, r in enumerate(owners.get("rule", [])):
        w = f"[[owners.rule]] #{i + 1}"
        rules.append(OwnerRule(match=_get(r, "match", str, w), owner=_get(r, "owner", str, w)))
    min_conf = _get(tu, "min_confidence", float, "[tuning]", 0.8)
    if not 0 < min_conf < 1:
        raise ConfigError(f"[tuning]: 'min_confidence' must be between 0 and 1, got {min_conf}")
    max_share = _get(tu, "max_removed_share", float, "[tuning]", 0.5)
    if not 0 < max_share <= 1:
        raise ConfigError(f"[tuning]: 'max_removed_share' must be above 0 and at most 1, got {max_share}")
    threshold = _get(doc.get("quality", {}), "quarantine_threshold", float, "[quality]", 0.05)
    memory_limit = _get(core, "memory_limit", str, where, "3GB").strip()
    if not MEMORY_SIZE.fullmatch(memory_limit):
        raise ConfigError(f"{where}: 'memory_limit' must be a size such as \"3GB\" or \"512MB\", got {memory_limit!r}")
    threads = _get(core, "threads", int, where, 0)
    if threads < 0:
        raise ConfigError(f"{where}: 'threads' must be 0 (one per core) or more, got {threads}")
    return Settings(
        home=home,
        lake_root=lake_root,
        start_date=_get(core, "start_date", date, where, date(2026, 10, 1)),
        lookback_days=_get(core, "lookback_days", int, where, 3),
        schedule_cron=cron,
        tenants=tenants,
        baseline_days=_positive(_get(fw, "baseline_days", int, "[firewall]", 28), "baseline_days", "[firewall]"),
        min_labelled_alerts=_positive(_get(tu, "min_labelled_alerts", int, "[tuning]", 5), "min_labelled_alerts", "[tuning]"),
        min_decisions=_positive(_get(tu, "min_decisions", int, "[tuning]", 5), "min_decisions", "[tuning]"),
        min_confidence=min_conf,
        backtest_days=_positive(_get(tu, "backtest_days", int, "[tuning]", 14), "backtest_days", "[tuning]"),
        backtest_origins=_positive(_get(tu, "backtest_origins", int, "[tuning]", 3), "backtest_origins", "[tuning]"),
        exclusion_ttl_days=_positive(_get(tu, "exclusion_ttl_days", int, "[tuning]", 90), "exclusion_ttl_days", "[tuning]"),
        fit_days=_positive(_get(tu, "fit_days", int, "[tuning]", 90), "fit_days", "[tuning]"),
        triage_minutes_per_incident=_positive(
            _get(tu, "triage_minutes_per_incident", float, "[tuning]", 30.0), "triage_minutes_per_incident", "[tuning]"
        ),
        never_exclude=_never_exclude(tu),
        tier0_hosts=_glob_list(tu.get("tier0_hosts", ["dc*", "*-dc*"]), "tier0_hosts", "[tuning]"),
        max_removed_share=max_share,
        automation_labels=_get(tu, "automation_labels", bool, "[tuning]", False),
        default_owner=_get(owners, "default", str, "[owners]", "secops"),
        owner_rules=tuple(rules),
        quarantine_threshold=threshold,
        memory_limit=memory_limit,
        threads=threads,
        source_path=source_path,
        delivery=_delivery(doc.get("delivery")),
    )


def load(path: str | os.PathLike | None = None, home_override: str | None = None) -> Settings:
    """Load settings from `path`, $HUNTHOUSE_CONFIG, ./hunthouse.toml, or the bundled example.

    `home_override` (else $HUNTHOUSE_HOME) replaces the configured data home.
    """
    candidates = [path, os.environ.get("HUNTHOUSE_CONFIG")]
    chosen = next((Path(c) for c in candidates if c), None)
    if chosen is None:
        local = Path.cwd() / "hunthouse.toml"
        chosen = local if local.exists() else EXAMPLE_CONFIG
        base_dir = Path.cwd()
    else:
        if not chosen.exists():
            raise ConfigError(f"config file {chosen} does not exist")
        base_dir = chosen.resolve().parent
    try:
        doc = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    return parse(doc, base_dir=base_dir, source_path=str(chosen), home_override=home_override)
