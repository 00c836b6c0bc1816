"""C-2 bulk import: a CSV or XLSX sheet of customers into validated profiles and a per-row error report.

Pure: it takes the file's name and bytes and returns rows; the writing is ``activities.customer_import``.

* CSV: UTF-8 with or without a BOM, else GB18030 (a superset of the GBK that Excel on a Chinese Windows
  writes for "CSV"); comma-, semicolon- or tab-separated, decided from the header line.
* XLSX: the first sheet, read with openpyxl in read-only mode (legacy ``.xls`` is refused with a hint).
* The first non-empty row is the header. Column names are matched in Chinese or English, ignoring case,
  spaces, a ``*`` marker and a ``(必填)``/``(optional)`` note (``COLUMNS``); unknown columns are ignored and
  listed. Without a name column the file is refused.
* Every data row becomes a ``domain.customers.CustomerProfile`` — the same rules as the staff form and the
  REST API — or errors. Row numbers are the sheet's own (the header is row 1 when it is the first line), so
  the report points at the line a person sees in Excel. Fully empty rows are skipped and not counted.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from domain.customers import CustomerProfile

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000

# field -> accepted header names (compared after ``_header_key``).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": (
        "客户名称",
        "名称",
        "客户姓名",
        "姓名",
        "公司名称",
        "企业名称",
        "name",
        "customer name",
        "company",
    ),
    "type": ("类型", "客户类型", "type", "customer type"),
    "phone": ("手机", "手机号", "手机号码", "电话", "联系电话", "phone", "mobile"),
    "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail"),
    "industry": ("行业", "所属行业", "industry"),
    "region": ("地区", "区域", "所在地区", "城市", "region", "city"),
    "scale": ("规模", "企业规模", "公司规模", "scale", "size"),
    "first_contact": ("首次接触渠道", "来源渠道", "获客渠道", "渠道来源", "first contact", "first_contact"),
    "preferred_channel": ("偏好渠道", "首选渠道", "联系偏好", "preferred channel", "preferred_channel"),
    "expected_response_hours": (
        "期望响应时间(小时)",
        "期望响应小时",
        "期望响应时间",
        "expected response hours",
        "expected_response_hours",
    ),
    "owner": ("负责人", "客户经理", "owner", "account manager"),
    "tags": ("标签", "tags"),
    "birthday": ("生日", "出生日期", "birthday"),
    "anniversary": ("公司周年", "周年纪念日", "成立日期", "anniversary"),
    "contract_end": ("合同到期", "合同到期日", "合同到期日期", "contract end", "contract_end"),
    "external_id": ("外部编号", "外部id", "客户编号", "external id", "external_id"),
    "potential": ("行业潜力", "潜力", "potential"),
    "notes": ("备注", "notes", "remark", "remarks"),
    "core_need": ("核心需求", "core need", "core_need"),
    "budget_range": ("预算", "预算范围", "budget", "budget range", "budget_range"),
    "product_preference": ("产品偏好", "product preference", "product_preference"),
    "contact_name": ("联系人", "联系人姓名", "contact", "contact name", "contact_name"),
    "contact_role": ("联系人角色", "联系人职务", "contact role", "contact_role"),
    "contact_phone": ("联系人电话", "联系人手机", "contact phone", "contact_phone"),
    "contact_email": ("联系人邮箱", "contact email", "contact_email"),
    "id_card": ("身份证号", "身份证号码", "id card", "id_card"),
    "bank_card": ("银行卡号", "bank card", "bank_card"),
}
# The header each field is shown with in the report when the sheet has no such column.
COLUMN_LABELS = {f: names[0] for f, names in COLUMNS.items()}

# Values written in Chinese (or a few English spellings) -> the profile's enum values.
_CHOICES: dict[str, dict[str, str]] = {
    "type": {
        "个人": "individual",
        "individual": "individual",
        "企业": "enterprise",
        "公司": "enterprise",
        "enterprise": "enterprise",
        "company": "enterprise",
    },
    "first_contact": {
        "官网": "website",
        "网站": "website",
        "website": "website",
        "app": "app",
        "应用": "app",
        "电商": "ecommerce",
        "电商平台": "ecommerce",
        "ecommerce": "ecommerce",
        "社交媒体": "social",
        "社交": "social",
        "social": "social",
        "展会": "exhibition",
        "exhibition": "exhibition",
        "转介绍": "referral",
        "推荐": "referral",
        "referral": "referral",
        "销售拜访": "sales_visit",
        "拜访": "sales_visit",
        "sales_visit": "sales_visit",
        "电话": "phone",
        "phone": "phone",
    },
    "preferred_channel": {
        "邮件": "email",
        "邮箱": "email",
        "email": "email",
        "短信": "sms",
        "sms": "sms",
        "微信": "wechat",
        "wechat": "wechat",
        "电话": "phone",
        "phone": "phone",
        "app": "app",
        "在线客服": "online_chat",
        "online_chat": "online_chat",
    },
    "potential": {
        "高": "high",
        "high": "high",
        "中": "medium",
        "medium": "medium",
        "低": "low",
        "low": "low",
    },
}
_CHOICE_HINTS = {
    "type": "个人、企业",
    "first_contact": "官网、APP、电商、社交媒体、展会、转介绍、销售拜访、电话",
    "preferred_channel": "邮件、短信、微信、电话、APP、在线客服",
    "potential": "高、中、低",
}
_CONTACT_ROLES = {"决策人": "decision_maker", "决策者": "decision_maker", "联系人": "contact"}
DATE_FIELDS = ("birthday", "anniversary", "contract_end")
_TAG_SEPARATORS = re.compile(r"[,，;；、|]+")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_NOTE = re.compile(r"[(（](必填|选填|可选|optional|required)[)）]$")

# Pydantic's messages in Chinese (the validators of domain.customers already speak it).
_MESSAGES = {
    "missing": "必填",
    "string_too_short": "必填",
    "string_too_long": "过长(最多 {max_length} 个字符)",
    "enum": "请从列表中选择",
    "int_parsing": "请填写整数",
    "int_from_float": "请填写整数",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "date_parsing": "日期格式不正确(如 2024-03-05)",
    "date_from_datetime_parsing": "日期格式不正确(如 2024-03-05)",
    "string_pattern_mismatch": "格式不正确",
}


class ImportFileError(ValueError):
    """The file as a whole can't be read (wrong type, no header, no name column, too big)."""


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    column: str  # the header as written in the sheet (or the field's Chinese name)
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class ParsedRow:
    row: int
    profile: CustomerProfile
    external_id: str | None


