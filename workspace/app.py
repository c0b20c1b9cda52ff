"""The app factory: ``create_app(settings)`` builds a Litestar app around one Runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar, get
from litestar.config.app import AppConfig
from litestar.config.csrf import CSRFConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.types import ControllerRouterHandler

from workspace import migrate
from workspace.access import workspaces
from workspace.boot import build_runtime
from workspace.databases import moves
from workspace.jobs.worker import Worker
from workspace.plugin_calls import call_each
from workspace.routes import PREFIX, api_router, hook_router, page_routers
from workspace.runtime import Runtime
from workspace.settings import Settings
from workspace.storage import migration
from workspace.types import schema_changes
from workspace.web.page_errors import APP_EXCEPTION_HANDLERS
from workspace.web.requests import AppRequest
from workspace.web.templating import template_config
from workspace.web.uploads import close_uploaded_files

log = logging.getLogger(__name__)
#: How long a stopping server waits for the jobs its embedded worker is running.
STOP_SECONDS = 30.0


@get("/healthz", sync_to_thread=False, include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def prepare(runtime: Runtime) -> None:
    """Bring the database up to date and finish anything a crashed process left half done."""
    if runtime.settings.migrate_on_start:
        migrate.upgrade(runtime.control)
    schema_changes.recover_all(runtime)
    workspaces.finish_deletions(runtime)
    migration.resume_all(runtime)
    moves.resume_all(runtime)


def create_app(
    settings: Settings, runtime: Runtime | None = None, *, embedded_worker: bool = False
) -> Litestar:
    """The app around ``runtime``; with ``embedded_worker`` it also runs a job worker in
    this process for as long as the app runs (``workspace serve`` does by default)."""
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        await anyio.to_thread.run_sync(prepare, runtime)
        for _name, _ in call_each(runtime.pm.hook.startup, runtime=runtime):
            pass
        worker = Worker(runtime) if embedded_worker else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await anyio.to_thread.run_sync(worker.stop, STOP_SECONDS)
            runtime.close()

    handlers: list[ControllerRouterHandler] = [
        healthz,
        api_router(),
        hook_router(),
        *page_routers(),
    ]
    for _name, extra in call_each(runtime.pm.hook.register_routes, runtime=runtime):
        handlers.extend(extra or [])
    config = AppConfig(
        route_handlers=handlers,
        lifespan=[lifespan],
        exception_handlers=APP_EXCEPTION_HANDLERS,
        middleware=[close_uploaded_files],
        request_max_body_size=settings.max_body_bytes,
        request_class=AppRequest,
        template_config=template_config(),
        plugins=[HTMXPlugin()],
        csrf_config=CSRFConfig(
            secret=settings.resolved_secret_key(),
            cookie_name="ws_csrf",
            cookie_samesite="strict",
            header_name="x-csrftoken",
            # API calls carry a Bearer token, not a cookie: nothing to forge there.
            exclude=["/api/"],
        ),
        openapi_config=OpenAPIConfig(
            title="Workspace server API",
            version="1",
            path=PREFIX + "/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
    )
    app = Litestar.from_config(config)
    app.state.runtime = runtime
    return app


def app_from_env() -> Litestar:
    """Factory for ``uvicorn --factory`` and ``workspace serve``: settings from the environment."""
    settings = Settings.from_env()
    return create_app(settings, embedded_worker=settings.embedded_worker)
