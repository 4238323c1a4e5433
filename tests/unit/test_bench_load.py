"""The load benchmark's per-kind table: each kind of turn against the floor of its kind."""

from __future__ import annotations

from bot.bench.load import DEMO_TURNS, OUR_TURNS, Level, kind_rows, turn_kind


def test_every_turn_of_the_tutors_conversation_has_a_kind_and_the_demo_bots_are_canned() -> None:
    kinds = {text: turn_kind(text) for text in OUR_TURNS}
    assert kinds["what is the fee for an RTI application?"] == "knowledge"
    assert kinds["show more"] == "paging" and kinds["hello"] == kinds["thanks"] == "canned"
    assert kinds['/answer_quiz{"quiz_answer":"A"}'] == "quiz answer"
    assert {"canned", "knowledge", "paging", "quiz answer"} <= set(kinds.values())
    assert {turn_kind(text) for text in DEMO_TURNS} == {"canned"}


def test_a_knowledge_question_is_set_against_the_demo_reply_plus_the_raw_query_work() -> None:
    def level(by_kind: dict[str, list[float]]) -> Level:
        return Level(1, sum(map(len, by_kind.values())), 0, 10.0, 0.0, 0.0, by_kind)

    ours = {"levels": [level({"canned": [40, 44, 42], "knowledge": [150, 160, 170], "paging": [50]})]}
    demo = {"levels": [level({"canned": [30, 31, 29]})]}
    rows = kind_rows(ours, demo, {"raw": 60.0, "reranker": 25.0})
    table = {row.split("|")[1].strip(): [cell.strip() for cell in row.split("|")[2:-1]]
             for row in rows if row.startswith("| ") and not row.startswith("| kind")}
    assert table["canned"] == ["3", "42", "30", "+12", "1.40x"]
    assert table["knowledge"] == ["3", "160", "90", "+70", "1.78x"]  # floor: 30 ms reply + 60 ms raw query
    assert table["paging"][2] == "30 (demo reply)"
    assert any("reranker's own cost" in row and "25 ms" in row for row in rows)


def test_cpu_time_counts_what_a_process_spent_on_the_cpu_not_the_time_it_waited() -> None:
    import subprocess
    import sys
    import time

    from bot.bench.load import cpu_seconds

    busy = ("import os, time\n"
            "while sum(os.times()[:2]) < 0.4: pass\n"  # 0.4 s of its own CPU time, however loaded the machine
            "print('done', flush=True)\n"
            "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", busy], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "done"
        spent = cpu_seconds(child.pid)
        time.sleep(0.3)  # sleeping costs no CPU
        assert 0.4 <= spent <= cpu_seconds(child.pid) < spent + 0.1
    finally:
        child.kill()
        child.wait()


def test_only_errors_logged_during_the_run_are_counted(tmp_path) -> None:
    from bot.bench.load import error_lines

    log = tmp_path / "rasa.log"
    log.write_text("2026-12-06 10:00:00 ERROR  rasa.core - from an earlier run\n")
    offset = log.stat().st_size
    with log.open("a") as out:
        out.write("2026-12-06 10:05:00 INFO   rasa.core - fine\n"
                  "2026-12-06 10:05:01 ERROR  rasa.shared.utils.io - Failed to fill utterance template\n")
    assert error_lines(log, offset) == ["2026-12-06 10:05:01 ERROR  rasa.shared.utils.io - Failed to fill utterance template"]
    assert error_lines(tmp_path / "missing.log", 0) == []


def test_repeats_alternate_the_order_and_the_median_ratio_is_reported() -> None:
    from bot.bench.load import repeat_rows

    def result(throughputs: list[float], canned: list[float]) -> dict:
        return {"levels": [Level(n, int(t * 10), 0, 10.0, 0.0, 0.0, {"canned": canned})
                           for n, t in zip((1, 16), throughputs, strict=True)]}

    pairs = [(result([10, 13], [60]), result([20, 20], [50])),   # 0.50, 0.65, canned 1.20
             (result([7, 12], [90]), result([20, 30], [40])),    # 0.35, 0.40, canned 2.25
             (result([9, 11], [70]), result([20, 20], [50]))]    # 0.45, 0.55, canned 1.40
    rows = repeat_rows(pairs)
    body = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows if row.startswith("| ")][1:]
    assert body[0] == ["1", "demo bot", "0.50", "0.65", "1.20"]
    assert body[1] == ["2", "tutor", "0.35", "0.40", "2.25"]
    assert body[3] == ["median", "", "**0.45**", "**0.55**", "**1.40**"]
