"""Ingestion benchmark: pipeline overhead over raw embedding, and the cost of one edit.

Two questions, each answered against a baseline measured in the same run:

1. **Full build of ``../shared/corpus``**: chunks per second of ``update_index`` (parse,
   chunk, embed, write FAISS + BM25, validate, publish) against the embedder's raw
   throughput on the same chunks (``embed_passages`` alone). The difference is the
   pipeline's overhead; the target is under 20 %.
2. **One-file edit in a large KB**: knowledge folders of 250, 1,000 and 4,000 documents
   are generated from corpus text; after a full build, one file is edited and the update
   timed, beside a no-change scan (the manifest scan alone). The edit should cost the
   scan plus the changed chunks: "edit - scan" must stay flat as the folder grows.

Run with ``python -m bot.bench.ingest`` (or ``make bench``). Settings (environment):
``BENCH_EMBEDDER`` (default ``minilm``) for part 1; part 2 uses the deterministic
``hash`` embedder for the build and the edit (so that building 1,000 documents costs
seconds) and adds the real model's measured time for the re-embedded chunks.
``BENCH_RAW_SAMPLE`` caps the chunks embedded for the raw baseline (default: all).
Results are cached under ``.state/bench/`` keyed by the corpus content and embedder;
``BENCH_FRESH=1`` re-measures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
SIZES = (250, 1000, 4000)


def _corpus_key(corpus: Path, embedder: str) -> str:
    digest = hashlib.sha256(embedder.encode())
    for path in sorted(corpus.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def bench_full_build(corpus: Path, work: Path, embedder_name: str, raw_sample: int | None) -> dict:
    """Build the corpus index from scratch and measure raw embedding on its chunks.

    Args:
        corpus: the folder to index.
        work: scratch folder (the index is kept there as a cache for later runs).
        embedder_name: the embedder to build with.
        raw_sample: embed at most this many chunks for the raw baseline (None: all).

    Returns:
        Figures: chunks, build seconds, build and raw chunks/s, overhead share.
    """
    from bot.knowledge.embedders import make_embedder
    from bot.knowledge.index import current_version_dir, read_chunks, update_index

    index_dir = work / f"corpus-index-{embedder_name}"
    shutil.rmtree(index_dir, ignore_errors=True)
    embedder = make_embedder(embedder_name)
    embedder.embed_passages(["warm-up: load the model before timing"])
    started = time.perf_counter()
    report = update_index(corpus, index_dir, [embedder])
    build_s = time.perf_counter() - started
    version_dir = current_version_dir(index_dir)
    if version_dir is None:
        raise RuntimeError(f"indexing {corpus} wrote no version into {index_dir}")
    chunks = read_chunks(version_dir)
    texts = [c.embed_text for c in chunks]
    sample = texts if not raw_sample or raw_sample >= len(texts) else texts[:: max(1, len(texts) // raw_sample)]
    started = time.perf_counter()
    for start in range(0, len(sample), 64):  # the batch size update_index uses
        embedder.embed_passages(sample[start:start + 64])
    raw_s = time.perf_counter() - started
    raw_rate = len(sample) / raw_s
    build_rate = len(chunks) / build_s
    return {
        "embedder": embedder_name, "documents": len({c.source for c in chunks}), "chunks": len(chunks),
        "failed": len(report.failed), "build_s": round(build_s, 2), "build_chunks_per_s": round(build_rate, 2),
        "raw_sample": len(sample), "raw_chunks_per_s": round(raw_rate, 2),
        "overhead_pct": round(100 * (raw_rate / build_rate - 1), 1),
    }


def _generate_kb(corpus: Path, folder: Path, documents: int) -> list[Path]:
    """A folder of ``documents`` Markdown files cut from corpus paragraphs."""
    paragraphs: list[str] = []
    for path in sorted(corpus.glob("*.md")):
        paragraphs += [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n")
                       if len(p.split()) >= 25 and not p.lstrip().startswith(("|", "#"))]
    shutil.rmtree(folder, ignore_errors=True)
    per_doc = 4
    paths = []
    for n in range(documents):
        body = "\n\n".join(paragraphs[(n * per_doc + i) % len(paragraphs)] for i in range(per_doc))
        path = folder / f"part{n // 100:02d}" / f"doc{n:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\ntitle: \"Generated document {n}\"\n---\n# Generated document {n}\n\n"
                        f"## 1. Extract\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def bench_one_edit(corpus: Path, work: Path, documents: int, real_rate: float | None) -> dict:
    """Time a no-change scan and a one-file edit on a generated KB of ``documents`` files.

    Args:
        corpus: text source.
        work: scratch folder.
        documents: KB size.
        real_rate: the real model's raw chunks/s (to cost the re-embedded chunks), or None.

    Returns:
        Figures for the table.
    """
    from bot.knowledge.embedders import make_embedder
    from bot.knowledge.index import update_index

    kb, index_dir = work / f"kb-{documents}", work / f"kb-{documents}-index"
    paths = _generate_kb(corpus, kb, documents)
    shutil.rmtree(index_dir, ignore_errors=True)
    embedder = make_embedder("hash")
    started = time.perf_counter()
    first = update_index(kb, index_dir, [embedder])
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    update_index(kb, index_dir, [embedder])
    scan_s = time.perf_counter() - started
    target = paths[len(paths) // 2]
    target.write_text(target.read_text(encoding="utf-8").replace("## 1. Extract", "## 1. Extract (revised)\n\n"
                      "This paragraph was added by the benchmark edit.", 1), encoding="utf-8")
    started = time.perf_counter()
    edit = update_index(kb, index_dir, [embedder])
    edit_s = time.perf_counter() - started
    model_s = edit.embedded / real_rate if real_rate else 0.0
    return {
        "documents": documents, "chunks": first.chunks, "build_s": round(build_s, 2),
        "scan_s": round(scan_s, 3), "edit_s": round(edit_s, 3), "edit_embedded": edit.embedded,
        "edit_with_model_s": round(edit_s + model_s, 3), "changed": edit.changed,
    }


def run() -> dict:
    """Run both parts (or reuse the cached result) and return the figures."""
    settings = load_settings()
    work = settings.state_dir / "bench" / "ingest"
    work.mkdir(parents=True, exist_ok=True)
    embedder_name = os.environ.get("BENCH_EMBEDDER", "minilm")
    raw_sample = int(os.environ["BENCH_RAW_SAMPLE"]) if os.environ.get("BENCH_RAW_SAMPLE") else None
    cache = work / f"result-{_corpus_key(CORPUS, embedder_name)}-{raw_sample or 'all'}.json"
    if cache.exists() and not os.environ.get("BENCH_FRESH"):
        result = json.loads(cache.read_text())
        result["cached"] = str(cache)
        return result
    part1 = cache.with_name(cache.name.replace("result-", "full-build-"))
    if part1.exists() and not os.environ.get("BENCH_FRESH"):
        full = json.loads(part1.read_text())  # part 1 is the slow one: keep it across interruptions
    else:
        full = bench_full_build(CORPUS, work, embedder_name, raw_sample)
        part1.write_text(json.dumps(full, indent=1))
    edits = [bench_one_edit(CORPUS, work, n, full["raw_chunks_per_s"]) for n in SIZES]
    result = {"full_build": full, "one_edit": edits, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    cache.write_text(json.dumps(result, indent=1))
    return result


def table(result: dict) -> str:
    """The figures as a plain-text table."""
    full = result["full_build"]
    lines = [
        "Ingestion: full build of ../shared/corpus vs raw embedding of the same chunks"
        + (f"  (cached: {result['cached']})" if result.get("cached") else ""),
        f"  embedder {full['embedder']}: {full['documents']} documents, {full['chunks']} chunks, "
        f"{full['failed']} failed",
        f"  {'pipeline (update_index)':<34}{full['build_chunks_per_s']:>10.2f} chunks/s  ({full['build_s']} s)",
        f"  {'raw embed_passages':<34}{full['raw_chunks_per_s']:>10.2f} chunks/s  "
        f"(on {full['raw_sample']} of the chunks)",
        f"  overhead of parsing, chunking, indexing: {full['overhead_pct']} %  (target < 20 %)",
        "",
        "One-file edit (build and edit with the hash embedder; '+model' adds the real model's time",
        "for the re-embedded chunks at the raw rate above)",
        f"  {'documents':>9} {'chunks':>7} {'build s':>8} {'scan s':>8} {'edit s':>8} {'edit-scan':>10} "
        f"{'embedded':>9} {'+model s':>9}",
    ]
    for row in result["one_edit"]:
        lines.append(f"  {row['documents']:>9} {row['chunks']:>7} {row['build_s']:>8} {row['scan_s']:>8} "
                     f"{row['edit_s']:>8} {row['edit_s'] - row['scan_s']:>10.3f} {row['edit_embedded']:>9} "
                     f"{row['edit_with_model_s']:>9}")
    return "\n".join(lines)


def main() -> int:
    """Entry point for ``make bench``: print the ingestion table."""
    if not CORPUS.is_dir():
        print(f"ingestion benchmark skipped: {CORPUS} not found")
        return 1
    print(table(run()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
