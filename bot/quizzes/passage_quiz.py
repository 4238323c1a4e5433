"""Quiz items drafted from one passage, on demand, for "Quiz me on this".

When the banks hold no item on the passage a learner was just shown, the cloze drafter
(:mod:`bot.quizzes.cloze`, deterministic, no model) blanks key facts out of the passage's
own sentences, with distractors from the rest of its document. The items are cached on
disk under a hash of the passage (its document, section and text, and the drafter's
version), so the same passage is drafted once, a changed passage gets fresh items, and
every replica and every restart finds the items again: learners' reviews and mastery
refer to them by id. A passage with nothing to ask about is cached too (as no items), so
the answer can leave out a button that would lead nowhere.

Cache files are ``<folder>/<hash>.yml``: ``{document, anchor, module, title, language, items}``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bot.quizzes.banks import QuizBank, QuizItem
from bot.quizzes.cloze import clean, make_item, sentences_of, source_sentences

#: Bump when the drafter changes what it makes, so cached passages are drafted again.
DRAFTER_VERSION = 1
#: The ``status`` of drafted items (trainers never reviewed them; each cites its sentence).
PASSAGE_STATUS = "passage"
#: Most items drafted from one passage.
MAX_ITEMS = 5


def passage_key(chunk: Any) -> str:
    """The cache key of a passage: a hash of its document, section, text and the drafter's version.

    Args:
        chunk: A :class:`bot.knowledge.chunking.Chunk`.

    Returns:
        24 hex digits.
    """
    content = "\x1f".join((str(DRAFTER_VERSION), chunk.source, chunk.anchor, chunk.text))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:24]


def draft_items(chunk: Any, pool_chunks: Iterable[Any] = (), today: dt.date | None = None) -> list[dict[str, Any]]:
    """Cloze items from the passage's own sentences (plain data, as in a bank file).

    Args:
        chunk: The passage.
        pool_chunks: More of the material (its document) for distractors; the passage is always in.
        today: For expiry checks (superseded or expired documents give no items).

    Returns:
        Up to :data:`MAX_ITEMS` items in passage order; empty when nothing can be asked.
    """
    own = source_sentences([chunk], today)
    language = own[0].language if own else ""
    others = [c for c in pool_chunks if getattr(c, "id", None) != chunk.id]
    pool = [f for s in (*own, *source_sentences(others, today)) if s.language == language for f in s.facts]
    items: list[dict[str, Any]] = []
    for sentence in own:
        item = make_item(sentence, pool)
        if item is not None and all(i["id"] != item["id"] for i in items):
            items.append(item)
        if len(items) >= MAX_ITEMS:
            break
    return items


def as_quiz_item(data: dict[str, Any], module: str, title: str) -> QuizItem:
    """A drafted item (from :func:`draft_items` or a cache file) as a servable bank item."""
    source = data.get("source") or {}
    return QuizItem(
        id=str(data["id"]), module=module, module_title=title, type="single", question=str(data["question"]),
        options=tuple(str(o) for o in data["options"]), answer=str(data["answer"]),
        explanation=str(data.get("explanation") or ""), source_document=str(source.get("document") or ""),
        source_anchor=str(source.get("anchor") or ""), competencies=tuple(data.get("competencies") or ()),
        difficulty=int(data.get("difficulty") or 2), generated=True, status=PASSAGE_STATUS,
    )


class PassageQuizzes:
    """Drafts and caches items per passage (see the module docstring).

    Args:
        folder: The cache folder (created on first write).
        today: Returns today's date (tests pass a fixed one).
    """

    def __init__(self, folder: str | Path, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.folder = Path(folder)
        self.today = today

    def items_for(self, chunk: Any, pool_chunks: Callable[[], Iterable[Any]] = tuple) -> list[QuizItem]:
        """The passage's items: from the cache, else drafted now and cached.

        Args:
            chunk: The passage shown to the learner.
            pool_chunks: Returns more of the material for distractors (called only when drafting).

        Returns:
            The items (empty when the passage has nothing to ask about).
        """
        path = self.folder / f"{passage_key(chunk)}.yml"
        cached = self._read(path)
        if cached is None:
            cached = {
                "document": chunk.source, "anchor": chunk.anchor,
                "module": str((chunk.meta or {}).get("module") or Path(chunk.source).stem),
                "title": chunk.title, "language": str((chunk.meta or {}).get("language") or "en"),
                "items": draft_items(chunk, pool_chunks(), self.today()),
            }
            self._write(path, cached)
        return self._items(cached)

    def all_items(self) -> list[QuizItem]:
        """Every cached item, for the bank (reviews of them must work after a restart).

        Returns:
            Items in file-name order; an item id seen twice is kept once.
        """
        seen: dict[str, QuizItem] = {}
        for path in sorted(self.folder.glob("*.yml")) if self.folder.is_dir() else []:
            data = self._read(path)
            for item in self._items(data) if data else []:
                seen.setdefault(item.id, item)
        return list(seen.values())

    @staticmethod
    def _items(data: dict[str, Any]) -> list[QuizItem]:
        module, title = str(data.get("module") or ""), str(data.get("title") or "")
        items: list[QuizItem] = []
        for raw in data.get("items") or []:
            try:
                item = as_quiz_item(raw, module, title)
            except (KeyError, TypeError, ValueError):  # a hand-edited or torn file: skip the item
                continue
            if item.answer in item.options:
                items.append(item)
        return items

    def _read(self, path: Path) -> dict[str, Any] | None:
        import yaml

        from bot.knowledge import safe_yaml

        try:
            data = safe_yaml.load_file(path, self.folder)
        except FileNotFoundError:
            return None
        except (OSError, yaml.YAMLError):  # unreadable: draft again (the write replaces it)
            return None
        return data if isinstance(data, dict) and isinstance(data.get("items"), list) else None

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        import yaml

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{hashlib.sha256(str(id(data)).encode()).hexdigest()[:8]}.tmp")
            tmp.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
            tmp.replace(path)  # atomic: another replica may be reading the folder
        except OSError:  # a read-only state folder: the items are still served this time
            pass


def passage_items_in_bank(items: Iterable[QuizItem], chunk: Any) -> list[QuizItem]:
    """Bank items about this passage: same document, and its section or one of its sentences.

    Args:
        items: The bank's items.
        chunk: The passage.

    Returns:
        The matching items, in bank order.
    """
    from bot.quizzes.banks import _doc_match, _norm_path

    wanted = {_norm_path(chunk.source)}
    anchor = chunk.anchor.strip().casefold()
    sentences = set(sentences_of(chunk.text))
    text = clean(chunk.text)

    def about_passage(item: QuizItem) -> bool:
        if not item.source_document or not _doc_match(_norm_path(item.source_document), wanted):
            return False
        if anchor and item.source_anchor.strip().casefold() == anchor:
            return True
        explanation = clean(item.explanation)
        return bool(explanation) and (explanation in sentences or explanation in text)

    return [item for item in items if about_passage(item)]


def items_on_passage(bank: QuizBank, cache: PassageQuizzes, chunk: Any,
                     document_chunks: Callable[[str], Iterable[Any]], limit: int = MAX_ITEMS) -> list[QuizItem]:
    """The items of a "Quiz me on this" on one passage: the banks' first, then drafted ones.

    Items are drafted (and cached) only when the banks have fewer than ``limit`` on it.

    Args:
        bank: The quiz bank.
        cache: The drafted items' cache.
        chunk: The passage.
        document_chunks: Returns the chunks of a document (distractors when drafting).
        limit: Most items.

    Returns:
        Up to ``limit`` items; an id the bank has keeps the bank's item.
    """
    items = passage_items_in_bank(bank.items, chunk)[:limit]
    if len(items) < limit:
        taken = {item.id for item in items}
        drafted = cache.items_for(chunk, lambda: document_chunks(chunk.source))
        items += [bank.get(item.id) or item for item in drafted if item.id not in taken][:limit - len(items)]
    return items
