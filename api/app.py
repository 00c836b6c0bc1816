"""The FastAPI app: a thin trigger layer over the workflows, plus the staff web pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from api.audit import AuditMiddleware
from api.auth import NotSignedIn, guard, login_redirect
from api.errors import CareflowError
from api.routes import auth as auth_routes
from api.routes import (
    care_effect,
    cases,
    customer_quality,
    health,
    library,
    messages,
    orders,
    pushes,
    reports,
    sla,
    surveys,
)
from api.routes import compliance as compliance_routes
from api.routes import customers as customer_routes
from api.routes import tier_reports as tier_report_routes
from api.routes import tiers as tier_routes
from api.web import admin, language, pages, workspace
from api.web import auth as auth_pages
from api.web import care_effect as care_effect_pages
from api.web import care_panel as _care_panel  # noqa: F401 (registers the customer page's care panel)
from api.web import customer_quality as customer_quality_pages
from api.web import customers as customer_pages
from api.web import library as library_pages
from api.web import messages as message_pages
from api.web import pushes as push_pages
from api.web import reports as report_pages
from api.web import surveys as survey_pages
from api.web import tier_reports as tier_report_pages
from api.web import tiers as tier_pages
from config import Settings, get_settings
from workflows.registry import connect


def _lazy_client(settings: Settings) -> Callable[[], Awaitable[Client]]:
    """Connects on first use, so the API starts even while Temporal is still coming up."""
    lock = asyncio.Lock()
    holder: list[Client] = []

    async def get() -> Client:
        async with lock:
            if not holder:
                holder.append(await connect(settings.temporal_address, settings.temporal_namespace))
            return holder[0]

    return get


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        from db.engine import engine_for

        await engine_for(settings.sqlalchemy_url()).dispose()
        engine_for.cache_clear()

    app = FastAPI(
        title="Careflow",
        version="0.1.0",
        description="Customer-service processes as durable workflows with SLA deadlines that escalate on their own.",
        lifespan=lifespan,
        # SEC-4: every route is signed-in only, except the public ones api/auth.py names; see docs/security.md.
        dependencies=[Depends(guard)],
    )
    app.state.settings = settings
    app.add_middleware(AuditMiddleware, settings=settings)  # SEC-2: every successful write
    if client is not None:

        async def given() -> Client:
            return client

        app.state.temporal = given
    else:
        app.state.temporal = _lazy_client(settings)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(exc.body(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = login_redirect(request)
        if request.headers.get("HX-Request") == "true":  # htmx swaps answers in place: send the whole page
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CareflowError)
    async def careflow_error(request: Request, exc: CareflowError) -> JSONResponse:
        if not request.url.path.startswith("/api/"):
            return await pages.error_page(request, exc)
        return JSONResponse(exc.body(), status_code=exc.status)

    app.include_router(health.router)
    app.include_router(auth_routes.router)
    app.include_router(cases.router)
    app.include_router(messages.router)
    app.include_router(sla.router)
    app.include_router(orders.router)
    app.include_router(pushes.router)
    app.include_router(surveys.router)
    app.include_router(library.router)
    app.include_router(reports.router)
    app.include_router(care_effect.router)
    app.include_router(tier_routes.router)
    app.include_router(tier_report_routes.router)
    app.include_router(compliance_routes.router)
    # Before customer_routes (and its pages before customer_pages): /customers/{id} would take their paths.
    app.include_router(customer_quality.router)
    app.include_router(customer_routes.router)
    app.include_router(auth_pages.router)
    app.include_router(pages.router)
    app.include_router(language.router)
    app.include_router(workspace.router)
    app.include_router(message_pages.router)
    app.include_router(admin.router)
    app.include_router(push_pages.router)
    app.include_router(survey_pages.router)
    app.include_router(library_pages.router)
    app.include_router(report_pages.router)
    app.include_router(care_effect_pages.router)
    app.include_router(tier_pages.router)
    app.include_router(tier_report_pages.router)
    app.include_router(customer_quality_pages.router)
    app.include_router(customer_pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