@dataclass
class ParsedFile:
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0  # non-empty data rows
    columns: dict[str, str] = field(default_factory=dict)  # field -> header in the sheet
    ignored: list[str] = field(default_factory=list)  # headers not recognised

    def rows_in_order(self) -> Iterator[tuple[int, ParsedRow | list[RowError]]]:
        """Every data row by row number: its profile, or its errors."""
        by_row: dict[int, list[RowError]] = {}
        for error in self.errors:
            by_row.setdefault(error.row, []).append(error)
        items: list[tuple[int, ParsedRow | list[RowError]]] = [(r.row, r) for r in self.rows]
        items += list(by_row.items())
        yield from sorted(items, key=lambda item: item[0])


def _header_key(text: str) -> str:
    value = unicodedata.normalize("NFKC", text).strip().lower().replace("*", "").strip()
    value = _NOTE.sub("", value.replace(" ", "")).replace("_", "")
    return value


_BY_HEADER = {_header_key(name): f for f, names in COLUMNS.items() for name in names}


# -- reading ---------------------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise ImportFileError("无法识别文件编码,请另存为 UTF-8 或 GBK 编码的 CSV") from None


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = decode_csv(data)
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    for number, values in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
        yield number, list(values)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise ImportFileError(f"无法读取 XLSX 文件: {err}") from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        book.close()


