"""Scaled mode: the same tutor on PostgreSQL, Redis and nginx, with two replicas of each server.

``make run-scaled`` (``python -m bot.scaled``) starts, all on loopback:

- PostgreSQL (Debian's binaries, a cluster under ``.state/scaled/pg``): the Rasa tracker
  store (database ``rasa``) and the learner store (database ``learners``), password auth;
- Redis (``redis-server``, password auth, no persistence): Rasa's lock store;
- two action servers and two Rasa replicas, reached only through nginx;
- one indexer (``python -m bot.knowledge.watcher``): the only writer of the index folder;
  the action servers run ``--no-watch`` and follow its ``CURRENT`` pointer, so a trainer's
  edit or a console FAQ answer reaches every replica within seconds, without a restart;
- nginx: the Rasa balancer (each conversation hashed by sender id to one replica), the
  action-server balancer (5 s timeout, apology instead of silence) and the public door
  for the web page server.

See :mod:`bot.scaled.stack` for the process layout and :mod:`bot.scaled.nginx` for the
routing rules; ``deploy/`` has the same layout for docker compose and Kubernetes.
"""
