"""The sample tenant: a deterministic simulator with planted ground truth (docs/sample-tenant.md)."""

from .params import SimulationParams
from .source import SampleSource
from .truth import planted_truth

__all__ = ["SampleSource", "SimulationParams", "planted_truth"]
