"""Rasa graph components of the tutor (loaded by the Rasa server, Python 3.10 environment)."""
