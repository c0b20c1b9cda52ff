"""Public forms' work for the job queue, wired in through the hooks any plugin uses: the
recovery pass of submissions no process is taking any more, every few minutes by one worker
of the installation. Registered by ``workspace.plugins`` with the core (not subject to the
plugin allow-list: a post left ``received`` must be marked whatever plugins run).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from workspace.forms import submissions
from workspace.hookspecs import hookimpl
from workspace.jobs.kinds import PeriodicTask
from workspace.runtime import Runtime

#: How often the pass runs: well within the time a post may stay undecided.
EVERY = dt.timedelta(minutes=5)


def recover(runtime: Runtime) -> None:
    submissions.recover(runtime)


TASK = PeriodicTask("forms.recover", EVERY, recover)


@hookimpl
def register_periodic_tasks(register: Callable[[PeriodicTask], None]) -> None:
    register(TASK)
