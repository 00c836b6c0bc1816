"""Records export (SPEC §7, REP-1): each process's chapter-3 table as CSV and XLSX, its filters, the page.

The export reads tables, so these tests build the rows it reads directly, in a period (2019) no workflow
of the test session reaches, and delete them afterwards.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import delete

from api.app import create_app
from db.engine import transaction
from db.models import Case, CaseStep, Customer
from db.records import RECORDS
from db.surveys import Survey
from domain.records import Column, Kind, columns
from tests.signin import client as signed_in

# 16:30 UTC on 6 May is 00:30 on 7 May in Shanghai: a UTC date in the file or the filter shows at once.
OPENED = datetime(2019, 5, 6, 16, 30, tzinfo=UTC)
CLOSED = datetime(2019, 5, 9, 2, 15, tzinfo=UTC)


@dataclass
class Rows:
    """Customers, cases, record rows, steps and surveys a test built; ``clean`` deletes them all."""

    url: str
    cases: list[str] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)

    async def customer(self, name: str) -> int:
        async with transaction(self.url) as db:
            row = Customer(name=name, phone="13800138000", tier="normal", contacts=[])
            db.add(row)
            await db.flush()
            self.customers.append(row.id)
            return row.id

    async def case(
        self,
        process: str,
        record: dict[str, Any],
        *,
        customer: str | None = "上海某某科技有限公司",
        opened_at: datetime = OPENED,
        closed_at: datetime | None = CLOSED,
        owner: str | None = None,
        steps: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> str:
        customer_id = await self.customer(customer) if customer else None
        number = f"T{process[:2].upper()}-{uuid.uuid4().hex[:10]}"
        self.cases.append(number)
        async with transaction(self.url) as db:
            db.add(
                Case(
                    number=number,
                    process=process,
                    customer_id=customer_id,
                    tier_at_open="normal",
                    state="closed" if closed_at else "open",
                    owner=owner,
                    policy_version="1",
                    opened_at=opened_at,
                    closed_at=closed_at,
                )
            )
            await db.flush()
            extra = {"customer_id": customer_id} if "customer_id" in RECORDS[process].__table__.c else {}
            db.add(RECORDS[process](case_number=number, **extra, **record))
            for i, step in enumerate(steps):
                db.add(
                    CaseStep(
                        case_number=number,
                        seq=i + 1,
                        owner_role="director",
                        opened_at=opened_at,
                        target_seconds=3 * 86400,
                        **step,
                    )
                )
        return number

    async def survey(
        self, process: str | None, score: int | None, answered_at: datetime, kind: str = "csat"
    ) -> None:
        customer_id = await self.customer("问卷客户")
        async with transaction(self.url) as db:
            db.add(
                Survey(
                    key=f"test-report:{uuid.uuid4().hex}",
                    kind=kind,
                    process=process,
                    customer_id=customer_id,
                    issued_at=answered_at - timedelta(hours=1),
                    expires_at=answered_at + timedelta(days=7),
                    answered_at=answered_at if score is not None else None,
                    score=score,
                    answered_via="link" if score is not None else None,
                )
            )

    async def clean(self) -> None:
        async with transaction(self.url) as db:
            await db.execute(delete(Survey).where(Survey.customer_id.in_(self.customers)))
            await db.execute(delete(CaseStep).where(CaseStep.case_number.in_(self.cases)))
            for record in RECORDS.values():
                await db.execute(delete(record).where(record.case_number.in_(self.cases)))  # type: ignore[attr-defined]
            await db.execute(delete(Case).where(Case.number.in_(self.cases)))
            await db.execute(delete(Customer).where(Customer.id.in_(self.customers)))


@pytest.fixture
async def built(settings) -> AsyncIterator[Rows]:
    made = Rows(settings.sqlalchemy_url())
    yield made
    await made.clean()


@pytest.fixture
async def web(settings, logins) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on the test database; these pages and files read Postgres only, so no Temporal."""
    async with signed_in(create_app(settings), logins) as http:
        yield http


