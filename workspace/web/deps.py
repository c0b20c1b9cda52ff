"""The dependency both the API and the pages use: the app's Runtime."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from workspace.runtime import Runtime


def provide_runtime(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RUNTIME = Provide(provide_runtime, sync_to_thread=False)
RuntimeDep = NamedDependency[Runtime]
