"""One warehouse run of one tenant's shard, as named phases (pipelines/warehouse_run/run.py)."""

from pipelines.warehouse_run.gate import QualityGateBlocked
from pipelines.warehouse_run.run import TABLES, BuildFileMissing, WarehouseRun

__all__ = ["TABLES", "BuildFileMissing", "QualityGateBlocked", "WarehouseRun"]
