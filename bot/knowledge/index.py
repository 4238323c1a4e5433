"""The versioned, incrementally updated search index of the knowledge folder.

Layout under the index folder::

    CURRENT                  name of the live version (replaced atomically)
    versions/v000007/        one complete, validated version
        meta.json            manifest: documents (hash, size, mtime, chunk ids), failures,
                             embedders, counts, timings
        chunks.jsonl         the chunks, in index row order
        vectors-<embedder>.npy, faiss-<embedder>.index
        lexical/             the BM25 index (term frequencies, see lexical.py)
        sentences-<embedder>.npy, sentence-offsets-<embedder>.npy, sentence-keys-<embedder>.npy
                             vectors of the sentences of passages too long to quote whole,
                             from the embedder a reply in the passage's language ranks them
                             with (rows ``offsets[r]:offsets[r+1]`` belong to chunk row ``r``)
    .lock                    serialises writers (readers never lock)

An update scans the folder, re-reads only files whose size or mtime changed (and
re-chunks only those whose content hash changed), and embeds only chunks whose text
is new: vectors, sentence vectors, BM25 term rows and serialised chunk lines are
reused by content hash, so an edit, a rename or a delete costs what changed plus copying, not
re-processing, the rest of the knowledge base. The new version is written to a
temporary folder, validated (counts match, each chunk's own vector finds it), renamed
into place and only then named in ``CURRENT``; a crash at any point leaves the
previous version live. Older versions are kept for rollback (``KEEP_VERSIONS``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat as stat_module
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.knowledge.chunking import CHUNKER_VERSION, SENTENCES_VERSION, Chunk, chunk_document, ranked_sentences
from bot.knowledge.documents import MAX_META_BYTES
from bot.knowledge.embedders import Embedder
from bot.knowledge.lexical import LexicalIndex
from bot.knowledge.loader import LoadFailure, discover, load_safely
from bot.knowledge.text import tokenize

log = logging.getLogger(__name__)

KEEP_VERSIONS = 3
#: Layout of a version folder (2: the project's incremental BM25 in lexical/, was bm25s).
#: A version in another layout or from another chunker is upgraded on the next update:
#: documents are chunked again and the lexical index rebuilt, but vectors are still
#: reused by content hash, so an upgrade does not re-embed the knowledge base.
FORMAT_VERSION = 2


class KnowledgeIndexError(Exception):
    """The knowledge index is missing, cannot be loaded or fails its checks."""


@dataclass
class UpdateReport:
    """What an update did (printed by ``kb ingest``)."""

    version: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0
    #: Sentences embedded for reply selection (:func:`_sentence_vectors`).
    embedded_sentences: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    #: Failures recorded by the version this update started from: a file that is still
    #: broken in the same way is not news and must not publish a new version each time.
    previous_failed: dict[str, str] = field(default_factory=dict)
    #: ``source -> {"size", "mtime_ns"}`` of files that failed to parse, so that an
    #: unchanged bad file (a PDF that hangs the parser) is not parsed again every run.
    failed_files: dict[str, dict] = field(default_factory=dict)

    @property
    def touched(self) -> bool:
        """Whether the folder differs from the version this update started from."""
        return bool(self.added or self.changed or self.removed or self.renamed
                    or self.failed != self.previous_failed)

    def to_dict(self) -> dict:
        """The report as JSON-ready data (``kb ingest --json``)."""
        return {
            "version": self.version, "added": self.added, "changed": self.changed,
            "removed": self.removed, "renamed": [list(p) for p in self.renamed],
            "failed": self.failed, "unchanged": self.unchanged, "chunks": self.chunks,
            "embedded": self.embedded, "embedded_sentences": self.embedded_sentences, "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }


def vector_key(chunk: Chunk) -> str:
    """Content hash of what is embedded: equal text reuses the vector (renames, moves)."""
    return hashlib.sha256(chunk.embed_text.encode()).hexdigest()[:24]


def sentence_key(sentence: str) -> str:
    """Content hash of one sentence: equal text reuses its stored sentence vectors."""
    return hashlib.sha256(sentence.encode()).hexdigest()[:24]


def sentence_embedder(language: str, names: Sequence[str], cross: bool = False) -> str | None:
    """The embedder a reply ranks a passage's sentences with.

    MiniLM reads English only: a passage in another language, or a question in an Indian script
    (``cross``), is ranked with the multilingual E5 when the index has it.

    Args:
        language: the passage's language (``en``, ``hi``, ...).
        names: the embedders available.
        cross: the question is in another script than an English passage.

    Returns:
        An embedder name from ``names``, or None when there is none.
    """
    preferred = ["e5", "minilm"] if cross or language != "en" else ["minilm", "e5"]
    return next((name for name in [*preferred, *names] if name in names), None)


def _sentence_files(name: str) -> tuple[str, str, str]:
    return f"sentences-{file_safe_name(name)}.npy", f"sentence-offsets-{file_safe_name(name)}.npy", f"sentence-keys-{file_safe_name(name)}.npy"


@dataclass(frozen=True)
class SentenceTable:
    """One embedder's sentence vectors of a version.

    Args:
        offsets: ``len(chunks) + 1`` row offsets; chunk row ``r`` owns rows
            ``offsets[r]:offsets[r + 1]`` (empty when the passage fits a reply, or is
            ranked with another embedder).
        keys: :func:`sentence_key` of each row.
        matrix: one normalised float32 row per sentence.
    """

    offsets: np.ndarray
    keys: np.ndarray
    matrix: np.ndarray

    def rows(self, row: int) -> tuple[int, int]:
        """The ``[start, end)`` rows of the sentence matrix that belong to chunk ``row``."""
        return int(self.offsets[row]), int(self.offsets[row + 1])


@dataclass(frozen=True)
class SentenceVectors:
    """Per-chunk sentence vectors of one version, memory-mapped.

    Only passages too long to quote whole have sentences here (see
    :func:`bot.knowledge.chunking.ranked_sentences`), and only from the embedder a reply
    in the passage's own language ranks them with (:func:`sentence_embedder`): reading
    them costs far less than embedding them per reply. A question in another script falls
    back to embedding, as every reply did before.
    """

    tables: dict[str, SentenceTable]

    def get(self, embedder: str, row: int) -> np.ndarray | None:
        """The sentence vectors of chunk ``row`` from ``embedder``, or None when not stored.

        Args:
            embedder: the embedder's name.
            row: the chunk's row in this version.

        Returns:
            An ``(n_sentences, dim)`` array, or None.
        """
        table = self.tables.get(embedder)
        if table is None or not 0 <= row < len(table.offsets) - 1:
            return None
        start, end = table.rows(row)
        return np.asarray(table.matrix[start:end]) if end > start else None

    @classmethod
    def load(cls, version_dir: Path, meta: dict | None = None) -> SentenceVectors | None:
        """The version's sentence vectors, or None when it has none of the current kind.

        An index built before sentence vectors were stored (or by another sentence
        splitter, see :data:`bot.knowledge.chunking.SENTENCES_VERSION`) has none: replies
        then embed the sentences themselves.
        """
        meta = meta if meta is not None else read_meta(version_dir)
        if meta.get("sentences") != SENTENCES_VERSION:
            return None
        tables = {}
        try:
            for name in meta["embedders"]:
                vectors, offsets, keys = _sentence_files(name)
                table = SentenceTable(np.load(version_dir / offsets), np.load(version_dir / keys, mmap_mode="r"),
                                      np.load(version_dir / vectors, mmap_mode="r"))
                if len(table.offsets) != meta.get("chunk_count", -1) + 1 or len(table.matrix) != len(table.keys) \
                        or int(table.offsets[-1]) != len(table.keys):
                    raise ValueError(f"{name} sentence rows do not match the chunks")
                tables[name] = table
        except (OSError, ValueError, KeyError) as exc:
            log.warning("sentence vectors of %s not usable (%s); replies embed sentences", version_dir.name, exc)
            return None
        return cls(tables)


def current_version_dir(index_dir: Path) -> Path | None:
    """The live version folder, or None when nothing has been built yet."""
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = index_dir / "versions" / name
    return path if (path / "meta.json").exists() else None


def read_meta(version_dir: Path) -> dict:
    """The manifest (``meta.json``) of a version folder."""
    return json.loads((version_dir / "meta.json").read_text())


def read_chunks(version_dir: Path) -> list[Chunk]:
    """The chunks of a version folder, in row order, as compact in memory as they can be.

    Each line is parsed and dropped before the next is read: holding every line until
    the end left their freed memory scattered among the kept texts, where the allocator
    cannot give it back (290 MiB resident for 100k chunks instead of 170). The strings
    every chunk of a document repeats (source, title, anchor, headings) are kept once.
    """
    shared: dict[str, str] = {}
    chunks = []
    with open(version_dir / "chunks.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            data = json.loads(line)
            for name in ("source", "title", "anchor"):
                if isinstance(data.get(name), str):
                    data[name] = shared.setdefault(data[name], data[name])
            data["heading_path"] = [shared.setdefault(h, h) for h in data.get("heading_path") or []]
            chunks.append(Chunk.from_dict(data))
    return chunks


def _read_chunk_lines(version_dir: Path) -> list[tuple[Chunk, str]]:
    """Each chunk with its serialised line (reused as is when the chunk is unchanged)."""
    with open(version_dir / "chunks.jsonl", encoding="utf-8") as handle:
        return [(Chunk.from_dict(json.loads(line)), line) for line in handle if line.strip()]


class _WriterLock:
    """An exclusive advisory lock so that two ingests never interleave."""

    def __init__(self, index_dir: Path):
        index_dir.mkdir(parents=True, exist_ok=True)
        self._handle = open(index_dir / ".lock", "w")  # noqa: SIM115 - held until __exit__

    def __enter__(self) -> _WriterLock:
        fcntl.flock(self._handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def update_index(
    kb_dir: Path,
    index_dir: Path,
    embedders: list[Embedder],
    progress: Callable[[str, int, int], None] | None = None,
    force: bool = False,
) -> UpdateReport:
    """Bring the index up to date with the knowledge folder.

    Args:
        kb_dir: the knowledge folder.
        index_dir: where versions live.
        embedders: the embedders to index with; a change of embedders rebuilds fully.
        progress: optional callback ``(stage, done, total)``.
        force: rebuild even if nothing changed.

    Returns:
        An :class:`UpdateReport`; when nothing changed no new version is written.

    Raises:
        FileNotFoundError: the knowledge folder does not exist.
    """
    kb_dir = Path(kb_dir).resolve()
    if not kb_dir.is_dir():
        raise FileNotFoundError(f"knowledge folder not found: {kb_dir}")
    started = time.perf_counter()
    with _WriterLock(index_dir):
        previous_dir = current_version_dir(index_dir)
        previous = _Previous.load(previous_dir, embedders) if previous_dir and not force else _Previous.empty()
        report = UpdateReport(version=previous.version or "", previous_failed=dict(previous.failures))
        documents, chunks = _scan(kb_dir, previous, report, progress)
        if not report.touched and previous.version and not force and not previous.stale \
                and not previous.sentences_outdated:
            report.unchanged = len(documents)
            report.chunks = len(chunks)
            report.seconds = time.perf_counter() - started
            _prune(index_dir, keep=KEEP_VERSIONS)  # clears what a killed run left behind
            return report
        keys = [previous.keys.get(id(c)) or vector_key(c) for c in chunks]
        vectors = _embed(chunks, keys, embedders, previous, report, progress)
        sentences = _sentence_vectors(chunks, embedders, previous, report, progress)
        version = _write_version(index_dir, kb_dir, chunks, keys, vectors, sentences, embedders, documents,
                                 report, previous)
        report.version = version
        report.chunks = len(chunks)
        report.seconds = time.perf_counter() - started
        _prune(index_dir, keep=KEEP_VERSIONS)
        return report


@dataclass
class _Previous:
    version: str
    documents: dict[str, dict]
    chunks_by_source: dict[str, list[Chunk]]
    vectors: dict[str, dict[str, np.ndarray]]  # embedder -> vector key -> vector
    failures: dict[str, str] = field(default_factory=dict)
    failed_files: dict[str, dict] = field(default_factory=dict)
    lexical: LexicalIndex | None = None
    #: vector key -> row in ``lexical`` of a chunk with that text.
    lexical_rows: dict[str, int] = field(default_factory=dict)
    #: id() of each previous chunk object -> its line in chunks.jsonl. The objects are
    #: reused in the new chunk list and live as long as this record, so ids stay unique.
    lines: dict[int, str] = field(default_factory=dict)
    #: id() of each previous chunk object -> its vector key (hashing every chunk again costs).
    keys: dict[int, str] = field(default_factory=dict)
    #: Written by another chunker or layout: every document must be chunked again.
    stale: bool = False
    #: Sentence vectors of the previous version (None: it has none of the current kind).
    sentences: SentenceVectors | None = None
    #: id() of each previous chunk object -> its row there (to reuse its sentence rows).
    rows: dict[int, int] = field(default_factory=dict)

    @property
    def sentences_outdated(self) -> bool:
        """The previous version lacks current sentence vectors: write a version that has them."""
        return bool(self.version) and self.sentences is None

    @classmethod
    def empty(cls) -> _Previous:
        return cls("", {}, {}, {})

    @classmethod
    def load(cls, version_dir: Path, embedders: list[Embedder]) -> _Previous:
        try:
            meta = read_meta(version_dir)
            if meta.get("embedders") != [e.name for e in embedders]:
                log.info("index built with %s; rebuilding for %s", meta.get("embedders"),
                         [e.name for e in embedders])
                return cls.empty()
            stale = meta.get("format") != FORMAT_VERSION or meta.get("chunker") != CHUNKER_VERSION
            if stale:
                log.info("index %s has layout %s, chunker %s: re-chunking every document (vectors reused)",
                         meta.get("version"), meta.get("format"), meta.get("chunker"))
            with_lines = _read_chunk_lines(version_dir)
            chunks = [chunk for chunk, _ in with_lines]
            by_source: dict[str, list[Chunk]] = {}
            for chunk in chunks:
                by_source.setdefault(chunk.source, []).append(chunk)
            keys = [vector_key(c) for c in chunks]
            vectors = {}
            for embedder in embedders:
                matrix = np.load(version_dir / f"vectors-{file_safe_name(embedder.name)}.npy")
                vectors[embedder.name] = dict(zip(keys, matrix, strict=True))
            sentences = SentenceVectors.load(version_dir, meta)
            if stale:
                return cls(meta["version"], meta["documents"], {}, vectors, stale=True, sentences=sentences)
            lexical = LexicalIndex.load(version_dir / "lexical")
            if lexical.size != len(chunks):
                raise ValueError(f"lexical index has {lexical.size} rows for {len(chunks)} chunks")
            return cls(meta["version"], meta["documents"], by_source, vectors,
                       dict(meta.get("failures") or {}), dict(meta.get("failed_files") or {}),
                       lexical, {key: row for row, key in enumerate(keys)},
                       {id(chunk): line for chunk, line in with_lines},
                       {id(chunk): key for chunk, key in zip(chunks, keys, strict=True)},
                       sentences=sentences, rows={id(chunk): row for row, chunk in enumerate(chunks)})
        except Exception as exc:  # a damaged previous version must not block a rebuild
            log.warning("previous index version unreadable (%s); rebuilding", exc)
            return cls.empty()


def _scan(kb_dir: Path, previous: _Previous, report: UpdateReport,
          progress: Callable[[str, int, int], None] | None = None) -> tuple[dict[str, dict], list[Chunk]]:
    """Load changed documents, reuse unchanged ones, and detect renames and deletions."""
    documents: dict[str, dict] = {}
    chunks: list[Chunk] = []
    seen_hashes = {info["sha256"]: src for src, info in previous.documents.items()}
    found = discover(kb_dir, report.failed)
    found_sources = {p.relative_to(kb_dir).as_posix() for p in found}
    for number, path in enumerate(found, start=1):
        if progress:
            progress("reading documents", number, len(found))
        source = path.relative_to(kb_dir).as_posix()
        try:
            stat = path.stat()
            sidecar = path.with_name(path.name + ".meta.yml")
            sidecar_mtime = _sidecar_mtime(sidecar)
        except OSError as exc:  # removed or replaced since the folder was listed
            report.failed[source] = f"cannot read ({exc.strerror or exc})"
            continue
        old = previous.documents.get(source)
        if old and old["size"] == stat.st_size and old["mtime_ns"] == stat.st_mtime_ns \
                and old.get("sidecar_mtime_ns", 0) == sidecar_mtime and source in previous.chunks_by_source:
            documents[source] = old
            chunks.extend(previous.chunks_by_source[source])
            continue
        known_bad = previous.failed_files.get(source)
        if known_bad and known_bad["size"] == stat.st_size and known_bad["mtime_ns"] == stat.st_mtime_ns \
                and known_bad.get("sidecar_mtime_ns", 0) == sidecar_mtime and source in previous.failures:
            # The same bytes failed last time: do not pay a parse (or a timeout) again.
            report.failed[source] = previous.failures[source]
            report.failed_files[source] = known_bad
            if source in previous.chunks_by_source and old:
                documents[source] = old
                chunks.extend(previous.chunks_by_source[source])
            continue
        try:
            digest = _file_hash(path, sidecar if sidecar_mtime else None)
        except OSError as exc:
            report.failed[source] = f"cannot read ({exc.strerror or exc})"
            continue
        if old and old["sha256"] == digest and source in previous.chunks_by_source:
            documents[source] = {**old, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            chunks.extend(previous.chunks_by_source[source])
            continue
        result = load_safely(path, kb_dir)
        document = None if isinstance(result, LoadFailure) else result
        doc_chunks = chunk_document(document) if document is not None else []
        if document is None or not doc_chunks:
            reason = result.reason if isinstance(result, LoadFailure) else "no text to index"
            if old and source in previous.chunks_by_source:
                # Keep serving the last good version of this document until it is fixed.
                reason += " (still serving the previous version)"
                documents[source] = old
                chunks.extend(previous.chunks_by_source[source])
            report.failed[source] = reason
            report.failed_files[source] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                           "sidecar_mtime_ns": sidecar_mtime}
            continue
        documents[source] = {
            "sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sidecar_mtime_ns": sidecar_mtime, "title": document.title,
            "language": document.language, "chunks": len(doc_chunks), "meta": document.meta,
        }
        chunks.extend(doc_chunks)
        if old:
            report.changed.append(source)
        elif digest in seen_hashes and seen_hashes[digest] not in found_sources:
            report.renamed.append((seen_hashes[digest], source))
        else:
            report.added.append(source)
    renamed_from = {old for old, _ in report.renamed}
    report.removed = sorted(s for s in previous.documents if s not in documents and s not in renamed_from
                            and s not in report.failed)
    report.unchanged = len(documents) - len(report.added) - len(report.changed) - len(report.renamed) \
        - sum(1 for s in report.failed if s in documents)
    return documents, chunks


def _embed(chunks: list[Chunk], keys: list[str], embedders: list[Embedder], previous: _Previous,
           report: UpdateReport, progress: Callable[[str, int, int], None] | None) -> dict[str, np.ndarray]:
    """Vectors for every chunk and embedder, embedding only content not seen before."""
    out: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for embedder in embedders:
        cache = previous.vectors.get(embedder.name, {})
        missing = sorted({k: i for i, k in enumerate(keys) if k not in cache}.items(), key=lambda kv: kv[1])
        fresh: dict[str, np.ndarray] = {}
        batch = 64
        for start in range(0, len(missing), batch):
            part = missing[start:start + batch]
            vectors = embedder.embed_passages([chunks[i].embed_text for _, i in part])
            fresh.update({k: v for (k, _), v in zip(part, vectors, strict=True)})
            if progress:
                progress(f"embedding ({embedder.name})", min(start + batch, len(missing)), len(missing))
        report.embedded = max(report.embedded, len(missing))
        dim = embedder.dim if not fresh and not cache else len(next(iter({**cache, **fresh}.values())))
        matrix = np.zeros((len(chunks), dim), dtype=np.float32)
        for row, key in enumerate(keys):
            matrix[row] = fresh[key] if key in fresh else cache[key]
        out[embedder.name] = matrix
    report.embed_seconds = time.perf_counter() - started
    return out


def _sentence_vectors(chunks: list[Chunk], embedders: list[Embedder], previous: _Previous,
                      report: UpdateReport,
                      progress: Callable[[str, int, int], None] | None) -> SentenceVectors:
    """Sentence vectors of every passage too long to quote whole, embedding only new sentences.

    Each passage's sentences are embedded by the embedder a reply in its language ranks
    them with (:func:`sentence_embedder`). A chunk carried over from the previous version
    copies its rows without being split again; a new chunk's sentences reuse any row with
    the same text (an edit to one sentence of a long passage embeds that sentence only).
    """
    started = time.perf_counter()
    names = [e.name for e in embedders]
    tables: dict[str, SentenceTable] = {}
    fresh_total = 0
    for embedder in embedders:
        old = previous.sentences.tables.get(embedder.name) if previous.sentences is not None else None
        old_rows = {key.decode(): row for row, key in enumerate(old.keys.tolist())} if old is not None else {}
        offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
        sources: list[int | str] = []  # per row: a row of the previous version, or text to embed
        keys: list[str] = []
        for number, chunk in enumerate(chunks):
            row = previous.rows.get(id(chunk)) if old is not None else None
            if old is not None and row is not None:
                start, end = old.rows(row)
                sources.extend(range(start, end))
                keys.extend(k.decode() for k in old.keys[start:end].tolist())
            elif sentence_embedder(str(chunk.meta.get("language") or "en"), names) == embedder.name:
                for sentence in ranked_sentences(chunk.text) or []:
                    key = sentence_key(sentence)
                    keys.append(key)
                    sources.append(old_rows.get(key, sentence))
            offsets[number + 1] = len(keys)
        pending = list({key: text for key, text in zip(keys, sources, strict=True) if isinstance(text, str)}.items())
        fresh: dict[str, np.ndarray] = {}
        for start in range(0, len(pending), 64):
            part = pending[start:start + 64]
            fresh.update(zip((k for k, _ in part), embedder.embed_passages([t for _, t in part]), strict=True))
            if progress:
                progress(f"embedding sentences ({embedder.name})", min(start + 64, len(pending)), len(pending))
        dim = len(next(iter(fresh.values()))) if fresh else (old.matrix.shape[1] if old is not None else embedder.dim)
        matrix = np.zeros((len(keys), dim), dtype=np.float32)
        for row, (key, source) in enumerate(zip(keys, sources, strict=True)):
            if isinstance(source, str):
                matrix[row] = fresh[key]
            elif old is not None:  # a row number: only ever taken from the previous version
                matrix[row] = old.matrix[source]
        tables[embedder.name] = SentenceTable(offsets, np.array(keys, dtype="S24"), matrix)
        fresh_total += len(pending)
    report.embedded_sentences = fresh_total
    report.embed_seconds += time.perf_counter() - started
    return SentenceVectors(tables)


def _write_version(index_dir: Path, kb_dir: Path, chunks: list[Chunk], keys: list[str],
                   vectors: dict[str, np.ndarray], sentences: SentenceVectors,
                   embedders: list[Embedder], documents: dict[str, dict], report: UpdateReport,
                   previous: _Previous) -> str:
    """Write, validate, publish. Returns the new version name."""
    import faiss  # lazy: heavy

    versions = index_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    version = _next_version(versions)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=versions))
    try:
        with open(staging / "chunks.jsonl", "w", encoding="utf-8") as handle:
            for chunk in chunks:
                line = previous.lines.get(id(chunk))
                handle.write(line if line is not None else json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
        for embedder in embedders:
            matrix = vectors[embedder.name]
            np.save(staging / f"vectors-{file_safe_name(embedder.name)}.npy", matrix)
            index = faiss.IndexFlatIP(matrix.shape[1])
            if len(matrix):
                index.add(matrix)
            faiss.write_index(index, str(staging / f"faiss-{file_safe_name(embedder.name)}.index"))
        for name, table in sentences.tables.items():
            vectors_file, offsets_file, keys_file = _sentence_files(name)
            np.save(staging / vectors_file, table.matrix)
            np.save(staging / offsets_file, table.offsets)
            np.save(staging / keys_file, table.keys)
        _lexical_rows(chunks, keys, previous).save(staging / "lexical")
        meta = {
            "format": FORMAT_VERSION, "chunker": CHUNKER_VERSION, "version": version, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "kb_dir": str(kb_dir), "embedders": [e.name for e in embedders],
            "dims": {e.name: int(vectors[e.name].shape[1]) for e in embedders},
            "chunk_count": len(chunks), "sentences": SENTENCES_VERSION, "documents": documents, "failures": report.failed,
            "failed_files": report.failed_files,
            "last_update": report.to_dict() | {"version": version},
        }
        # No indent: json's C encoder only runs without one, and the manifest grows with the KB.
        (staging / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, separators=(",", ":")))
        _fsync_tree(staging)
        validate_version(staging)
        final = versions / version
        os.rename(staging, final)
        _publish(index_dir, version)
        return version
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _lexical_rows(chunks: list[Chunk], keys: list[str], previous: _Previous) -> LexicalIndex:
    """The BM25 index of ``chunks``: rows of unchanged text copied, new text tokenised."""
    rows: list[int | list[str]] = []
    for chunk, key in zip(chunks, keys, strict=True):
        row = previous.lexical_rows.get(key) if previous.lexical is not None else None
        rows.append(row if row is not None else tokenize(chunk.embed_text))
    return LexicalIndex.build(rows, previous.lexical)


def validate_version(version_dir: Path) -> None:
    """Check that a version is complete and searchable.

    Raises:
        KnowledgeIndexError: counts disagree or a canary search does not find its own chunk.
    """
    import faiss

    meta = read_meta(version_dir)
    with open(version_dir / "chunks.jsonl", encoding="utf-8") as handle:
        count = sum(1 for line in handle if line.strip())
    if count != meta["chunk_count"]:
        raise KnowledgeIndexError(f"{version_dir.name}: {count} chunks, manifest says {meta['chunk_count']}")
    try:
        lexical = LexicalIndex.load(version_dir / "lexical")
    except (OSError, ValueError) as exc:
        raise KnowledgeIndexError(f"{version_dir.name}: lexical index unreadable ({exc})") from exc
    if lexical.size != count:
        raise KnowledgeIndexError(f"{version_dir.name}: lexical index has {lexical.size} rows for {count} chunks")
    for name in meta["embedders"]:
        index = faiss.read_index(str(version_dir / f"faiss-{file_safe_name(name)}.index"))
        matrix = np.load(version_dir / f"vectors-{file_safe_name(name)}.npy", mmap_mode="r")
        if index.ntotal != count or matrix.shape[0] != count:
            raise KnowledgeIndexError(f"{version_dir.name}: {name} holds {index.ntotal} vectors for {count} chunks")
        if count:
            probe = np.asarray(matrix[count // 2 : count // 2 + 1])
            scores, rows = index.search(probe, 1)
            if scores[0][0] < 0.99:  # its own vector must be its nearest neighbour
                raise KnowledgeIndexError(f"{version_dir.name}: canary search failed for {name}")
    if "sentences" in meta and SentenceVectors.load(version_dir, meta) is None:
        raise KnowledgeIndexError(f"{version_dir.name}: sentence vectors missing or inconsistent")


def _publish(index_dir: Path, version: str) -> None:
    """Point CURRENT at ``version`` atomically (write elsewhere, fsync, rename)."""
    tmp = index_dir / f".CURRENT.{os.getpid()}"
    with open(tmp, "w") as handle:
        handle.write(version + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / "CURRENT")
    _fsync_dir(index_dir)


def rollback(index_dir: Path) -> str:
    """Make the previous complete version live again.

    Returns:
        The version now live.

    Raises:
        KnowledgeIndexError: there is no older valid version.
    """
    with _WriterLock(index_dir):
        current = current_version_dir(index_dir)
        names = sorted(p.name for p in (index_dir / "versions").glob("v*") if (p / "meta.json").exists())
        older = [n for n in names if current is None or n < current.name]
        for name in reversed(older):
            try:
                validate_version(index_dir / "versions" / name)
            except Exception:
                continue
            _publish(index_dir, name)
            return name
        raise KnowledgeIndexError("no older valid version to roll back to")


def _next_version(versions: Path) -> str:
    numbers = [int(p.name[1:]) for p in versions.glob("v*") if p.name[1:].isdigit()]
    return f"v{(max(numbers) + 1 if numbers else 1):06d}"


def _prune(index_dir: Path, keep: int) -> None:
    versions = index_dir / "versions"
    live = current_version_dir(index_dir)
    names = sorted(p.name for p in versions.glob("v*") if p.is_dir())
    for name in names[:-keep]:
        if live is None or name != live.name:
            shutil.rmtree(versions / name, ignore_errors=True)
    for stale in versions.glob(".v*"):  # staging folders of crashed runs
        shutil.rmtree(stale, ignore_errors=True)
    for stale in index_dir.glob(".CURRENT.*"):  # pointer files of runs killed mid-publish
        stale.unlink(missing_ok=True)


def _sidecar_mtime(sidecar: Path) -> int:
    """The sidecar's own modification time (of the link itself for a link), 0 when absent.

    ``lstat``: a sidecar that is a link, a FIFO or a device is never opened here; the
    parse child refuses it with a reason.
    """
    try:
        return sidecar.lstat().st_mtime_ns or 1
    except FileNotFoundError:
        return 0


def _file_hash(path: Path, sidecar: Path | None) -> str:
    """Content hash of a document and its sidecar.

    The sidecar is read only when it is a regular file within the metadata cap: a link
    to ``/dev/zero`` or a FIFO would otherwise never end, here in the indexing process.
    Any other sidecar contributes its ``lstat`` stamp (the child refuses it anyway).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if sidecar is not None:
        info = sidecar.lstat()
        if stat_module.S_ISREG(info.st_mode) and info.st_size <= MAX_META_BYTES:
            # O_NOFOLLOW | O_NONBLOCK: swapped for a link or a FIFO since lstat, it fails fast.
            fd = os.open(sidecar, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                digest.update(handle.read(MAX_META_BYTES + 1))
        else:
            digest.update(f"{info.st_mode}:{info.st_size}:{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def file_safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``-`` and ``_`` turned into ``_``.

    Embedder names become parts of file names in a version folder (``vectors-<name>.npy``,
    ``faiss-<name>.index``); the writer and every reader must spell them the same way.

    Args:
        name: an embedder name such as ``minilm`` or ``e5``.

    Returns:
        The name, safe as part of a file name.
    """
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_documents(version_dir: Path) -> Iterable[tuple[str, dict]]:
    """``(source, record)`` of every document in a version, sorted by source."""
    return sorted(read_meta(version_dir)["documents"].items())
