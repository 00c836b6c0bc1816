"""C-2 bulk import jobs and C-3 merges (docs/customer-import.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base


class CustomerImport(Base):
    """One uploaded CSV/XLSX file: its progress while it runs and its per-row report once done."""

    __tablename__ = "customer_imports"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    filename: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="running", index=True)  # running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)  # data rows in the file
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # rows with errors: nothing of them was written
    # [{row, field, column, message}]: the sheet's row number, the profile field, the header as written.
    errors: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # [{row, customer_id, matches: [{id, name, reasons}]}]: imported rows that look like records on file.
    duplicates: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    ignored_columns: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    message: Mapped[str | None] = mapped_column(Text)  # why a job failed
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]


class CustomerMerge(Base):
    """A duplicate record merged into a survivor: who, when, and what moved (the survivor's timeline)."""

    __tablename__ = "customer_merges"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    duplicate_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    duplicate_name: Mapped[str] = mapped_column(String(200))
    merged_by: Mapped[str] = mapped_column(String(100))
    merged_at: Mapped[datetime] = mapped_column(server_default=func.now())
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"table.column": rows re-pointed}
    kept: Mapped[list[Any]] = mapped_column(default=list)  # rows a unique rule kept on the duplicate
    filled: Mapped[list[Any]] = mapped_column(default=list)  # survivor columns filled or extended
