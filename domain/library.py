"""The case library (KB-1): what a resolved case leaves behind for the next agent."""

from __future__ import annotations

from pydantic import Field

from domain.models import Model


class ArchiveRequest(Model):
    """A resolved after-sales case or complaint, archived with symptom, cause and remedy (000 §(三) 归档)."""

    number: str
    process: str
    category: str | None = None  # consultation | fault | complaint | suggestion
    title: str = Field(max_length=300)
    symptom: str
    cause: str | None = None
    remedy: str
    tags: list[str] = Field(default_factory=list)
    actor: str = "system"
