"""An automation's page: what it does, a dry run on a chosen record, and its run log
(filtered by state) with the dead letter, replayed or dismissed one by one or in bulk; and a
run's page: its trigger event and each step's input, output or error, timing and attempt."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import QueryParameter, URLEncodedBody
from litestar.response import Response, Template

from workspace.automations import automations, dry_runs, runs
from workspace.automations.kinds import registries
from workspace.automations.pages import screens
from workspace.automations.pages.definitions import ONE
from workspace.errors import NotFound, ValidationFailed, WorkspaceError
from workspace.records import labels
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]
RUNS_PAGE = 50
StateParam = Annotated[str | None, QueryParameter(name="state")]


class RunLogPages(Controller):
    path = "/"

    @get(ONE, sync_to_thread=True)
    def show(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        automation_id: int,
        run_state: StateParam = None,
        before: int | None = None,
        done: str | None = None,
        moved: int | None = None,
    ) -> Template:
        notice = screens.notice(done, moved)
        return _show(runtime, user, workspace_id, automation_id, run_state, before, notice=notice)

    @post(ONE + "/dry-run", sync_to_thread=True)
    def dry_run(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int, data: Form
    ) -> Template:
        """What each step would do on the chosen record, with nothing done."""
        acc, _ = screens.context_for(runtime, user, workspace_id)
        raw = str(data.get("record", "")).strip()
        try:
            if not raw.isdigit():
                raise ValidationFailed.single("record", "choose a record")
            rehearsal = dry_runs.rehearse(runtime, acc, automation_id, int(raw))
        except WorkspaceError as exc:
            return _show(runtime, user, workspace_id, automation_id, None, None, dry_error=exc)
        return _show(runtime, user, workspace_id, automation_id, None, None, rehearsal=rehearsal)

    @post(ONE + "/runs/replay", sync_to_thread=True)
    def replay(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int, data: Form
    ) -> Response[Any]:
        return _dead_letter(runtime, user, workspace_id, automation_id, data, runs.replay)

    @post(ONE + "/runs/dismiss", sync_to_thread=True)
    def dismiss(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, automation_id: int, data: Form
    ) -> Response[Any]:
        return _dead_letter(runtime, user, workspace_id, automation_id, data, runs.dismiss)

    @get(ONE + "/runs/{run_id:int}", sync_to_thread=True)
    def run(
        self,
        runtime: RuntimeDep,
        user: UserDep,
        workspace_id: int,
        automation_id: int,
        run_id: int,
        done: str | None = None,
        moved: int | None = None,
    ) -> Template:
        acc, context = screens.context_for(runtime, user, workspace_id)
        found = runs.get_run(runtime, acc, run_id)
        if found["automation"] != automation_id:
            raise NotFound("run not found")
        regs = registries(runtime.pm)
        for step in found["steps"]:
            step["label"] = screens.action_label(regs, step["action"])
        context.update(
            automation=automations.get(runtime, acc, automation_id),
            run=found,
            notice=screens.notice(done, moved),
        )
        return Template("automations/run.html", context=context)


def _dead_letter(
    runtime: Any, user: Any, workspace_id: int, automation_id: int, data: dict[str, Any], move: Any
) -> Response[Any]:
    """Replay or dismiss the runs ticked (or the one run whose button was pressed)."""
    acc, _ = screens.context_for(runtime, user, workspace_id)
    raw = data.get("run") or []
    ids = [int(v) for v in (raw if isinstance(raw, list) else [raw]) if str(v).isdigit()]
    try:
        moved = move(runtime, acc, ids)
    except WorkspaceError as exc:
        return _show(runtime, user, workspace_id, automation_id, "dead", None, run_error=exc)
    done = "replayed" if move is runs.replay else "dismissed"
    back = str(data.get("back", ""))
    target = back if back.startswith(f"/w/{workspace_id}/automations/") else None
    url = target or f"/w/{workspace_id}/automations/{automation_id}?state=dead"
    joiner = "&" if "?" in url else "?"
    return screens.see_other(f"{url}{joiner}done={done}&moved={len(moved)}")


def _show(
    runtime: Any,
    user: Any,
    workspace_id: int,
    automation_id: int,
    run_state: str | None,
    before: int | None,
    *,
    notice: str | None = None,
    rehearsal: dict[str, Any] | None = None,
    dry_error: WorkspaceError | None = None,
    run_error: WorkspaceError | None = None,
) -> Template:
    acc, context = screens.context_for(runtime, user, workspace_id)
    found = automations.get(runtime, acc, automation_id)
    regs = registries(runtime.pm)
    rt = screens.record_type(runtime, acc, found["record_type"])
    state = run_state if run_state in runs.STATES else None
    log = runs.list_runs(
        runtime, acc, automation_id=automation_id, state=state, limit=RUNS_PAGE, before=before
    )
    on_records = [r["record"] for r in log["items"] if r["record"]]
    if rehearsal:
        for step in rehearsal["steps"]:
            step["label"] = screens.action_label(regs, step["action"])
    context.update(
        automation=found,
        rt=rt,
        trigger_words=screens.trigger_words(regs, rt, found["trigger"]),
        action_labels=[screens.action_label(regs, a["type"]) for a in found["actions"]],
        records=labels.options(runtime, acc, rt) if rt else [],
        titles=labels.labels(runtime, acc, rt, on_records) if rt else {},
        states=runs.STATES,
        state=state,
        runs=log,
        dead=runs.overview(runtime, acc).get(automation_id, {}).get("dead", 0),
        rehearsal=rehearsal,
        dry_error=dry_error.message if dry_error else None,
        run_error=run_error.message if run_error else None,
        notice=notice,
    )
    refused = dry_error or run_error
    status = refused.status if refused else 200
    return Template("automations/show.html", context=context, status_code=status)
