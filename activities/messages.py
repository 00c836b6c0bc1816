"""Message templates as data (COM-2): defaults, lookup with fallbacks, sandboxed rendering, validation.

A template is a Jinja2 text for one (purpose, channel, tier, locale); ``*`` as channel or tier means "any".
Admins edit them, so they render in a ``SandboxedEnvironment`` with ``StrictUndefined`` (a typo is an
error at save time, not a blank in a customer's message), and only plain dicts and strings go in.

The defaults live in ``activities/templates/<purpose>.<channel>[.<tier>].<locale>.j2`` (first line the
subject, the rest the body; ``any`` in a file name is ``*``). ``seed_templates`` copies the missing ones
into ``message_templates``; until then the notifier falls back to the files themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import transaction
from db.models import MessageTemplate
from domain.i18n import label

TEMPLATE_DIR = Path(__file__).parent / "templates"
ANY = "*"
DEFAULT_LOCALE = "zh-CN"
CHANNELS = ("inbox", "email", "sms", "wechat")
TIERS = ("vip", "key", "normal", "watch")
LOCALES = ("zh-CN", "en")
# The context keys each purpose's sender puts in ``Notice.context``; previews and validation use them.
SAMPLE_CONTEXT: dict[str, dict[str, Any]] = {
    "handoff": {
        "department": "warehouse",
        "lead_department": "customer_service",
        "internal_due_at": "2026-11-25 16:00",
        "note": "请在 2 小时内反馈物流进度",
    },
    "handoff_overdue": {
        "department": "warehouse",
        "lead_department": "customer_service",
        "internal_due_at": "2026-11-25 16:00",
        "note": "请在 2 小时内反馈物流进度",
    },
    "product_update": {"highlights": "新版工单系统支持微信接入与智能分派"},
    "welcome": {"benefits": "专属客户经理、7×24 小时服务热线"},
    "care": {"occasion": "合作一周年"},
    "reminder": {"topic": "合同续约", "when": "2026-12-25"},
    "apology": {"reason": "物流延误", "remedy": "免费升级为次日达并补偿 50 元优惠券"},
    "tier_changed": {
        "customer_id": 1,
        "before": "key",
        "before_label": "重点客户",
        "after": "vip",
        "after_label": "VIP客户",
        "benefits": "专属客户经理与高级技术支持、24 小时电话专线、4 小时内给出解决方案(非工作日 2 小时)",
        "upgrade": True,
    },
    **{
        purpose: {
            "survey_url": "https://careflow.example.com/s/123.1796083200.sample",
            "expires_at": "2026-12-01T01:00:00+00:00",
            "round": "nps-2026Q4",
            "customer_id": 1,
        }
        for purpose in ("survey", "nps", "csat_round")
    },
}


@dataclass(frozen=True)
class TemplateText:
    purpose: str
    channel: str
    tier: str
    locale: str
    subject: str
    body: str


class TemplateInvalid(Exception):
    """A template that does not compile or does not render against the sample context."""

    def __init__(self, field: str, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.field, self.kind, self.message, self.line = field, kind, message, line

    def in_chinese(self) -> str:
        where = "标题" if self.field == "subject" else "正文"
        if self.kind == "empty":
            return f"{where}不能为空"
        if self.kind == "syntax":
            return f"{where}模板语法错误（第 {self.line} 行）：{self.message}"
        if self.kind == "undefined":
            return f"{where}模板使用了未定义的变量：{self.message}"
        if self.kind == "security":
            return f"{where}模板访问了不允许访问的内容：{self.message}"
        return f"{where}模板渲染出错：{self.message}"


def local_time(value: datetime | str | None, tz: str = "Asia/Shanghai") -> str:
    """An instant as local wall time; context values crossed Temporal as ISO strings, so parse those."""
    if isinstance(value, str):
        if len(value) <= 10:  # a date, not an instant
            return value
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value is None:
        return ""
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%d %H:%M")
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
ENV.globals["t"] = label


@pass_context
def _local_filter(context: Context, value: datetime | str | None) -> str:
    return local_time(value, context.get("timezone") or "Asia/Shanghai")


ENV.filters["local"] = _local_filter


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    return ENV.from_string(source)


def render(template: TemplateText, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body). Raises jinja2 errors; the notifier falls back, the editor reports them."""
    subject = " ".join(_compiled(template.subject).render(context).split())
    return subject[:300], _compiled(template.body).render(context).strip()


