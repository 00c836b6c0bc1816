"""The case library (KB-1): archive resolved cases, keep manual FAQ entries, and rank them for a text.

Every write recomputes the ``search`` tsvector from the entry's text with the Python tokenizer of
``domain.library`` (see docs/case-library.md): title weighted A, symptom B, cause and remedy C.
A search ranks with ``ts_rank_cd`` over the OR of all query tokens, keeps only entries sharing at
least one bigram (or Latin word) with the query, and puts the entries holding every bigram first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from config import Settings
from db.engine import transaction
from db.library import LibraryEntry
from domain.library import (
    ArchiveRequest,
    Category,
    EntryInput,
    EntryPatch,
    LibraryHit,
    SuggestRequest,
    index_text,
    query_terms,
    tsquery,
)


def search_vector(title: str, symptom: str, cause: str | None, remedy: str) -> ColumnElement[Any]:
    """The weighted tsvector of an entry's text, built from the Python tokens."""

    def weighted(text: str, weight: str) -> ColumnElement[Any]:
        return func.setweight(func.to_tsvector("simple", index_text(text)), literal_column(f"'{weight}'"))

    return (
        weighted(title, "A")
        .op("||")(weighted(symptom, "B"))
        .op("||")(weighted(cause or "", "C"))
        .op("||")(weighted(remedy, "C"))
    )


class Search:
    """The tsqueries of one search text (see ``domain.library.query_terms``)."""

    def __init__(self, text: str) -> None:
        strict, loose = query_terms(text)
        self.empty = not strict  # no letter, digit or ideograph: nothing to search for
        self.all = func.to_tsquery("simple", tsquery(strict, "&"))  # every bigram and word
        self.any = func.to_tsquery("simple", tsquery(strict, "|"))  # at least one: the filter
        self.rank = func.to_tsquery("simple", tsquery(loose, "|"))  # unigrams too: the ranking
        # Normalization 1 divides by 1 + log(entry length): a long entry does not win by size alone.
        self.score = func.ts_rank_cd(LibraryEntry.search, self.rank, 1)


def _where(text: str, category: str | None) -> list[ColumnElement[bool]]:
    where = [LibraryEntry.category == category] if category is not None else []
    search = Search(text)
    return where if search.empty else [*where, LibraryEntry.search.op("@@")(search.any)]


async def search(
    db: AsyncSession, text: str, *, category: str | None = None, limit: int = 20, offset: int = 0
) -> tuple[list[tuple[LibraryEntry, float]], int]:
    """A page of entries matching ``text``, best first, and how many match in all.

    Entries holding every bigram and word of the text come first, the rest by ``ts_rank_cd``.
    A text without any token lists every entry (of the category), newest first, with score 0.
    """
    where = _where(text, category)
    total = await db.scalar(select(func.count()).select_from(LibraryEntry).where(*where)) or 0
    s = Search(text)
    query = select(LibraryEntry).where(*where).limit(limit).offset(offset)
    if s.empty:
        query = query.add_columns(literal_column("0.0")).order_by(LibraryEntry.id.desc())
    else:
        query = query.add_columns(s.score).order_by(
            LibraryEntry.search.op("@@")(s.all).desc(), s.score.desc(), LibraryEntry.id.desc()
        )
    rows = (await db.execute(query)).all()
    return [(entry, round(float(score), 4)) for entry, score in rows], total


def hit(entry: LibraryEntry, score: float) -> LibraryHit:
    return LibraryHit(
        id=entry.id,
        title=entry.title,
        symptom=entry.symptom,
        cause=entry.cause,
        remedy=entry.remedy,
        case_number=entry.case_number,
        category=entry.category,
        score=score,
    )


async def suggest(db: AsyncSession, text: str, *, limit: int = 3) -> list[LibraryHit]:
    """The ``limit`` library entries that best match an intake text (003 §2.3.2 步骤2 知识库自查).

    Empty when the text shares no bigram or word with any entry: an intake gets no noise.
    """
    if Search(text).empty:
        return []
    found, _ = await search(db, text, limit=limit)
    return [hit(entry, score) for entry, score in found]


async def archive(db: AsyncSession, req: ArchiveRequest) -> int:
    """Writes the case's entry, or rewrites it if the case was archived before; returns its id."""
    values = {
        "process": req.process,
        "category": req.category,
        "title": req.title,
        "symptom": req.symptom,
        "cause": req.cause,
        "remedy": req.remedy,
        "tags": req.tags,
        "search": search_vector(req.title, req.symptom, req.cause, req.remedy),
        "updated_at": func.now(),
        "updated_by": req.actor,
    }
    stmt = pg_insert(LibraryEntry).values(case_number=req.number, created_by=req.actor, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["case_number"], set_=values)
    return (await db.execute(stmt.returning(LibraryEntry.id))).scalar_one()


async def create_entry(db: AsyncSession, data: EntryInput, *, actor: str) -> LibraryEntry:
    """A manual entry (FAQ / 知识库话术): no case behind it."""
    entry = LibraryEntry(
        category=data.category,
        title=data.title,
        symptom=data.symptom,
        cause=data.cause,
        remedy=data.remedy,
        tags=data.tags,
        search=search_vector(data.title, data.symptom, data.cause, data.remedy),
        created_by=actor,
    )
    db.add(entry)
    await db.flush()
    await db.refresh(entry)
    return entry


async def edit_entry(db: AsyncSession, entry: LibraryEntry, patch: EntryPatch, *, actor: str) -> LibraryEntry:
    """Applies the given fields and reindexes; an archived case's entry may be edited like any other."""
    for field in patch.model_fields_set:
        setattr(entry, field, getattr(patch, field))
    entry.search = search_vector(entry.title, entry.symptom, entry.cause, entry.remedy)
    entry.updated_at = func.now()
    entry.updated_by = actor
    await db.flush()
    await db.refresh(entry)
    return entry


