"""C-2 sheet parsing and C-3 duplicate keys and merge rules: pure functions, no database."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from domain.customer_import import ImportFileError, decode_csv, parse_file
from domain.customer_quality import DuplicateIndex, company_key, email_key, keys, merged_values, phone_key


def test_c2_headers_in_chinese_or_english_with_marks_and_notes():
    text = "客户名称*,手机(必填),E-Mail,首次接触渠道,Contract End,联系人,联系人角色,联系人电话,核心需求,没听说过\n"
    text += "苏州某某有限公司,13812345678,a@b.cn,转介绍,2027年6月30日,陈经理,决策人,0512-66668888,降本,x\n"
    parsed = parse_file("a.csv", text.encode())
    assert parsed.errors == [] and parsed.ignored == ["没听说过"]
    profile = parsed.rows[0].profile
    assert profile.first_contact == "referral" and profile.contract_end == date(2027, 6, 30)
    assert profile.contacts[0].model_dump() == {
        "name": "陈经理",
        "role": "decision_maker",
        "phone": "0512-66668888",
        "email": None,
    }
    assert profile.needs.core_need == "降本"


def test_c2_encodings_utf8_bom_and_gbk():
    assert decode_csv("客户名称".encode("utf-8-sig")) == "客户名称"
    assert decode_csv("客户名称".encode()) == "客户名称"
    assert decode_csv("客户名称,手机".encode("gbk")) == "客户名称,手机"
    semicolons = parse_file("a.csv", "客户名称;手机\n张三;13812345678\n".encode("gbk"))
    assert semicolons.rows[0].profile.phone == "13812345678"


def test_c2_row_numbers_are_the_sheets_and_blank_rows_are_skipped():
    text = "\n客户名称,手机\n张三,13812345678\n,\n李四,123\n"
    parsed = parse_file("a.csv", text.encode())
    assert parsed.total == 2 and parsed.rows[0].row == 3
    assert [(e.row, e.field, e.column) for e in parsed.errors] == [(5, "phone", "手机")]


def test_c2_each_bad_field_is_reported_once_in_chinese():
    text = "客户名称,类型,手机,邮箱,生日,期望响应时间(小时),行业潜力\n"
    text += "王五,团体,139,bad,1990-02-30,abc,很高\n"
    parsed = parse_file("a.csv", text.encode())
    messages = {e.field: e.message for e in parsed.errors}
    assert set(messages) == {"type", "phone", "email", "birthday", "expected_response_hours", "potential"}
    assert messages["type"] == "无法识别“团体”,可填: 个人、企业"
    assert messages["birthday"].startswith("日期格式不正确")
    assert messages["expected_response_hours"] == "请填写整数"
    assert parsed.rows == []


def test_c2_no_contact_way_and_repeated_external_id():
    text = "客户名称,外部编号,手机\n赵六,E1,\n钱七,E2,13812345678\n孙八,E2,13912345678\n"
    parsed = parse_file("a.csv", text.encode())
    assert [(e.row, e.field, e.message) for e in parsed.errors] == [
        (2, "phone", "请至少填写手机号或邮箱之一"),
        (4, "external_id", "与第 3 行的外部编号重复"),
    ]


def test_c2_xlsx_numbers_and_date_cells():
    book = Workbook()
    book.active.append(["姓名", "手机", "生日", "标签", "外部编号"])
    book.active.append(["周九", 13812345678, datetime(1988, 8, 8), "高频购买、价格敏感|有升级需求", 1001])
    out = io.BytesIO()
    book.save(out)
    parsed = parse_file("x.xlsx", out.getvalue())
    row = parsed.rows[0]
    assert row.profile.phone == "13812345678" and row.profile.birthday == date(1988, 8, 8)
    assert row.profile.tags == ["高频购买", "价格敏感", "有升级需求"] and row.external_id == "1001"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.xls", b"x", ".xlsx"),
        ("a.pdf", b"x", "只支持 CSV 或 XLSX"),
        ("a.csv", "手机,邮箱\n1,2\n".encode(), "客户名称"),
        ("a.csv", b"\n\n", "文件是空的"),
        ("a.csv", "客户名称,姓名\n".encode(), "同一列"),
        ("a.xlsx", b"PK\x03\x04broken", "无法读取 XLSX"),
    ],
)
def test_c2_unreadable_files_are_refused_whole(name, data, message):
    with pytest.raises(ImportFileError, match=message):
        parse_file(name, data)


def test_c3_keys_phone_email_company():
    assert phone_key("+86 138-1234-5678") == phone_key("13812345678") == "13812345678"
    assert phone_key("12") is None and email_key("  A@B.cn ") == "a@b.cn"
    assert (
        company_key("西门子（中国）有限公司")
        == company_key("西门子 集团")
        == company_key("西门子股份有限公司")
    )
    assert company_key("ＡＢＣ Co., Ltd.") == company_key("abc") == "abc"
    assert company_key("Zinc") == "zinc" and company_key("有限公司") is None
    assert keys(type="individual", name="某某有限公司", phone=None, email=None) == set()
    assert keys(type="enterprise", name="某某有限公司", phone=None, email=None) == {("company", "某某")}


def test_c3_index_groups_records_sharing_keys_once():
    index = DuplicateIndex()
    index.add(1, {("phone", "13812345678"), ("email", "a@b.cn")})
    index.add(2, {("phone", "13812345678"), ("email", "a@b.cn")})
    index.add(3, {("email", "c@d.cn")})
    [group] = index.groups()
    assert group.members == (1, 2) and group.reasons == [("email", "a@b.cn"), ("phone", "13812345678")]
    assert index.matches({("phone", "13812345678")}, exclude=1) == {2: ["phone"]}


def test_c3_merge_fills_empty_fields_joins_tags_and_contacts_keeps_the_duplicates_ways_to_reach():
    survivor = {
        "id": 1,
        "name": "陈先生",
        "phone": "13800000001",
        "email": None,
        "region": "杭州",
        "tags": ["高频购买"],
        "contacts": [{"name": "陈太太", "role": "contact", "phone": "13900000000", "email": None}],
        "needs": {"core_need": "降本"},
        "notes": "",
        "referred_by": None,
        "last_interaction_at": datetime(2026, 1, 1),
    }
    duplicate = {
        "id": 2,
        "name": "陈先生（旧）",
        "phone": "13800000002",
        "email": "chen@example.com",
        "region": "上海",
        "tags": ["价格敏感", "高频购买"],
        "contacts": [{"name": "陈太太", "role": "contact", "phone": "139-0000-0000", "email": None}],
        "needs": {"core_need": "提效", "budget_range": "10万"},
        "notes": "老客户",
        "referred_by": 1,
        "id_card_hash": "h",
        "id_card_last4": "1234",
        "last_interaction_at": datetime(2026, 3, 1),
    }
    changes, filled = merged_values(survivor, duplicate)
    assert changes["email"] == "chen@example.com" and "region" not in changes
    assert "referred_by" not in changes  # not referred by itself
    assert changes["tags"] == ["高频购买", "价格敏感"]
    assert changes["contacts"] == [
        {"name": "陈太太", "role": "contact", "phone": "13900000000", "email": None},
        {"name": "陈先生（旧）", "role": "contact", "phone": "13800000002", "email": None},
    ]
    assert changes["needs"] == {"core_need": "降本", "budget_range": "10万"}
    assert changes["notes"] == "【合并自客户 #2 陈先生（旧）】\n\n老客户"
    assert (changes["id_card_hash"], changes["id_card_last4"]) == ("h", "1234")
    assert changes["last_interaction_at"] == datetime(2026, 3, 1)
    assert filled == sorted(changes)
