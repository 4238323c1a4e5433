"""Web channel: the page server (:mod:`bot.web.server`) and its socket.io frame filter."""