def unique_owner() -> str:
    return f"客服{uuid.uuid4().hex[:6]}"


# One record per process with Chinese text, a coded value and an instant; the expected headers are the
# seed's words (003 §3.1–3.5), then the case columns.
CASE_HEADERS = ["案件状态", "创建时间", "关闭时间"]
TABLES: dict[str, dict[str, Any]] = {
    "presales": {
        "record": {
            "contact": "王经理 13800138000",
            "channel": "online_chat",
            "product": "企业版SaaS系统",
            "need": "需支持多部门数据协同",
            "priority": "urgent_high",
            "proposal_date": datetime(2019, 5, 8, 2, 0, tzinfo=UTC),
            "intent": "interested",
            "next_step": "安排10月27日洽谈",
            "budget": "50万以内",
        },
        "headers": [
            "案件编号",
            "客户名称/姓名",
            "联系方式",
            "咨询渠道",
            "咨询产品/服务",
            "核心需求描述",
            "需求优先级",
            "负责人",
            "方案反馈时间",
            "客户意向",
            "后续跟进计划",
        ],
        "expect": {
            "咨询渠道": "在线客服",
            "核心需求描述": "需支持多部门数据协同",
            "需求优先级": "紧急高价值",
            "客户意向": "有意向",
            "方案反馈时间": "2019-05-08 10:00:00",
            "预算范围": "50万以内",
        },
        "en": {"Channel": "online_chat", "Priority": "urgent_high"},
    },
    "order_followup": {
        "record": {
            "order_no": f"DD{uuid.uuid4().hex[:12]}",
            "amount": Decimal("50000.00"),
            "model": "V3.0标准版",
            "payment_status": "paid",
            "order_status": "shipped",
            "milestone": "delivery",
            "due_date": datetime(2019, 5, 25, 1, 0, tzinfo=UTC),
            "done_date": datetime(2019, 5, 23, 17, 0, tzinfo=UTC),
            "exception": "无",
            "quantity": 2,
        },
        "headers": [
            "案件编号",
            "订单编号",
            "客户名称/姓名",
            "订单金额",
            "产品型号",
            "付款状态",
            "订单状态",
            "关键节点",
            "预计完成时间",
            "实际完成时间",
            "责任人",
            "异常记录（如有）",
        ],
        "expect": {
            "订单金额": "50000.00",
            "产品型号": "V3.0标准版",
            "实际完成时间": "2019-05-24 01:00:00",
            "数量": "2",
        },
        "en": {"Amount": "50000.00", "Order status": "shipped"},
    },
    "aftersales": {
        "record": {
            "contact": "139 5678 0000",
            "channel": "phone",
            "description": "无法导出报表",
            "issue_type": "fault",
            "category": "fault",
            "urgency": "routine",
            "remedy": "远程指导开启权限",
            "solved_at": datetime(2019, 5, 7, 8, 0, tzinfo=UTC),
            "customer_confirmed": True,
            "satisfaction": 5,
        },
        "headers": [
            "问题编号",
            "客户名称/姓名",
            "联系方式",
            "问题描述",
            "问题类型",
            "紧急度",
            "责任人",
            "处理方案",
            "解决时间",
            "客户确认签字",
            "满意度（1-5分）",
        ],
        "expect": {
            "问题描述": "无法导出报表",
            "紧急度": "普通",
            "客户确认签字": "是",
            "满意度（1-5分）": "5",
            "解决时间": "2019-05-07 16:00:00",
            "渠道": "电话",
        },
        "en": {"Customer confirmation": "yes", "Urgency": "routine"},
    },
    "complaint": {
        "record": {
            "contact": "赵女士",
            "channel": "phone",
            "content": "物流延迟3天",
            "grade": "serious",
            "findings": "仓库发货失误",
            "remedy": "免费延长服务期1个月",
            "executed_at": datetime(2019, 5, 8, 4, 0, tzinfo=UTC),
            "satisfaction": 5,
            "callback_notes": "已确认，无进一步诉求",
            "demand": "尽快发货",
        },
        "headers": [
            "投诉单号",
            "客户名称/姓名",
            "投诉渠道",
            "投诉内容",
            "投诉等级",
            "责任人",
            "调查结果",
            "处理方案",
            "执行时间",
            "客户满意度",
            "回访记录",
        ],
        "expect": {
            "投诉渠道": "电话",
            "投诉等级": "严重投诉",
            "调查结果": "仓库发货失误",
            "执行时间": "2019-05-08 12:00:00",
            "回访记录": "已确认，无进一步诉求",
            "客户诉求": "尽快发货",
        },
        "en": {"Grade": "serious", "Channel": "phone"},
    },
    "value_push": {
        "record": {
            "tag": "high_activity",
            "service": "新功能操作视频",
            "channel": "app",
            "pushed_at": datetime(2019, 5, 20, 2, 0, tzinfo=UTC),
            "count": 200,
            "open_rate": Decimal("0.35"),
            "click_rate": Decimal("0.12"),
            "inquiries": 25,
            "conversions": 5,
            "improvement_note": "增加“案例解析”模块",
        },
        "headers": [
            "案件编号",
            "客户标签",
            "推送服务内容",
            "推送渠道",
            "推送时间",
            "推送数量",
            "打开率",
            "点击率",
            "咨询量",
            "转化量",
            "负责人",
            "优化建议",
        ],
        "expect": {
            "推送服务内容": "新功能操作视频",
            "推送渠道": "App",
            "推送时间": "2019-05-20 10:00:00",
            "打开率": "35.0%",
            "点击率": "12.0%",
            "转化量": "5",
        },
        "en": {"Open rate": "35.0%", "Channel": "app"},
    },
}


