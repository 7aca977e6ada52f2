"""What hunthouse.toml may say: one pydantic model per table, unknown keys refused, the tenant table a
union tagged by `kind`.

Values are checked strictly (TOML has types: "5" is not a number, "yes" is not a boolean). A
validator's message is the text after `key: ` in the line the user sees (see `errors.py`); fields
marked `SECRET` never have their value echoed. Defaults are the runtime objects' own (settings.py).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, model_validator
from pydantic_core import PydanticCustomError

from pipelines.config.settings import DeliveryConfig, Settings, TenantConfig

# \Z, not $: "$" also matches before a final newline, and these patterns are also used with .match
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\Z")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.\-]+(:\d+)?(/[A-Za-z0-9._\-/]*)?\Z")
EMAIL = re.compile(r"^[^@\s<>,;\"']+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\Z")
# ARM ids are case-insensitive in their fixed segments (Azure itself returns "resourcegroups" at
# times); names are held to ASCII so the id can go into a management-API URL path as it is.
WORKSPACE_RESOURCE_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"/resourceGroups/[A-Za-z0-9_().\-]{0,89}[A-Za-z0-9_()\-]"
    r"/providers/Microsoft\.OperationalInsights/workspaces/[A-Za-z0-9][A-Za-z0-9\-]{2,61}[A-Za-z0-9]\Z",
    re.IGNORECASE,
)
WORKSPACE_RESOURCE_ID_SHAPE = ("/subscriptions/<subscription id>/resourceGroups/<resource group>"
                               "/providers/Microsoft.OperationalInsights/workspaces/<workspace name>")
NEVER_EXCLUDE_TYPES = ("account", "host", "ip", "file", "process", "url", "filehash", "dns", "mailbox")


class Secret:
    """Field metadata: the value may be a secret pasted in the wrong place, so no message echoes it."""


SECRET = Secret()


def mistake(message: str) -> PydanticCustomError:
    """A validator's error whose text is shown to the user as it is."""
    return PydanticCustomError("hunthouse", message)


def _https(value: str) -> str:
    if not HTTPS_URL.fullmatch(value):
        raise mistake("must be an https URL")
    return value.rstrip("/")


def _env_name(value: str) -> str:
    if value and not ENV_NAME.fullmatch(value):
        raise mistake("must be an environment variable name, not the secret itself")
    return value


def _globs(values: object) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(g, str) and g.strip() for g in values):
        raise mistake("must be a list of non-empty glob strings")
    return tuple(g.strip().lower() for g in values)


def _rule(holds, message: str) -> AfterValidator:
    def check(value):
        if not holds(value):
            raise mistake(message)
        return value
    return AfterValidator(check)


def _matches(pattern: re.Pattern, message: str) -> AfterValidator:
    return _rule(pattern.fullmatch, message)


Positive = _rule(lambda v: v > 0, "must be positive")
TenantName = Annotated[str, _matches(TENANT_NAME, "must be 1-63 lower-case letters, digits, '-' or '_' "
                                                  "(it is used in paths, partition keys and queries)")]
Guid = Annotated[str, _matches(GUID, "must be a GUID")]
HttpsUrl = Annotated[str, AfterValidator(_https)]
EnvName = Annotated[str, AfterValidator(_env_name), SECRET]
Globs = Annotated[tuple[str, ...], PlainValidator(_globs)]
# lake_root: a local path, or one of these URLs (credentials from the environment, never this file; a URL
# with a query, such as a SAS token, is refused and never echoed)
LAKE_URL = re.compile(r"(file://.+|(abfs|abfss|az)://[a-z0-9][a-z0-9-]{2,62}(@[A-Za-z0-9.-]+)?(/[^?#]*)?"
                      r"|s3://[a-z0-9][a-z0-9.-]{1,62}(/[^?#]*)?)")
LakeRoot = Annotated[str, _rule(lambda v: "://" not in v or LAKE_URL.fullmatch(v) is not None,
                                "must be a local path, file://…, abfs://container/path or s3://bucket/path "
                                "(credentials come from the environment, never the URL)"), SECRET]


