"""Custom Rasa actions: thin adapters from the dialogue to the ``bot`` package.

rasa_sdk imports every module here and instantiates every non-abstract Action with
no arguments, so constructors take optional collaborators (tests pass fakes) and
nothing heavy happens at import time.
"""
