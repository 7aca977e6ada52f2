"""The settings the pipeline runs with: plain frozen objects, built from hunthouse.toml by
`pipelines.config.loading` (tests and the bench may build them directly).

Secrets never live in them: a tenant names the environment variable that holds its client
secret (`client_secret_env`) or a certificate file (`certificate_path`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path

KINDS = ("sample", "sentinel", "defender")


class ConfigError(ValueError):
    """A user mistake in configuration. Its text is one line per mistake (`lines`); the CLI prints it."""

    def __init__(self, message: str, lines: tuple[str, ...] = ()):
        super().__init__(message)
        self.lines = lines or (message,)


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
    # sentinel only: the workspace's Azure resource ID and the Resource Manager endpoint serving it,
    # for the Sentinel management API (analytic rules); "" when not configured
    workspace_resource_id: str = ""
    resource_manager_endpoint: str = "https://management.azure.com"
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
