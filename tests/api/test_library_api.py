"""REST /api/v1/library and the /library pages (KB-1), against the real app and Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete
from temporalio.testing import ActivityEnvironment

from activities.library import LibraryActivities
from api.app import create_app
from db.engine import transaction
from db.library import LibraryEntry
from domain.library import ArchiveRequest
from tests.activities.helpers import make_case, unique
from tests.signin import client as signed_in
from tests.workflows.helpers import rows

EXPORT = {
    "title": "无法导出报表",
    "symptom": "点击导出按钮没有反应，提示没有权限",
    "cause": "账号未开通报表导出权限",
    "remedy": "管理员在角色权限中开启报表导出，远程指导客户操作",
    "category": "fault",
    "tags": ["报表", "权限"],
}


@pytest.fixture
async def actor(settings) -> AsyncIterator[str]:
    """A name unique to the test; every library entry it writes is removed afterwards."""
    name = unique("kb-")
    yield name
    async with transaction(settings.sqlalchemy_url()) as db:
        await db.execute(delete(LibraryEntry).where(LibraryEntry.created_by == name))


@pytest.fixture
async def api(settings, actor, logins) -> AsyncIterator[httpx.AsyncClient]:
    """The real app and Postgres; the library never touches Temporal, so no worker is needed. The API
    token names ``actor`` as its user; the pages run as the signed-in supervisor."""
    async with signed_in(create_app(settings), logins, headers={"X-Careflow-Actor": actor}) as http:
        yield http


def count(settings) -> int:
    return rows(settings, "SELECT count(*) AS n FROM case_library")[0]["n"]


async def test_kb1_rest_manual_entry_is_created_found_by_a_rephrased_query_and_edited(api, actor):
    r = await api.post("/api/v1/library", json=EXPORT)
    assert r.status_code == 201
    entry = r.json()
    assert entry["case_number"] is None and entry["created_by"] == actor and entry["tags"] == ["报表", "权限"]
    other = (
        await api.post("/api/v1/library", json={**EXPORT, "title": "报表打印乱码", "cause": None})
    ).json()

    found = (await api.get("/api/v1/library", params={"q": "报表导出失败"})).json()
    ids = [h["id"] for h in found["items"]]
    assert ids.index(entry["id"]) < ids.index(other["id"])  # the title 无法导出报表 ranks first
    assert found["total"] >= 2 and found["items"][0]["score"] > 0

    assert (await api.get(f"/api/v1/library/{entry['id']}")).json()["title"] == "无法导出报表"
    edited = await api.patch(f"/api/v1/library/{entry['id']}", json={"remedy": "升级到 v3.2 后 Export 即可"})
    assert edited.status_code == 200
    body = edited.json()
    assert body["remedy"] == "升级到 v3.2 后 Export 即可" and body["title"] == "无法导出报表"
    assert body["updated_by"] == actor
    # The index follows the edit: an English word of the new remedy finds it.
    english = (await api.get("/api/v1/library", params={"q": "EXPORT"})).json()["items"]
    assert entry["id"] in [h["id"] for h in english]
    # A category filter keeps only that category.
    faults = (await api.get("/api/v1/library", params={"q": "报表", "category": "consultation"})).json()
    assert entry["id"] not in [h["id"] for h in faults["items"]]


async def test_kb1_rest_bad_input_is_422_with_the_field_and_changes_nothing(api, settings):
    before = count(settings)
    missing = await api.post("/api/v1/library", json={k: v for k, v in EXPORT.items() if k != "remedy"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "remedy"]
    wrong = await api.post("/api/v1/library", json={**EXPORT, "category": "billing"})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "category"]
    assert count(settings) == before

    entry = (await api.post("/api/v1/library", json=EXPORT)).json()
    blank = await api.patch(f"/api/v1/library/{entry['id']}", json={"title": None})
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "title"]
    assert (await api.get(f"/api/v1/library/{entry['id']}")).json()["title"] == "无法导出报表"
    bad_filter = await api.get("/api/v1/library", params={"category": "billing"})
    assert bad_filter.status_code == 422 and bad_filter.json()["detail"][0]["loc"] == ["query", "category"]


async def test_kb1_rest_unknown_entry_is_404(api):
    assert (await api.get("/api/v1/library/999999999")).status_code == 404
    assert (await api.patch("/api/v1/library/999999999", json={"title": "x"})).status_code == 404
    assert (await api.delete("/api/v1/library/999999999")).status_code == 404


async def test_kb1_rest_deletes_manual_entries_but_keeps_archived_cases(api, settings, actor):
    manual = (await api.post("/api/v1/library", json=EXPORT)).json()
    assert (await api.delete(f"/api/v1/library/{manual['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/library/{manual['id']}")).status_code == 404

    number = await make_case(settings.sqlalchemy_url())
    archived = await ActivityEnvironment().run(
        LibraryActivities(settings.sqlalchemy_url(), settings).archive_case,
        ArchiveRequest(number=number, process="aftersales", actor=actor, **EXPORT),
    )
    refused = await api.delete(f"/api/v1/library/{archived}")
    assert refused.status_code == 409
    assert (await api.get(f"/api/v1/library/{archived}")).json()["case_number"] == number


async def test_kb1_library_page_shows_ranked_results_with_category_and_source_case(api, settings, actor):
    number = await make_case(settings.sqlalchemy_url())
    await ActivityEnvironment().run(
        LibraryActivities(settings.sqlalchemy_url(), settings).archive_case,
        ArchiveRequest(number=number, process="aftersales", actor=actor, **EXPORT),
    )
    page = await api.get("/library", params={"q": "报表导出失败"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    assert "无法导出报表" in html and "故障类" in html
    assert f'href="/cases/{number}"' in html  # the source case
    assert 'value="报表导出失败"' in html and 'href="/library"' in html  # search box kept; nav link
    nothing = await api.get("/library", params={"q": "今天天气很好"})
    assert "没有找到相关条目" in nothing.text


async def test_kb1_new_entry_form_validates_inline_then_creates_and_shows_the_entry(api, settings, actor):
    before = count(settings)
    form = {**EXPORT, "tags": "报表，权限 导出"}
    bad = await api.post("/library/new", data={**form, "remedy": ""})
    assert bad.status_code == 422
    assert "必填" in bad.text and 'value="无法导出报表"' in bad.text
    assert count(settings) == before

    created = await api.post("/library/new", data=form)
    assert created.status_code == 303
    location = created.headers["location"]
    entry_id = int(location.rsplit("/", 1)[1])
    entry = await api.get(location)
    assert entry.status_code == 200
    assert "无法导出报表" in entry.text and "手工条目（FAQ）" in entry.text and "导出" in entry.text
    made = rows(settings, "SELECT tags, created_by FROM case_library WHERE id = %s", entry_id)[0]
    assert made == {"tags": ["报表", "权限", "导出"], "created_by": "测试主管"}  # the signed-in user

    saved = await api.post(f"{location}/edit", data={**form, "cause": ""})
    assert saved.status_code == 303
    shown = (await api.get(saved.headers["location"])).text
    assert "已保存" in shown and "账号未开通报表导出权限" not in shown  # the cleared cause is gone
    assert (await api.get("/library/999999999")).status_code == 404
    assert (await api.post(f"{location}/delete")).status_code == 303
