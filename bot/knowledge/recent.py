"""The last search result of each conversation, kept briefly for paging.

"Show more" and "Full passage" page through the result of the learner's last question.
Searching again costs a query embedding per model, BM25, fusion and the reranker; the
result is instead kept here, in memory, keyed by conversation, and used while it is
still the result the search would give: same question, same role, same loaded index
version. Anything else (a miss, an expired or evicted entry, another process of a scaled
deployment, a new index version) falls back to searching again, so the cache changes
how fast a page comes, never what it shows.

It holds learners' questions, so it is small, short-lived and never written anywhere;
:meth:`RecentResults.forget` drops a conversation's entry (erasure).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.knowledge.search import LoadedIndex, SearchResult

#: Conversations kept (least recently used first out): ~3 KB each with two 384-d query vectors.
CAPACITY = 4096
#: Seconds an entry stays usable; a learner pages within minutes of asking.
TTL_S = 1800.0


@dataclass(frozen=True)
class _Entry:
    query: str
    role: str | None
    index: weakref.ref[LoadedIndex]  # weak: a replaced index version is not kept alive by the cache
    result: SearchResult
    stored_at: float


class RecentResults:
    """A bounded, thread-safe map from conversation to its last search result.

    Args:
        capacity: most conversations kept.
        ttl_s: seconds an entry stays usable.
        clock: monotonic time source (tests pass their own).
    """

    def __init__(self, capacity: int = CAPACITY, ttl_s: float = TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._capacity = capacity
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()

    def put(self, conversation: str, role: str | None, index: LoadedIndex, result: SearchResult) -> None:
        """Remember ``result`` as the conversation's last search.

        Args:
            conversation: the conversation (sender) id.
            role: the role the search boosted (part of what the result depends on).
            index: the loaded index version that produced ``result``.
            result: the search result.
        """
        entry = _Entry(result.query, role, weakref.ref(index), result, self._clock())
        with self._lock:
            self._entries[conversation] = entry
            self._entries.move_to_end(conversation)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def get(self, conversation: str, query: str, role: str | None, index: LoadedIndex) -> SearchResult | None:
        """The kept result when it is what searching ``query`` on ``index`` would give now.

        Args:
            conversation: the conversation (sender) id.
            query: the question being paged (the tracker's last query).
            role: the learner's role now.
            index: the loaded index version live now.

        Returns:
            The kept :class:`SearchResult`, or None (search again).
        """
        with self._lock:
            entry = self._entries.get(conversation)
            if entry is None:
                return None
            if self._clock() - entry.stored_at > self._ttl:
                del self._entries[conversation]
                return None
            self._entries.move_to_end(conversation)
        if entry.query != query.strip() or entry.role != role or entry.index() is not index:
            return None
        return entry.result

    def forget(self, conversation: str) -> None:
        """Drop whatever is kept for ``conversation``."""
        with self._lock:
            self._entries.pop(conversation, None)

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["CAPACITY", "TTL_S", "RecentResults"]
