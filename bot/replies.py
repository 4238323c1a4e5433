"""Composing a grounded answer from search hits.

The reply leads with the few sentences of the best passage that are closest to the
question (about 150 words at most), then the citation, then any warning about the
source (superseded, expired, not yet in force, another language). Every word shown
comes from the material: nothing is paraphrased or generated here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from bot.i18n import language_name, t
from bot.knowledge.chunking import ANSWER_WORDS, Chunk, answer_sentences
from bot.knowledge.index import KnowledgeIndexError, sentence_embedder
from bot.knowledge.search import Hit, Retriever, SearchResult
from bot.language import is_indic_script, script_language

MAX_ANSWER_WORDS = ANSWER_WORDS
MAX_PASSAGE_WORDS = 400


@dataclass
class Answer:
    """A reply built from one hit."""

    text: str
    citation: str
    source: str
    warnings: list[str] = field(default_factory=list)


def select_sentences(chunk: Chunk, query_vector: np.ndarray | None, retriever: Retriever | None,
                     embedder_name: str | None, max_words: int = MAX_ANSWER_WORDS,
                     sentence_vectors: np.ndarray | None = None) -> str:
    """The sentences of ``chunk`` most similar to the query, in document order.

    Args:
        chunk: the passage.
        query_vector: the query's vector from ``embedder_name`` (None: keep the opening).
        retriever: gives access to the embedder.
        embedder_name: which embedder produced ``query_vector``.
        max_words: word budget.
        sentence_vectors: the vectors of the passage's :func:`answer_sentences` from
            ``embedder_name``, stored at ingest; None (or a count that does not match)
            embeds the sentences here.

    Returns:
        Text of at most about ``max_words`` words.
    """
    sentences = answer_sentences(chunk.text)
    if sum(len(s.split()) for s in sentences) <= max_words or query_vector is None or embedder_name is None:
        return _budget(sentences, range(len(sentences)), max_words)
    if sentence_vectors is not None and len(sentence_vectors) == len(sentences):
        vectors = sentence_vectors
    elif retriever is not None:
        vectors = retriever.embedder(embedder_name).embed_passages(sentences)
    else:  # nothing to rank the sentences with: keep the opening
        return _budget(sentences, range(len(sentences)), max_words)
    scores = vectors @ query_vector
    order = list(np.argsort(-scores))
    chosen: list[int] = []
    words = 0
    for i in order:
        n = len(sentences[i].split())
        if words + n > max_words and chosen:
            continue
        chosen.append(int(i))
        words += n
        if words >= max_words * 0.8:
            break
    return _budget(sentences, sorted(chosen), max_words)


def stored_sentence_vectors(result: SearchResult, hit: Hit, retriever: Retriever | None,
                            embedder_name: str | None) -> np.ndarray | None:
    """The hit's sentence vectors stored at ingest, when the live index is the result's version.

    Args:
        result: the search result the hit came from.
        hit: the hit (its ``row`` is a row of ``result.version``).
        retriever: the retriever that searched.
        embedder_name: the embedder whose vectors are wanted.

    Returns:
        The vectors, or None (older index, another version now live, or a short passage).
    """
    if retriever is None or embedder_name is None or hit.row < 0:
        return None
    try:
        index = retriever.index
    except KnowledgeIndexError:
        return None
    if index.version != result.version or index.sentences is None:
        return None
    return index.sentences.get(embedder_name, hit.row)


def _budget(sentences: list[str], indices, max_words: int) -> str:
    parts: list[str] = []
    words = 0
    previous = None
    for i in indices:
        n = len(sentences[i].split())
        if words + n > max_words and parts:
            break
        if previous is not None and i != previous + 1:
            parts.append("…")
        parts.append(sentences[i] if n <= max_words else " ".join(sentences[i].split()[:max_words]) + " …")
        words += n
        previous = i
    text = ""
    for part in parts:
        separator = "\n" if part.lstrip().startswith(("-", "*", "•")) else " "
        text = f"{text}{separator}{part}" if text else part
    return text.strip()


def source_warnings(chunk: Chunk, language: str = "en", today: dt.date | None = None) -> list[str]:
    """Warnings about the source: superseded, expired or not yet effective.

    Args:
        chunk: the passage shown.
        language: the learner's language (texts ``answer_*`` of its locale).
        today: the date to compare with (default: today).

    Returns:
        The warnings, in the learner's language.
    """
    today = today or dt.date.today()
    meta = chunk.meta
    warnings = []
    if meta.get("superseded_by"):
        warnings.append(t("answer_superseded", language, by=meta["superseded_by"]))
    expires = _date(meta.get("expires"))
    if expires and expires < today:
        warnings.append(t("answer_expired", language, until=expires))
    effective = _date(meta.get("effective"))
    if effective and effective > today:
        warnings.append(t("answer_not_yet_effective", language, effective=effective))
    return warnings


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def compose_answer(result: SearchResult, retriever: Retriever | None, rank: int = 0,
                   language: str = "en") -> Answer | None:
    """Build the reply for the ``rank``-th hit of ``result``.

    Args:
        result: a search result (need not be answerable: "show more" uses later ranks).
        retriever: for sentence embedding; None shows the passage's opening.
        rank: which hit.
        language: the learner's language (an interface language) for notes and warnings.

    Returns:
        The :class:`Answer`, or None when there is no hit at that rank.
    """
    if rank >= len(result.hits):
        return None
    hit: Hit = result.hits[rank]
    chunk = hit.chunk
    name, vector = _best_vector(result, chunk)
    body = select_sentences(chunk, vector, retriever, name,
                            sentence_vectors=stored_sentence_vectors(result, hit, retriever, name))
    warnings = source_warnings(chunk, language)
    chunk_language = str(chunk.meta.get("language") or "en")
    query_language = script_language(result.query)
    if chunk_language != query_language:
        warnings.append(t("answer_source_other_language", language,
                          language_name=language_name(chunk_language, language)))
    text = f"{body}\n\n📖 **{t('answer_source', language)}:** {chunk.citation}"
    if warnings:
        text += "\n\n" + "\n".join(warnings)
    return Answer(text=text, citation=chunk.citation, source=chunk.source, warnings=warnings)


def full_passage(chunk: Chunk, language: str = "en") -> str:
    """The whole passage (capped) with its citation, for "show the full passage"."""
    words = chunk.text.split(" ")
    text = chunk.text if len(words) <= MAX_PASSAGE_WORDS else " ".join(words[:MAX_PASSAGE_WORDS]) + " …"
    return f"{text}\n\n📖 **{t('answer_source', language)}:** {chunk.citation}"


def _best_vector(result: SearchResult, chunk: Chunk) -> tuple[str | None, np.ndarray | None]:
    """The query vector to rank sentences with: multilingual for an Indian script, MiniLM otherwise."""
    if not result.query_vectors:
        return None, None
    language = str(chunk.meta.get("language") or "en")
    name = sentence_embedder(language, list(result.query_vectors), cross=is_indic_script(result.query))
    return (name, result.query_vectors[name]) if name else (None, None)

