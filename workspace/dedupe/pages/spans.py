"""Rules across record types on a type's duplicates screen: the rules this type is part of,
a form to span a rule to another type (one field on each side, a mode for each), the modes
per type, and removal. The ``spans`` service judges what is valid; this only reads forms.
"""

from __future__ import annotations

from typing import Any

from litestar import post
from litestar.params import URLEncodedBody
from litestar.response import Response

from workspace.dedupe import spans
from workspace.dedupe.pages.rules import errors_of, last
from workspace.dedupe.pages.screen import ScreenDep, reraise_access
from workspace.dedupe.pages.span_views import spec_from
from workspace.errors import WorkspaceError

Form = URLEncodedBody[dict[str, Any]]
SPANS = "/t/{record_type_id:int}/duplicates/spans"


class SpanScreens:
    """Mixed into the duplicates screen's controller."""

    @post(SPANS, sync_to_thread=True)
    def add_span(self, screen: ScreenDep, data: Form) -> Response[Any]:
        acc, rt = screen.open()
        acc.require("admin")
        try:
            spans.add_span(screen.runtime, acc, spec_from(rt, data))
        except WorkspaceError as exc:
            reraise_access(exc)
            add = {"posted": data, "errors": errors_of(exc) | exc.fields}
            return screen.answer("_spans", acc, rt, {"span_add": add}, exc.status)
        return screen.back("spans", done="span-added")

    @post(SPANS + "/{span_id:int}", sync_to_thread=True)
    def change_span(self, screen: ScreenDep, span_id: int, data: Form) -> Response[Any]:
        acc, rt = screen.open()
        current = spans.get_span(screen.runtime, acc, span_id)
        types = []
        for t in current["types"]:
            mode = last(data, f"mode_{t['type']}")
            if mode:
                on_update = "block" if mode in {"block", "update"} else "warn"
                types.append({"type": t["type"], "on_create": mode, "on_update": on_update})
        try:
            spans.change_span(screen.runtime, acc, span_id, {"types": types})
        except WorkspaceError as exc:
            reraise_access(exc)
            add = {"errors": errors_of(exc) | exc.fields}
            return screen.answer("_spans", acc, rt, {"span_add": add}, exc.status)
        return screen.back("spans", done="span-saved")

    @post(SPANS + "/{span_id:int}/delete", sync_to_thread=True)
    def delete_span(self, screen: ScreenDep, span_id: int) -> Response[Any]:
        acc, _ = screen.open()
        spans.delete_span(screen.runtime, acc, span_id)
        return screen.back("spans", done="span-deleted")
