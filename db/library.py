"""The case library (KB-1): resolved after-sales cases and complaints, searchable, suggested at intake."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text, func
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class LibraryEntry(Base):
    __tablename__ = "case_library"
    __table_args__ = (
        Index("ix_case_library_search", "search", postgresql_using="gin"),
        Index("ix_case_library_category", "category"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    case_number: Mapped[str | None] = mapped_column(ForeignKey("cases.number"), unique=True)
    process: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    symptom: Mapped[str] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(Text)
    remedy: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # Written by activities/library.py from the Python tokens (domain/library.py), never by a trigger.
    search: Mapped[Any] = mapped_column(TSVECTOR)
    created_by: Mapped[str] = mapped_column(String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Last archive (a reopened case archived again) or edit, and by whom.
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(100))
