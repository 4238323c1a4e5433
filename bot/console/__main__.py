"""``python -m bot.console`` serves the trainer console."""

from bot.console.server import main

main()
