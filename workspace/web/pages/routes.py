"""The page routers: login pages open to all, the rest behind a session."""

from __future__ import annotations

from litestar import Router
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router

from workspace.web.page_errors import PAGE_EXCEPTION_HANDLERS
from workspace.web.pages.account import AccountController, LoginController
from workspace.web.pages.adopt import AdoptPages
from workspace.web.pages.database import DatabasePages
from workspace.web.pages.database_moves import DatabaseMovePages
from workspace.web.pages.designer import DesignerPages
from workspace.web.pages.duplicates import DuplicatePages
from workspace.web.pages.files import FilePages
from workspace.web.pages.forms_builder import FormBuilderPages
from workspace.web.pages.forms_public import PublicFormPages
from workspace.web.pages.imports import ImportPages
from workspace.web.pages.inbox import InboxPages
from workspace.web.pages.record import RecordPages
from workspace.web.pages.session import DEPENDENCIES, SessionMiddleware
from workspace.web.pages.storage import StoragePages
from workspace.web.pages.table import TablePages
from workspace.web.pages.work import WorkPages
from workspace.web.pages.workspaces import WorkspacePages
from workspace.web.templating import STATIC_DIR


def page_routers() -> list[Router]:
    open_pages = Router(
        path="/",
        route_handlers=[LoginController, PublicFormPages],
        dependencies=DEPENDENCIES,
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
            FormBuilderPages,
            ImportPages,
            StoragePages,
            DatabasePages,
            DatabaseMovePages,
            AdoptPages,
        ],
        dependencies=DEPENDENCIES,
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
