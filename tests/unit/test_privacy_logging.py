"""Redaction of personal data in logs, nginx routing config, and erasure/purge on SQLite."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.logging_setup import RedactingFilter, redact
from bot.scaled.nginx import NginxLayout, render


def test_redact_masks_personal_data_but_keeps_ports():
    out = redact("chat 123456789 a.b@gov.in +91 98765 43210 9876543210 1234 5678 9012 ABCDE1234F port 5005")
    assert "123456789" not in out and "id#" in out
    assert "<email>" in out and out.count("<phone>") == 2 and "<aadhaar>" in out and "<pan>" in out
    assert "5005" in out
    assert redact("user 123456789") == redact("user 123456789")  # stable tag: logs stay correlatable


def test_filter_rewrites_records_with_args():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "mail %s from %d", ("me@x.in", 987654321), None)
    RedactingFilter().filter(record)
    assert record.getMessage().startswith("mail <email> from id#")


def test_nginx_config_routes_by_sender_and_apologises(tmp_path: Path):
    conf = render(NginxLayout(tmp_path, 1, 2, 3, (11, 12), (21, 22), (31,), action_timeout_s=4))
    assert "hash $tutor_key consistent" in conf and "$request_body" in conf
    assert "proxy_read_timeout 4s" in conf and "utter_service_unavailable" in conf
    assert "location / { return 403; }" in conf
    # Per-learner rate limit: a hop that reads the body, then limit_req keyed by the copied sender.
    assert "limit_req_zone $http_x_tutor_sender" in conf and "proxy_set_header X-Tutor-Sender $tutor_key" in conf
    assert "listen 127.0.0.1:" in conf and "0.0.0.0" not in conf  # every door on loopback here


def test_deploy_nginx_conf_is_the_rendered_compose_layout():
    from bot.config import PROJECT_ROOT
    from bot.scaled.nginx import compose_layout

    conf = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()
    assert conf == render(compose_layout()), "regenerate: python -m bot.scaled.nginx > deploy/nginx.conf"
    assert "server rasa-1:5005" in conf and "server actions-2:5055" in conf


def _quizzes(tmp_path: Path):
    from bot.quizzes import QuizBank, Quizzes

    bank, _ = QuizBank.load(tmp_path / "none")
    return Quizzes(f"sqlite:///{tmp_path / 'l.db'}", bank)


def test_consent_erase_and_export(tmp_path: Path):
    from bot.privacy import erase_learner, export_learner, has_consent, record_consent

    quizzes = _quizzes(tmp_path)
    lid = quizzes.learner("socketio", "abc")
    assert not has_consent(quizzes, lid)
    record_consent(quizzes, lid, True)
    assert has_consent(quizzes, lid)
    assert export_learner(quizzes, "socketio", "abc")["learner"]
    report = erase_learner(quizzes, "socketio", "abc")
    assert report.complete and report.removed.get("learners") == 1
    assert export_learner(quizzes, "socketio", "abc")["learner"] == {}


def test_purge_erases_only_inactive_learners(tmp_path: Path):
    from bot.privacy import purge

    quizzes = _quizzes(tmp_path)
    old = quizzes.learner("rest", "old")
    quizzes.learner("rest", "new")
    assert purge(quizzes, 365)["learners"] == 0  # both were seen just now
    result = purge(quizzes, 30, now=datetime.now(UTC) + timedelta(days=40))
    assert result["learners"] == 2
    with pytest.raises(KeyError):
        quizzes.export(old)


def test_the_background_worker_runs_the_retention_purge_once_a_day(tmp_path: Path, monkeypatch):
    from bot.background_worker import PURGE_EVERY_S, purge_if_due
    from bot.store.engine import session_scope
    from bot.store.models import Learner

    monkeypatch.setenv("TUTOR_RETENTION_DAYS", "30")
    quizzes = _quizzes(tmp_path)
    stale = quizzes.learner("rest", "stale")
    with session_scope(quizzes._sessions) as s:
        s.get(Learner, stale).last_seen_at = datetime.now(UTC) - timedelta(days=40)
    ran = purge_if_due(quizzes, None, now=1000.0)  # first pass after start-up
    assert ran == 1000.0
    with pytest.raises(KeyError):
        quizzes.export(stale)
    again = quizzes.learner("rest", "stale-2")
    with session_scope(quizzes._sessions) as s:
        s.get(Learner, again).last_seen_at = datetime.now(UTC) - timedelta(days=40)
    assert purge_if_due(quizzes, ran, now=ran + 60) == ran  # not due yet: kept for now
    quizzes.export(again)
    assert purge_if_due(quizzes, ran, now=ran + PURGE_EVERY_S) == ran + PURGE_EVERY_S
    with pytest.raises(KeyError):
        quizzes.export(again)


def test_deploy_files_run_every_process_that_scaled_mode_runs():
    """compose and Kubernetes describe the same processes as `make run-scaled` (they cannot run here)."""
    import yaml

    from bot.config import PROJECT_ROOT

    deploy = PROJECT_ROOT / "deploy"
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text())
    kubernetes = list(yaml.safe_load_all((deploy / "kubernetes" / "tutor.yaml").read_text()))
    commands = {
        "compose": [" ".join(service.get("command") or []) for service in compose["services"].values()],
        "kubernetes": [" ".join(c.get("command") or []) for doc in kubernetes if doc and doc["kind"] == "Deployment"
                       for c in doc["spec"]["template"]["spec"]["containers"]],
    }
    for where, lines in commands.items():
        # Rasa starts through rasa_plugins.serve (its CLI plus the action-server apology), as make run does.
        for module in ("rasa_plugins.serve run", "bot.action_server", "bot.console", "bot.background_worker"):
            assert any(module in line for line in lines), f"{where} does not run {module}"
        assert all("endpoints.scaled.yml" in line for line in lines if "rasa_plugins.serve run" in line), where


# ------------------------------------------------------------- one logging setup (issue #20)

#: Runs an entry point's ``main`` until it sets up logging, then logs learner-like data at DEBUG
#: and exits 0; exits 3 if ``main`` ends first. It never lets ``main`` start a child process.
HARNESS = r"""
import importlib, logging, os, subprocess, sys
import bot.logging_setup as setup

