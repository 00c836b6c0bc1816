"""Dependencies, typed once and reused by every route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from config import Settings
from db.engine import sessionmaker_for


async def get_settings(request: Request) -> Settings:  # async: a plain def runs in the threadpool
    return request.app.state.settings


async def get_client(request: Request) -> Client:
    return await request.app.state.temporal()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    settings: Settings = request.app.state.settings
    async with sessionmaker_for(settings.sqlalchemy_url())() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