def check(*, purpose: str, subject: str, body: str) -> None:
    """Compile and render both parts against the purpose's sample context; raise TemplateInvalid."""
    context = sample_context(purpose)
    for field, source in (("subject", subject), ("body", body)):
        if not source.strip():
            raise TemplateInvalid(field, "empty", "must not be empty")
        try:
            compiled = ENV.from_string(source)
        except TemplateSyntaxError as err:
            raise TemplateInvalid(field, "syntax", err.message or str(err), err.lineno) from err
        try:
            compiled.render(context)
        except UndefinedError as err:
            raise TemplateInvalid(field, "undefined", str(err)) from err
        except SecurityError as err:
            raise TemplateInvalid(field, "security", str(err)) from err
        except (TemplateError, Exception) as err:  # admin text: any error is a reason not to save
            raise TemplateInvalid(field, "error", f"{type(err).__name__}: {err}") from err


# -- the context ---------------------------------------------------------------------------------------

EVENT_DETAIL_KEYS = (
    "note",
    "analysis",
    "summary",
    "reason",
    "report",
    "outcome",
    "owner",
    "diagnosis",
    "plan",
    "remedy",
)


def event_facts(
    *, at: datetime, actor: str, kind: str, step: str | None, payload: dict[str, Any], locale: str, tz: str
) -> dict[str, Any]:
    detail = next((payload[k] for k in EVENT_DETAIL_KEYS if payload.get(k)), None)
    return {
        "at": local_time(at, tz),
        "actor": actor,
        "kind": kind,
        "kind_label": label(kind, locale),
        "step": step,
        "step_label": label(step, locale) if step else "",
        "note": label(detail, locale) if isinstance(detail, str) else ("" if detail is None else str(detail)),
        "payload": payload,
    }


def history_text(events: Sequence[dict[str, Any]], locale: str) -> str:
    """The whole timeline as plain lines, oldest first: what the next person needs (ESC-1)."""
    lines = []
    for e in events:
        parts = [e["at"], e["actor"], e["kind_label"], e["step_label"], e["note"]]
        lines.append("- " + " · ".join(p for p in parts if p))
    return "\n".join(lines) or ("（暂无处理记录）" if locale == "zh-CN" else "(no events yet)")


def build_context(
    *,
    notice: dict[str, Any],
    case: dict[str, Any] | None,
    customer: dict[str, Any] | None,
    events: list[dict[str, Any]],
    recipient: dict[str, Any],
    locale: str,
    tz: str,
    public_url: str,
) -> dict[str, Any]:
    """Every variable a template may use; plain data only (the sandbox sees nothing else)."""
    number = notice.get("number")
    step = notice.get("step")
    tier = (customer or {}).get("tier") or (case or {}).get("tier_at_open")
    public_url = public_url.rstrip("/")
    return {
        "notice": notice,
        "case": case,
        "customer": customer,
        "events": events,
        "history": history_text(events, locale),
        "recipient": recipient,
        "step": step,
        "step_label": label(step, locale) if step else "",
        "due_at": local_time(notice.get("due_at"), tz) or None,
        "level": notice.get("level", 0),
        "context": notice.get("context") or {},
        "tier": tier,
        "tier_label": label(tier, locale) if tier else "",
        "locale": locale,
        "timezone": tz,
        "public_url": public_url,
        "case_url": f"{public_url}/cases/{number}" if number else public_url,
    }


