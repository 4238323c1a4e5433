"""In-process message budget: per session and per client for the web proxy.

(The Telegram bridges keep the same budget in their shared store instead, so that several
bridges count one chat's messages together: :mod:`bot.channels.chat_budget`.)

A learner (or a script holding a chat) flooding the bot must not flood Rasa and the
action server with it. Each chat gets a token bucket: a burst of ``burst`` messages,
refilled at ``per_s`` messages a second. Messages over budget are not sent to Rasa;
the learner gets one polite "slow down" note per episode (not one per dropped message,
which would just move the flood to Telegram's side).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    last: float
    warned: bool = False


class ChatRateLimiter:
    """Token buckets keyed by chat id (or any hashable key), bounded in the number of keys remembered.

    Args:
        burst: Messages a chat may send at once.
        per_s: Refill rate, messages per second.
        max_chats: Buckets kept; the least recently used are forgotten (a forgotten
            chat simply starts with a full bucket again).
        clock: Monotonic clock (tests).
    """

    def __init__(
        self,
        burst: int = 6,
        per_s: float = 0.5,
        max_chats: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_s = per_s
        self.max_chats = max_chats
        self._clock = clock
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    def check(self, chat_id: Hashable) -> tuple[bool, bool]:
        """Spend one message of ``chat_id``'s budget if there is one.

        Args:
            chat_id: Telegram chat id (the web proxy: a session id or a client address).

        Returns:
            ``(allowed, warn)``: whether the message may go to Rasa, and whether the
            learner should now be told to slow down (true once per over-budget episode).
        """
        now = self._clock()
        bucket = self._buckets.pop(chat_id, None) or _Bucket(float(self.burst), now)
        self._buckets[chat_id] = bucket  # most recently used last
        while len(self._buckets) > self.max_chats:
            self._buckets.popitem(last=False)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.last) * self.per_s)
        bucket.last = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return True, False
        warn = not bucket.warned
        bucket.warned = True
        return False, warn
