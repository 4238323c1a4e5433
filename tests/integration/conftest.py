"""Integration tests use the session-scoped ``stack`` fixture from ``tests/stack_fixture.py``.

It is registered once in ``tests/conftest.py`` so that the integration and the full-stack
browser tests share one running stack per test session.
"""
