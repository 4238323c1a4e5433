"""bot.bench.profile: py-spy's collapsed stacks read into busy shares per function."""

from __future__ import annotations

from bot.bench.profile import busy_shares, report

RAW = "\n".join([
    "main (/x/site-packages/rasa/__main__.py:10);serve (/x/site-packages/sanic/server/runners.py:155) 50",
    "main (/x/site-packages/rasa/__main__.py:10);handle (/x/site-packages/rasa/core/processor.py:1);"
    "validate (/x/site-packages/jsonschema/validators.py:9);descend (/x/site-packages/jsonschema/validators.py:3);"
    "descend (/x/site-packages/jsonschema/validators.py:3) 30",
    "main (/x/site-packages/rasa/__main__.py:10);handle (/x/site-packages/rasa/core/processor.py:1);"
    "predict (/x/site-packages/rasa/core/policies/ted_policy.py:7) 10",
    "not a profile line",
])


def test_idle_samples_are_left_out_and_recursion_counts_once() -> None:
    busy, shares = busy_shares(RAW)
    assert busy == 40  # the 50 samples waiting in sanic's loop are idle
    assert shares["descend (jsonschema/validators.py)"] == 30  # twice on one stack, counted once
    assert shares["handle (rasa/core/processor.py)"] == 40


def test_the_report_ranks_functions_by_share_without_the_scaffolding() -> None:
    lines = report("rasa", RAW, top=5)
    assert lines[0] == "rasa: 40 busy samples"
    rows = lines[4:]
    assert rows[0] == "| 100.0 % | handle (rasa/core/processor.py) |"
    assert set(rows[1:3]) == {"| 75.0 % | validate (jsonschema/validators.py) |",
                              "| 75.0 % | descend (jsonschema/validators.py) |"}
    assert "| 25.0 % | predict (rasa/core/policies/ted_policy.py) |" in rows
    assert not any("main (" in row for row in rows)  # rasa's entry point: scaffolding
