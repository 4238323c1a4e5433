"""Load benchmark: our tutor against Rasa's own demo bot (``rasa init``) in the same run.

``make bench`` calls :func:`main`. For each bot it starts the server on loopback, warms it
up, then runs closed-loop async clients (1, 4 and 16 concurrent learners, each replaying
realistic conversations over the REST channel) for a fixed time per level, and prints
throughput (messages/s) and p50/p95 latency per level, the ratio of our throughput to the
demo bot's (the floor: Rasa's dialogue engine on the same machine), the resident memory of
each process before and after, and latency versus conversation length (first ten turns of
one long conversation against its last ten: with tracker sessions it must not grow).

Per kind of turn (canned reply, knowledge question, paging, quiz answer...), the tutor's
p50 at one learner is set against the floor of the same kind in the same run: a canned
reply against the demo bot's reply; a knowledge question against the demo bot's reply plus
the raw query work any retrieval must do (embedding the question with each configured model
and one flat FAISS search each, :func:`raw_query_floor`); the cross-encoder reranker's own
cost is reported on its own line.

The demo bot is created once under ``.state/bench/rasa-demo`` (``rasa init --no-prompt``
trains it) and reused. Environment: ``BENCH_LOAD_SECONDS`` (per level, default 15),
``BENCH_LOAD_LEVELS`` (default ``1,4,16``), ``BENCH_LONG_TURNS`` (default 60),
``BENCH_MODEL`` (our model, default ``models/tutor.tar.gz``), ``BENCH_THREADS`` (math threads
per process for both bots, default 1 as in scaled mode; ``default`` leaves the libraries'
own), ``BENCH_REPEATS`` (default 2: the pair runs twice, the second time tutor first, and the
median ratio is reported; two runs minutes apart here gave 0.64x and 0.37x at 16 learners
with a fixed order). The table is also written to ``.state/bench/load.md``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings
from bot.runner import RASA_BIN, Stack, free_port, wait_http

DEMO_DIR = PROJECT_ROOT / ".state" / "bench" / "rasa-demo"
# A learner's conversation: questions, the privacy notice, a short quiz (answers by button
# payload, as the widget and Telegram send them), another question, thanks.
OUR_TURNS = ["hello", "what is the fee for an RTI application?", "show more", "/consent_accept", "/quiz_me",
             '/answer_quiz{"quiz_answer":"A"}', '/answer_quiz{"quiz_answer":"B"}',
             "how many days of casual leave can I take?", "who is the first appellate authority under RTI?", "thanks"]
DEMO_TURNS = ["hello", "I am sad", "yes", "are you a bot?", "great", "bye"]
#: What each of :data:`OUR_TURNS` costs the tutor, for the per-kind table.
OUR_KINDS = {"hello": "canned", "thanks": "canned", "show more": "paging", "/consent_accept": "consent",
             "/quiz_me": "quiz start", '/answer_quiz{"quiz_answer":"A"}': "quiz answer",
             '/answer_quiz{"quiz_answer":"B"}': "quiz answer"}
KNOWLEDGE_QUESTIONS = [t for t in OUR_TURNS if t.endswith("?")]


@dataclass
class Level:
    concurrency: int
    messages: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    #: Latencies (ms) by kind of turn (:func:`turn_kind`).
    by_kind: dict[str, list[float]] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Messages answered per second over the run."""
        return self.messages / self.seconds


