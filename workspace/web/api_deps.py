"""Dependencies every API handler may ask for by name: ``runtime`` and ``principal``."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from workspace.principal import Principal
from workspace.web.deps import RUNTIME, RuntimeDep


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return request.user  # type: ignore[no-any-return]


DEPENDENCIES = {
    "runtime": RUNTIME,
    "principal": Provide(provide_principal, sync_to_thread=False),
}

#: Handler parameter types: ``def handler(runtime: RuntimeDep, principal: PrincipalDep)``.
__all__ = ["DEPENDENCIES", "PrincipalDep", "RuntimeDep"]
PrincipalDep = NamedDependency[Principal]
