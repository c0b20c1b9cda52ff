"""The REST API under /api/v1: JSON in and out, Bearer tokens, OpenAPI at /api/v1/schema."""

from __future__ import annotations

from litestar import Router
from litestar.middleware import DefineMiddleware

from workspace.web.api.accounts import AccountController
from workspace.web.api.adopt import AdoptController
from workspace.web.api.auth import BearerTokenMiddleware
from workspace.web.api.comments import CommentController
from workspace.web.api.database import DatabaseController
from workspace.web.api.dedupe import DedupeController
from workspace.web.api.deps import DEPENDENCIES
from workspace.web.api.files import FileController
from workspace.web.api.forms import FormController
from workspace.web.api.idempotency import IdempotencyMiddleware
from workspace.web.api.imports import ImportController
from workspace.web.api.notifications import NotificationController
from workspace.web.api.record_types import RecordTypeController
from workspace.web.api.records import RecordController
from workspace.web.api.storage import StorageController
from workspace.web.api.tasks import TaskController
from workspace.web.api.workspaces import MemberController, WorkspaceController
from workspace.web.errors import API_EXCEPTION_HANDLERS

PREFIX = "/api/v1"


def api_router() -> Router:
    return Router(
        path=PREFIX,
        route_handlers=[
            AccountController,
            WorkspaceController,
            MemberController,
            RecordTypeController,
            RecordController,
            DedupeController,
            FileController,
            FormController,
            ImportController,
            CommentController,
            TaskController,
            NotificationController,
            StorageController,
            DatabaseController,
            AdoptController,
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=API_EXCEPTION_HANDLERS,
        middleware=[DefineMiddleware(BearerTokenMiddleware), IdempotencyMiddleware],
    )
