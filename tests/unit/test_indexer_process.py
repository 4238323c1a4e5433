"""The indexer process (``python -m bot.knowledge.watcher``): the one writer of a shared index.

Run as scaled mode and the ``indexer`` Deployment run it, with the test-only ``hash`` embedder:
it seeds an empty knowledge folder, publishes versions that a reader in another process
follows through ``CURRENT``, notices edits by polling (a shared volume raises no inotify
events for other machines' writes), stops cleanly on SIGTERM, and refuses bad options with
a clear message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.knowledge.index import current_version_dir, read_chunks
from bot.knowledge.watcher import seed_folder
from tests.conftest import write


def _indexer(*args: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "TUTOR_EMBEDDERS": "hash", "TUTOR_STATE_DIR": str(tmp_path / "state"),
           "PYTHONPATH": str(PROJECT_ROOT), "LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, "-m", "bot.knowledge.watcher", *args], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(predicate, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the indexer exited ({process.returncode}): {process.stdout.read()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _sources(index: Path) -> set[str]:
    live = current_version_dir(index)
    return {c.source for c in read_chunks(live)} if live else set()


def test_the_indexer_seeds_builds_and_publishes_each_edit_then_stops_on_sigterm(kb_dir: Path, tmp_path: Path) -> None:
    volume_kb, index = tmp_path / "volume" / "kb", tmp_path / "volume" / "index"
    process = _indexer("--kb", str(volume_kb), "--index", str(index), "--poll", "0.5", "--seed", str(kb_dir),
                       tmp_path=tmp_path)
    try:
        _wait_for(lambda: _sources(index) == {"modules/rti.md", "modules/leave.md"}, 60, process)
        first = current_version_dir(index).name
        # A trainer (or the console, from another machine) adds a document: polling sees it.
        write(volume_kb / "faq" / "q00001-hostel.md", """
            ---
            title: "FAQ: hostel rooms"
            module: faq
            language: en
            ---
            # How many hostel rooms can a trainee book?

            Two rooms, through the warden's form HG-77.
            """)
        _wait_for(lambda: "faq/q00001-hostel.md" in _sources(index), 30, process)
        assert current_version_dir(index).name > first
        assert any("HG-77" in c.text for c in read_chunks(current_version_dir(index)))
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The seed is copied only into an empty folder: the trainers' volume is never overwritten.
    assert (volume_kb / "faq" / "q00001-hostel.md").exists()
    assert not seed_folder(volume_kb, kb_dir)


def test_an_index_seed_is_copied_into_an_empty_index_folder_and_only_the_difference_embedded(
        kb_dir: Path, tmp_path: Path) -> None:
    """A fresh volume starts from the index built with the image, not from minutes of embedding."""
    from bot.knowledge.embedders import make_embedder
    from bot.knowledge.index import update_index

    baked = tmp_path / "image-index"
    update_index(kb_dir, baked, [make_embedder("hash")])
    write(kb_dir / "modules" / "extra.md", "---\ntitle: Extra\nmodule: extra\nlanguage: en\n---\n# Extra\n\nNew text.\n")
    index = tmp_path / "volume-index"
    process = _indexer("--kb", str(kb_dir), "--index", str(index), "--seed-index", str(baked), tmp_path=tmp_path)
    try:
        _wait_for(lambda: "modules/extra.md" in _sources(index), 60, process)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "seeded from" in output and current_version_dir(index).name == "v000002", output
    assert current_version_dir(baked).name == "v000001"  # the image's copy is left as it was


def test_a_reader_in_another_process_follows_the_published_version(kb_dir: Path, tmp_path: Path) -> None:
    """The action servers' side: a Retriever over the indexer's folder swaps to each new version."""
    from bot.knowledge.embedders import make_embedder
    from bot.knowledge.search import Retriever

    index = tmp_path / "index"
    process = _indexer("--kb", str(kb_dir), "--index", str(index), "--poll", "0.5", tmp_path=tmp_path)
    try:
        _wait_for(lambda: current_version_dir(index) is not None, 60, process)
        reader = Retriever(index, {"hash": make_embedder("hash")}, check_interval=0.2, reranker=None)
        before = reader.index.version
        write(kb_dir / "modules" / "leave.md", (kb_dir / "modules" / "leave.md").read_text()
              + "\n## Hill allowance\n\nA probationer in a hill district is paid Rs 7,345 a month.\n")
        _wait_for(lambda: reader.index.version != before, 30, process)
        assert any("7,345" in c.text for c in reader.index.chunks)
    finally:
        process.terminate()
        process.wait(30)


def test_bad_options_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    cases = [
        (["--poll", "0"], "--poll must be a positive number of seconds"),
        (["--kb", str(tmp_path / "kb"), "--seed", str(tmp_path / "nowhere")], "does not exist"),
        (["--kb", str(tmp_path / "missing")], "knowledge folder"),
        (["--seed-index", str(tmp_path)], "holds no index version"),
    ]
    for args, message in cases:
        process = _indexer(*args, "--index", str(tmp_path / "index"), tmp_path=tmp_path)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 2 and message in output, (args, output)
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_an_event_on_the_knowledge_folder_itself_does_not_stop_the_watching(kb_dir: Path, tmp_path: Path) -> None:
    """A new top-level folder (the console's first FAQ creates ``faq/``) changes the knowledge
    folder itself; that event once raised inside the observer and silently ended the watching,
    so every later edit was never indexed."""
    index = tmp_path / "index"
    process = _indexer("--kb", str(kb_dir), "--index", str(index), tmp_path=tmp_path)  # inotify
    try:
        _wait_for(lambda: current_version_dir(index) is not None, 60, process)
        time.sleep(1)  # the observer is running
        write(kb_dir / "faq" / "q00001-first.md", "---\ntitle: First\nmodule: faq\nlanguage: en\n---\n# First?\n\nYes.\n")
        (kb_dir / "notes.txt~").write_text("an editor's backup at the top level")
        _wait_for(lambda: "faq/q00001-first.md" in _sources(index), 30, process)
        time.sleep(2)
        write(kb_dir / "modules" / "later.md", "---\ntitle: Later\nmodule: later\nlanguage: en\n---\n# Later\n\nText.\n")
        _wait_for(lambda: "modules/later.md" in _sources(index), 30, process)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output, output


class _RecordingEmbedder:
    """Wraps the hash embedder and records what it was asked to embed."""

    def __init__(self):
        from bot.knowledge.embedders import make_embedder

        self._inner = make_embedder("hash")
        self.name, self.dim = self._inner.name, self._inner.dim
        self.passages: list[str] = []

    def embed_passages(self, texts):
        self.passages.extend(texts)
        return self._inner.embed_passages(texts)


def test_the_indexer_loads_its_models_before_it_reports_ready(kb_dir: Path, tmp_path: Path) -> None:
    """A model loaded on the first edit costs that edit most of its 10 s on a busy machine."""
    from bot.knowledge.watcher import KnowledgeWatcher

    watcher = KnowledgeWatcher(kb_dir, tmp_path / "index", "hash")
    watcher.embedders = [_RecordingEmbedder()]
    watcher.warm_up()
    assert watcher.embedders[0].passages == ["warm-up"]


def test_the_liveness_probe_follows_the_indexers_heartbeat(kb_dir: Path, tmp_path: Path) -> None:
    """``--alive`` fails before the indexer is ready and after it stops beating, passes while it runs."""
    import json

    from bot.knowledge.watcher import HEARTBEAT_FILE, indexer_alive

    index = tmp_path / "index"

    def probe(max_age: str = "20") -> int:
        return subprocess.run([sys.executable, "-m", "bot.knowledge.watcher", "--index", str(index), "--alive", max_age],
                              cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                              capture_output=True, timeout=60).returncode

    assert probe() == 1  # no indexer has ever run here
    process = _indexer("--kb", str(kb_dir), "--index", str(index), tmp_path=tmp_path)
    try:
        _wait_for(lambda: indexer_alive(index, 20, pid=process.pid), 60, process)
        assert current_version_dir(index) is not None  # ready means the first update is done
        assert probe() == 0
    finally:
        process.terminate()
        process.wait(30)
    beat = json.loads((index / HEARTBEAT_FILE).read_text())
    (index / HEARTBEAT_FILE).write_text(json.dumps({**beat, "beat": time.time() - 120}))  # it stopped 2 min ago
    assert probe("60") == 1 and probe("600") == 0
    assert not indexer_alive(index, 600, pid=process.pid + 1)  # another process's heartbeat is not this one's
    (index / HEARTBEAT_FILE).write_text("{half a fi")
    assert probe("600") == 1
