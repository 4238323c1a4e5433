"""Re-index the knowledge folder whenever a trainer changes it.

A watchdog observer collects file events; after a quiet period (debounce) one
incremental update runs. Editor swap files, hidden files and downloads in progress
are ignored, and a file still being written (its size changes between two looks) is
left for the next round. Errors are logged and the last good index keeps serving.

Run as its own process it is the *indexer* of scaled mode (``make run-scaled``, the
``indexer`` Deployment of ``deploy/kubernetes``)::

    python -m bot.knowledge.watcher [--kb DIR] [--index DIR] [--poll SECONDS] [--seed DIR] [--seed-index DIR]
    python -m bot.knowledge.watcher --alive SECONDS   # liveness probe: exit 0 while it beats

It is the one writer of the index folder: every action replica (``--no-watch``) reads the
same folder and follows its ``CURRENT`` pointer (:class:`bot.knowledge.search.Retriever`),
so a new version is served by all of them within seconds, without a restart. ``--poll``
compares the folder every few seconds instead of listening to inotify, which does not
report writes that other machines make on a shared (NFS, ReadWriteMany) volume.

The indexer loads its embedding models *before* it reports ready: loaded on the first edit
instead, they cost that edit most of its 10 s budget on a busy machine. Readiness and
liveness are a heartbeat file in the index folder (:data:`HEARTBEAT_FILE`), written every
few seconds, which ``make run-scaled`` waits for and the Deployment's probe reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.knowledge.embedders import Embedder, make_embedders
from bot.knowledge.index import UpdateReport, current_version_dir, update_index
from bot.knowledge.loader import is_candidate

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

DEBOUNCE_S = 1.5
#: The indexer's heartbeat in the index folder: ``{"pid", "ready", "beat"}`` (beat: Unix time).
HEARTBEAT_FILE = "indexer.json"
HEARTBEAT_EVERY_S = 5.0


class KnowledgeWatcher:
    """Watches ``kb_dir`` and keeps ``index_dir`` current.

    Args:
        kb_dir: the knowledge folder.
        index_dir: the index folder.
        embedder_names: comma-separated embedder names (used when ``embedders`` is not given).
        debounce: quiet seconds before an update runs.
        on_report: called with each update's report.
        poll: compare the folder every ``poll`` seconds instead of listening to inotify
            (None): needed on shared volumes, where other machines' writes raise no event.
        embedders: the embedders to index with, e.g. a retriever's in the same process
            (so each model is loaded once); default: new ones built from ``embedder_names``.
    """

    def __init__(self, kb_dir: Path, index_dir: Path, embedder_names: str = "minilm,e5",
                 debounce: float = DEBOUNCE_S, on_report: Callable[[UpdateReport], None] | None = None,
                 poll: float | None = None, embedders: Sequence[Embedder] | None = None):
        self.kb_dir = Path(kb_dir).resolve()
        self.index_dir = Path(index_dir)
        self.embedders = list(embedders) if embedders is not None else make_embedders(embedder_names)
        self.debounce = debounce
        self.on_report = on_report
        self.poll = poll
        self._dirty = threading.Event()
        self._last_event = 0.0
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching the knowledge folder (watchdog, or polling) and the re-indexing thread."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
                try:
                    relevant = any(watcher._relevant(p) for p in paths if p)
                except Exception:  # an exception here would end the observer thread for good
                    log.exception("could not classify a change; re-indexing to be safe")
                    relevant = True
                if relevant:
                    watcher._last_event = time.monotonic()
                    watcher._dirty.set()

        if self.poll:
            from watchdog.observers.polling import PollingObserver

            observer: BaseObserver = PollingObserver(timeout=self.poll)
        else:
            observer = Observer()
        observer.schedule(Handler(), str(self.kb_dir), recursive=True)
        observer.start()
        self._observer = observer
        self._thread = threading.Thread(target=self._loop, name="kb-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; a re-index in progress finishes first."""
        self._stop.set()
        self._dirty.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        if self._thread is not None:
            self._thread.join(30)

    def _relevant(self, path: str) -> bool:
        try:
            candidate = Path(path)
            if candidate.resolve() == self.kb_dir:
                # The folder itself changes with every top-level entry, which raises its own
                # event. (is_candidate() fails on it, and an exception here ends the observer.)
                return False
            if candidate.name.endswith(".meta.yml"):
                return True
            return is_candidate(candidate, self.kb_dir) or candidate.is_dir()
        except ValueError:
            return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            while time.monotonic() - self._last_event < self.debounce:  # wait for quiet
                time.sleep(0.2)
            self._dirty.clear()
            if not self._sizes_stable():
                self._dirty.set()
                continue
            self.update_now()

    def _sizes_stable(self) -> bool:
        """A file still growing (a copy in progress) is retried after the next pause."""
        def sizes() -> dict[str, int]:
            return {str(p): p.stat().st_size for p in self.kb_dir.rglob("*") if p.is_file()}
        try:
            before = sizes()
            time.sleep(0.3)
            return before == sizes()
        except FileNotFoundError:
            return False

    def warm_up(self) -> None:
        """Load every embedding model now, so that the first edit pays only for its own text."""
        for embedder in self.embedders:
            embedder.embed_passages(["warm-up"])

    def update_now(self) -> UpdateReport | None:
        """Re-index now; on failure log it and keep the last good version serving (returns None)."""
        try:
            report = update_index(self.kb_dir, self.index_dir, self.embedders)
        except Exception:
            log.exception("re-indexing failed; the previous index version keeps serving")
            return None
        if report.touched:
            log.info("knowledge base updated: version %s, +%d ~%d -%d, %d failed",
                     report.version, len(report.added), len(report.changed), len(report.removed),
                     len(report.failed))
        if self.on_report:
            self.on_report(report)
        return report


