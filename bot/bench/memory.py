"""Resident memory of an action server's retrieval, measured in a fresh process.

The query benchmark (:mod:`bot.bench.query`) asks how much memory an index of N chunks
costs the action server. The answer must not include what the benchmark process itself
has loaded, so each measurement starts a new interpreter that builds the retriever the
way the action server does (:func:`bot.wiring.get_retriever`, pointed at the index by
``TUTOR_INDEX_DIR``: the index, every embedder it was built with, the reranker), runs a
few searches and reports its own ``VmRSS`` (now) and ``VmHWM`` (peak) from
``/proc/self/status``. The same measurement over a tiny index is the baseline: the
difference is what the index adds.

This module is a helper of the query benchmark, not a benchmark of its own (it has no
``main``); ``python -m bot.bench.memory INDEX_DIR`` is the child's entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import PROJECT_ROOT

#: The issue's budget for the action server with a 100k-chunk index (1.5 GiB).
TARGET_MIB = 1536
_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")
_MARK = "MEMORY "


def read_status_mib(pid: int | str = "self") -> dict[str, float]:
    """Memory figures of a process from ``/proc/<pid>/status``, in MiB.

    Args:
        pid: a process id, or ``"self"``.

    Returns:
        ``VmRSS`` (resident now), ``VmHWM`` (peak resident), ``RssAnon`` (heap, not
        file-backed) and ``RssFile`` (mapped files), each in MiB; a field the kernel
        does not report is left out.
    """
    figures: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in _FIELDS:
            figures[name] = int(value.split()[0]) / 1024  # reported in kB
    return figures


def measure(index_dir: Path, queries: Sequence[str], timeout: float = 900.0) -> dict[str, float]:
    """Resident memory of a fresh process serving searches from ``index_dir``.

    Args:
        index_dir: an index folder (``CURRENT`` + ``versions/``).
        queries: questions the child searches before it reports (at least one).
        timeout: seconds before the child is given up.

    Returns:
        :func:`read_status_mib` of the child after its searches.

    Raises:
        RuntimeError: the child failed or reported nothing.
    """
    env = {**os.environ, "TUTOR_INDEX_DIR": str(index_dir)}
    done = subprocess.run([sys.executable, "-m", "bot.bench.memory", str(index_dir)], input=json.dumps(list(queries)),
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=timeout, check=False)
    reports = [line[len(_MARK):] for line in done.stdout.splitlines() if line.startswith(_MARK)]
    if done.returncode or not reports:
        raise RuntimeError(f"memory probe of {index_dir} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(reports[-1])


def _probe(index_dir: str) -> int:
    """The child: load the retriever as the action server does, search, print its memory."""
    os.environ["TUTOR_INDEX_DIR"] = index_dir
    queries = json.loads(sys.stdin.read()) or ["warm up"]
    from bot.wiring import get_retriever

    retriever = get_retriever()
    for query in queries:
        result = retriever.search(query)
        sentences = retriever.index.sentences
        if sentences is not None:  # a reply reads the stored sentence vectors of its passage
            for hit in result.hits:
                for name in retriever.index.embedder_names:
                    sentences.get(name, hit.row)
    print(_MARK + json.dumps(read_status_mib()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_probe(sys.argv[1]))
