"""Reading hunthouse.toml: find the file, parse the TOML, validate it against the schema, and build
the runtime Settings. Every mistake in the file is reported at once, one line each."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import ValidationError

from pipelines.config.errors import config_lines
from pipelines.config.schema import ConfigFile
from pipelines.config.settings import ConfigError, OwnerRule, Settings

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_CONFIG = PACKAGE_ROOT / "hunthouse.example.toml"


def validate(doc: dict, source_path: str = "") -> ConfigFile:
    """The file's contents as the schema's models, or a ConfigError with one line per mistake."""
    try:
        return ConfigFile.model_validate(doc)
    except ValidationError as exc:
        lines = config_lines(exc, doc, source_path)
        raise ConfigError("\n".join(lines), lines) from None


def parse(doc: dict, base_dir: Path, source_path: str = "", home_override: str | None = None) -> Settings:
    """Settings from a parsed TOML document; relative paths are relative to `base_dir`."""
    file = validate(doc, source_path)
    core, tuning = file.hunthouse, file.tuning
    home = Path(home_override or os.environ.get("HUNTHOUSE_HOME") or core.home).expanduser()
    if not home.is_absolute():
        home = (base_dir / home).resolve()
    return Settings(
        home=home,
        lake_root=core.lake_root or str(home / "lake"),
        start_date=core.start_date,
        lookback_days=core.lookback_days,
        schedule_cron=core.schedule_cron,
        tenants=tuple(t.runtime() for t in file.tenant),
        baseline_days=file.firewall.baseline_days,
        min_labelled_alerts=tuning.min_labelled_alerts,
        min_decisions=tuning.min_decisions,
        min_confidence=tuning.min_confidence,
        backtest_days=tuning.backtest_days,
        backtest_origins=tuning.backtest_origins,
        exclusion_ttl_days=tuning.exclusion_ttl_days,
        fit_days=tuning.fit_days,
        triage_minutes_per_incident=tuning.triage_minutes_per_incident,
        never_exclude=tuning.never_exclude.pairs(),
        tier0_hosts=tuning.tier0_hosts,
        max_removed_share=tuning.max_removed_share,
        automation_labels=tuning.automation_labels,
        default_owner=file.owners.default,
        owner_rules=tuple(OwnerRule(match=r.match, owner=r.owner) for r in file.owners.rule),
        quarantine_threshold=file.quality.quarantine_threshold,
        memory_limit=core.memory_limit,
        threads=core.threads,
        source_path=source_path,
        delivery=file.delivery.runtime() if file.delivery else None,
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
