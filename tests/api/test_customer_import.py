"""C-2 bulk import through REST, the web pages and the CLI, against the real app and Postgres."""

from __future__ import annotations

import asyncio
import io
import os
import random
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from tests.signin import staff_client
from tests.workflows.helpers import eventually, rows

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def ops(env, settings, worker) -> AsyncIterator[httpx.AsyncClient]:
    """A customer-operations specialist: may import, verify and merge (C-2, C-3)."""
    async with staff_client(
        env, settings, username="h2.ops", role="customer_ops", display_name="运营小李"
    ) as c:
        yield c


def phone() -> str:
    return "139" + "".join(random.choices("0123456789", k=8))


def csv_bytes(lines: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    return "\n".join(",".join(cells) for cells in lines).encode(encoding)


async def upload(http: httpx.AsyncClient, name: str, data: bytes, **params: Any) -> httpx.Response:
    return await http.post(
        "/api/v1/customers/imports",
        files={"file": (name, data)},
        params=params,
    )


def customers_named(settings: Any, *names: str) -> dict[str, dict[str, Any]]:
    found = rows(settings, "SELECT * FROM customers WHERE name = ANY(%s)", list(names))
    return {r["name"]: r for r in found}


async def test_c2_csv_import_reports_bad_rows(ops, settings):
    tag = uuid.uuid4().hex[:6]
    good_phone, ext = phone(), f"EXT-{tag}"
    lines = [
        ["客户名称", "类型", "手机", "邮箱", "标签", "合同到期", "外部编号"],
        [
            f"张伟{tag}",
            "个人",
            f"+86 {good_phone[:3]}-{good_phone[3:7]}-{good_phone[7:]}",
            "",
            "高频购买",
            "",
            ext,
        ],
        [
            f"苏州{tag}机电有限公司",
            "企业",
            "",
            f"Buy.{tag}@Example.com",
            "价格敏感；关注售后保障",
            "2027/6/30",
            "",
        ],
        [f"坏手机{tag}", "个人", "12345", "", "", "", ""],
        [f"坏邮箱{tag}", "个人", "", "not-an-email", "", "", ""],
        ["", "个人", phone(), "", "", "", ""],
    ]
    r = await upload(ops, "客户.csv", csv_bytes(lines), wait="true")
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "done" and job["created_by"] == "运营小李"
    assert (job["total"], job["processed"], job["created"], job["updated"], job["skipped"]) == (5, 5, 2, 0, 3)
    errors = {(e["row"], e["field"]): e for e in job["errors"]}
    assert set(errors) == {(4, "phone"), (5, "email"), (6, "name")}
    assert errors[(4, "phone")]["column"] == "手机" and "手机号格式不正确" in errors[(4, "phone")]["message"]
    assert errors[(5, "email")]["message"] == "邮箱格式不正确"
    assert errors[(6, "name")]["column"] == "客户名称" and errors[(6, "name")]["message"] == "必填"

    landed = customers_named(settings, f"张伟{tag}", f"苏州{tag}机电有限公司", f"坏手机{tag}", f"坏邮箱{tag}")
    assert set(landed) == {f"张伟{tag}", f"苏州{tag}机电有限公司"}  # the bad rows wrote nothing
    person, company = landed[f"张伟{tag}"], landed[f"苏州{tag}机电有限公司"]
    assert person["phone"] == good_phone and person["tags"] == ["高频购买"] and person["external_id"] == ext
    assert person["source"] == "import" and person["verified_at"] is None  # waits for review (C-3)
    assert company["type"] == "enterprise" and company["email"] == f"buy.{tag}@example.com"
    assert company["tags"] == ["价格敏感", "关注售后保障"] and company["contract_end"] == date(2027, 6, 30)

    report = await ops.get(f"/api/v1/customers/imports/{job['id']}/errors.csv")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    text = report.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "行号,列,字段,错误"
    assert (
        "4,手机,phone," in text and "5,邮箱,email,邮箱格式不正确" in text and "6,客户名称,name,必填" in text
    )

    # The same file again: the row with an external id updates its record instead of making a second one.
    lines[1][4] = "有升级需求"
    again = (await upload(ops, "客户.csv", csv_bytes(lines[:2]), wait="true")).json()
    assert (again["created"], again["updated"], again["skipped"]) == (0, 1, 0)
    assert rows(settings, "SELECT tags FROM customers WHERE external_id=%s", ext) == [
        {"tags": ["有升级需求"]}
    ]


def xlsx_bytes(lines: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for line in lines:
        sheet.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_c2_xlsx_import_runs_in_the_background_with_progress(ops, settings):
    tag = uuid.uuid4().hex[:6]
    number = phone()
    data = xlsx_bytes(
        [
            ["Name", "Type", "Mobile", "Email", "Birthday", "Tags", "Owner", "First contact", "Remarks"],
            [
                f"Li Na {tag}",
                "individual",
                int(number),
                None,
                datetime(1990, 3, 5),
                "高活跃度, 价格敏感",
                "li.na",
                "展会",
                "VIP 候选",
            ],
            [f"Bad Date {tag}", "individual", phone(), None, "1990-13-45", None, None, None, None],
            [None, None, None, None, None, None, None, None, None],  # a blank row is skipped, not counted
            [f"Bad Channel {tag}", "individual", phone(), None, None, None, None, "传单", None],
        ]
    )
    r = await upload(ops, "customers.xlsx", data)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] == "running" and started["total"] == 3

    job = started
    for _ in range(400):
        job = (await ops.get(f"/api/v1/customers/imports/{started['id']}")).json()
        if job["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done", job
    assert (job["processed"], job["created"], job["skipped"]) == (3, 1, 2)
    assert {(e["row"], e["field"]) for e in job["errors"]} == {(3, "birthday"), (5, "first_contact")}
    bad_channel = next(e for e in job["errors"] if e["field"] == "first_contact")
    assert bad_channel["column"] == "First contact" and "传单" in bad_channel["message"]
    li = customers_named(settings, f"Li Na {tag}")[f"Li Na {tag}"]
    assert li["phone"] == number and li["birthday"] == date(1990, 3, 5)
    assert li["tags"] == ["高活跃度", "价格敏感"] and li["owner"] == "li.na"
    assert li["first_contact"] == "exhibition" and li["notes"] == "VIP 候选"

    page = await ops.get(f"/customers/import/{job['id']}")
    assert page.status_code == 200
    assert (
        "customers.xlsx" in page.text and "无法识别“传单”" in page.text and 'id="import-errors"' in page.text
    )


async def test_c2_gbk_csv_from_chinese_excel(ops, settings):
    tag = uuid.uuid4().hex[:6]
    lines = [
        ["客户名称*", "手机(必填)", "地区", "行业", "规模", "负责人"],
        [f"王芳{tag}", phone(), "广州", "零售", "50-200 人", "zhao.lei"],
    ]
    data = csv_bytes(lines, encoding="gbk")
    job = (await upload(ops, "客户名单.csv", data, wait="true")).json()
    assert (job["created"], job["skipped"]) == (1, 0), job
    got = customers_named(settings, f"王芳{tag}")[f"王芳{tag}"]
    assert (got["region"], got["industry"], got["scale"], got["owner"]) == (
        "广州",
        "零售",
        "50-200 人",
        "zhao.lei",
    )


async def test_c2_unreadable_file_is_refused_naming_it_and_changes_nothing(ops, settings):
    before = rows(settings, "SELECT count(*) AS n FROM customer_imports")[0]["n"]
    no_name = await upload(ops, "x.csv", csv_bytes([["手机", "邮箱"], [phone(), ""]]), wait="true")
    assert no_name.status_code == 422
    assert (
        no_name.json()["detail"][0]["loc"] == ["body", "file"]
        and "客户名称" in no_name.json()["detail"][0]["msg"]
    )
    old_excel = await upload(ops, "x.xls", b"\xd0\xcf\x11\xe0 legacy", wait="true")
    assert old_excel.status_code == 422 and ".xlsx" in old_excel.json()["detail"][0]["msg"]
    assert rows(settings, "SELECT count(*) AS n FROM customer_imports")[0]["n"] == before
    assert (await ops.get("/api/v1/customers/imports/999999999")).status_code == 404


async def test_c2_web_upload_form_starts_a_job_and_shows_its_report(ops, env, settings):
    form = await ops.get("/customers/import")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and 'name="csrf_token"' in form.text
    # The form's hidden CSRF field is enough (no header), as for a browser.
    no_header = {"X-CSRF-Token": ""}
    empty = await ops.post(
        "/customers/import", data={"csrf_token": ops.csrf}, files={"file": ("x.csv", b"")}, headers=no_header
    )
    assert empty.status_code == 422 and "文件是空的" in empty.text
    tag = uuid.uuid4().hex[:6]
    data = csv_bytes([["客户名称", "手机"], [f"网页导入{tag}", phone()], [f"网页坏行{tag}", "110"]])
    r = await ops.post(
        "/customers/import",
        data={"csrf_token": ops.csrf},
        files={"file": ("web.csv", data)},
        headers=no_header,
    )
    assert r.status_code == 303
    location = r.headers["location"]
    job_id = int(location.rsplit("/", 1)[1])

    def done() -> bool:
        return (
            rows(settings, "SELECT status FROM customer_imports WHERE id=%s", job_id)[0]["status"] == "done"
        )

    await eventually(done, "the web import finishes")
    page = await ops.get(location)
    assert "已完成" in page.text and "<td>3</td>" in page.text  # the bad row is row 3 of the sheet
    assert customers_named(settings, f"网页导入{tag}")[f"网页导入{tag}"]["source"] == "import"
    assert not customers_named(settings, f"网页坏行{tag}")
    template = await ops.get("/customers/import/template.csv")
    assert template.content.decode("utf-8-sig").startswith("客户名称,类型,手机,邮箱")

    # An agent may not import (SEC-1): the page says so and the upload is refused.
    async with staff_client(
        env, settings, username="h2.agent", role="agent", display_name="客服小张"
    ) as agent:
        assert "开始导入" not in (await agent.get("/customers/import")).text
        refused = await agent.post("/api/v1/customers/imports", files={"file": ("a.csv", data)})
        assert refused.status_code == 403


def test_c2_cli_import_prints_progress_summary_and_row_errors(settings, tmp_path):
    tag = uuid.uuid4().hex[:6]
    path = tmp_path / "cli.csv"
    path.write_bytes(
        csv_bytes([["客户名称", "手机", "邮箱"], [f"命令行{tag}", phone(), ""], [f"坏{tag}", "", "x@"]])
    )
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "CAREFLOW_SECRET_KEY": "tests-only-secret",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli", "customers", "import", str(path), "--created-by", "批处理"],
        check=False,
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # a row failed
    assert "[" in done.stderr and "2/2" in done.stderr  # the progress bar
    assert "2 rows, 1 created, 0 updated, 1 skipped" in done.stdout
    assert "row 3 邮箱: 邮箱格式不正确" in done.stdout
    job = rows(settings, "SELECT * FROM customer_imports WHERE created_by='批处理' ORDER BY id DESC LIMIT 1")[
        0
    ]
    assert job["status"] == "done" and job["filename"] == "cli.csv"
    assert customers_named(settings, f"命令行{tag}")

    clean = tmp_path / "clean.csv"
    clean.write_bytes(csv_bytes([["name", "phone"], [f"干净{tag}", phone()]]))
    ok = subprocess.run(
        [sys.executable, "-m", "cli", "customers", "import", str(clean)],
        check=False,
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