original = setup.install_redaction

def installed(*args, **kwargs):
    original(*args, **kwargs)
    logging.getLogger("bot.harness").debug("learner %s wrote from %s", "asha.k@gov.in", "9876543210")
    os._exit(0)

def no_children(*args, **kwargs):
    raise RuntimeError("harness: no child processes")

setup.install_redaction = installed
module, *argv = sys.argv[1:]
main = importlib.import_module(module).main
subprocess.Popen.__init__ = no_children
sys.argv = [module, *argv]
try:
    main()
finally:
    print("HARNESS: main ended without installing redaction", file=sys.stderr, flush=True)
    os._exit(3)
"""

ENTRY_POINTS = {
    "action server": ["bot.action_server", "--no-watch"],
    "runner": ["bot.runner", "--no-web"],
    "scaled launcher": ["bot.scaled.__main__"],
    "console": ["bot.console.server"],
    "tutor-admin": ["bot.console.cli", "accounts"],
    "background worker": ["bot.background_worker", "--once"],
    "telegram bridge": ["bot.channels.telegram_bridge"],
    "web server": ["bot.web.server"],
    "kb": ["bot.kb.cli", "status"],
    "privacy": ["bot.privacy", "purge"],
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_entry_point_masks_personal_data_at_log_level(name: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from bot.config import PROJECT_ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "LOG_", "DATABASE_"))}
    env.update(PYTHONPATH=str(PROJECT_ROOT), LOG_LEVEL="DEBUG", TUTOR_STATE_DIR=str(tmp_path / "state"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'learners.db'}", TUTOR_KB_DIR=str(tmp_path / "kb"),
               TUTOR_INDEX_DIR=str(tmp_path / "index"))
    done = subprocess.run([sys.executable, "-c", HARNESS, *ENTRY_POINTS[name]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next((x for x in done.stderr.splitlines() if "bot.harness" in x), "")
    # Shown at all: LOG_LEVEL=DEBUG holds; masked: the redaction filter is on the process's handler.
    assert "learner <email> wrote from <phone>" in line, done.stderr[-2000:]
    assert "asha.k@gov.in" not in done.stderr and "9876543210" not in done.stderr


def test_an_unknown_log_level_falls_back_to_info(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from bot.config import PROJECT_ROOT

    code = ("import logging; from bot.logging_setup import configure_logging; configure_logging();"
            "logging.getLogger('x').info('mail %s', 'a@b.in'); logging.getLogger('x').debug('hidden')")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "LOG_LEVEL": "chatty"})
    assert done.returncode == 0, done.stderr
    assert "unknown LOG_LEVEL 'chatty'" in done.stderr and "mail <email>" in done.stderr
    assert "hidden" not in done.stderr


def test_database_errors_carry_no_learner_text(tmp_path: Path) -> None:
    """A failing statement's exception (what ``log.exception`` prints) hides its parameters."""
    from sqlalchemy.exc import IntegrityError

    from bot.handoff.records import HandoffRecords
    from bot.store import make_engine, migrate, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'hl.db'}")
    migrate(engine)
    records = HandoffRecords(session_factory(engine))
    secret = "-".join(["learner", "typed", "this"])  # built, so the traceback's source lines do not show it
    records.create_account("asha", "scrypt$hash-one", "trainer")
    with pytest.raises(ValueError) as caught:
        records.create_account("asha", secret, "trainer")
    assert isinstance(caught.value.__cause__, IntegrityError)
    text = logging.Formatter().formatException((caught.type, caught.value, caught.tb))
    assert secret not in text and "parameters hidden" in text
    quizzes = _quizzes(tmp_path)  # the learner store's engine too
    from sqlalchemy import text as sql

    with pytest.raises(Exception) as caught, quizzes.engine.begin() as connection:
        connection.execute(sql("INSERT INTO no_such_table VALUES (:t)"), {"t": secret})
    text = logging.Formatter().formatException((caught.type, caught.value, caught.tb))
    assert secret not in text and "parameters hidden" in text
