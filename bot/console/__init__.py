"""Trainer console: an authenticated web app (aiohttp) and the ``tutor-admin`` CLI.

Trainers list, filter and answer the queue of questions the tutor could not answer,
chat live with learners who asked for a human, and see analytics. Pages are rendered on
the server from Jinja2 templates (``templates/``) with autoescaping, so every value is
HTML-escaped; no JavaScript is needed. Start it with
``python -m bot.console`` (or ``tutor-admin serve``); ``make run`` starts it too.
"""
