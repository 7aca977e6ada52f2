"""Retries with backoff and recursive window splitting: how a connector returns a window complete.

Two loops, one job each:
- `call_with_retries` repeats one request while it fails transiently (429, 5xx, connection resets,
  malformed bodies), honouring Retry-After and otherwise backing off exponentially with jitter,
  for at most `max_attempts` attempts.
- `fetch_complete` queries a window and, when the answer is or may be truncated (row cap reached,
  PartialError, query timeout), splits it in half and queries both halves, down to
  `min_split_seconds`; below that it fails loudly instead of returning a partial window.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from pipelines.sources.base import FetchStats, Window
from pipelines.sources.errors import IncompleteWindow, Retryable, SourceUnavailable, SplitNeeded

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_attempts: int
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    base_delay: float = 1.0
    max_delay: float = 60.0
    # A Retry-After longer than this is a quota reset we will not wait out inside one fetch.
    max_retry_after: float = 900.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half to all of base * 2^(attempt-1), capped."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * self.rng.uniform(0.5, 1.0)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After is either delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def call_with_retries(request: Callable[[], T], policy: RetryPolicy, stats: FetchStats, what: str) -> T:
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return request()
        except Retryable as exc:
            if attempt >= policy.max_attempts:
                raise SourceUnavailable(
                    f"{what}: gave up after {attempt} attempts; last error: {exc.reason}"
                ) from None
            if exc.retry_after is not None:
                if exc.retry_after > policy.max_retry_after:
                    raise SourceUnavailable(
                        f"{what}: the service asks to wait {exc.retry_after:.0f}s ({exc.reason}), longer than "
                        f"{policy.max_retry_after:.0f}s; run again later"
                    ) from None
                delay = exc.retry_after
            else:
                delay = policy.backoff(attempt)
            stats.retries += 1
            log.warning("%s: %s; retry %d/%d in %.1fs", what, exc.reason, attempt, policy.max_attempts - 1, delay)
            policy.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def fetch_complete(
    window: Window,
    fetch_one: Callable[[Window], T],
    min_split_seconds: float,
    stats: FetchStats,
    what: str,
) -> Iterator[T]:
    """Yield `fetch_one(w)` for a set of windows covering `window` exactly, in time order.

    A consumer must treat the batches as one unit: if this raises, discard what was yielded.
    """
    pending = [window]
    while pending:
        current = pending.pop()
        stats.query_windows += 1
        try:
            result = fetch_one(current)
        except SplitNeeded as exc:
            seconds = (current.end - current.start).total_seconds()
            if seconds / 2 < min_split_seconds:
                raise IncompleteWindow(
                    f"{what}: window [{current.start.isoformat()}, {current.end.isoformat()}) is still "
                    f"incomplete ({exc.reason}) and cannot be split below min_split_seconds="
                    f"{min_split_seconds:g}; nothing was written for this partition"
                ) from None
            stats.splits += 1
            log.info("%s: splitting [%s, %s): %s", what, current.start, current.end, exc.reason)
            left, right = current.split()
            pending.extend((right, left))
            continue
        yield result
