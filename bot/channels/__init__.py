"""Channels that connect learners to the Rasa dialogue engine.

- :mod:`bot.channels.telegram_bridge`: Telegram (python-telegram-bot) <-> Rasa REST channel.
- :mod:`bot.channels.rasa_client`: async client for Rasa's REST channel.
- :mod:`bot.channels.telegram_format`: the bot's Markdown subset -> Telegram HTML, splitting,
  buttons.
"""
