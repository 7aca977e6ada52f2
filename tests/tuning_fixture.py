"""A tiny hand-made warehouse for the tuning tests: staging DDL plus incidents / incident_alerts,
filled alert by alert, each alert in its own incident unless told otherwise."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from models.runner import MODELS_DIR, ModelContext, run_sql_file
from pipelines.config import Settings, TenantConfig

LATEST_STATE_DDL = """
CREATE TABLE IF NOT EXISTS incidents AS SELECT * EXCLUDE (day) FROM incident_history LIMIT 0;
CREATE TABLE IF NOT EXISTS incident_alerts (tenant VARCHAR, incident_number BIGINT, system_alert_id VARCHAR);
"""
START = date(2026, 10, 1)


def settings(home: Path, **overrides) -> Settings:
    base = Settings(
        home=home, lake_root=str(home / "lake"), start_date=START, lookback_days=3,
        schedule_cron="0 2 * * *", tenants=(TenantConfig(name="t1", kind="sample"),),
    )
    return replace(base, **overrides)


class TuningFixture:
    def __init__(self, con: duckdb.DuckDBPyConnection | None = None):
        self.con = con or duckdb.connect()
        run_sql_file(self.con, MODELS_DIR / "macros.sql")  # stable_mode
        run_sql_file(self.con, MODELS_DIR / "staging" / "00_tables.sql")
        self.con.execute(LATEST_STATE_DDL)
        self._alerts = 0
        self._incidents = 0

    def alert(self, rule_id: str, day: int, entities: list[tuple], label: str | None,
              tenant: str = "t1", rule_name: str | None = None, incident: int | None = None,
              closed_by: str = "analyst@contoso.com", product: bool = False) -> str:
        """One alert of `rule_id` on START + day, in its own incident closed as `label` (None = open)."""
        self._alerts += 1
        alert_id = f"a{self._alerts:05d}"
        when = datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC) + timedelta(hours=9)
        # an analytic rule's alert names its rule id; a product alert (product=True) names none
        self.con.execute(
            "INSERT INTO alerts (tenant, day, system_alert_id, time_generated, alert_name, rule_id, rule_ids, "
            "rule_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [tenant, when.date(), alert_id, when, rule_name or f"Rule {rule_id}", rule_id,
             [] if product else [rule_id], rule_name or f"Rule {rule_id}"],
        )
        for i, (etype, key, value, *props) in enumerate(entities):
            # an optional fourth item: the entity's own properties (Name, NTDomain, Sid, …)
            self.con.execute(
                "INSERT INTO alert_entities (tenant, day, system_alert_id, entity_ordinal, entity_type, entity_key, "
                "entity_value, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [tenant, when.date(), alert_id, i, etype, key, value, json.dumps(props[0]) if props else None],
            )
        if incident is None:
            self._incidents += 1
            number = self._incidents
            created = self._incident_version(tenant, number, when, "New", None, "Incident created from alert")
            if label is not None:
                self._incident_version(tenant, number, created + timedelta(minutes=20), "Active", None, "analyst@contoso.com")
                self._incident_version(tenant, number, created + timedelta(hours=2), "Closed", label, closed_by)
        else:
            number = incident
        self.con.execute("INSERT INTO incident_alerts VALUES (?, ?, ?)", [tenant, number, alert_id])
        self.last_incident = number
        return alert_id

    def _incident_version(self, tenant, number, when, status, label, who) -> datetime:
        created = self.con.execute(
            "SELECT min(created_time) FROM incident_history WHERE tenant = ? AND incident_number = ?", [tenant, number]
        ).fetchall()[0][0] or when
        self.con.execute(
            "INSERT INTO incident_history (tenant, day, incident_number, status, classification, modified_by, "
            "created_time, last_modified_time, closed_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tenant, when.date(), number, status, label, who, created, when, when if status == "Closed" else None],
        )
        return created

    def refresh_latest(self) -> None:
        self.con.execute("DELETE FROM incidents")
        self.con.execute(
            "INSERT INTO incidents SELECT * EXCLUDE (day) FROM incident_history "
            "QUALIFY row_number() OVER (PARTITION BY tenant, incident_number ORDER BY last_modified_time DESC) = 1"
        )

    def build(self, settings: Settings, as_of_day: int) -> dict[str, int]:
        from models.tuning import build

        self.refresh_latest()
        return build(self.con, ModelContext(settings=settings, as_of=START + timedelta(days=as_of_day)))

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
