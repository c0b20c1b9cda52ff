"""Automations: a trigger, optional conditions and an ordered list of actions, run by the
job queue with a run log, retries, a dead letter and a loop guard.

``automations`` is the service for definitions (checked by ``checks``), ``runs`` the run log
and its dead letter, ``engine`` the job that runs a run (its steps through ``context``, their
log through ``steps``), ``events`` the outbox consumer that starts runs, ``timers`` the time
triggers, ``inbound`` the webhook trigger, ``dry_runs`` the test run; ``kinds`` holds the
extension points (``Trigger``, ``Action``) that the built-ins in ``plugins/automation_*.py``
implement like any plugin.
"""