def _family(pid: int) -> list[int]:
    """A process and its direct children (Rasa's and the action server's workers)."""
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        children = []
    return [pid, *(int(c) for c in children)]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MiB."""
    total = 0
    for p in _family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def turn_kind(text: str) -> str:
    """The kind of one benchmark turn: a knowledge question, or its :data:`OUR_KINDS` entry.

    Every turn of the demo bot is a canned reply (its only action is an utterance).
    """
    if text in KNOWLEDGE_QUESTIONS:
        return "knowledge"
    return OUR_KINDS.get(text, "canned")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children have used so far, seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat)
    return total


async def _learner(client, url: str, turns: list[str], name: str, deadline: float, latencies: list[float],
                   errors: list[int], by_kind: dict[str, list[float]]) -> None:
    for n in itertools.count():
        sender = f"{name}-{n}"
        for text in turns:
            if time.monotonic() >= deadline:
                return
            start = time.monotonic()
            try:
                resp = await client.post(url, json={"sender": sender, "message": text})
                ok = resp.status_code == 200 and bool(resp.json())
            except Exception:
                ok = False
            if not ok:
                errors.append(1)
                continue
            latencies.append((time.monotonic() - start) * 1000)
            by_kind.setdefault(turn_kind(text), []).append(latencies[-1])


async def run_level(base_url: str, turns: list[str], concurrency: int, seconds: float) -> Level:
    """Closed-loop load: ``concurrency`` learners replaying ``turns`` for ``seconds``."""
    import httpx

    url = base_url + "/webhooks/rest/webhook"
    latencies: list[float] = []
    errors: list[int] = []
    by_kind: dict[str, list[float]] = {}
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(*(_learner(client, url, turns, f"bench-{concurrency}-{i}-{int(start)}", deadline,
                                        latencies, errors, by_kind) for i in range(concurrency)))
        elapsed = time.monotonic() - start
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    return Level(concurrency, len(latencies), len(errors), elapsed, statistics.median(latencies) if latencies
                 else float("nan"), q[18], by_kind)


def raw_query_floor(questions: list[str], rounds: int = 5) -> dict[str, float]:
    """The raw query work of a knowledge turn over the live index, and the reranker's cost (ms, p50).

    Runs in this process (call it in one with the action server's single math thread):
    ``raw`` is one query embedding per configured model plus one flat FAISS inner-product
    search each (top 10), the least any two-model dense retrieval must do; ``reranker`` is
    the tutor's search with the cross-encoder minus the same search without it.
    """
    import faiss
    import numpy as np

    from bot.wiring import get_retriever

    retriever = get_retriever()
    index = retriever.index
    flat = {}
    for name in index.embedder_names:
        flat[name] = faiss.IndexFlatIP(index.vectors[name].shape[1])
        flat[name].add(np.ascontiguousarray(index.vectors[name]))

    def raw(question: str) -> None:
        for name, searcher in flat.items():
            searcher.search(retriever.embedder(name).embed_queries([question]), 10)

    for question in questions:  # warm-up: models, caches, lazy imports
        raw(question)
        retriever.search(question)
    raw_ms: list[float] = []
    with_ms: list[float] = []
    without_ms: list[float] = []
    timed: list[tuple[list[float], Callable[[str], object]]] = [
        (raw_ms, raw), (with_ms, retriever.search), (without_ms, lambda q: retriever.search(q, rerank=False))]
    for _ in range(rounds):
        for question in questions:
            for samples, run in timed:
                started = time.perf_counter()
                run(question)
                samples.append((time.perf_counter() - started) * 1000)
    return {"raw": statistics.median(raw_ms),
            "reranker": statistics.median(with_ms) - statistics.median(without_ms) if retriever.reranker else 0.0}


def _raw_query_floor_in_child() -> dict[str, float]:
    """:func:`raw_query_floor` in a child process with one math thread, as the action server runs."""
    from bot.runner import SINGLE_THREAD_ENV

    env = {**os.environ, **dict.fromkeys(SINGLE_THREAD_ENV, "1"), "PYTHONPATH": str(PROJECT_ROOT)}
    code = ("import json, sys; from bot.bench.load import KNOWLEDGE_QUESTIONS, raw_query_floor; "
            "print(json.dumps(raw_query_floor(KNOWLEDGE_QUESTIONS)))")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def long_conversation(base_url: str, turns: list[str], total: int) -> tuple[float, float]:
    """p50 latency (ms) of the first ten and the last ten turns of one ``total``-turn conversation."""
    import httpx

    url = base_url + "/webhooks/rest/webhook"
    sender = f"bench-long-{int(time.time())}"
    lat = []
    async with httpx.AsyncClient(timeout=60) as client:
        for text in itertools.islice(itertools.cycle(turns), total):
            start = time.monotonic()
            await client.post(url, json={"sender": sender, "message": text})
            lat.append((time.monotonic() - start) * 1000)
    return statistics.median(lat[:10]), statistics.median(lat[-10:])


def ensure_demo_bot() -> Path:
    """The demo bot's trained model (created and trained once with ``rasa init``)."""
    models = sorted((DEMO_DIR / "models").glob("*.tar.gz"))
    if models:
        return models[-1]
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    print("creating Rasa's demo bot (rasa init, trains once, ~1 min)...", flush=True)
    subprocess.run([str(RASA_BIN), "init", "--no-prompt", "--init-dir", str(DEMO_DIR)], cwd=DEMO_DIR, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1200)
    return sorted((DEMO_DIR / "models").glob("*.tar.gz"))[-1]


def _measure(name: str, base_url: str, turns: list[str], pids: dict[str, int], levels: list[int],
             seconds: float, long_turns: int) -> dict:
    before = {k: rss_mb(p) for k, p in pids.items()}
    asyncio.run(run_level(base_url, turns, 2, 5))  # warm-up (first turns load lazy parts)
    cpu_before = {k: cpu_seconds(p) for k, p in pids.items()}
    results = [asyncio.run(run_level(base_url, turns, c, seconds)) for c in levels]
    messages = sum(level.messages for level in results)
    cpu_ms = {k: (cpu_seconds(p) - cpu_before[k]) * 1000 / max(messages, 1) for k, p in pids.items()}
    first, last = asyncio.run(long_conversation(base_url, turns, long_turns))
    after = {k: rss_mb(p) for k, p in pids.items()}
    return {"name": name, "levels": results, "rss_before": before, "rss_after": after, "long": (first, last),
            "cpu_ms_per_message": cpu_ms}


def _bench_demo(levels: list[int], seconds: float, long_turns: int) -> dict:
    model = ensure_demo_bot()
    port = free_port()
    log = open(PROJECT_ROOT / ".state" / "bench" / "rasa-demo.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([str(RASA_BIN), "run", "--interface", "127.0.0.1", "--port", str(port), "--model",
                             str(model)], cwd=DEMO_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/", 300, proc)
        return _measure("rasa demo bot", f"http://127.0.0.1:{port}", DEMO_TURNS, {"rasa": proc.pid}, levels,
                        seconds, long_turns)
    finally:
        proc.terminate()
        proc.wait(30)


def _bench_tutor(levels: list[int], seconds: float, long_turns: int) -> dict:
    model = Path(os.environ.get("BENCH_MODEL") or PROJECT_ROOT / "models" / "tutor.tar.gz")
    stack = Stack(rasa_port=free_port(), action_port=free_port(), web=False, model=model,
                  log_dir=PROJECT_ROOT / ".state" / "bench" / "logs",
                  env={"DATABASE_URL": f"sqlite:///{PROJECT_ROOT / '.state' / 'bench' / 'learners.db'}"})
    logs = {"rasa": stack.log_dir / "rasa.log", "action server": stack.log_dir / "action-server.log"}
    start = {name: path.stat().st_size if path.exists() else 0 for name, path in logs.items()}
    with stack:
        pids = {"rasa": stack.processes["rasa"].pid, "action server": stack.processes["action-server"].pid}
        result = _measure("karmayogi tutor", f"http://127.0.0.1:{stack.rasa_port}", OUR_TURNS, pids, levels, seconds,
                          long_turns)
    result["log_errors"] = {name: error_lines(path, start[name]) for name, path in logs.items()}
    return result


def error_lines(path: Path, offset: int) -> list[str]:
    """The ERROR lines a process logged after ``offset`` bytes of its (appended) log file.

    Args:
        path: the log file.
        offset: its size before the run.

    Returns:
        The lines (empty when the file does not exist).
    """
    if not path.exists():
        return []
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", errors="replace")
    return [line for line in text.splitlines() if " ERROR " in line or line.startswith("ERROR")]


def kind_rows(ours: dict, floor: dict, query: dict[str, float]) -> list[str]:
    """Markdown rows: the tutor's p50 per kind of turn at one learner against that kind's floor."""
    mine, demo = ours["levels"][0], floor["levels"][0]
    demo_p50 = statistics.median(demo.by_kind.get("canned") or [float("nan")])
    floors = {"canned": demo_p50, "knowledge": demo_p50 + query["raw"]}
    rows = [f"Per kind of turn at {mine.concurrency} learner (p50 ms; floor: the demo bot's reply, plus for a "
            f"knowledge question the raw query work, {query['raw']:.0f} ms: embedding with each model and a flat "
            "FAISS search each)", "",
            "| kind | turns | tutor p50 | floor p50 | tutor - floor | tutor / floor |", "|---|---|---|---|---|---|"]
    for kind, samples in sorted(mine.by_kind.items()):
        p50 = statistics.median(samples)
        base = floors.get(kind, demo_p50)
        rows.append(f"| {kind} | {len(samples)} | {p50:.0f} | {base:.0f}{'' if kind in floors else ' (demo reply)'} | "
                    f"{p50 - base:+.0f} | {p50 / base:.2f}x |")
    rows += ["", f"The cross-encoder reranker's own cost in a knowledge search (p50, in process): "
                 f"{query['reranker']:.0f} ms (included in the tutor's knowledge p50 above)."]
    return rows


def report(ours: dict, floor: dict, query: dict[str, float] | None = None) -> str:
    """A Markdown table of our bot's load results beside the demo bot's (the floor)."""
    lines = [f"Load benchmark (REST channel, closed-loop clients, this machine, {os.cpu_count()} CPUs, "
             f"math threads per process: {os.environ.get('OMP_NUM_THREADS', 'library default')})", "",
             "| bot | learners | msg/s | p50 ms | p95 ms | errors | vs demo msg/s |", "|---|---|---|---|---|---|---|"]
    for res in (floor, ours):
        for mine, base in zip(res["levels"], floor["levels"], strict=True):
            lines.append(f"| {res['name']} | {mine.concurrency} | {mine.throughput:.1f} | {mine.p50_ms:.0f} | "
                         f"{mine.p95_ms:.0f} | {mine.errors} | {mine.throughput / base.throughput:.2f} |")
    lines += ["", "| bot | process | RSS before MiB | RSS after MiB | CPU ms per message (all levels) |",
              "|---|---|---|---|---|"]
    for res in (floor, ours):
        for k in res["rss_before"]:
            lines.append(f"| {res['name']} | {k} | {res['rss_before'][k]:.0f} | {res['rss_after'][k]:.0f} | "
                         f"{res['cpu_ms_per_message'][k]:.1f} |")
    lines += ["", "Latency vs conversation length (p50 ms, first 10 turns -> last 10 turns of one long conversation):"]
    for res in (floor, ours):
        lines.append(f"- {res['name']}: {res['long'][0]:.0f} -> {res['long'][1]:.0f}")
    if "log_errors" in ours:
        counts = ", ".join(f"{name} {len(found)}" for name, found in ours["log_errors"].items())
        lines += ["", f"ERROR lines the tutor's processes logged during the run: {counts}"]
        lines += [f"    {line[:200]}" for found in ours["log_errors"].values() for line in found[:5]]
    if query is not None:
        lines += ["", *kind_rows(ours, floor, query)]
    return "\n".join(lines)


def repeat_rows(pairs: list[tuple[dict, dict]]) -> list[str]:
    """Markdown rows: the tutor/demo ratios of each repeat, and their median.

    Args:
        pairs: ``(ours, floor)`` per repeat, in run order; odd repeats ran the tutor first.

    Returns:
        A note, then a table: throughput ratio per level and the canned-reply p50 ratio at
        one learner, one row per repeat and a median row.
    """
    levels = [level.concurrency for level in pairs[0][1]["levels"]]
    rows = ["Repeats (the bots run one after the other, so a change in the machine's speed between them moves "
            "the ratio: the order alternates and the median is the figure to quote)", "",
            "| repeat | first | " + " | ".join(f"msg/s ratio at {n}" for n in levels) + " | canned p50 ratio |",
            "|---|---|" + "---|" * (len(levels) + 1)]
    ratios: list[list[float]] = []
    for i, (ours, floor) in enumerate(pairs):
        row = [mine.throughput / base.throughput for mine, base in zip(ours["levels"], floor["levels"], strict=True)]
        canned = [statistics.median(res["levels"][0].by_kind.get("canned") or [float("nan")]) for res in (ours, floor)]
        row.append(canned[0] / canned[1])
        ratios.append(row)
        rows.append(f"| {i + 1} | {'tutor' if i % 2 else 'demo bot'} | " + " | ".join(f"{r:.2f}" for r in row) + " |")
    medians = [statistics.median(column) for column in zip(*ratios, strict=True)]
    rows.append("| median | | " + " | ".join(f"**{m:.2f}**" for m in medians) + " |")
    return rows


def main() -> None:
    """Run both benchmarks one after the other (never at once: 2 cores) and print the tables.

    ``BENCH_REPEATS`` (default 2) runs the pair that many times, alternating which bot goes
    first; the full tables are the first repeat's, the ratios of every repeat follow.
    """
    levels = [int(x) for x in os.environ.get("BENCH_LOAD_LEVELS", "1,4,16").split(",")]
    seconds = float(os.environ.get("BENCH_LOAD_SECONDS", "15"))
    long_turns = int(os.environ.get("BENCH_LONG_TURNS", "60"))
    repeats = max(1, int(os.environ.get("BENCH_REPEATS", "2")))
    (PROJECT_ROOT / ".state" / "bench").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")  # both bots' Rasa: no calls home
    # Both bots as deployed in scaled mode: one math thread per process (BENCH_THREADS=default
    # keeps the libraries' own pools, which oversubscribe the cores: ~3x slower at 4 learners).
    if os.environ.get("BENCH_THREADS", "1") != "default":
        from bot.scaled.stack import SINGLE_THREAD_ENV

        for name in SINGLE_THREAD_ENV:
            os.environ.setdefault(name, os.environ.get("BENCH_THREADS", "1"))
    load_settings()
    pairs: list[tuple[dict, dict]] = []
    for i in range(repeats):
        if i % 2 == 0:
            floor = _bench_demo(levels, seconds, long_turns)
            ours = _bench_tutor(levels, seconds, long_turns)
        else:
            ours = _bench_tutor(levels, seconds, long_turns)
            floor = _bench_demo(levels, seconds, long_turns)
        pairs.append((ours, floor))
    table = report(*pairs[0], _raw_query_floor_in_child())
    table += "\n\n" + "\n".join(repeat_rows(pairs))
    print(table, flush=True)
    (PROJECT_ROOT / ".state" / "bench" / "load.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