async def _one(built: Rows, process: str, owner: str) -> str:
    record = {**TABLES[process]["record"], "owner": owner}
    customer = None if process == "value_push" else "上海某某科技有限公司"
    return await built.case(process, record, customer=customer, owner=owner)


def _csv(response: httpx.Response) -> list[list[str]]:
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.mark.parametrize("process", list(TABLES))
async def test_rep1_records_csv_has_the_seed_columns_chinese_text_and_local_times(web, built, process):
    owner = unique_owner()
    number = await _one(built, process, owner)
    r = await web.get(f"/api/v1/records/{process}", params={"format": "csv", "owner": owner})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"] and "UTF-8''" in r.headers["content-disposition"]
    header, *body = _csv(r)
    spec = TABLES[process]
    n = len(spec["headers"])
    assert header[:n] == spec["headers"]
    assert header[n : n + 3] == CASE_HEADERS
    assert len(body) == 1
    row = dict(zip(header, body[0], strict=True))
    assert body[0][0] == number
    assert row["案件状态"] == "已关闭"
    assert row["创建时间"] == "2019-05-07 00:30:00" and row["关闭时间"] == "2019-05-09 10:15:00"
    assert row.get("客户名称/姓名", "上海某某科技有限公司") == "上海某某科技有限公司"
    assert row.get("责任人", row.get("负责人")) == owner
    for key, value in spec["expect"].items():
        assert row[key] == value, key


@pytest.mark.parametrize("process", list(TABLES))
async def test_rep1_records_xlsx_has_bold_headers_widths_and_excel_local_datetimes(web, built, process):
    owner = unique_owner()
    number = await _one(built, process, owner)
    r = await web.get(f"/api/v1/records/{process}", params={"format": "xlsx", "owner": owner})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header, body = list(rows[0]), rows[1:]
    spec = TABLES[process]
    assert header[: len(spec["headers"])] == spec["headers"]
    assert all(cell.font.bold for cell in sheet[1])
    assert len(body) == 1
    row = dict(zip(header, body[0], strict=True))
    assert row[header[0]] == number
    # Real Excel datetimes, in Shanghai time (openpyxl reads them back naive).
    assert row["创建时间"] == datetime(2019, 5, 7, 0, 30) and row["关闭时间"] == datetime(2019, 5, 9, 10, 15)
    assert sheet.cell(row=2, column=header.index("创建时间") + 1).is_date
    assert sheet.column_dimensions["A"].width >= 10
    assert sheet.column_dimensions[get_column_letter(header.index("创建时间") + 1)].width >= 19
    for key, value in spec["expect"].items():
        cell = row[key]
        if isinstance(cell, datetime):
            assert cell.strftime("%Y-%m-%d %H:%M:%S") == value, key
        elif key in ("打开率", "点击率"):
            assert f"{cell * 100:.1f}%" == value, key
        elif isinstance(cell, int | float):
            assert Decimal(str(cell)) == Decimal(value), key
        else:
            assert str(cell) == value, key


