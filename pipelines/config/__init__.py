"""hunthouse.toml: the settings a run uses (settings.py), what the file may say (schema.py, pydantic
models), how a mistake reads (errors.py), and finding and loading the file (loading.py)."""

from pipelines.config.loading import EXAMPLE_CONFIG, PACKAGE_ROOT, load, parse, validate
from pipelines.config.schema import ENV_NAME, GUID, NEVER_EXCLUDE_TYPES, TENANT_NAME
from pipelines.config.settings import KINDS, ConfigError, DeliveryConfig, OwnerRule, Settings, TenantConfig

__all__ = [
    "ENV_NAME", "EXAMPLE_CONFIG", "GUID", "KINDS", "NEVER_EXCLUDE_TYPES", "PACKAGE_ROOT", "TENANT_NAME",
    "ConfigError", "DeliveryConfig", "OwnerRule", "Settings", "TenantConfig", "load", "parse", "validate",
]
