"""The human loop: unanswered questions reach trainers, trainers' answers reach learners.

The actions use one process-wide :class:`~bot.handoff.service.HumanLoop`, built from the
environment on first use by :func:`bot.wiring.get_human_loop`:

- :meth:`HumanLoop.record_unanswered` - a question below the evidence gate joins the
  trainers' queue (de-duplicated across learners by similarity).
- :meth:`HumanLoop.request_trainer` - "talk to a trainer": queued, and in office hours a
  live handoff starts (the bot goes quiet; see ``rasa_plugins/handoff_policy.py``).
- The trainer console (``bot.console``) and ``tutor-admin`` answer items; answers go to
  every asker through their channel and, when asked, into ``knowledge_base/faq/``.
"""

from __future__ import annotations

from bot.handoff.service import HumanLoop, TrainerRequest, channel_of

__all__ = ["HumanLoop", "TrainerRequest", "channel_of"]