async def delete_entry(db: AsyncSession, entry_id: int) -> bool:
    """Deletes a manual entry; False if there is none (an archived case's entry is never deleted)."""
    result = await db.execute(
        delete(LibraryEntry).where(LibraryEntry.id == entry_id, LibraryEntry.case_number.is_(None))
    )
    return bool(result.rowcount)


# Demo FAQ entries (知识库话术, 000 §(三) 简单问题), in the words an agent reads out; the first is the
# 3.3 example of seed 003 (无法导出报表 → 远程指导开启权限).
SEED_ENTRIES = [
    EntryInput(
        category=Category.FAULT,
        title="无法导出报表",
        symptom="点击“导出报表”按钮没有反应，或提示“您没有此操作的权限”。",
        cause="账号所属角色未开通报表导出权限（新建账号默认不开通）。",
        remedy="请管理员进入【系统设置 → 角色权限】，为该账号的角色勾选“报表导出”，保存后让客户刷新页面再导出；"
        "客户不熟悉操作时远程指导开启权限。",
        tags=["报表", "权限", "FAQ"],
    ),
    EntryInput(
        category=Category.CONSULTATION,
        title="忘记登录密码如何找回",
        symptom="客户忘记密码，登录时提示“用户名或密码错误”，多次输错后账号被锁定。",
        cause="连续输错 5 次密码，账号自动锁定 30 分钟。",
        remedy="引导客户在登录页点击“忘记密码”，用绑定手机号接收验证码重置密码；账号已锁定的，30 分钟后自动解锁，"
        "或由管理员在【用户管理】中手动解锁。",
        tags=["登录", "密码", "FAQ"],
    ),
    EntryInput(
        category=Category.CONSULTATION,
        title="如何申请开具增值税专用发票",
        symptom="客户付款后需要增值税专用发票，不知道在哪里申请。",
        remedy="在【费用中心 → 发票管理】填写开票信息（单位名称、税号、开户行及账号、地址电话），提交后 3 个工作日内"
        "开具，电子发票发送到预留邮箱，纸质发票快递寄出。",
        tags=["发票", "财务", "FAQ"],
    ),
    EntryInput(
        category=Category.FAULT,
        title="Excel 导入提示格式错误",
        symptom="批量导入客户数据时提示“文件格式错误”或“第 1 行列名不匹配”，Excel import fails。",
        cause="使用了旧版 .xls 文件，或改动了导入模板的列名、列顺序。",
        remedy="下载最新导入模板，按模板列顺序粘贴数据，另存为 .xlsx 格式后重新导入；单次导入不超过 5000 行。",
        tags=["导入", "Excel", "FAQ"],
    ),
    EntryInput(
        category=Category.FAULT,
        title="ERP 对接数据不同步",
        symptom="在 ERP（如 SAP）中新增的订单超过 1 小时仍未同步到系统，接口日志报 401 错误。",
        cause="接口访问令牌（API token）过期或被重置。",
        remedy="由客户管理员在【开放平台 → 接口凭证】重新生成令牌并更新到 ERP 中间件配置，随后手动触发一次全量同步；"
        "仍失败的派单至技术支持排查。",
        tags=["对接", "ERP", "API"],
    ),
    EntryInput(
        category=Category.COMPLAINT,
        title="物流延迟引起的投诉",
        symptom="客户投诉货物比承诺时间晚到 3 天，影响生产安排，情绪激动。",
        cause="仓库发货失误，订单漏发后补发。",
        remedy="先共情致歉（“非常理解您的感受”），说明原因与补发物流单号；经客户确认后免费延长服务期 1 个月，"
        "并在 24 小时内回访确认满意度。",
        tags=["物流", "延迟", "补偿"],
    ),
    EntryInput(
        category=Category.SUGGESTION,
        title="建议增加手机端审批",
        symptom="客户希望在手机上审批工单和报销，不必回到电脑前。",
        remedy="感谢客户建议，记录使用场景后转产品部评估；告知客户当前可使用微信公众号接收审批提醒，"
        "新功能上线后第一时间通知。",
        tags=["建议", "移动端"],
    ),
]
SEED_ACTOR = "seed"


async def seed_library(db: AsyncSession) -> int:
    """Adds the demo FAQ entries whose titles are not in the library yet; returns how many it added.

    Idempotent: a second call adds nothing. Does not commit (the caller's transaction decides).
    """
    existing = set(
        (await db.scalars(select(LibraryEntry.title).where(LibraryEntry.case_number.is_(None)))).all()
    )
    added = 0
    for data in SEED_ENTRIES:
        if data.title not in existing:
            await create_entry(db, data, actor=SEED_ACTOR)
            added += 1
    return added


class LibraryActivities:
    def __init__(self, database_url: str, settings: Settings) -> None:
        self.url = database_url
        self.settings = settings

    @activity.defn
    async def archive_case(self, req: ArchiveRequest) -> int:
        """Archives a resolved case (000 §(三) 归档…形成案例库); idempotent per case number."""
        try:
            async with transaction(self.url) as db:
                return await archive(db, req)
        except IntegrityError as err:
            # No such case: a workflow bug, not a passing fault; retrying cannot help.
            raise ApplicationError(
                f"cannot archive case {req.number}: {err.orig}", non_retryable=True
            ) from err

    @activity.defn
    async def suggest_cases(self, req: SuggestRequest) -> list[LibraryHit]:
        """Library entries like the intake text, for the agent's 知识库自查 (003 §2.3.2 步骤2)."""
        async with transaction(self.url) as db:
            return await suggest(db, req.text, limit=req.limit)
