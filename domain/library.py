"""The case library (KB-1): what a resolved case leaves behind for the next agent.

Search works on stock Postgres (no Chinese parser such as zhparser): ``tokens`` cuts text in Python
into CJK unigrams and overlapping bigrams plus lower-cased Latin words and numbers, and the database
indexes those with the ``simple`` configuration, which only lower-cases and splits on spaces.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from domain.models import Model


class Category(StrEnum):
    """The four issue kinds of 000 §(三) 问题分类."""

    CONSULTATION = "consultation"
    FAULT = "fault"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"


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


class SuggestRequest(Model):
    """An intake text to match against the library (003 §2.3.2 步骤2 知识库自查)."""

    text: str
    limit: int = Field(default=3, ge=1, le=20)


class LibraryHit(Model):
    """One ranked library entry; ``case_number`` is None for a manual (FAQ) entry."""

    id: int
    title: str
    symptom: str
    cause: str | None
    remedy: str
    case_number: str | None
    category: str | None
    score: float


Tag = Annotated[str, Field(min_length=1, max_length=40)]


class EntryInput(Model):
    """A manual entry (FAQ / 知识库话术) as staff write it."""

    title: str = Field(min_length=1, max_length=300)
    symptom: str = Field(min_length=1, max_length=5000)
    cause: str | None = Field(default=None, max_length=5000)
    remedy: str = Field(min_length=1, max_length=5000)
    category: Category | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class EntryPatch(Model):
    """A partial edit of an entry: only the fields given change."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    symptom: str | None = Field(default=None, min_length=1, max_length=5000)
    cause: str | None = Field(default=None, max_length=5000)
    remedy: str | None = Field(default=None, min_length=1, max_length=5000)
    category: Category | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)

    @field_validator("title", "symptom", "remedy", "tags")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the client sent: leaving a field out keeps it, null would blank it.
        if value is None:
            raise ValueError("may not be null")
        return value


# A run of CJK ideographs (unified block, extension A, compatibility ideographs) or of Latin letters and
# digits. Everything else (punctuation, spaces, symbols, other scripts) separates tokens.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[0-9a-z]+")


def _runs(text: str) -> list[str]:
    # NFKC folds full-width letters and digits (ＡＢＣ１２３, common in Chinese input) to ASCII.
    return _RUN.findall(unicodedata.normalize("NFKC", text).casefold())


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokens(text: str) -> list[str]:
    """The index tokens of ``text`` in text order: each CJK character followed by the bigram it starts
    ("导出报表" → 导 导出 出 出报 报 报表 表), and Latin words and numbers lower-cased.

    Tokens are runs of letters or digits only, so ``to_tsvector('simple', ...)`` keeps each one as a
    single lexeme and ``to_tsquery`` accepts each one quoted, without any escaping.
    """
    out: list[str] = []
    for run in _runs(text):
        if run.isascii():
            out.append(run)
            continue
        for i, char in enumerate(run):
            out.append(char)
            out.extend([run[i : i + 2]] if i + 1 < len(run) else [])
    return out


def index_text(text: str | None) -> str:
    """``text`` as the space-separated token string stored with ``to_tsvector('simple', ...)``."""
    return " ".join(tokens(text or ""))


def query_terms(text: str) -> tuple[list[str], list[str]]:
    """(strict, loose) term lists for a search text, each deduplicated in order.

    strict: the bigrams of every CJK run (a lone character stands for itself) and every Latin word.
    An entry holding all of them is a close match and ranks first; an entry holding none of them
    shares single characters at most and is left out.
    loose: every token, unigrams included, for ranking the rest: "报表导出失败" shares 报表, 导出 and
    four characters with "无法导出报表", which ranks above an entry sharing only 导出.
    """
    strict: list[str] = []
    loose: list[str] = []
    for run in _runs(text):
        if run.isascii():
            strict.append(run)
            loose.append(run)
            continue
        strict.extend(_bigrams(run) or [run])
        loose.extend(run)
        loose.extend(_bigrams(run))
    return list(dict.fromkeys(strict)), list(dict.fromkeys(loose))


def tsquery(terms: list[str], op: str) -> str:
    """A ``to_tsquery('simple', ...)`` text joining quoted terms with ``&`` or ``|``; "" for no terms."""
    return f" {op} ".join(f"'{t}'" for t in terms)
