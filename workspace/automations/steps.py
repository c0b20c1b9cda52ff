"""The step log, written in the transaction of each step's effects.

Marking a step done is one compare-and-set on the run (its next step moves from this one to
the following one) plus the job's lease check (``queue.progress``), in the same transaction
that changed the record, added the task or the comment: so a step's effects commit exactly
when the step is marked done, and a worker whose job was taken over rolls both back. The
last step also finishes the run and its job in that transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, update

from workspace import activity
from workspace import models as m
from workspace.clock import utcnow
from workspace.jobs import queue
from workspace.jobs.kinds import Job
from workspace.leases import LeaseLost

R, S = m.automation_runs, m.automation_steps
# Built once: statements of every step (building one costs more than running it on SQLite).
LOG = insert(S)
MOVE = (
    update(R)
    .where(R.c.id == bindparam("run_id"), R.c.step == bindparam("position"))
    .values(
        step=bindparam("following"),
        state=bindparam("state"),
        started_at=func.coalesce(R.c.started_at, bindparam("started", type_=R.c.started_at.type)),
        finished_at=bindparam("finished", type_=R.c.finished_at.type),
        error=None,
    )
)


@dataclass
class Place:
    """Where a run is: which step of how many, by which job attempt, since when."""

    run_id: int
    job: Job
    position: int
    total: int
    action: str
    input: Any
    started: dt.datetime


def log(
    conn: Connection, place: Place, state: str, output: Any = None, error: str | None = None
) -> None:
    conn.execute(
        LOG,
        {
            "run_id": place.run_id,
            "position": place.position,
            "action": place.action,
            "attempt": place.job.attempts,
            "state": state,
            "input": activity.jsonable(place.input),
            "output": activity.jsonable(output),
            "error": error,
            "started_at": place.started,
            "finished_at": utcnow(),
        },
    )


def done(conn: Connection, place: Place, output: Any, *, ends: str | None = None) -> bool:
    """Step ``place`` is done with ``output``; ``ends`` the run early ("stopped") or makes it
    wait (the caller reschedules the job). Returns whether the run is over."""
    log(conn, place, "done", output)
    following = place.position + 1
    last = following >= place.total or ends == "stopped"
    if last and ends == "waiting":
        ends = None  # nothing comes after the wait
    params = {
        "run_id": place.run_id,
        "position": place.position,
        "following": following,
        "state": ends or ("done" if last else "running"),
        "started": place.started,
        "finished": utcnow() if last else None,
    }
    moved = conn.execute(MOVE, params).rowcount
    if moved != 1:
        raise LeaseLost(f"run {place.run_id} moved past step {place.position} elsewhere")
    if last:
        queue.finish(conn, place.job)
    else:
        queue.progress(conn, place.job, done=following, total=place.total)
    return last


def ended(conn: Connection, run_id: int, state: str, error: str | None) -> None:
    conn.execute(
        update(R).where(R.c.id == run_id).values(state=state, error=error, finished_at=utcnow())
    )