def read_table(filename: str, data: bytes) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cell values) of every row of the file, by its extension (or content)."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"文件过大(最大 {MAX_BYTES // (1024 * 1024)} MB)")
    name = filename.lower()
    if name.endswith(".xls"):
        raise ImportFileError("不支持旧版 .xls 文件,请在 Excel 中另存为 .xlsx 或 CSV")
    if name.endswith(".xlsx") or data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data)
    if name.endswith((".csv", ".txt")) or not name:
        return _csv_rows(data)
    raise ImportFileError("只支持 CSV 或 XLSX 文件")


# -- cell values -----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 13812345678 as a number
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _date(value: Any) -> date | str:
    """A date from an Excel date cell or text like 2024-03-05, 2024/3/5, 2024年3月5日 or 20240305; the text
    itself when it is none of these (pydantic then reports it)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    match = _DATE.match(text)
    if match:
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            return text
    return text


class _CellError(ValueError):
    pass


def _choice(field_name: str, text: str) -> str:
    value = _CHOICES[field_name].get(text.lower())
    if value is None:
        raise _CellError(f"无法识别“{text}”,可填: {_CHOICE_HINTS[field_name]}")
    return value


def _profile_input(cells: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The CustomerProfile input of a row's cells (field -> raw cell), and the cells that could not be read."""
    data: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    needs: dict[str, str] = {}
    contact: dict[str, str] = {}
    for name, raw in cells.items():
        text = _text(raw)
        if not text or name == "external_id":
            continue
        try:
            if name in _CHOICES:
                data[name] = _choice(name, text)
            elif name in DATE_FIELDS:
                parsed = _date(raw)
                if isinstance(parsed, str):
                    raise _CellError("日期格式不正确(如 2024-03-05)")
                data[name] = parsed
            elif name == "tags":
                data[name] = [t for t in _TAG_SEPARATORS.split(text) if t.strip()]
            elif name in ("core_need", "budget_range", "product_preference"):
                needs[name] = text
            elif name.startswith("contact_"):
                contact[name.removeprefix("contact_")] = text
            else:
                data[name] = text
        except _CellError as err:
            problems.append((name, str(err)))
    if needs:
        data["needs"] = needs
    if contact:
        if "role" in contact:
            contact["role"] = _CONTACT_ROLES.get(contact["role"], contact["role"])
        if not contact.get("name"):
            problems.append(("contact_name", "填写了联系人电话、邮箱或角色时,联系人姓名必填"))
        else:
            data["contacts"] = [contact]
    return data, problems


def _field_of(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "phone"  # the only whole-record rule: a phone or an email is required
    if loc[0] == "contacts" and len(loc) >= 3:
        return f"contact_{loc[2]}"
    if loc[0] == "needs" and len(loc) >= 2:
        return str(loc[1])
    return str(loc[0])


def _message(error: Any) -> str:
    template = _MESSAGES.get(error["type"])
    if template:
        return template.format(**error.get("ctx", {}))
    return str(error["msg"]).removeprefix("Value error, ")


# -- the file --------------------------------------------------------------------------------------------


def parse_file(filename: str, data: bytes) -> ParsedFile:
    """Every row of the file as a profile or as errors; raises ImportFileError for an unreadable file."""
    table = read_table(filename, data)
    result = ParsedFile()
    header: dict[int, str] | None = None
    seen_external: dict[str, int] = {}
    for number, values in table:
        if all(_text(v) == "" for v in values):
            continue
        if header is None:
            header = _read_header(values, result)
            continue
        result.total += 1
        if result.total > MAX_ROWS:
            raise ImportFileError(f"行数过多(一次最多 {MAX_ROWS} 行),请分成多个文件导入")
        cells = {header[i]: v for i, v in enumerate(values) if i in header}
        _parse_row(number, cells, result, seen_external)
    if header is None:
        raise ImportFileError("文件是空的:第一行应为表头(如 客户名称、手机、邮箱)")
    return result


def _read_header(values: list[Any], result: ParsedFile) -> dict[int, str]:
    header: dict[int, str] = {}
    for index, value in enumerate(values):
        text = _text(value)
        if not text:
            continue
        name = _BY_HEADER.get(_header_key(text))
        if name is None:
            result.ignored.append(text)
        elif name in result.columns:
            raise ImportFileError(f"“{text}”与“{result.columns[name]}”是同一列,请只保留一个")
        else:
            header[index] = name
            result.columns[name] = text
    if "name" not in result.columns:
        raise ImportFileError("找不到“客户名称”列(表头可写 客户名称 / 姓名 / 公司名称 / name)")
    return header


def _parse_row(number: int, cells: dict[str, Any], result: ParsedFile, seen_external: dict[str, int]) -> None:
    def error(name: str, message: str) -> RowError:
        return RowError(number, name, result.columns.get(name, COLUMN_LABELS.get(name, name)), message)

    data, problems = _profile_input(cells)
    errors = [error(name, message) for name, message in problems]
    external_id = _text(cells.get("external_id")) or None
    if external_id is not None:
        if len(external_id) > 100:
            errors.append(error("external_id", "过长(最多 100 个字符)"))
        elif external_id in seen_external:
            errors.append(error("external_id", f"与第 {seen_external[external_id]} 行的外部编号重复"))
        else:
            seen_external[external_id] = number
    try:
        profile = CustomerProfile.model_validate(data)
    except ValidationError as err:
        bad = {name for name, _ in problems}
        for item in err.errors():
            name = _field_of(tuple(item["loc"]))
            if name not in bad:
                bad.add(name)
                errors.append(error(name, _message(item)))
        profile = None
    if errors or profile is None:
        result.errors.extend(errors)
    else:
        result.rows.append(ParsedRow(number, profile, external_id))
