"""The merge screens: pick the surviving record and each field's value, see the result, merge;
then a confirmation that offers to undo it (mixed into ``DuplicatePages``).

A merge is one ``merges.merge`` call with the person's choices as overrides; undo is
``merges.undo``, which refuses (409) when the survivor changed since unless forced, and the
confirmation then offers "Undo anyway".
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any

from litestar import get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.dedupe import merges
from workspace.dedupe.pages import choices
from workspace.dedupe.pages.screen import Screen, ScreenDep
from workspace.errors import Conflict, Merged, NotFound, ValidationFailed, WorkspaceError
from workspace.principal import Access
from workspace.records import labels as record_labels
from workspace.records import records
from workspace.records.pages.refs import refs_for
from workspace.schema.tables import RecordTypeDef

Form = URLEncodedBody[dict[str, Any]]
DUPLICATES = "/t/{record_type_id:int}/duplicates"
MERGE = DUPLICATES + "/merge"
DONE = DUPLICATES + "/merges/{merge_id:int}"
#: What a refusal tells API clients to send; the screen offers a button instead.
API_HINT = re.compile(r"\s*\((?:repeat )?with force[^)]*\)")


class MergeScreens:
    # ---- choosing ---------------------------------------------------------------------------

    @get(DUPLICATES + "/{pair_id:int}/merge", sync_to_thread=True)
    def merge_pair(self, screen: ScreenDep, pair_id: int, survivor: int | None = None) -> Template:
        """A queued pair: the older record survives unless ``survivor`` says otherwise."""
        acc, rt = screen.open()
        a, b = merges.pair_records(screen.runtime, acc, rt, pair_id)
        keep, lose = (b, a) if survivor == b else (a, b)
        return merge_screen(screen, acc, rt, keep, lose, pair_id)

    @get(MERGE, sync_to_thread=True)
    def merge_records(
        self, screen: ScreenDep, survivor: int, loser: int, pair: int | None = None
    ) -> Template:
        acc, rt = screen.open()
        return merge_screen(screen, acc, rt, survivor, loser, pair)

    @post(MERGE + "/preview", sync_to_thread=True)
    def merge_preview(self, screen: ScreenDep, data: Form) -> Template:
        """The record after the merge with the choices made so far (htmx: the preview alone;
        without JavaScript: the screen again, choices kept)."""
        acc, rt = screen.open()
        survivor, loser, pair = _posted_ids(data)
        if not screen.htmx:
            return merge_screen(screen, acc, rt, survivor, loser, pair, posted=data)
        keep, lose = _both(screen, acc, rt, survivor, loser)
        chosen = choices.overrides(rt, data)
        context = {
            "rt": rt,
            "survivor": keep,
            "survivor_title": record_labels.title_of(rt, keep),
            "result": choices.result(rt, keep, lose, chosen),
            "refs": refs_for(screen.runtime, acc, rt, [keep, lose]),
        }
        return Template("duplicates/_merge_preview.html", context=context)

    @post(MERGE, sync_to_thread=True)
    def merge(self, screen: ScreenDep, data: Form) -> Response[Any]:
        acc, rt = screen.open()
        survivor, loser, pair = _posted_ids(data)
        try:
            done = merges.merge(
                screen.runtime, acc, rt, survivor, loser, choices.overrides(rt, data)
            )
        except (ValidationFailed, Conflict) as exc:
            return merge_screen(screen, acc, rt, survivor, loser, pair, posted=data, refused=exc)
        return Redirect(f"{screen.url}/merges/{done['id']}", status_code=303)

    # ---- done, and undo ---------------------------------------------------------------------

    @get(DONE, sync_to_thread=True)
    def merged(self, screen: ScreenDep, merge_id: int) -> Template:
        acc, rt = screen.open()
        return merged_screen(screen, acc, rt, merge_id)

    @post(DONE + "/undo", sync_to_thread=True)
    def undo(self, screen: ScreenDep, merge_id: int, data: Form) -> Response[Any]:
        acc, rt = screen.open()
        force = str(data.get("force", "")) in {"1", "true", "yes"}
        try:
            merges.undo(screen.runtime, acc, rt, merge_id, force=force)
        except Conflict as exc:
            return merged_screen(screen, acc, rt, merge_id, refused=exc)
        return Redirect(f"{screen.url}/merges/{merge_id}", status_code=303)


def merge_screen(
    screen: Screen,
    acc: Access,
    rt: RecordTypeDef,
    survivor_id: int,
    loser_id: int,
    pair: int | None,
    *,
    posted: dict[str, Any] | None = None,
    refused: WorkspaceError | None = None,
) -> Template:
    """The merge screen; ``posted`` keeps the choices made, ``refused`` says why the merge
    did not happen (reasons by field next to the field, the rest on top)."""
    acc.require("member")
    keep, lose = _both(screen, acc, rt, survivor_id, loser_id)
    rows = choices.choices(rt, keep, lose, posted)
    errors = dict(refused.fields) if refused is not None else {}
    for c in rows:
        c.error = errors.pop(c.f.key, None)
    general = None
    if refused is not None and (errors or not refused.fields):
        general = "; ".join(f"{k}: {v}" for k, v in errors.items()) or refused.message
    chosen = choices.overrides(rt, posted) if posted is not None else {}
    query = f"&pair={pair}" if pair is not None else ""
    context = {
        "acc": acc,
        "rt": rt,
        "base": f"/w/{screen.workspace_id}/t/{rt.id}",
        "dup": screen.url,
        "pair": pair,
        "survivor": keep,
        "loser": lose,
        "survivor_title": record_labels.title_of(rt, keep),
        "loser_title": record_labels.title_of(rt, lose),
        "rows": rows,
        "same": [c for c in rows if c.same],
        "differ": [c for c in rows if not c.same],
        "result": choices.result(rt, keep, lose, chosen),
        "refs": refs_for(screen.runtime, acc, rt, [keep, lose]),
        "swap_url": f"{screen.url}/merge?survivor={lose['id']}&loser={keep['id']}{query}",
        "general": _sentence(general) if general else None,
    }
    status = refused.status if refused is not None else 200
    return Template(
        "duplicates/merge.html", context=screen.with_layout(context, rt), status_code=status
    )


def merged_screen(
    screen: Screen,
    acc: Access,
    rt: RecordTypeDef,
    merge_id: int,
    *,
    refused: Conflict | None = None,
) -> Template:
    """A merge done (or undone), with the survivor as it is now and the undo button."""
    done = merges.get_merge(screen.runtime, acc, rt, merge_id)
    labels = record_labels.labels(screen.runtime, acc, rt, [done["survivor"], done["loser"]])
    survivor = None
    with suppress(Merged, NotFound):  # merged on into another record, or deleted since
        survivor = records.get(screen.runtime, acc, rt, done["survivor"])
    context = {
        "acc": acc,
        "rt": rt,
        "base": f"/w/{screen.workspace_id}/t/{rt.id}",
        "dup": screen.url,
        "merge": done,
        "survivor": survivor,
        "survivor_title": _plain(labels.get(done["survivor"], f"#{done['survivor']}")),
        "survivor_was": record_labels.title_of(
            rt, {"id": done["survivor"], "fields": done["survivor_before"]}
        ),
        "loser_title": _plain(labels.get(done["loser"], f"#{done['loser']}")),
        "refs": refs_for(screen.runtime, acc, rt, [survivor] if survivor else []),
        "refused": _sentence(API_HINT.sub("", refused.message)) if refused else None,
        "forceable": bool(refused is not None and refused.details.get("forceable")),
    }
    status = refused.status if refused is not None else 200
    return Template(
        "duplicates/merged.html", context=screen.with_layout(context, rt), status_code=status
    )


def _both(
    screen: Screen, acc: Access, rt: RecordTypeDef, survivor_id: int, loser_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both records as they are now; one already merged away cannot be merged again."""
    if survivor_id == loser_id:
        raise ValidationFailed.single("loser", "pick two different records to merge")
    found = []
    for record_id in (survivor_id, loser_id):
        try:
            found.append(records.get(screen.runtime, acc, rt, record_id))
        except Merged as exc:
            raise Conflict(
                f"Record #{record_id} was already merged into record #{exc.survivor_id}. "
                "Review the pair again from the queue."
            ) from None
    return found[0], found[1]


def _posted_ids(data: dict[str, Any]) -> tuple[int, int, int | None]:
    def number(key: str) -> int | None:
        value = choices.last(data, key)
        return int(value) if value.isdigit() and len(value) < 19 else None

    survivor, loser = number("survivor"), number("loser")
    if survivor is None or loser is None:
        raise ValidationFailed.single("survivor", "pick the two records to merge")
    return survivor, loser, number("pair")


def _plain(label: str) -> str:
    """A label without the "(deleted)" a merged-away record's label carries."""
    return label.removesuffix(" (deleted)")


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."