@pytest.mark.parametrize("process", list(TABLES))
async def test_rep1_records_in_english_keep_the_stored_codes(web, built, process):
    owner = unique_owner()
    await _one(built, process, owner)
    r = await web.get(f"/api/v1/records/{process}", params={"lang": "en", "owner": owner})
    header, row = _csv(r)
    values = dict(zip(header, row, strict=True))
    n = len(TABLES[process]["headers"])
    assert header[n : n + 3] == ["Case state", "Opened at", "Closed at"]
    assert values["Case state"] == "closed"
    for key, value in TABLES[process]["en"].items():
        assert values[key] == value


async def test_rep1_records_filter_by_local_opened_day_state_and_owner(web, built):
    owner, other = unique_owner(), unique_owner()
    record = TABLES["complaint"]["record"]
    late = await built.case("complaint", {**record, "owner": owner}, owner=owner)  # 7 May 00:30 local
    # 23:30 on 6 May in Shanghai, though the same UTC day as ``late``.
    early = await built.case(
        "complaint", {**record, "owner": owner}, owner=owner, opened_at=OPENED - timedelta(hours=1)
    )
    still_open = await built.case("complaint", {**record, "owner": owner}, owner=owner, closed_at=None)
    # Reassigned case: the record names ``owner`` as 责任人, the case's current owner is someone else.
    handed_on = await built.case("complaint", {**record, "owner": owner}, owner=other)

    async def numbers(**params: str) -> list[str]:
        r = await web.get("/api/v1/records/complaint", params={"owner": owner, **params})
        assert r.status_code == 200, r.text
        return [row[0] for row in _csv(r)[1:]]

    assert sorted(await numbers()) == sorted([late, early, still_open, handed_on])
    assert early not in await numbers(**{"from": "2019-05-07"})
    assert await numbers(**{"from": "2019-05-06", "to": "2019-05-06"}) == [early]
    assert still_open not in await numbers(state="closed")
    assert await numbers(state="open") == [still_open]
    r = await web.get("/api/v1/records/complaint", params={"owner": other})
    assert [row[0] for row in _csv(r)[1:]] == [handed_on]
    # The XLSX takes the same filters.
    r = await web.get("/api/v1/records/complaint", params={"owner": owner, "format": "xlsx", "state": "open"})
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [still_open]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2019-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2019-05-08", "to": "2019-05-07"}, "to"),
        ({"state": "archived"}, "state"),
        ({"format": "pdf"}, "format"),
        ({"lang": "fr"}, "lang"),
    ],
)
async def test_rep1_records_bad_filter_is_422_naming_the_field(web, params, field):
    r = await web.get("/api/v1/records/complaint", params=params)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", field]]


