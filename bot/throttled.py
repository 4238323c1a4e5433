"""A value recomputed at most once per interval: cheap "has the folder changed?" checks.

The action server asks on every message whether trainers edited the quiz banks or the role
files. Answering means listing and stat-ing every file of those folders, which cost about a
tenth of the action server's CPU on a canned reply (py-spy under ``make bench``). Edits
arrive at human pace, so the answer is reused for a second: an edit is served at most one
second later, and a burst of messages costs one folder scan per second, not one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds a folder signature is reused before the folder is looked at again.
RECHECK_S = 1.0


class Throttled(Generic[T]):
    """The result of ``compute()``, recomputed only when ``interval_s`` has passed since the last time.

    Args:
        compute: Produces the value (e.g. a folder signature).
        interval_s: How long a value is reused; 0 recomputes on every :meth:`get`.
        clock: Monotonic clock in seconds (tests).
    """

    def __init__(self, compute: Callable[[], T], interval_s: float = RECHECK_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at: float | None = None

    def get(self) -> T:
        """The current value: the last one while it is fresh, else a newly computed one."""
        with self._lock:
            if self._at is None or self._clock() - self._at >= self._interval_s or self._value is None:
                self._value = self._compute()
                self._at = self._clock()  # fresh from when it is known (a slow look is not counted)
            return self._value

    def expire(self) -> None:
        """Forget the value: the next :meth:`get` computes it again."""
        with self._lock:
            self._at = None
