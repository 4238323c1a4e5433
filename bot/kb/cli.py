"""``kb``: the trainers' and operators' command for the knowledge base.

Usage::

    kb ingest [--kb DIR] [--index DIR] [--force]      build or update the index
    kb search --json [-k N] [--kb DIR] [--index DIR] [QUERY | --stdin]
    kb status [--kb DIR] [--index DIR] [--json]       what the bot knows, failures
    kb validate [--kb DIR]                             check documents and quiz banks
    kb diff [--index DIR]                              what the last update changed
    kb rollback [--index DIR]                          make the previous version live
    kb watch [--kb DIR] [--index DIR]                  re-index on every change

Defaults come from the environment (``TUTOR_KB_DIR``, ``TUTOR_INDEX_DIR``,
``TUTOR_EMBEDDERS``); for a folder other than the configured one the index lives in
``.state/indexes/<folder-name>-<hash>/`` so that indexes never mix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

from bot.config import load_settings


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    settings = load_settings()
    kb_dir = Path(args.kb).resolve() if args.kb else settings.kb_dir.resolve()
    if args.index:
        return kb_dir, Path(args.index).resolve()
    if kb_dir == settings.kb_dir.resolve():
        return kb_dir, settings.index_dir
    tag = hashlib.sha256(str(kb_dir).encode()).hexdigest()[:8]
    return kb_dir, settings.state_dir / "indexes" / f"{kb_dir.name}-{tag}"


def _progress(stage: str, done: int, total: int) -> None:
    if not sys.stderr.isatty() and done not in (total,) and done % 256:
        return
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r{stage:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _update(kb_dir: Path, index_dir: Path, force: bool = False, quiet: bool = False):
    from bot.knowledge.embedders import make_embedders
    from bot.knowledge.index import update_index

    embedders = make_embedders(load_settings().embedder)
    return update_index(kb_dir, index_dir, embedders, progress=None if quiet else _progress, force=force)


def cmd_ingest(args: argparse.Namespace) -> int:
    """``kb ingest``: build or incrementally update the index; print the summary."""
    kb_dir, index_dir = _paths(args)
    report = _update(kb_dir, index_dir, force=args.force)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(_summary(report))
    return 0


def _summary(report) -> str:
    lines = [f"index {report.version}: {report.chunks} chunks; "
             f"{len(report.added)} added, {len(report.changed)} changed, {len(report.renamed)} renamed, "
             f"{len(report.removed)} removed, {report.unchanged} unchanged, {len(report.failed)} failed; "
             f"{report.embedded} chunks embedded in {report.seconds:.1f} s"]
    for source, reason in sorted(report.failed.items()):
        lines.append(f"  FAILED {source}: {reason}")
    return "\n".join(lines)


def cmd_search(args: argparse.Namespace) -> int:
    """``kb search``: search the index (updating it first unless ``--no-update``)."""
    from bot.knowledge.search import Retriever

    kb_dir, index_dir = _paths(args)
    if not args.no_update:
        _update(kb_dir, index_dir, quiet=True)
    retriever = Retriever(index_dir)
    queries = [q.strip() for q in sys.stdin] if args.stdin else [" ".join(args.query)]
    for query in queries:
        if not query:
            continue
        result = retriever.search(query, k=args.k)
        if args.json:
            print(json.dumps(result.to_contract(), ensure_ascii=False), flush=True)
        else:
            verdict = ("ANSWERABLE" if result.answerable
                       else "NOT COVERED, closest section offered" if result.closest else "NOT COVERED")
            print(f"{query}  [{verdict}; top {', '.join(f'{k}={v:.3f}' for k, v in result.top_scores.items())}]")
            for hit in result.hits:
                print(f"  {hit.score:.4f}  {hit.chunk.citation}  ({hit.chunk.source})")
                print(f"          {hit.chunk.text[:160]!r}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``kb status``: the live version, the versions kept, counts and the last update."""
    from bot.knowledge.index import current_version_dir, read_meta

    kb_dir, index_dir = _paths(args)
    live = current_version_dir(index_dir)
    if live is None:
        print(f"no index yet in {index_dir}: run `kb ingest`")
        return 1
    meta = read_meta(live)
    versions = sorted(p.name for p in (index_dir / "versions").glob("v*"))
    status = {
        "kb_dir": str(kb_dir), "index_dir": str(index_dir), "version": meta["version"],
        "versions_kept": versions, "created": meta["created"], "embedders": meta["embedders"],
        "documents": len(meta["documents"]), "chunks": meta["chunk_count"], "failures": meta["failures"],
        "last_update": meta.get("last_update"),
    }
    if args.json:
        print(json.dumps(status | {"document_list": meta["documents"]}, ensure_ascii=False, indent=1))
        return 0
    print(f"index version {status['version']} (built {status['created']}; kept: {', '.join(versions)})")
    print(f"model(s): {', '.join(meta['embedders'])}")
    last = meta.get("last_update") or {}
    if last:
        print(f"last update: {meta['created']}: {len(last.get('added', []))} added, "
              f"{len(last.get('changed', []))} changed, {len(last.get('renamed', []))} renamed, "
              f"{len(last.get('removed', []))} removed, {len(last.get('failed', {}))} failed "
              f"({last.get('seconds', 0)} s)")
    print(f"{status['documents']} documents, {status['chunks']} chunks from {kb_dir}")
    for source, info in sorted(meta["documents"].items()):
        flags = []
        if info.get("meta", {}).get("superseded_by"):
            flags.append(f"superseded by {info['meta']['superseded_by']}")
        print(f"  {source:<50} {info['chunks']:>4} chunks  {info['title']}" + (f"  [{'; '.join(flags)}]" if flags else ""))
    if meta["failures"]:
        print(f"{len(meta['failures'])} file(s) not indexed:")
        for source, reason in sorted(meta["failures"].items()):
            print(f"  {source}: {reason}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """``kb diff``: what the last update added, changed, renamed, removed and failed to read."""
    from bot.knowledge.index import current_version_dir, read_meta

    _, index_dir = _paths(args)
    live = current_version_dir(index_dir)
    if live is None:
        print("no index yet")
        return 1
    last = read_meta(live)["last_update"]
    print(json.dumps(last, ensure_ascii=False, indent=1) if args.json else _diff_text(last))
    return 0


def _diff_text(last: dict) -> str:
    lines = [f"last update -> {last['version']} ({last['embedded']} chunks embedded, {last['seconds']} s)"]
    for label in ("added", "changed", "removed"):
        lines += [f"  {label}: {s}" for s in last[label]]
    lines += [f"  renamed: {a} -> {b}" for a, b in last["renamed"]]
    lines += [f"  failed: {s}: {r}" for s, r in last["failed"].items()]
    return "\n".join(lines)


def cmd_rollback(args: argparse.Namespace) -> int:
    """``kb rollback``: serve the previous valid version again."""
    from bot.knowledge.index import rollback

    _, index_dir = _paths(args)
    print(f"now serving {rollback(index_dir)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """``kb validate``: check documents, front matter and quiz banks without indexing."""
    from bot.kb.validation import validate_kb

    kb_dir, _ = _paths(args)
    problems = validate_kb(kb_dir)
    for problem in problems:
        print(problem)
    errors = sum(1 for p in problems if p.severity == "error")
    print(f"{kb_dir}: {errors} error(s), {len(problems) - errors} warning(s)")
    return 1 if errors else 0


def cmd_watch(args: argparse.Namespace) -> int:
    """``kb watch``: re-index whenever the knowledge folder changes."""
    from bot.knowledge.watcher import watch_forever

    kb_dir, index_dir = _paths(args)
    watch_forever(kb_dir, index_dir, on_report=lambda r: print(_summary(r), flush=True))
    return 0


def cmd_generate_quiz(args: argparse.Namespace) -> int:
    """``kb generate-quiz``: draft quiz items from documents (see :mod:`bot.quizzes.generate`)."""
    from bot.quizzes.generate import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """The ``kb`` command line: one sub-command per ``cmd_*`` function."""
    parser = argparse.ArgumentParser(prog="kb", description="Manage the tutor's knowledge base.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--kb", help="knowledge folder (default: $TUTOR_KB_DIR or knowledge_base/)")
        p.add_argument("--index", help="index folder (default: under .state/)")
        return p

    p = common(sub.add_parser("ingest", help="build or incrementally update the index"))
    p.add_argument("--force", action="store_true", help="re-embed everything")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_ingest)
    p = common(sub.add_parser("search", help="show what the bot would retrieve"))
    p.add_argument("query", nargs="*")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("-k", type=int, default=5, help="number of hits")
    p.add_argument("--stdin", action="store_true", help="read one query per line")
    p.add_argument("--no-update", action="store_true", help="do not update the index first")
    p.set_defaults(func=cmd_search)
    p = common(sub.add_parser("status", help="documents, chunks, version, failures"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = common(sub.add_parser("validate", help="check documents and quiz banks without indexing"))
    p.set_defaults(func=cmd_validate)
    p = common(sub.add_parser("diff", help="what the last update changed"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diff)
    p = common(sub.add_parser("rollback", help="serve the previous index version again"))
    p.set_defaults(func=cmd_rollback)
    p = common(sub.add_parser("watch", help="re-index whenever the folder changes"))
    p.set_defaults(func=cmd_watch)
    from bot.quizzes.generate import build_parser as generate_parser  # stdlib-only at import

    p = sub.add_parser("generate-quiz", parents=[generate_parser()], add_help=False,
                       help="generate cloze questions from the material for trainers to review")
    p.set_defaults(func=cmd_generate_quiz)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``kb`` console command.

    Returns:
        The process exit status.
    """
    args = build_parser().parse_args(argv)
    from bot.logging_setup import configure_logging  # the one setup: LOG_LEVEL, personal data masked
    configure_logging(fmt="%(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "faiss", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "search" and not args.query and not args.stdin:
        build_parser().error("search needs a QUERY or --stdin")
    started = time.perf_counter()
    try:
        return args.func(args)
    except FileNotFoundError as exc:
        print(f"kb: {exc}", file=sys.stderr)
        return 2
    finally:
        logging.getLogger(__name__).debug("kb %s took %.2f s", args.command, time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
