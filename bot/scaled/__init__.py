"""Scaled mode: the same tutor on PostgreSQL, Redis and nginx, with two replicas of each server.

``make run-scaled`` (``python -m bot.scaled``) starts, all on loopback:

- PostgreSQL (Debian's binaries, a cluster under ``.state/scaled/pg``): the Rasa tracker
  store (database ``rasa``) and the learner store (database ``learners``), password auth;
- Redis (``redis-server``, password auth, no persistence): Rasa's lock store;
- two action servers and two Rasa replicas, reached only through nginx;
- nginx: the Rasa balancer (each conversation hashed by sender id to one replica), the
  action-server balancer (5 s timeout, apology instead of silence) and the public door
  for the web page server.

See :mod:`bot.scaled.stack` for the process layout and :mod:`bot.scaled.nginx` for the
routing rules; ``deploy/`` has the same layout for docker compose and Kubernetes.
"""
