"""Tenant × day partitions of the extract assets; tenant partitions of the warehouse (one shard each)."""

from __future__ import annotations

from datetime import date

import dagster as dg

from pipelines.config import Settings


def tenant_day_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            "date": dg.DailyPartitionsDefinition(start_date=settings.start_date.isoformat(), timezone="UTC"),
            "tenant": dg.StaticPartitionsDefinition([t.name for t in settings.tenants]),
        }
    )


def tenant_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition([t.name for t in settings.tenants])


def partition_key(tenant: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "tenant": tenant})


def split_key(key: dg.MultiPartitionKey) -> tuple[str, date]:
    dims = key.keys_by_dimension
    return dims["tenant"], date.fromisoformat(dims["date"])