async def test_rep1_records_stream_in_chunks_and_xlsx_has_a_row_limit(web, built, monkeypatch):
    owner = unique_owner()
    numbers = [
        await built.case(
            "complaint",
            {**TABLES["complaint"]["record"], "owner": owner},
            owner=owner,
            opened_at=OPENED + timedelta(minutes=i),
        )
        for i in range(5)
    ]
    monkeypatch.setattr("api.reporting.CHUNK", 2)  # three round trips of the cursor
    header, *body = _csv(await web.get("/api/v1/records/complaint", params={"owner": owner}))
    assert header[0] == "投诉单号" and [row[0] for row in body] == numbers
    r = await web.get("/api/v1/records/complaint", params={"owner": owner, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == numbers
    monkeypatch.setattr("api.reporting.XLSX_MAX_ROWS", 4)
    r = await web.get("/api/v1/records/complaint", params={"owner": owner, "format": "xlsx"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]
    assert "CSV" in r.json()["detail"][0]["msg"]


async def test_rep1_records_unknown_process_is_404(web):
    for fmt in ("csv", "xlsx"):
        r = await web.get("/api/v1/records/warranty", params={"format": fmt})
        assert r.status_code == 404 and "warranty" in r.json()["detail"]


async def test_rep1_records_text_that_looks_like_a_formula_stays_text(web, built):
    owner = unique_owner()
    record = {**TABLES["complaint"]["record"], "owner": owner, "content": '=HYPERLINK("http://x","点我")'}
    await built.case("complaint", record, owner=owner)
    header, row = _csv(await web.get("/api/v1/records/complaint", params={"owner": owner}))
    assert dict(zip(header, row, strict=True))["投诉内容"] == "'" + record["content"]
    r = await web.get("/api/v1/records/complaint", params={"owner": owner, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(r.content)).active
    cell = sheet.cell(row=2, column=[c.value for c in sheet[1]].index("投诉内容") + 1)
    assert cell.data_type == "s" and cell.value == record["content"]


def test_rep1_record_columns_follow_the_seed_then_the_case_then_new_table_columns():
    table = [("case_number", Kind.TEXT), ("grade", Kind.TEXT), ("demand", Kind.TEXT), ("refund", Kind.NUMBER)]
    cols = columns("complaint", table)
    headers = [c.zh for c in cols]
    assert headers[:2] == ["投诉单号", "客户名称/姓名"] and headers[11:14] == CASE_HEADERS
    # A column the complaint helper adds tomorrow comes last, under its key until the catalog names it.
    assert headers[14:] == ["客户诉求", "refund"] and cols[-1] == Column(
        "refund", "refund", "refund", Kind.NUMBER
    )


async def test_rep1_records_page_previews_with_chinese_headers_pages_and_links_the_files(web, built):
    owner = unique_owner()
    numbers = [await _one(built, "aftersales", owner) for _ in range(3)]
    page = await web.get("/records", params={"process": "aftersales", "owner": owner})
    assert page.status_code == 200
    html = page.text
    for words in (
        "问题编号",
        "客户确认签字",
        "满意度（1-5分）",
        "无法导出报表",
        "2019-05-07 00:30:00",
        "共 3 条",
    ):
        assert words in html, words
    assert all(f'href="/cases/{n}"' in html for n in numbers)
    assert "/api/v1/records/aftersales?format=xlsx&amp;owner=%E5%AE%A2%E6%9C%8D" in html
    assert "/api/v1/records/aftersales?format=csv&amp;owner=" in html
    bad = await web.get(
        "/records", params={"process": "aftersales", "from": "2019-05-08", "to": "2019-05-01"}
    )
    assert bad.status_code == 422 and "结束日期早于开始日期" in bad.text
    unknown = await web.get("/records", params={"process": "warranty"})
    assert unknown.status_code == 422 and "未知流程" in unknown.text


async def test_rep1_records_page_pages_through_fifty_rows_at_a_time(web, built):
    owner = unique_owner()
    record = {**TABLES["presales"]["record"], "owner": owner}
    for i in range(51):
        await built.case("presales", record, opened_at=OPENED + timedelta(minutes=i), owner=owner)
    first = (await web.get("/records", params={"process": "presales", "owner": owner})).text
    assert "共 51 条" in first and first.count('href="/cases/TPR-') == 50 and "下一页" in first
    second = (await web.get("/records", params={"process": "presales", "owner": owner, "page": 2})).text
    assert second.count('href="/cases/TPR-') == 1 and built.cases[-1] in second and "上一页" in second
