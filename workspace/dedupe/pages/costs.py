"""What duplicates cost, on the workspace's home page: the figures per record type, and the
form where an admin enters what each connected tool charges per record and month."""

from __future__ import annotations

from typing import Any

from litestar import Controller, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Response, Template

from workspace.dedupe import costs
from workspace.errors import WorkspaceError
from workspace.principal import Access
from workspace.runtime import Runtime
from workspace.web.nav import workspace_context
from workspace.web.session import RuntimeDep, UserDep

Form = URLEncodedBody[dict[str, Any]]


def cost_context(
    runtime: Runtime,
    acc: Access,
    counts: dict[int, int],
    errors: dict[str, str] | None = None,
    posted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``workspaces/_duplicate_costs.html`` reads."""
    return {
        "dup_figures": costs.figures(runtime, acc, counts),
        "priced": costs.priced_connections(runtime, acc) if acc.can("admin") else [],
        "price_errors": errors or {},
        "price_posted": posted or {},
    }


class CostPages(Controller):
    path = "/w/{workspace_id:int}"

    @post("/duplicate-costs", sync_to_thread=True)
    def save_prices(
        self, runtime: RuntimeDep, user: UserDep, workspace_id: int, data: Form
    ) -> Response[Any]:
        """Every ``price_<connection id>`` posted; a refused one is shown with its reason
        (the form again, on a page of its own), and the ones after it are not saved."""
        acc, context = workspace_context(runtime, user, workspace_id)
        acc.require("admin")
        try:
            for name, value in sorted(data.items()):
                if name.startswith("price_") and name[6:].isdigit():
                    costs.set_price(runtime, acc, int(name[6:]), value)
        except WorkspaceError as exc:
            if exc.status in {401, 403, 404}:
                raise
            context.update(cost_context(runtime, acc, {}, exc.fields, data))
            return Template("duplicates/prices.html", context=context, status_code=exc.status)
        return Redirect(f"/w/{workspace_id}#duplicate-costs", status_code=303)
