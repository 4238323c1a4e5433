# Karmayogi Tutor - the two commands a newcomer needs are `make run` and `make test`.
# Run `make help` for the rest.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV       := .venv
RASA_VENV  := .venv-rasa
PY         := $(VENV)/bin/python
RASA       := $(RASA_VENV)/bin/rasa
STATE      := .state
MODEL      := models/tutor.tar.gz

# Python 3.10 for Rasa and 3.11 for the rest. The machine image has 3.10 only through
# pyenv (whose global is 3.11, so a bare `python3.10` shim fails): the script tries each
# candidate for real.
PY310 ?= $(shell scripts/find-python.sh 3.10)
PY311 ?= $(shell scripts/find-python.sh 3.11)

RASA_DATA := $(shell find data -name '*.yml' 2>/dev/null) domain.yml config.yml
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install run chat index train test test-unit test-rasa test-e2e test-integration test-browser \
        system-packages validate eval calibrate train-query-encoder train-reranker bench bench-profile lint clean run-scaled test-scaled

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

# ---------------------------------------------------------------- environments
$(VENV)/.installed: requirements/app.txt requirements/dev.txt pyproject.toml
	@test -n "$(PY311)" || { echo "Python 3.11 not found (python3.11 or pyenv 3.11.x)"; exit 1; }
	@test -x $(PY) || $(PY311) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

$(RASA_VENV)/.installed: requirements/rasa.txt
	@test -n "$(PY310)" || { echo "Python 3.10 not found: Rasa 3.6 needs it (python3.10 on PATH or 'pyenv install 3.10')"; exit 1; }
	@test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install -q --upgrade pip
	$(RASA_VENV)/bin/python -m pip install -q -r requirements/rasa.txt
	@touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed $(RASA_VENV)/.installed web/node_modules/.installed ## Create both Python environments and the widget's npm packages (idempotent)

# ---------------------------------------------------------------- build steps
index: $(VENV)/.installed ## Index knowledge_base/ (incremental: only changed files are re-embedded)
	$(VENV)/bin/kb ingest

$(MODEL): $(RASA_VENV)/.installed $(RASA_DATA)
	$(RASA) train --fixed-model-name tutor --out models --quiet
	@touch $@

train: $(MODEL) ## Train the Rasa model (only when data/, domain.yml or config.yml changed)

# ---------------------------------------------------------------- running
run: install index train ## Start the tutor: action server, Rasa, web chat page (and Telegram if TELEGRAM_BOT_TOKEN is set)
	$(PY) -m bot.runner

run-scaled: install index train ## Scaled mode on this machine: PostgreSQL, Redis, nginx, two Rasa + two action servers
	$(PY) -m bot.scaled

chat: $(VENV)/.installed ## Chat with the running tutor in this terminal
	$(PY) -m bot.chat_cli

# ---------------------------------------------------------------- checks
validate: install ## Check knowledge-base documents, quiz banks and Rasa training data
	$(VENV)/bin/kb validate
	$(RASA) data validate --quiet

system-packages: ## Install the Debian packages the tests need (as root; otherwise prints the apt-get command)
	scripts/system-packages.sh

test: system-packages install index train ## Run every check and test: lint (ruff, mypy, import layers), unit, Rasa data + conversation tests, integration + browser, scaled
	$(MAKE) --no-print-directory lint test-unit test-rasa test-e2e test-scaled

test-unit: $(VENV)/.installed ## Unit tests (fake embedder) and real-model tests
	$(PY) -m pytest -q -m "not integration and not browser and not scaled" tests

test-rasa: $(RASA_VENV)/.installed $(MODEL) ## rasa_plugins tests, rasa data validate, conversation tests (tests/test_*.yml)
	$(RASA_VENV)/bin/python -m pytest --noconftest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/rasa
	$(RASA) data validate --quiet
	$(RASA) test core --stories tests/ --model $(MODEL) --fail-on-prediction-errors --out results/core
	$(RASA) test nlu --nlu tests/nlu --model $(MODEL) --successes --out results/nlu
	$(PY) tests/rasa/check_nlu_results.py results/nlu tests/nlu

test-e2e: install $(MODEL) ## Integration and browser tests together (one real stack for both)
	$(PY) -m pytest -q -m "integration or browser" tests

test-integration: install $(MODEL) ## Real action server + Rasa on free loopback ports, chatting over REST and socket.io
	$(PY) -m pytest -q -m integration tests

test-scaled: install $(MODEL) ## Scaled mode under faults (needs Debian postgresql, redis-server, nginx)
	$(PY) -m pytest -q -m scaled tests/scaled

test-browser: install $(MODEL) ## The web widget in Debian chromium (Playwright)
	$(PY) -m pytest -q -m browser tests

eval: $(VENV)/.installed ## Retrieval and gate metrics on the labelled sets and ../shared/eval
	$(PY) -m bot.evaluation

train-query-encoder: $(VENV)/.installed ## Re-train MiniLM's query side on the team's questions (seeded; ~2 min on 2 cores after the eval indexes exist; writes bot/knowledge/minilm_query/)
	$(PY) -m bot.training.query_encoder

train-reranker: $(VENV)/.installed ## Re-train the cross-encoder reranker from the team's data (seeded; ~16 min on 2 cores; writes bot/knowledge/reranker_model/)
	$(PY) -m bot.training.reranker

calibrate: $(VENV)/.installed ## Re-fit the evidence gate on the labelled dev questions (writes bot/knowledge/gate.json and gate_examples.npz)
	$(PY) -m bot.evaluation.calibrate --write

bench: install ## Benchmarks: ingestion and query latency against raw baselines measured in the same run
	$(PY) -m bot.bench

bench-profile: install $(MODEL) ## Where Rasa's and the action server's time goes under load (py-spy, one learner)
	$(PY) -m bot.bench.profile

lint: $(VENV)/.installed ## ruff (style, imports, docstrings), mypy (types), import-linter (which package may import which)
	$(VENV)/bin/ruff check bot actions rasa_plugins tests
	$(VENV)/bin/mypy bot actions
	$(VENV)/bin/lint-imports

clean: ## Remove generated state, models and test results (keeps the environments)
	rm -rf $(STATE) models results
