"""Staff web pages (zh-CN and English) for messages: the inbox, the outbox and the template editor (COM-2)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from activities import messages
from activities.notify import list_notifications, mark_read
from api.auth import CurrentUser, require
from api.deps import SessionDep
from api.errors import NotFound
from api.i18n import N_, display_label, gettext
from api.web.pages import _render
from domain.models import Role
from domain.permissions import Permission

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50

# Words only these pages use; they belong in domain/i18n.py's catalog once it takes message words.
MESSAGE_LABELS = {
    "inbox": N_("站内信"),
    "email": N_("邮件"),
    "sms": N_("短信"),
    "wechat": N_("微信"),
    "*": N_("任意"),
    "pending": N_("待发送"),
    "sent": N_("已发送"),
    "failed": N_("发送失败"),
    "skipped": N_("未发送"),
    "warning": N_("即将超时提醒"),
    "breach": N_("超时通知"),
    "escalation": N_("升级通知"),
    "handoff": N_("部门交接"),
    "handoff_overdue": N_("交接超时"),
    "product_update": N_("产品动态"),
    "welcome": N_("欢迎"),
    "care": N_("关怀问候"),
    "reminder": N_("温馨提醒"),
    "apology": N_("致歉"),
    "vip": N_("VIP客户"),
    "en": "English",
    "zh-CN": N_("简体中文"),
}
# What a template can use, shown beside the editor.
VARIABLES = [
    ("recipient.name", N_("收件人姓名（员工或客户）")),
    ("customer.name / customer.phone / customer.email", N_("客户信息")),
    ("case.subject / case.process_label / case.severity_label / case.owner", N_("案件信息")),
    ("notice.number", N_("案件编号")),
    ("step_label / due_at", N_("步骤名称、截止时间（北京时间）")),
    ("level", N_("升级级别（1 = 第一级）")),
    ("tier_label", N_("客户等级")),
    ("history", N_("完整处理记录（升级与交接时附上，客户无需重复说明）")),
    ("events", N_("处理记录列表：e.at, e.actor, e.kind_label, e.step_label, e.note")),
    ("context.xxx", N_("发送方附带的字段，如交接的 department、internal_due_at、note")),
    ("case_url / public_url", N_("案件链接、系统地址")),
    ('t("key")', N_("显示名称，如 t(case.owner_role)")),
]


# How the editor words a template that does not compile or render (as messages.TemplateInvalid.in_chinese).
TEMPLATE_ERRORS = {
    "empty": N_("{where}不能为空"),
    "syntax": N_("{where}模板语法错误（第 {line} 行）：{message}"),
    "undefined": N_("{where}模板使用了未定义的变量：{message}"),
    "security": N_("{where}模板访问了不允许访问的内容：{message}"),
}
RENDER_ERROR = N_("{where}模板渲染出错：{message}")


def m(key: str | None) -> str:
    """A message word in the request's language: this page's own words, else the label of the code."""
    return gettext(MESSAGE_LABELS[key]) if key in MESSAGE_LABELS else display_label(key)


def template_error(err: messages.TemplateInvalid) -> str:
    where = gettext(N_("标题") if err.field == "subject" else N_("正文"))
    text = gettext(TEMPLATE_ERRORS.get(err.kind, RENDER_ERROR))
    return text.format(where=where, line=err.line, message=err.message)


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return _render(request, name, status, m=m, template_error=template_error, **context)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request, db: SessionDep, role: str = "", recipient: str = "", page: int = 1
) -> HTMLResponse:
    filters = {"channel": "inbox", "recipient_role": role or None, "recipient": recipient or None}
    page = max(page, 1)
    rows, total = await list_notifications(
        db, filters=filters, page=page, page_size=PAGE_SIZE, unread_first=True
    )
    unread = sum(1 for r in rows if r.read_at is None)
    return _page(
        request,
        "inbox.html",
        rows=rows,
        total=total,
        unread=unread,
        role=role,
        recipient=recipient,
        roles=[r.value for r in Role],
        page=page,
        page_size=PAGE_SIZE,
    )


@router.post("/inbox/{notification_id}/read")
async def read(request: Request, notification_id: int, db: SessionDep) -> Response:
    form = await request.form()
    if not await mark_read(db, notification_id):
        raise NotFound(N_("没有这条消息"))
    back = {k: str(form.get(k) or "") for k in ("role", "recipient")}
    return RedirectResponse(f"/inbox?{urlencode({k: v for k, v in back.items() if v})}", status_code=303)


@router.get("/outbox", response_class=HTMLResponse)
async def outbox(
    request: Request,
    db: SessionDep,
    channel: str = "",
    status: str = "",
    case_number: str = "",
    page: int = 1,
) -> HTMLResponse:
    filters = {"channel": channel or None, "status": status or None, "case_number": case_number or None}
    page = max(page, 1)
    rows, total = await list_notifications(db, filters=filters, page=page, page_size=PAGE_SIZE)
    return _page(
        request,
        "outbox.html",
        rows=rows,
        total=total,
        filters=filters,
        page=page,
        page_size=PAGE_SIZE,
        channels=["inbox", "email", "sms", "wechat"],
        statuses=["pending", "sent", "failed", "skipped"],
    )


@router.get("/admin/templates", response_class=HTMLResponse)
async def template_list(request: Request, db: SessionDep) -> HTMLResponse:
    return _page(request, "templates.html", rows=await messages.list_templates(db))


async def _editor(
    request: Request, db: SessionDep, template_id: int, *, status: int = 200, **context: Any
) -> HTMLResponse:
    try:
        row = await messages.get_template(db, template_id)
    except messages.TemplateNotFound as err:
        raise NotFound(N_("没有这个消息模板")) from err
    form = context.pop("form", None) or {"subject": row.subject, "body": row.body}
    if "preview" not in context and "error" not in context:
        try:
            context["preview"] = messages.preview(
                purpose=row.purpose, subject=row.subject, body=row.body, locale=row.locale
            )
        except messages.TemplateInvalid as err:
            context["error"] = err
    return _page(request, "template_edit.html", status, row=row, form=form, variables=VARIABLES, **context)


@router.get("/admin/templates/{template_id}", response_class=HTMLResponse)
async def template_page(request: Request, template_id: int, db: SessionDep, saved: int = 0) -> HTMLResponse:
    return await _editor(request, db, template_id, saved=bool(saved))


@router.post("/admin/templates/{template_id}", response_class=HTMLResponse)
async def template_save(
    request: Request,
    template_id: int,
    db: SessionDep,
    user: Annotated[CurrentUser, Depends(require(Permission.POLICIES_EDIT))],
) -> Response:
    raw = await request.form()
    form = {k: str(raw.get(k) or "") for k in ("subject", "body", "action")}
    # Browsers send CRLF from a textarea; templates keep the newlines they were written with.
    form["body"] = form["body"].replace("\r\n", "\n")
    try:
        if form["action"] == "preview":
            row = await messages.get_template(db, template_id)
            shown = messages.preview(
                purpose=row.purpose, subject=form["subject"], body=form["body"], locale=row.locale
            )
            return await _editor(request, db, template_id, form=form, preview=shown, previewing=True)
        await messages.update_template(
            db,
            template_id=template_id,
            subject=form["subject"],
            body=form["body"],
            actor=user.display_name,
        )
    except messages.TemplateInvalid as err:
        return await _editor(request, db, template_id, status=422, form=form, error=err, preview=None)
    except messages.TemplateNotFound as err:
        raise NotFound(N_("没有这个消息模板")) from err
    return RedirectResponse(f"/admin/templates/{template_id}?saved=1", status_code=303)
