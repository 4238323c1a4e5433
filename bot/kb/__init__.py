"""The ``kb`` command: above the floors it drives (knowledge, quizzes, plans)."""
