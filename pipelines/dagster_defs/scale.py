"""Scale-out execution: Celery workers for the extract and tenant-shard jobs, when configured.

`HUNTHOUSE_EXECUTOR=celery` (with `HUNTHOUSE_BROKER_URL`, e.g. redis://host:6379/0) makes the extract
job and the `tenant_shard` job run their steps on `dagster-celery` workers; the Dagster instance must
then be on Postgres (deploy/scale/dagster.yaml): workers on other hosts cannot read a SQLite run
storage. Unset, everything runs in-process as before (`hunthouse run` / `demo` need no services).

`tenant_shard` is one step per tenant, placeable on any worker: it takes the tenant's current shard
from object storage (if any), loads the changed lake partitions and builds the models on the
worker's local disk, publishes locally, then uploads the shard with its `_current.json` pointer
written last (pipelines/warehouse/shard_upload.py). It needs the lake on object storage.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.dagster_defs.resources import HunthouseSettings
from pipelines.dagster_defs.warehouse_assets import AS_OF_TAG, as_of, run_key, tenant_of
from pipelines.objectstore import is_remote
from pipelines.warehouse.shard_upload import fetch_current, shards_url, upload_shard
from pipelines.warehouse_run import WarehouseRun

EXECUTOR_ENV = "HUNTHOUSE_EXECUTOR"
BROKER_ENV = "HUNTHOUSE_BROKER_URL"
# as deploy/scale/celery.yaml: a step of a lost worker is handed to another one
CELERY_CONFIG = {"task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1,
                 "broker_transport_options": {"visibility_timeout": 60}}

__all__ = ["AS_OF_TAG", "executor", "tenant_shard_job", "uses_celery"]


def uses_celery() -> bool:
    choice = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if choice not in ("", "in_process", "multiprocess", "celery"):
        raise ValueError(f"{EXECUTOR_ENV}={choice!r}: use celery, or leave it unset for the default executor")
    return choice == "celery"


def executor() -> dg.ExecutorDefinition | None:
    """The celery executor when HUNTHOUSE_EXECUTOR=celery, else None (the job's default)."""
    if not uses_celery():
        return None
    if not os.environ.get(BROKER_ENV):
        raise ValueError(f"{EXECUTOR_ENV}=celery needs {BROKER_ENV} (e.g. redis://127.0.0.1:6379/0)")
    from dagster_celery import celery_executor

    broker = {"env": BROKER_ENV}
    return celery_executor.configured(
        {"broker": broker, "backend": broker, "config_source": CELERY_CONFIG},
        name="celery",
    )


@dg.op(
    pool="duckdb_writer",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=2),
    description="Builds one tenant's shard on this worker from the lake on object storage and uploads it.",
)
def build_tenant_shard(context, hunthouse: HunthouseSettings) -> dg.Output:
    settings = hunthouse.load().for_tenant(tenant_of(context))
    if not is_remote(settings.lake_root):
        raise dg.Failure("tenant_shard builds from a lake on object storage: set lake_root to abfs://… or s3://…")
    root = shards_url(settings)
    fetched = fetch_current(root, settings.shard_name, settings.warehouse_dir)
    context.log.info(f"starting from {'the current shard' if fetched else 'an empty shard'} of {settings.shard_name}")
    counts = WarehouseRun(settings, as_of(context), run_key(context), run_id=context.run_id,
                          progress=context.log.info).run_all()
    pointer = upload_shard(settings, as_of=as_of(context).isoformat())
    return dg.Output(pointer.file, metadata={
        "shard": pointer.file, "sha256": pointer.sha256, "bytes": pointer.bytes,
        "tables": len(counts), "dagster/row_count": sum(counts.values()),
    })


def tenant_shard_job(shards: dg.PartitionsDefinition) -> dg.JobDefinition:
    @dg.job(
        name="tenant_shard",
        partitions_def=shards,
        executor_def=executor() or dg.in_process_executor,
        description="One tenant's shard built on a worker from the remote lake, then uploaded (pointer last).",
    )
    def _job():
        build_tenant_shard()

    return _job