def watch_forever(kb_dir: Path, index_dir: Path, on_report: Callable[[UpdateReport], None],
                  poll: float | None = None, stop: threading.Event | None = None) -> None:
    """Keep ``index_dir`` current until Ctrl-C or ``stop`` is set (``kb watch``, the indexer).

    The observer starts before the first update, so an edit made while that update runs
    is not missed.

    Args:
        kb_dir: the knowledge folder.
        index_dir: the index folder this process alone writes.
        on_report: called with each update's report.
        poll: see :class:`KnowledgeWatcher`.
        stop: set it (e.g. from a SIGTERM handler) to return.
    """
    from bot.config import load_settings

    stop = stop or threading.Event()
    watcher = KnowledgeWatcher(kb_dir, index_dir, load_settings().embedder, on_report=on_report, poll=poll)
    watcher.start()
    try:
        watcher.update_now()
        watcher.warm_up()
        write_heartbeat(index_dir)
        log.info("indexer ready: watching %s", kb_dir)
        while not stop.wait(HEARTBEAT_EVERY_S):
            write_heartbeat(index_dir)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()


def write_heartbeat(index_dir: Path) -> None:
    """Record that this indexer is up, its models loaded and its observer watching.

    Written to a temporary name and renamed, so that a reader never sees half a file.
    A failed write is logged, never fatal: the index keeps being maintained.
    """
    path = Path(index_dir) / HEARTBEAT_FILE
    temporary = path.with_name(f".{HEARTBEAT_FILE}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"pid": os.getpid(), "ready": True, "beat": time.time()}))
        os.replace(temporary, path)
    except OSError as exc:
        log.warning("cannot write the indexer heartbeat %s: %s", path, exc)


def read_heartbeat(index_dir: Path) -> dict | None:
    """The last heartbeat in ``index_dir``, or None when there is none (or it is unreadable)."""
    try:
        beat = json.loads((Path(index_dir) / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return beat if isinstance(beat, dict) and isinstance(beat.get("beat"), (int, float)) else None


def indexer_alive(index_dir: Path, max_age_s: float, pid: int | None = None) -> bool:
    """True when an indexer (process ``pid``, if given) beat in ``index_dir`` in the last ``max_age_s`` s."""
    beat = read_heartbeat(index_dir)
    if beat is None or not beat.get("ready") or (pid is not None and beat.get("pid") != pid):
        return False
    return time.time() - beat["beat"] <= max_age_s


def seed_folder(kb_dir: Path, seed: Path) -> bool:
    """Copy ``seed`` into ``kb_dir`` when ``kb_dir`` is missing or empty (a fresh shared volume).

    A folder that already has files is never touched: trainers' edits on the volume win
    over the documents baked into the image.

    Returns:
        True when the seed was copied.
    """
    if kb_dir.is_dir() and any(p for p in kb_dir.iterdir() if p.name != "lost+found"):  # a fresh ext4 volume
        return False
    if not seed.is_dir():
        raise FileNotFoundError(f"seed folder {seed} does not exist")
    shutil.copytree(seed, kb_dir, dirs_exist_ok=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """The indexer process: ``python -m bot.knowledge.watcher``; returns the exit status."""
    from bot.config import load_settings
    from bot.logging_setup import configure_logging

    settings = load_settings()
    parser = argparse.ArgumentParser(description="The indexer: re-index the knowledge folder on every change "
                                                 "and publish each version to the index folder the action servers read.")
    parser.add_argument("--kb", type=Path, default=settings.kb_dir, help="knowledge folder (TUTOR_KB_DIR)")
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="index folder (TUTOR_INDEX_DIR)")
    parser.add_argument("--poll", type=float, default=None, metavar="SECONDS",
                        help="look for changes every SECONDS instead of inotify (shared volumes)")
    parser.add_argument("--seed", type=Path, default=None, metavar="DIR",
                        help="copy DIR into the knowledge folder first when that folder is empty")
    parser.add_argument("--seed-index", type=Path, default=None, metavar="DIR",
                        help="copy DIR (an index built with the image) into the index folder first when that "
                             "folder has no version: the first update then embeds only what differs")
    parser.add_argument("--alive", type=float, default=None, metavar="SECONDS",
                        help="do not index: exit 0 when the indexer of --index beat in the last SECONDS, "
                             "else 1 (the liveness probe)")
    args = parser.parse_args(argv)
    if args.alive is not None:
        return 0 if indexer_alive(args.index, args.alive) else 1
    if args.poll is not None and args.poll <= 0:
        parser.error("--poll must be a positive number of seconds")
    configure_logging()
    if args.seed is not None:
        try:
            if seed_folder(args.kb, args.seed):
                log.info("knowledge folder %s was empty: seeded from %s", args.kb, args.seed)
        except OSError as exc:
            log.error("cannot seed the knowledge folder: %s", exc)
            return 2
    if args.seed_index is not None and current_version_dir(args.index) is None:
        if current_version_dir(args.seed_index) is None:
            log.error("cannot seed the index folder: %s holds no index version", args.seed_index)
            return 2
        try:
            shutil.copytree(args.seed_index, args.index, dirs_exist_ok=True)
        except OSError as exc:
            log.error("cannot seed the index folder: %s", exc)
            return 2
        log.info("index folder %s had no version: seeded from %s", args.index, args.seed_index)
    if not args.kb.is_dir():
        log.error("knowledge folder %s does not exist", args.kb)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a clean stop between two updates
    log.info("indexer: %s -> %s (%s)", args.kb, args.index, f"polling every {args.poll:g} s" if args.poll else "inotify")
    watch_forever(args.kb, args.index, on_report=lambda _report: None, poll=args.poll, stop=stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
