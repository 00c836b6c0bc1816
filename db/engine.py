"""Engines and sessions. One transaction per request or per activity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from config import to_psycopg_url


@lru_cache
def engine_for(url: str) -> AsyncEngine:
    return create_async_engine(to_psycopg_url(url), pool_size=20, max_overflow=10, pool_pre_ping=True)


@lru_cache
def sessionmaker_for(url: str) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine_for(url), expire_on_commit=False)


@asynccontextmanager
async def transaction(url: str) -> AsyncIterator[AsyncSession]:
    async with sessionmaker_for(url)() as session, session.begin():
        yield session
