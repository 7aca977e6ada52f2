"""The Dagster resource that carries Hunthouse settings into assets."""

from __future__ import annotations

import dagster as dg

from pipelines import config


class HunthouseSettings(dg.ConfigurableResource):
    """Path of hunthouse.toml; empty means $HUNTHOUSE_CONFIG, ./hunthouse.toml, or the example."""

    config_path: str = ""
    home: str = ""

    def load(self) -> config.Settings:
        return config.load(self.config_path or None, home_override=self.home or None)
