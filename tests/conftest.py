"""Shared fixtures: small deterministic fakes so unit tests run in milliseconds.

The real embedders are exercised by tests marked ``model`` (they run in ``make test``
too); everything else uses :class:`FakeEmbedder`, a hashed bag of words that is
deterministic, needs no weights and still ranks passages sharing words with a query
above others.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from stack_fixture import stack  # noqa: F401  (the real stack, shared by integration and browser tests)

from bot.knowledge.embedders import Embedder, unit_rows

#: tests/rasa/ runs in the Rasa environment (``make test-rasa``), not in this one.
collect_ignore = ["rasa"]


class FakeEmbedder(Embedder):
    """Hashed bag-of-words vectors (64 dims), normalised: cosine ~ word overlap."""

    def __init__(self, name: str = "fake", dim: int = 64):
        self.name = name
        self.dim = dim
        self.calls = 0
        self.embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"[\w\u0900-\u097F]+", text.lower()):
            digest = hashlib.md5(word.encode()).digest()
            vector[digest[0] % self.dim] += 1.0 if digest[1] % 2 else -1.0
        if not vector.any():
            vector[0] = 1.0
        return vector

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        return unit_rows(np.stack([self._vector(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return unit_rows(np.stack([self._vector(t) for t in texts]))


#: Tests that run the real models or the real stack keep the shipped reranker; the rest
#: rank with fakes, where a real cross-encoder would only add seconds and noise.
REAL_MODEL_MARKERS = ("model", "integration", "browser", "scaled")


@pytest.fixture(autouse=True)
def _reranker_only_with_real_models(request, monkeypatch):
    if not any(request.node.get_closest_marker(m) for m in REAL_MODEL_MARKERS):
        monkeypatch.setenv("TUTOR_RERANKER", "off")


@pytest.fixture(autouse=True)
def _fresh_process_services():
    """Each test builds the process-wide services (bot.wiring) from its own environment."""
    from bot import wiring

    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


def write(path: Path, text: str) -> Path:
    """Write ``text`` (dedented) to ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


RTI_MODULE = """
---
title: "RTI for Public Information Officers"
module: rti-for-pios
competencies: ["RTI Act"]
roles: ["public-information-officer"]
language: en
effective: 2025-04-01
---
# RTI for Public Information Officers

## 1. Fees
An applicant pays an application fee of Rs. 10 with the request under Section 6(1).
Applicants below the poverty line pay no fee.

## 2. Time limits
The PIO must reply within 30 days of receiving the request under Section 7(1).
Where the information concerns the life or liberty of a person, the reply is due within 48 hours.
"""

LEAVE_MODULE = """
---
title: "Leave basics"
module: leave-basics
competencies: ["Leave rules"]
language: en
---
# Leave basics

## 1. Casual leave
A government servant may take up to eight days of casual leave in a calendar year.
Casual leave is not a recognised form of leave under the Leave Rules.

## 2. Earned leave
Earned leave is credited in advance in two instalments of fifteen days each, on the first of January and July.
"""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A small knowledge folder with two modules."""
    folder = tmp_path / "kb"
    write(folder / "modules" / "rti.md", RTI_MODULE)
    write(folder / "modules" / "leave.md", LEAVE_MODULE)
    return folder
