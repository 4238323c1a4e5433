"""Per-turn cost of the knowledge actions, in process and on one thread (no Rasa, no HTTP).

``python -m bot.bench.turn_cost [--repeat N]`` times, over the project's index:

- **answer**: search + composing the reply, with the sentence vectors stored in the index
  and with the answer-time embedding they replace (the path an index built before takes);
- **paging**: ``action_show_more`` and ``action_show_full_passage`` from the kept last
  result, and searching again (what they did before).

Both ways run interleaved in the same process, so they share the machine's load. It
prints one JSON object; medians in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

#: Questions whose best passage is longer than a reply (the sentence vectors matter), then common ones.
LONG_PASSAGE_QUESTIONS = (
    "Can a government servant be a member of a political party?",
    "On what lawful grounds may personal data be processed under the DPDP Act?",
    "How much does the government contribute to the NPS?",
    "Is it mandatory to buy common-use goods on GeM?",
    "Which information is exempt from disclosure under the RTI Act?",
    "आरटीआई में कौन-सी सूचना रोकी जा सकती है?",
)
SHORT_PASSAGE_QUESTIONS = ("What is the fee for an RTI application?", "how many casual leaves in a year")


def _ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)


def answer_costs(retriever, repeat: int) -> dict:
    """Median search + reply composition per question, stored vs embedded sentence vectors."""
    from bot.replies import _best_vector, compose_answer, select_sentences, stored_sentence_vectors

    rows = {}
    for question in LONG_PASSAGE_QUESTIONS + SHORT_PASSAGE_QUESTIONS:
        stored_t, embedded_t, search_t = [], [], []
        for _ in range(repeat):
            started = time.perf_counter()
            result = retriever.search(question)
            search_t.append(time.perf_counter() - started)
            started = time.perf_counter()
            stored = compose_answer(result, retriever)
            stored_t.append(time.perf_counter() - started)
            hit = result.hits[0]
            name, vector = _best_vector(result, hit.chunk)
            started = time.perf_counter()
            embedded = select_sentences(hit.chunk, vector, retriever, name)  # the answer-time embedding
            embedded_t.append(time.perf_counter() - started)
        same = stored is not None and stored.text.startswith(embedded)
        had_vectors = stored_sentence_vectors(result, hit, retriever, name) is not None
        rows[question] = {"search_ms": _ms(search_t), "compose_stored_ms": _ms(stored_t),
                          "select_embedding_ms": _ms(embedded_t), "stored_vectors_used": had_vectors,
                          "same_text": same}
    return rows


def paging_costs(retriever, repeat: int) -> dict:
    """Median ``show more`` / ``full passage`` time from the kept result and by searching again."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.knowledge import ActionAnswerQuestion, ActionShowFullPassage, ActionShowMore
    from bot.knowledge.recent import RecentResults

    class Forgetful(RecentResults):
        def put(self, *args, **kwargs) -> None:
            return None

    def tracker(text: str, slots: dict) -> Tracker:
        return Tracker("bench-learner", {"language": "en", "role": None, **slots},
                       {"text": text, "intent": {"name": "ask_question"}, "entities": []},
                       [], False, None, None, "action_listen")

    async def once(action, state: Tracker) -> float:
        started = time.perf_counter()
        await action.run(CollectingDispatcher(), state, {})
        return time.perf_counter() - started

    async def measure() -> dict:
        out: dict[str, dict[str, float]] = {}
        for question in LONG_PASSAGE_QUESTIONS[:3] + SHORT_PASSAGE_QUESTIONS:
            kept, again = RecentResults(), Forgetful()
            await ActionAnswerQuestion(retriever, kept).run(CollectingDispatcher(), tracker(question, {}), {})
            paged = tracker("show more", {"last_query": question, "answer_rank": 0.0})
            times: dict[str, list[float]] = {"show_more_kept": [], "show_more_search": [],
                                             "full_passage_kept": [], "full_passage_search": []}
            for _ in range(repeat):
                times["show_more_kept"].append(await once(ActionShowMore(retriever, kept), paged))
                times["show_more_search"].append(await once(ActionShowMore(retriever, again), paged))
                times["full_passage_kept"].append(await once(ActionShowFullPassage(retriever, kept), paged))
                times["full_passage_search"].append(await once(ActionShowFullPassage(retriever, again), paged))
            out[question] = {f"{k}_ms": _ms(v) for k, v in times.items()}
        return out

    return asyncio.run(measure())


def main(argv: list[str] | None = None) -> int:
    """Measure what each part of one answered turn costs; print the table.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    import os

    from bot.runner import SINGLE_THREAD_ENV

    for name in SINGLE_THREAD_ENV:  # one math thread, as every process of `make run` has
        os.environ.setdefault(name, "1")
    from bot.config import load_settings
    from bot.knowledge.search import Retriever

    index_dir = load_settings().index_dir  # the project's index, before the state folder moves
    with tempfile.TemporaryDirectory() as state:  # the actions' learner store, not the project's
        os.environ["TUTOR_STATE_DIR"] = state
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(state) / 'learners.db'}"
        retriever = Retriever(index_dir)
        retriever.search("warm up the models")
        report = {"index": retriever.index.version, "repeat": args.repeat,
                  "answer": answer_costs(retriever, args.repeat), "paging": paging_costs(retriever, args.repeat)}
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
