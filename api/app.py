"""The FastAPI app: a thin trigger layer over the workflows, plus the staff web pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from api.errors import CareflowError
from api.routes import cases, health, library, messages, orders, pushes, reports, sla, surveys
from api.web import admin, pages
from api.web import library as library_pages
from api.web import messages as message_pages
from api.web import pushes as push_pages
from api.web import reports as report_pages
from api.web import surveys as survey_pages
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
    )
    app.state.settings = settings
    if client is not None:

        async def given() -> Client:
            return client

        app.state.temporal = given
    else:
        app.state.temporal = _lazy_client(settings)

    @app.exception_handler(CareflowError)
    async def careflow_error(request: Request, exc: CareflowError) -> JSONResponse:
        if not request.url.path.startswith("/api/"):
            return await pages.error_page(request, exc)
        return JSONResponse(exc.body(), status_code=exc.status)

    app.include_router(health.router)
    app.include_router(cases.router)
    app.include_router(messages.router)
    app.include_router(sla.router)
    app.include_router(orders.router)
    app.include_router(pushes.router)
    app.include_router(surveys.router)
    app.include_router(library.router)
    app.include_router(reports.router)
    app.include_router(pages.router)
    app.include_router(message_pages.router)
    app.include_router(admin.router)
    app.include_router(push_pages.router)
    app.include_router(survey_pages.router)
    app.include_router(library_pages.router)
    app.include_router(report_pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    return app