def sample_context(purpose: str, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
    """A realistic case to preview and validate templates against."""
    tz = "Asia/Shanghai"
    opened = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    extra = SAMPLE_CONTEXT.get(purpose) or {k: v for c in SAMPLE_CONTEXT.values() for k, v in c.items()}
    notice = {
        "key": "PS-2026000123:notify:sample",
        "number": "PS-2026000123",
        "purpose": purpose,
        "audience": "staff",
        "recipient_role": "supervisor",
        "department": extra.get("department"),
        "recipient": "zhang.wei",
        "channels": None,
        "step": "proposal",
        "level": 1,
        "due_at": opened + timedelta(hours=48),
        "context": dict(extra),
    }
    case = {
        "number": "PS-2026000123",
        "process": "presales",
        "process_label": label("presales", locale),
        "subject": "智能客服系统 · 200 坐席在线客服",
        "severity": "urgent_high",
        "severity_label": label("urgent_high", locale),
        "tier_at_open": "key",
        "state": "open",
        "current_step": "proposal",
        "owner_role": "sales_consultant",
        "owner": "li.na",
        "escalation_level": 1,
        "opened_at": local_time(opened, tz),
    }
    customer = {
        "id": 1,
        "name": "上海某某科技有限公司",
        "type": "enterprise",
        "phone": "13800138000",
        "email": "wang@example.com",
        "tier": "key",
        "tier_label": label("key", locale),
    }
    raw = [
        (opened, "小李", "opened", None, {}),
        (opened + timedelta(minutes=3), "小李", "step_done", "first_response", {"note": "已电话联系王经理"}),
        (
            opened + timedelta(hours=5),
            "小王",
            "step_done",
            "needs_analysis",
            {"analysis": "200 坐席，预算 50 万"},
        ),
        (opened + timedelta(hours=48), "system", "sla_breached", "proposal", {}),
    ]
    events = [
        event_facts(at=at, actor=a, kind=k, step=s, payload=p, locale=locale, tz=tz) for at, a, k, s, p in raw
    ]
    recipient = {
        "username": "zhang.wei",
        "name": "张伟",
        "role": "supervisor",
        "role_label": label("supervisor"),
    }
    return build_context(
        notice=notice,
        case=case,
        customer=customer,
        events=events,
        recipient=recipient,
        locale=locale,
        tz=tz,
        public_url="http://127.0.0.1:8000",
    )


# -- lookup ----------------------------------------------------------------------------------------------


class _Candidate(Protocol):
    channel: str
    tier: str
    locale: str


def _rank(t: _Candidate, channel: str, tier: str, locale: str) -> int | None:
    """0 is an exact match. The tier is given up first, then the locale, then the channel."""
    if (
        t.channel not in (channel, ANY)
        or t.tier not in (tier, ANY)
        or t.locale not in (locale, DEFAULT_LOCALE)
    ):
        return None
    return 4 * (t.channel != channel) + 2 * (t.locale != locale) + (t.tier != tier)


C = TypeVar("C", bound=_Candidate)


def pick(candidates: Iterable[C], *, channel: str, tier: str, locale: str) -> C | None:
    ranked = [(r, c) for c in candidates if (r := _rank(c, channel, tier, locale)) is not None]
    return min(ranked, key=lambda rc: rc[0])[1] if ranked else None


def _text(row: MessageTemplate) -> TemplateText:
    return TemplateText(row.purpose, row.channel, row.tier, row.locale, row.subject, row.body)


async def find_template(
    db: AsyncSession, *, purpose: str, channel: str, tier: str | None, locale: str
) -> TemplateText | None:
    """The best template in the database; only if it has none for the purpose, the file defaults."""
    tier = tier or ANY
    rows = (
        await db.execute(
            select(MessageTemplate).where(
                MessageTemplate.purpose == purpose,
                MessageTemplate.channel.in_((channel, ANY)),
                MessageTemplate.tier.in_((tier, ANY)),
                MessageTemplate.locale.in_((locale, DEFAULT_LOCALE)),
            )
        )
    ).scalars()
    best = pick(rows, channel=channel, tier=tier, locale=locale)
    if best is not None:
        return _text(best)
    return default_template(purpose=purpose, channel=channel, tier=tier, locale=locale)


def default_template(*, purpose: str, channel: str, tier: str, locale: str) -> TemplateText | None:
    return pick(
        (t for t in default_templates() if t.purpose == purpose), channel=channel, tier=tier, locale=locale
    )


@lru_cache
def default_templates() -> tuple[TemplateText, ...]:
    found = []
    for path in sorted(TEMPLATE_DIR.glob("*.j2")):
        parts = path.name.removesuffix(".j2").split(".")
        if len(parts) == 3:
            purpose, channel, locale = parts
            tier = ANY
        elif len(parts) == 4:
            purpose, channel, tier, locale = parts
        else:
            raise ValueError(f"{path.name}: expected <purpose>.<channel>[.<tier>].<locale>.j2")
        subject, _, body = path.read_text(encoding="utf-8").partition("\n")
        channel, tier = (ANY if v == "any" else v for v in (channel, tier))
        found.append(TemplateText(purpose, channel, tier, locale, subject.strip(), body.strip() + "\n"))
    return tuple(found)


async def seed_templates(database_url: str) -> int:
    """Insert the default templates that are missing; an admin's edit is never overwritten."""
    values = [
        {
            "purpose": t.purpose,
            "channel": t.channel,
            "tier": t.tier,
            "locale": t.locale,
            "subject": t.subject,
            "body": t.body,
            "updated_by": "seed",
        }
        for t in default_templates()
    ]
    async with transaction(database_url) as db:
        inserted = await db.execute(
            pg_insert(MessageTemplate)
            .values(values)
            .on_conflict_do_nothing(index_elements=["purpose", "channel", "tier", "locale"])
            .returning(MessageTemplate.id)
        )
        return len(inserted.all())


# -- the store behind the REST API and the admin pages ---------------------------------------------------


class TemplateNotFound(Exception):
    pass


class TemplateExists(Exception):
    pass


async def list_templates(db: AsyncSession, *, purpose: str | None = None) -> list[MessageTemplate]:
    query = select(MessageTemplate).order_by(
        MessageTemplate.purpose, MessageTemplate.channel, MessageTemplate.tier, MessageTemplate.locale
    )
    if purpose:
        query = query.where(MessageTemplate.purpose == purpose)
    return list((await db.execute(query)).scalars())


async def get_template(db: AsyncSession, template_id: int) -> MessageTemplate:
    row = await db.get(MessageTemplate, template_id)
    if row is None:
        raise TemplateNotFound(f"no template {template_id}")
    return row


async def update_template(
    db: AsyncSession, *, template_id: int, subject: str, body: str, actor: str
) -> MessageTemplate:
    """Validate first: an invalid template raises TemplateInvalid and nothing is saved."""
    row = await get_template(db, template_id)
    check(purpose=row.purpose, subject=subject, body=body)
    row.subject, row.body, row.updated_by = subject, body, actor
    await db.commit()
    await db.refresh(row)
    return row


async def create_template(db: AsyncSession, *, values: dict[str, Any], actor: str) -> MessageTemplate:
    """A new (purpose, channel, tier, locale) variant; TemplateExists if there is one already."""
    check(purpose=values["purpose"], subject=values["subject"], body=values["body"])
    new_id = await db.scalar(
        pg_insert(MessageTemplate)
        .values(**values, updated_by=actor)
        .on_conflict_do_nothing(index_elements=["purpose", "channel", "tier", "locale"])
        .returning(MessageTemplate.id)
    )
    if new_id is None:
        await db.rollback()
        raise TemplateExists("a template for this purpose, channel, tier and locale exists")
    await db.commit()
    return await get_template(db, new_id)


def preview(*, purpose: str, subject: str, body: str, locale: str = DEFAULT_LOCALE) -> tuple[str, str]:
    check(purpose=purpose, subject=subject, body=body)
    text = TemplateText(purpose, ANY, ANY, locale, subject, body)
    return render(text, sample_context(purpose, locale))
