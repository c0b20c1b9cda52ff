"""The route table: every API controller and page controller of the app, in one list.

The API lives under /api/v1 (JSON, Bearer tokens, OpenAPI at /api/v1/schema); the pages are
split into those open to all (login, public forms) and those behind a session. Nothing else
imports the capabilities' ``api`` and ``pages`` modules.
"""

from __future__ import annotations

from litestar import Router
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router

from workspace.access.api.accounts import AccountController as AccountApi
from workspace.access.api.workspaces import MemberController, WorkspaceController
from workspace.access.pages.account import AccountController, LoginController
from workspace.access.pages.workspaces import WorkspacePages
from workspace.automations.api import AutomationController, HookController
from workspace.automations.pages.definitions import AutomationPages
from workspace.automations.pages.run_log import RunLogPages
from workspace.connectors.api.connections import ConnectionController
from workspace.connectors.api.hooks import VendorHookController
from workspace.connectors.api.ownership import OwnershipController
from workspace.connectors.pages.connections import ConnectionPages
from workspace.connectors.pages.objects import ObjectPages
from workspace.connectors.pages.ownership import OwnershipPages
from workspace.databases.api import DatabaseController
from workspace.databases.pages.database import DatabasePages
from workspace.databases.pages.moves import DatabaseMovePages
from workspace.dedupe.api import DedupeController, DedupeSpanController
from workspace.dedupe.pages.costs import CostPages
from workspace.dedupe.pages.duplicates import DuplicatePages
from workspace.files.api import FileController
from workspace.files.pages.files import FilePages
from workspace.forms.api import FormController
from workspace.forms.pages.builder import FormBuilderPages
from workspace.forms.pages.public import PublicFormPages
from workspace.imports.api import ImportController
from workspace.imports.pages import ImportPages
from workspace.records.api import RecordController
from workspace.records.pages.record import RecordPages
from workspace.records.pages.table import TablePages
from workspace.storage.api import StorageController
from workspace.storage.pages import StoragePages
from workspace.types.api.adopt import AdoptController
from workspace.types.api.record_types import RecordTypeController
from workspace.types.pages.adopt import AdoptPages
from workspace.types.pages.designer import DesignerPages
from workspace.web.api_deps import DEPENDENCIES as API_DEPENDENCIES
from workspace.web.bearer import BearerTokenMiddleware
from workspace.web.deps import RUNTIME
from workspace.web.errors import API_EXCEPTION_HANDLERS
from workspace.web.idempotency import IdempotencyMiddleware
from workspace.web.page_errors import PAGE_EXCEPTION_HANDLERS
from workspace.web.rate_limit import ApiRateLimit
from workspace.web.session import DEPENDENCIES as PAGE_DEPENDENCIES
from workspace.web.session import SessionMiddleware
from workspace.web.templating import STATIC_DIR
from workspace.work.api.comments import CommentController
from workspace.work.api.notifications import NotificationController
from workspace.work.api.tasks import TaskController
from workspace.work.pages.inbox import InboxPages
from workspace.work.pages.work import WorkPages

PREFIX = "/api/v1"


def api_router() -> Router:
    return Router(
        path=PREFIX,
        route_handlers=[
            AccountApi,
            WorkspaceController,
            MemberController,
            RecordTypeController,
            RecordController,
            DedupeController,
            DedupeSpanController,
            FileController,
            FormController,
            ImportController,
            CommentController,
            TaskController,
            NotificationController,
            StorageController,
            DatabaseController,
            AdoptController,
            AutomationController,
            ConnectionController,
            OwnershipController,
        ],
        dependencies=API_DEPENDENCIES,
        exception_handlers=API_EXCEPTION_HANDLERS,
        middleware=[
            DefineMiddleware(ApiRateLimit, by="address"),
            DefineMiddleware(BearerTokenMiddleware),
            DefineMiddleware(ApiRateLimit, by="token"),
            IdempotencyMiddleware,
        ],
    )


def hook_router() -> Router:
    """Addresses outside callers post to without a token (their secret is in the path)."""
    return Router(
        path=PREFIX,
        route_handlers=[HookController, VendorHookController],
        dependencies={"runtime": RUNTIME},
        exception_handlers=API_EXCEPTION_HANDLERS,
    )


def page_routers() -> list[Router]:
    open_pages = Router(
        path="/",
        route_handlers=[LoginController, PublicFormPages],
        dependencies=PAGE_DEPENDENCIES,
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    signed_in = Router(
        path="/",
        route_handlers=[
            AccountController,
            WorkspacePages,
            DesignerPages,
            TablePages,
            RecordPages,
            WorkPages,
            InboxPages,
            FilePages,
            DuplicatePages,
            CostPages,
            FormBuilderPages,
            ImportPages,
            StoragePages,
            DatabasePages,
            DatabaseMovePages,
            AdoptPages,
            ConnectionPages,
            ObjectPages,
            OwnershipPages,
            AutomationPages,
            RunLogPages,
        ],
        dependencies=PAGE_DEPENDENCIES,
        middleware=[DefineMiddleware(SessionMiddleware)],
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        include_in_schema=False,
        cache_control=None,
    )
    return [open_pages, signed_in, static]
