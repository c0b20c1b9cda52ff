"""The duplicates screen of a record type: its dedupe rules, a scan of the records on file,
and the review queue. The merge screens are mixed in from ``duplicates_merge``.

Every action is a plain form post answered with a redirect (or the page with the errors), so
the screen works without JavaScript; htmx swaps only the part that changed: the rules after
a rule change, the queue after a scan, one pair after a decision.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.dedupe import queue as duplicates
from workspace.dedupe import rules as dedupe_rules
from workspace.dedupe.pages import queue, rules, span_views
from workspace.dedupe.pages.merge import MergeScreens
from workspace.dedupe.pages.screen import ScreenDep, provide_screen, reraise_access
from workspace.dedupe.pages.spans import SpanScreens
from workspace.errors import NotFound, WorkspaceError

Form = URLEncodedBody[dict[str, Any]]
DUPLICATES = "/t/{record_type_id:int}/duplicates"
RULE = DUPLICATES + "/rules/{rule_id:int}"
#: Messages after a redirect, by the ``done`` the redirect carries.
NOTICES = {
    "rule-added": "The rule was added. Records already on file were checked by it: "
    "duplicates among them are in the review queue.",
    "fuzzy-added": "The rule was added. Press “Scan now” to find likely pairs among the "
    "records already on file.",
    "rule-saved": "The rule was saved.",
    "rule-deleted": "The rule was deleted.",
    "not_duplicate": "Marked as not a duplicate: the pair will not be suggested again.",
    "skipped": "Skipped: the pair is under “Skipped” for later.",
    "open": "The pair is back in the queue.",
}
DECIDED = {
    "not_duplicate": "Marked as not a duplicate. It will not be suggested again.",
    "skipped": "Skipped for now. You find it under “Skipped”.",
    "open": "Back in the queue to review.",
}


class DuplicatePages(MergeScreens, SpanScreens, Controller):
    path = "/w/{workspace_id:int}"
    dependencies = {"screen": Provide(provide_screen, sync_to_thread=False)}

    # ---- the screen -----------------------------------------------------------------------

    @get(DUPLICATES, sync_to_thread=True)
    def duplicates_page(
        self,
        screen: ScreenDep,
        status: str | None = None,
        after: str | None = None,
        rule: str | None = None,
        done: str | None = None,
        compared: int | None = None,
        queued: int | None = None,
    ) -> Template:
        """``rule`` picks the rule of the add form without JavaScript; ``done``, ``compared``
        and ``queued`` say what the form post that redirected here did."""
        acc, rt = screen.open()
        state: dict[str, Any] = {"status": queue.status_of(status), "after": after}
        if rule is not None:
            state["add"] = {"rule": rule}
        notice = NOTICES.get(done or "")
        if done in {"rule-added", "fuzzy-added", "rule-saved", "rule-deleted"}:
            state["rules_notice"] = notice
        elif notice:
            state["queue_notice"] = notice
        if done in span_views.NOTICES:
            state["span_add"] = {"notice": span_views.NOTICES[done]}
        if compared is not None and queued is not None:
            state["queue_notice"] = scan_words(compared, queued)
        context = screen.context(acc, rt, **state)
        return Template("duplicates/page.html", context=context)

    @get(DUPLICATES + "/rule-form", sync_to_thread=True)
    def rule_form(self, screen: ScreenDep, rule: str = "") -> Response[Any]:
        """The add form for the rule just picked (htmx); without JavaScript, the screen."""
        if not screen.htmx:
            return Redirect(f"{screen.url}?{urlencode({'rule': rule})}#add-rule", status_code=303)
        acc, rt = screen.open()
        acc.require("admin")
        return Template(
            "duplicates/_rule_add.html",
            context=screen.context(acc, rt, add={"rule": rule}, focus_rule=True),
        )

    # ---- rules ------------------------------------------------------------------------------

    @post(DUPLICATES + "/rules", sync_to_thread=True)
    def add_rule(self, screen: ScreenDep, data: Form) -> Response[Any]:
        acc, rt = screen.open()
        acc.require("admin")
        rule = rules.pick_rule(rules.usable_rules(screen.runtime, rt), rules.last(data, "rule"))
        if rule is None:
            return screen.back("rules")
        slots = rules.posted_slots(data, rule.arity[1])
        try:
            spec = rules.new_rule_spec(rule, data, rt)
            dedupe_rules.add_rule(screen.runtime, acc, rt.id, spec)
        except WorkspaceError as exc:
            reraise_access(exc)
            errors = rules.errors_of(exc)
            add = {"rule": rule.name, "slots": slots, "posted": data, "errors": errors}
            return screen.answer("_rules", acc, rt, {"add": add}, exc.status)
        done = "fuzzy-added" if rule.fuzzy else "rule-added"
        if not screen.htmx:
            return screen.back("rules", done=done)
        acc, rt = screen.open()  # the type now has the rule
        state = {"rules_notice": NOTICES[done], "oob": True}
        return screen.answer("_rules_swap", acc, rt, state, 200)

    @post(RULE, sync_to_thread=True)
    def change_rule(self, screen: ScreenDep, rule_id: int, data: Form) -> Response[Any]:
        acc, rt = screen.open()
        acc.require("admin")
        current = next((rd for rd in rt.dedupe if rd.id == rule_id), None)
        try:
            if current is None:
                raise NotFound("dedupe rule not found")
            changes = rules.settings_from(current.rule, data, rt)
            dedupe_rules.change_rule(screen.runtime, acc, rt.id, rule_id, changes)
        except WorkspaceError as exc:
            reraise_access(exc)
            edits = {rule_id: {"posted": data, "errors": rules.errors_of(exc)}}
            return screen.answer("_rules", acc, rt, {"edits": edits}, exc.status)
        if not screen.htmx:
            return screen.back(f"rule-{rule_id}", done="rule-saved")
        acc, rt = screen.open()
        return screen.answer("_rules", acc, rt, {"rules_notice": NOTICES["rule-saved"]}, 200)

    @post(RULE + "/delete", sync_to_thread=True)
    def delete_rule(self, screen: ScreenDep, rule_id: int) -> Response[Any]:
        acc, rt = screen.open()
        dedupe_rules.delete_rule(screen.runtime, acc, rt.id, rule_id)
        if not screen.htmx:
            return screen.back("rules", done="rule-deleted")
        acc, rt = screen.open()
        return screen.answer("_rules", acc, rt, {"rules_notice": NOTICES["rule-deleted"]}, 200)

    # ---- the queue --------------------------------------------------------------------------

    @post(DUPLICATES + "/scan", sync_to_thread=True)
    def scan(self, screen: ScreenDep) -> Response[Any]:
        acc, rt = screen.open()
        found = duplicates.scan(screen.runtime, acc, rt)
        if not screen.htmx:
            return screen.back("queue", **found)
        state = {"queue_notice": scan_words(found["compared"], found["queued"])}
        return screen.answer("_queue", acc, rt, state, 200)

    @post(DUPLICATES + "/{pair_id:int}/decision", sync_to_thread=True)
    def decide(self, screen: ScreenDep, pair_id: int, data: Form) -> Response[Any]:
        acc, rt = screen.open()
        decision = rules.last(data, "decision")
        duplicates.decide(screen.runtime, acc, rt, pair_id, decision)
        status = queue.status_of(rules.last(data, "status"))
        if not screen.htmx:
            return screen.back("queue", status=None if status == "open" else status, done=decision)
        context = {
            "pair_id": pair_id,
            "message": DECIDED[decision],
            "dup": screen.url,
            "status": status,
        }
        return Template("duplicates/_decided.html", context=context)


def scan_words(compared: int, queued: int) -> str:
    """What a scan did, in words."""
    pairs = f"{compared} pair{'' if compared == 1 else 's'} of records"
    if compared == 0:
        return "Scanned: no records share a key under the rules, so there was nothing to compare."
    if queued == 0:
        return f"Scanned: compared {pairs}; no new likely duplicates."
    return (
        f"Scanned: compared {pairs}; {queued} new likely duplicate"
        f"{'' if queued == 1 else 's'} to review."
    )
