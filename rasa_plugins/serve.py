"""Rasa's command line with the tutor's in-process additions installed first.

Usage (what :mod:`bot.runner` and :mod:`bot.scaled` start)::

    .venv-rasa/bin/python -m rasa_plugins.serve run --model models/tutor.tar.gz ...

Same arguments as ``rasa``. Before handing over to Rasa's CLI it installs
:func:`rasa_plugins.action_apology.install` (an apology instead of silence when the action
server is down or hung), which has to live in the Rasa process so that every channel gets it,
and :func:`rasa_plugins.response_validation.install` (the action server's replies checked
against a schema compiled once: Rasa re-checked the schema itself on every action).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Install the additions, then run Rasa's CLI with this process's arguments."""
    from rasa_plugins import action_apology, response_validation

    response_validation.install()
    try:
        action_apology.install()
    except ValueError as exc:  # a bad ACTION_TIMEOUT_S: say so instead of starting half-configured
        sys.exit(f"rasa_plugins.serve: {exc}")
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
