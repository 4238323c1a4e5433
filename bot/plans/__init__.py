"""Learning plans for an officer's role, the learner's profile, and onboarding of new recruits.

Modules:

- :mod:`bot.plans.roles`: the role model in ``knowledge_base/roles/`` (roles, aliases,
  activities, behavioural/functional/domain competencies, the modules and quiz banks that
  build each, module prerequisites); :func:`load_default_roles` checks it with file:line
  problems (``kb validate`` shows them).
- :mod:`bot.plans.matching`: :func:`match_role` maps free text ("I am now a PIO",
  "अनुभाग अधिकारी", "section oficer") to a role, saying when to confirm.
- :mod:`bot.plans.plan`: :func:`build_plan` orders a role's modules and quizzes by the
  learner's competency gaps (quiz mastery) and prerequisites.
- :mod:`bot.plans.onboarding`: the daily micro-lesson track with a check question, streak,
  pause/resume/stop and completion; :mod:`bot.background_worker` delivers due lessons
  (Telegram push; web at the next turn through ``action_turn_start``).
- :mod:`bot.plans.report`: :func:`plan_summary` per role and department for trainers
  (``python -m bot.plans.report [--json]``).
- :mod:`bot.plans.service`: :class:`Plans`, the facade the actions use
  (:func:`bot.wiring.get_plans` shares one over :func:`bot.wiring.get_quizzes`).

Example::

    from bot.wiring import get_plans
    plans = get_plans()
    learner = plans.learner("telegram", "tg-…")
    plans.save_profile(learner, role="public-information-officer", department="Revenue")
    plan = plans.plan(learner, "public-information-officer")
    plan.next_step.title, plan.percent, [c.name for c in plan.weakest()]
    plans.onboarding.start(learner, role_id="new-recruit", send_time="08:00")
"""