class Table(BaseModel):
    """A TOML table: its keys are exactly the fields; values keep their TOML types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)
    # what a key of this table is, in the "unknown …" message
    unknown_noun: ClassVar[str] = "setting"


class Core(Table):
    """[hunthouse]"""

    home: str = ".hunthouse"
    lake_root: LakeRoot = ""
    start_date: date = date(2026, 10, 1)
    lookback_days: Annotated[int, Field(ge=0)] = 3
    schedule_cron: Annotated[str, _rule(lambda cron: len(cron.split()) == 5, "must have 5 fields")] = "0 2 * * *"
    memory_limit: Annotated[str, AfterValidator(str.strip), _matches(MEMORY_SIZE, 'must be a size such as "3GB" or '
                                                                                  '"512MB"')] = Settings.memory_limit
    threads: Annotated[int, Field(ge=0)] = Settings.threads


class Firewall(Table):
    """[firewall]"""

    baseline_days: Annotated[int, Positive] = Settings.baseline_days


class NeverExclude(Table):
    """[tuning.never_exclude]: entity type = [globs never recommended alone]."""

    unknown_noun: ClassVar[str] = "entity type"
    account: Globs = ()
    host: Globs = ()
    ip: Globs = ()
    file: Globs = ()
    process: Globs = ()
    url: Globs = ()
    filehash: Globs = ()
    dns: Globs = ()
    mailbox: Globs = ()

    def pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple((etype, g) for etype in type(self).model_fields for g in getattr(self, etype))


class Tuning(Table):
    """[tuning]"""

    min_labelled_alerts: Annotated[int, Positive] = Settings.min_labelled_alerts
    min_decisions: Annotated[int, Positive] = Settings.min_decisions
    min_confidence: Annotated[float, _rule(lambda v: 0 < v < 1, "must be between 0 and 1")] = Settings.min_confidence
    backtest_days: Annotated[int, Positive] = Settings.backtest_days
    backtest_origins: Annotated[int, Positive] = Settings.backtest_origins
    exclusion_ttl_days: Annotated[int, Positive] = Settings.exclusion_ttl_days
    fit_days: Annotated[int, Positive] = Settings.fit_days
    triage_minutes_per_incident: Annotated[float, Positive] = Settings.triage_minutes_per_incident
    never_exclude: NeverExclude = NeverExclude()
    tier0_hosts: Globs = Settings.tier0_hosts
    max_removed_share: Annotated[float, _rule(lambda v: 0 < v <= 1, "must be above 0 and at most 1")] = (
        Settings.max_removed_share)
    automation_labels: bool = Settings.automation_labels


class Quality(Table):
    """[quality]"""

    quarantine_threshold: Annotated[float, _rule(lambda v: 0 <= v <= 1, "must be between 0 and 1")] = (
        Settings.quarantine_threshold)


class OwnerRuleTable(Table):
    """[[owners.rule]]"""

    match: str
    owner: str


class Owners(Table):
    """[owners]"""

    default: str = Settings.default_owner
    rule: list[OwnerRuleTable] = []


def _addresses(owners: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(owners, dict):
        raise mistake('must be a table of owner = "address" or ["address", ...]')
    out = {}
    for owner, value in owners.items():
        addresses = [value] if isinstance(value, str) else value
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) for a in addresses):
            raise mistake(f"'{owner}' must be an address or a list of addresses")
        for address in addresses:
            if not EMAIL.match(address):
                raise mistake(f"'{owner}': not an e-mail address: {address!r}")
        out[owner] = tuple(addresses)
    return out


class Delivery(Table):
    """[delivery]: mail each rule owner their report after a publish, and post a chat summary."""

    sender: str = Field(DeliveryConfig.sender, alias="from")
    smtp_host: str = DeliveryConfig.smtp_host
    smtp_port: Annotated[int, Positive, Field(le=65535)] = DeliveryConfig.smtp_port
    smtp_starttls: bool = DeliveryConfig.smtp_starttls
    smtp_user: str = DeliveryConfig.smtp_user
    smtp_password_env: EnvName = DeliveryConfig.smtp_password_env
    smtp_ca_file: str = DeliveryConfig.smtp_ca_file
    owners: Annotated[dict[str, tuple[str, ...]], PlainValidator(_addresses)] = {}
    webhook_url_env: EnvName = DeliveryConfig.webhook_url_env
    webhook_kind: Annotated[str, _rule(lambda v: v in ("teams", "slack"), "must be teams or slack")] = (
        DeliveryConfig.webhook_kind)
    timeout_seconds: Annotated[float, Positive] = DeliveryConfig.timeout_s

    @model_validator(mode="after")
    def _consistent(self) -> Delivery:
        if self.owners and not self.smtp_host:
            raise mistake("mailing [delivery.owners] needs 'smtp_host' (the relay that sends the reports)")
        if self.smtp_host and not EMAIL.match(self.sender):
            raise mistake(f"from: must be the sender's e-mail address (got {self.sender!r})")
        if self.smtp_ca_file and not Path(self.smtp_ca_file).is_file():
            raise mistake(f"smtp_ca_file: no such file (got {self.smtp_ca_file!r})")
        if bool(self.smtp_user) != bool(self.smtp_password_env):
            raise mistake("set both 'smtp_user' and 'smtp_password_env' (the variable holding the password), "
                          "or neither")
        return self

    def runtime(self) -> DeliveryConfig:
        values = self.model_dump(exclude={"owners", "sender", "timeout_seconds"})
        return DeliveryConfig(**values, sender=self.sender, timeout_s=self.timeout_seconds,
                              owners=tuple(self.owners.items()))


class TenantTable(Table):
    """[[tenant]]: what every kind has."""

    name: TenantName
    kind: str

    def runtime(self) -> TenantConfig:
        return TenantConfig(**self.model_dump())


class SampleTenant(TenantTable):
    """A simulated tenant with planted ground truth (docs/sample-tenant.md)."""

    kind: Literal["sample"]
    seed: int = TenantConfig.seed
    scale: Annotated[float, Positive] = TenantConfig.scale
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> SampleTenant:
        if self.start and self.end and self.start > self.end:
            raise mistake(f"start {self.start} is after end {self.end}")
        return self


class AzureTenant(TenantTable):
    """An app registration in Entra ID reading a Microsoft cloud (public or sovereign)."""

    tenant_id: Guid
    client_id: Guid
    client_secret_env: EnvName = ""
    certificate_path: Annotated[str, SECRET] = ""
    # the cloud the tenant lives in (docs/connectors.md, sovereign clouds): one set for every kind
    authority_host: HttpsUrl = TenantConfig.authority_host
    log_analytics_endpoint: HttpsUrl = TenantConfig.log_analytics_endpoint
    graph_endpoint: HttpsUrl = TenantConfig.graph_endpoint
    all_device_events: bool = TenantConfig.all_device_events
    min_split_seconds: Annotated[int, Positive] = TenantConfig.min_split_seconds
    max_attempts: Annotated[int, Positive] = TenantConfig.max_attempts

    @model_validator(mode="after")
    def _one_credential(self) -> AzureTenant:
        if bool(self.client_secret_env) == bool(self.certificate_path):
            raise mistake("set exactly one of 'client_secret_env' (an environment variable name) or "
                          "'certificate_path'")
        return self


class SentinelTenant(AzureTenant):
    """A Microsoft Sentinel workspace, read through the Log Analytics query API."""

    kind: Literal["sentinel"]
    workspace_id: Guid
    workspace_resource_id: Annotated[str, AfterValidator(lambda v: v.rstrip("/")), _matches(
        WORKSPACE_RESOURCE_ID, f"must be the workspace's Azure resource ID, {WORKSPACE_RESOURCE_ID_SHAPE}")] = ""
    resource_manager_endpoint: HttpsUrl = TenantConfig.resource_manager_endpoint


class DefenderTenant(AzureTenant):
    """A Defender XDR tenant, read through Microsoft Graph."""

    kind: Literal["defender"]


TENANT_KINDS: dict[str, type[TenantTable]] = {"sample": SampleTenant, "sentinel": SentinelTenant,
                                              "defender": DefenderTenant}
Tenant = Annotated[SampleTenant | SentinelTenant | DefenderTenant, Field(discriminator="kind")]


class ConfigFile(Table):
    """The whole file."""

    unknown_noun: ClassVar[str] = "section"
    hunthouse: Core = Core()
    firewall: Firewall = Firewall()
    tuning: Tuning = Tuning()
    quality: Quality = Quality()
    owners: Owners = Owners()
    delivery: Delivery | None = None
    tenant: list[Tenant] = []

    @model_validator(mode="after")
    def _tenants(self) -> ConfigFile:
        if not self.tenant:
            raise mistake("no tenants configured: add at least one [[tenant]] table")
        names = [t.name for t in self.tenant]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise mistake(f"tenant '{dupes[0]}' is configured twice")
        return self
