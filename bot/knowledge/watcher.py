"""Re-index the knowledge folder whenever a trainer changes it.

A watchdog observer collects file events; after a quiet period (debounce) one
incremental update runs. Editor swap files, hidden files and downloads in progress
are ignored, and a file still being written (its size changes between two looks) is
left for the next round. Errors are logged and the last good index keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.knowledge.embedders import make_embedders
from bot.knowledge.index import UpdateReport, update_index
from bot.knowledge.loader import is_candidate

log = logging.getLogger(__name__)

DEBOUNCE_S = 1.5


class KnowledgeWatcher:
    """Watches ``kb_dir`` and keeps ``index_dir`` current.

    Args:
        kb_dir: the knowledge folder.
        index_dir: the index folder.
        embedder_names: comma-separated embedder names.
        debounce: quiet seconds before an update runs.
        on_report: called with each update's report.
    """

    def __init__(self, kb_dir: Path, index_dir: Path, embedder_names: str = "minilm,e5",
                 debounce: float = DEBOUNCE_S, on_report: Callable[[UpdateReport], None] | None = None):
        self.kb_dir = Path(kb_dir).resolve()
        self.index_dir = Path(index_dir)
        self.embedders = make_embedders(embedder_names)
        self.debounce = debounce
        self.on_report = on_report
        self._dirty = threading.Event()
        self._last_event = 0.0
        self._stop = threading.Event()
        self._observer = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
                if any(watcher._relevant(p) for p in paths if p):
                    watcher._last_event = time.monotonic()
                    watcher._dirty.set()

        self._observer = Observer()
        self._observer.schedule(Handler(), str(self.kb_dir), recursive=True)
        self._observer.start()
        self._thread = threading.Thread(target=self._loop, name="kb-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
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

    def update_now(self) -> UpdateReport | None:
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


def watch_forever(kb_dir: Path, index_dir: Path, on_report: Callable[[UpdateReport], None]) -> None:
    """Run the watcher in the foreground until Ctrl-C (``kb watch``)."""
    from bot.config import load_settings

    watcher = KnowledgeWatcher(kb_dir, index_dir, load_settings().embedder, on_report=on_report)
    watcher.update_now()
    watcher.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
