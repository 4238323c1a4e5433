"""Training the project's own models from the team's data (never from ``../shared/eval``)."""
