"""The quality gate of a warehouse run: which outcomes block, and the one line that says why."""

from __future__ import annotations

from quality.engine import Outcome


def blocking(results: dict[str, list[Outcome]]) -> list[Outcome]:
    """The failed ERROR expectations: any one of them stops every later phase of the run."""
    return [o for outcomes in results.values() for o in outcomes if o.severity == "ERROR" and not o.success]


class QualityGateBlocked(RuntimeError):
    """A check phase found failed ERROR expectations; the phases after it did not run."""

    def __init__(self, phase: str, failed: list[Outcome], published: bool):
        self.phase, self.failed, self.published = phase, failed, published
        first = failed[0]
        outcome = ("the shard was already published" if published
                   else "not published: the published shard is unchanged")
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        super().__init__(f"check {first.asset} failed: ERROR {first.partition} {first.expectation}: "
                         f"{first.observed_value} ({first.why}){more}; {outcome}")
