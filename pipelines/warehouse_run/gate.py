"""The quality gate of a warehouse run: which outcomes block, and the one line that says why."""

from __future__ import annotations

from quality.engine import Outcome


def blocking(results: dict[str, list[Outcome]]) -> list[tuple[str, Outcome]]:
    """(checked asset, failed ERROR expectation) pairs: any one of them stops every later phase of the
    run. The staging check of device_events also carries the raw partitions' failures (raw_* outcomes)."""
    return [(asset, o) for asset, outcomes in results.items() for o in outcomes
            if o.severity == "ERROR" and not o.success]


class QualityGateBlocked(RuntimeError):
    """A check phase found failed ERROR expectations; the phases after it did not run."""

    def __init__(self, phase: str, failed: list[tuple[str, Outcome]], published: bool):
        self.phase, self.failed, self.published = phase, failed, published
        asset, first = failed[0]
        source = f" ({first.asset})" if first.asset != asset else ""
        outcome = ("the shard was already published" if published
                   else "not published: the published shard is unchanged")
        more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
        super().__init__(f"check {asset} failed: ERROR{source} {first.partition} {first.expectation}: "
                         f"{first.observed_value or first.why}{more}; {outcome}")
