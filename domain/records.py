"""Each process's record table as staff export it (SPEC §7, seed 003 chapter 3), and the report arithmetic.

The columns of a table come in three runs: the seed's chapter-3 columns in the seed's order and words
(the case number stands for 问题编号/投诉单号, the customer's name for 客户名称/姓名), then the case's
state and its opened/closed times, then any other column the record table has (a process may add one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from domain.i18n import label

LOCALES = ("zh-CN", "en")


class Kind(StrEnum):
    TEXT = "text"
    CODE = "code"  # a stored code shown through the label catalog (channel, grade, status ...)
    TIME = "time"  # an instant, shown in local time
    NUMBER = "number"
    RATE = "rate"  # a share 0..1, shown as a percentage
    FLAG = "flag"


class Source(StrEnum):
    CASE = "case"
    CUSTOMER = "customer"
    RECORD = "record"


@dataclass(frozen=True)
class Column:
    key: str  # the column's name on its source table
    zh: str
    en: str
    kind: Kind = Kind.TEXT
    source: Source = Source.RECORD

    def header(self, locale: str) -> str:
        return self.zh if locale == "zh-CN" else self.en


def _number(zh: str, en: str) -> Column:
    return Column("number", zh, en, source=Source.CASE)


CUSTOMER = Column("name", "客户名称/姓名", "Customer", source=Source.CUSTOMER)
CASE_COLUMNS = (
    Column("state", "案件状态", "Case state", Kind.CODE, Source.CASE),
    Column("opened_at", "创建时间", "Opened at", Kind.TIME, Source.CASE),
    Column("closed_at", "关闭时间", "Closed at", Kind.TIME, Source.CASE),
)

# Seed 003 §3.1–3.5, column by column in the seed's order.
SECTION_7: dict[str, tuple[Column, ...]] = {
    "presales": (
        _number("案件编号", "Case no."),
        CUSTOMER,
        Column("contact", "联系方式", "Contact"),
        Column("channel", "咨询渠道", "Channel", Kind.CODE),
        Column("product", "咨询产品/服务", "Product/service"),
        Column("need", "核心需求描述", "Need"),
        Column("priority", "需求优先级", "Priority", Kind.CODE),
        Column("owner", "负责人", "Owner"),
        Column("proposal_date", "方案反馈时间", "Proposal date", Kind.TIME),
        Column("intent", "客户意向", "Intent", Kind.CODE),
        Column("next_step", "后续跟进计划", "Next step"),
    ),
    "order_followup": (
        _number("案件编号", "Case no."),
        Column("order_no", "订单编号", "Order no."),
        CUSTOMER,
        Column("amount", "订单金额", "Amount", Kind.NUMBER),
        Column("model", "产品型号", "Model"),
        Column("payment_status", "付款状态", "Payment status", Kind.CODE),
        Column("order_status", "订单状态", "Order status", Kind.CODE),
        Column("milestone", "关键节点", "Milestone", Kind.CODE),
        Column("due_date", "预计完成时间", "Due date", Kind.TIME),
        Column("done_date", "实际完成时间", "Done date", Kind.TIME),
        Column("owner", "责任人", "Owner"),
        Column("exception", "异常记录（如有）", "Exception"),
    ),
    "aftersales": (
        _number("问题编号", "Issue no."),
        CUSTOMER,
        Column("contact", "联系方式", "Contact"),
        Column("description", "问题描述", "Description"),
        Column("issue_type", "问题类型", "Type", Kind.CODE),
        Column("urgency", "紧急度", "Urgency", Kind.CODE),
        Column("owner", "责任人", "Owner"),
        Column("remedy", "处理方案", "Remedy"),
        Column("solved_at", "解决时间", "Solved at", Kind.TIME),
        Column("customer_confirmed", "客户确认签字", "Customer confirmation", Kind.FLAG),
        Column("satisfaction", "满意度（1-5分）", "Satisfaction (1-5)", Kind.NUMBER),
    ),
    "complaint": (
        _number("投诉单号", "Complaint no."),
        CUSTOMER,
        Column("channel", "投诉渠道", "Channel", Kind.CODE),
        Column("content", "投诉内容", "Content"),
        Column("grade", "投诉等级", "Grade", Kind.CODE),
        Column("owner", "责任人", "Owner"),
        Column("findings", "调查结果", "Findings"),
        Column("remedy", "处理方案", "Remedy"),
        Column("executed_at", "执行时间", "Executed at", Kind.TIME),
        Column("satisfaction", "客户满意度", "Satisfaction", Kind.NUMBER),
        Column("callback_notes", "回访记录", "Callback notes"),
    ),
    # A push campaign reaches many customers: its record names a tag, not a customer.
    "value_push": (
        _number("案件编号", "Case no."),
        Column("tag", "客户标签", "Tag", Kind.CODE),
        Column("service", "推送服务内容", "Service pushed"),
        Column("channel", "推送渠道", "Channel", Kind.CODE),
        Column("pushed_at", "推送时间", "Pushed at", Kind.TIME),
        Column("count", "推送数量", "Count", Kind.NUMBER),
        Column("open_rate", "打开率", "Open rate", Kind.RATE),
        Column("click_rate", "点击率", "Click rate", Kind.RATE),
        Column("inquiries", "咨询量", "Inquiries", Kind.NUMBER),
        Column("conversions", "转化量", "Conversions", Kind.NUMBER),
        Column("owner", "负责人", "Owner"),
        Column("improvement_note", "优化建议", "Improvement note"),
    ),
    # Not a seed table: the care task record (R-1..R-4, R-7), kept in the same shape (docs/journeys.md).
    "care": (
        _number("任务编号", "Task no."),
        CUSTOMER,
        Column("kind", "任务类型", "Task kind", Kind.CODE),
        Column("occasion", "触发原因", "Occasion", Kind.CODE),
        Column("note", "任务说明", "Task note"),
        Column("due_at", "指定截止时间", "Due at", Kind.TIME),
        Column("owner", "负责人", "Owner"),
        Column("attempts", "联系次数", "Attempts", Kind.NUMBER),
        Column("result", "关怀结果", "Result", Kind.CODE),
        Column("result_note", "结果说明", "Result note"),
        Column("done_at", "完成时间", "Done at", Kind.TIME),
    ),
}

TITLES: dict[str, tuple[str, str]] = {
    "presales": ("售前咨询记录表", "Pre-sales inquiry records"),
    "order_followup": ("售中订单跟进表", "Order follow-up records"),
    "aftersales": ("售后问题处理表", "After-sales issue records"),
    "complaint": ("客户投诉处理跟踪表", "Complaint tracking records"),
    "value_push": ("增值服务推送记录表", "Value-added push records"),
    "care": ("客户关怀任务记录表", "Care task records"),
}

# Record columns beyond the seed's table that the processes keep today; a column added later and not
# named here is exported too, under its catalog label.
EXTRAS: dict[str, Column] = {
    c.key: c
    for c in (
        Column("contact", "联系方式", "Contact"),
        Column("channel", "渠道", "Channel", Kind.CODE),
        Column("budget", "预算范围", "Budget"),
        Column("use_case", "使用场景", "Use case"),
        Column("complex", "复杂需求", "Complex need", Kind.FLAG),
        Column("quantity", "数量", "Quantity", Kind.NUMBER),
        Column("address", "收货地址", "Address"),
        Column("occurred_at", "发生时间", "Occurred at", Kind.TIME),
        Column("environment", "操作环境", "Environment"),
        Column("category", "问题类别", "Category", Kind.CODE),
        Column("handlings", "处理次数", "Handlings", Kind.NUMBER),
        Column("demand", "客户诉求", "Demand"),
        Column("emotion", "情绪激烈程度", "Emotion", Kind.CODE),
        Column("responsible_party", "责任方", "Responsible party"),
        Column("scope", "影响范围", "Scope", Kind.CODE),
        Column("related_case", "关联案件", "Related case"),
        Column("suggested_grade", "建议等级", "Suggested grade", Kind.CODE),
        Column("grade_reason", "分级理由", "Grade reason"),
        Column("departments", "协同部门", "Departments"),
        Column("result", "处理结果告知", "Result told"),
        Column("milestones", "节点计划", "Milestone plan"),
        Column("confirmed_at", "订单确认时间", "Confirmed at", Kind.TIME),
        Column("kind", "推送类型", "Push kind", Kind.CODE),
        Column("link", "推送链接", "Link"),
        Column("tiers", "客户等级", "Tiers"),
        Column("capped", "频次上限跳过数", "Capped", Kind.NUMBER),
        Column("window_ends_at", "效果跟踪截止时间", "Window ends at", Kind.TIME),
        Column("respondents", "响应人数", "Respondents", Kind.NUMBER),
        Column("response_rate", "响应率", "Response rate", Kind.RATE),
        Column("metrics_at", "效果数据定稿时间", "Metrics final at", Kind.TIME),
        Column("decision", "优化决定", "Decision", Kind.CODE),
    )
}
# Keys, not facts: the case number and customer come from the case, updated_at is bookkeeping.
NOT_EXPORTED = {"case_number", "customer_id", "updated_at"}


def columns(process: str, table: Iterable[tuple[str, Kind]]) -> tuple[Column, ...]:
    """The export's columns for ``process``, given its record table's (column, kind) pairs in table order.

    A record column the seed's table names keeps the seed's place and words; the others follow the case
    columns, in table order.
    """
    seed = SECTION_7[process]
    named = {c.key for c in seed if c.source is Source.RECORD} | NOT_EXPORTED
    extra = tuple(
        EXTRAS.get(name) or Column(name, label(name), name, kind) for name, kind in table if name not in named
    )
    return seed + CASE_COLUMNS + extra


def native(column: Column, value: Any, *, locale: str, tz: str) -> Any:
    """The value for a spreadsheet cell: codes and flags as words, instants as naive local datetimes."""
    if value is None:
        return None
    match column.kind:
        case Kind.CODE:
            return label(str(value), locale)
        case Kind.FLAG:
            return ("是" if value else "否") if locale == "zh-CN" else ("yes" if value else "no")
        case Kind.TIME:
            return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        case Kind.RATE | Kind.NUMBER:
            return value
    if isinstance(value, list):  # a JSON list column, e.g. tags
        return "、".join(label(str(v), locale) for v in value)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)


def display(column: Column, value: Any, *, locale: str, tz: str) -> str:
    """The value as text: a CSV cell or a preview table cell."""
    shown = native(column, value, locale=locale, tz=tz)
    if shown is None:
        return ""
    if column.kind is Kind.TIME:
        return shown.strftime("%Y-%m-%d %H:%M:%S")
    if column.kind is Kind.RATE:
        return f"{Decimal(shown) * 100:.1f}%"
    return str(shown)


def card(process: str, record: dict[str, Any], *, locale: str, tz: str) -> list[tuple[str, str]]:
    """The record as (header, text) pairs for the case page: the seed's columns, then the others kept."""
    seed = [c for c in SECTION_7[process] if c.source is Source.RECORD]
    named = {c.key for c in seed} | NOT_EXPORTED
    rest = [EXTRAS.get(k) or Column(k, label(k), k) for k in record if k not in named]
    return [
        (c.header(locale), display(c, record[c.key], locale=locale, tz=tz) or "—")
        for c in (*seed, *rest)
        if c.key in record
    ]


def period(start: date | None, end: date | None, tz: str) -> tuple[datetime | None, datetime | None]:
    """Local calendar days ``start``..``end`` (both included) as the instants [from, to)."""
    zone = ZoneInfo(tz)
    lower = datetime.combine(start, time(), zone) if start else None
    upper = datetime.combine(end + timedelta(days=1), time(), zone) if end else None
    return lower, upper


@dataclass(frozen=True)
class Attainment:
    """A rate against its target: ``met`` is None while there is nothing to measure."""

    numerator: int
    denominator: int
    target: float

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def met(self) -> bool | None:
        rate = self.rate
        return None if rate is None else rate >= self.target


# CP-4 (003 §2.4.1): complaint satisfaction at least 90%; every major complaint gets its second callback.
COMPLAINT_SATISFACTION_TARGET = 0.9
MAJOR_CALLBACK_TARGET = 1.0
SATISFIED_SCORE = 4  # of 5: SAT-1 counts a lower score as unsatisfied
