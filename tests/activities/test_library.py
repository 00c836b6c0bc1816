"""The case library (KB-1): the tokenizer's properties, archiving, and ranked search on real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.library import SEED_ENTRIES, LibraryActivities, create_entry, seed_library, suggest
from config import Settings
from db.engine import transaction
from db.library import LibraryEntry
from domain.library import ArchiveRequest, EntryInput, LibraryHit, SuggestRequest, query_terms, tokens
from tests.activities.helpers import make_case, unique
from tests.workflows.helpers import rows

# Text drawn from what staff type: Chinese, Latin words, digits, full-width forms, punctuation, spaces.
TEXT = st.text(
    alphabet=st.sampled_from(
        list("报表导出失败无法登录系统打印乱码的了ABCxyz019ＡＢ１ -_.,，。！？'\":&|!()\n")
    ),
    max_size=40,
)
# The autouse staff cleanup of tests/activities is function-scoped; these tests do not touch staff.
FIXTURES_OK = hsettings(suppress_health_check=[HealthCheck.function_scoped_fixture])
CJK = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=12)


# -- the tokenizer (pure) --


@FIXTURES_OK
@given(TEXT)
def test_kb1_tokens_are_single_lexemes_without_query_syntax(text: str) -> None:
    for token in tokens(text):
        assert token and token.isalnum(), token  # no space, quote, colon, & | ! ( ) to escape
        assert token == token.lower()
        assert len(token) <= 2 or token.isascii()


@FIXTURES_OK
@given(CJK)
def test_kb1_tokens_of_a_chinese_run_are_its_unigrams_and_overlapping_bigrams(run: str) -> None:
    got = tokens(run)
    assert [t for t in got if len(t) == 1] == list(run)
    assert [t for t in got if len(t) == 2] == [run[i : i + 2] for i in range(len(run) - 1)]


@FIXTURES_OK
@given(TEXT)
def test_kb1_a_text_matches_its_own_query_strictly(text: str) -> None:
    strict, loose = query_terms(text)
    indexed = set(tokens(text))
    assert set(strict) <= indexed and set(loose) <= indexed
    assert set(strict) <= set(loose)
    assert len(strict) == len(set(strict)) and len(loose) == len(set(loose))
    assert bool(strict) == bool(indexed)


def test_kb1_tokens_fold_case_and_full_width_and_split_on_punctuation() -> None:
    assert tokens("导出Excel报表！ＥＲＰ v2.3，SAP") == [
        "导",
        "导出",
        "出",
        "excel",
        "报",
        "报表",
        "表",
        "erp",
        "v2",
        "3",
        "sap",
    ]
    assert query_terms("报表导出失败") == (
        ["报表", "表导", "导出", "出失", "失败"],
        ["报", "表", "导", "出", "失", "败", "报表", "表导", "导出", "出失", "失败"],
    )
    assert query_terms("报 login") == (["报", "login"], ["报", "login"])


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXT)
def test_kb1_postgres_simple_config_keeps_every_token_as_one_lexeme(
    pg: psycopg.Connection, text: str
) -> None:
    """What to_tsvector stores and to_tsquery searches are exactly the Python tokens."""
    lexemes = pg.execute("SELECT tsvector_to_array(to_tsvector('simple', %s))", (" ".join(tokens(text)),))
    assert set(lexemes.fetchone()[0]) == set(tokens(text))


@pytest.fixture(scope="module")
def pg(settings: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.database_url) as conn:
        yield conn


# -- archiving and search against Postgres --


@pytest.fixture
async def actor(settings: Settings) -> AsyncIterator[str]:
    """A name unique to the test; every entry it writes is removed afterwards."""
    name = unique("kb-")
    yield name
    async with transaction(settings.sqlalchemy_url()) as db:
        await db.execute(delete(LibraryEntry).where(LibraryEntry.created_by == name))


def acts(settings: Settings) -> LibraryActivities:
    return LibraryActivities(settings.sqlalchemy_url(), settings)


async def add(settings: Settings, actor: str, title: str, symptom: str, remedy: str, **kw: str) -> int:
    async with transaction(settings.sqlalchemy_url()) as db:
        entry = await create_entry(
            db, EntryInput(title=title, symptom=symptom, remedy=remedy, **kw), actor=actor
        )
        return entry.id


async def test_kb1_archive_case_is_idempotent_per_case_number(settings, actor):
    url = settings.sqlalchemy_url()
    number = await make_case(url)
    req = ArchiveRequest(
        number=number,
        process="aftersales",
        category="fault",
        title="无法导出报表",
        symptom="客户点击导出报表无反应",
        cause="账号未开通导出权限",
        remedy="远程指导开启权限",
        tags=["报表"],
        actor=actor,
    )
    env = ActivityEnvironment()
    first = await env.run(acts(settings).archive_case, req)
    assert await env.run(acts(settings).archive_case, req) == first  # a retried activity
    # The case reopened and was resolved again: its entry is rewritten, not duplicated.
    again = req.model_copy(update={"remedy": "升级客户端到 v3.2 后重新导出", "cause": "客户端版本过旧"})
    assert await env.run(acts(settings).archive_case, again) == first
    saved = rows(settings, "SELECT * FROM case_library WHERE case_number = %s", number)
    # An unknown case is a bug in the caller: the activity fails for good instead of retrying.
    with pytest.raises(ApplicationError) as failed:
        await env.run(acts(settings).archive_case, req.model_copy(update={"number": "AS-NOSUCHCASE"}))
    assert failed.value.non_retryable
    assert len(saved) == 1
    assert saved[0]["id"] == first and saved[0]["remedy"] == "升级客户端到 v3.2 后重新导出"
    assert saved[0]["process"] == "aftersales" and saved[0]["created_by"] == actor
    # The index follows the new text: the old remedy no longer finds the entry, the new one does.
    hits = await env.run(acts(settings).suggest_cases, SuggestRequest(text="v3.2 客户端", limit=20))
    assert first in [h.id for h in hits]
    async with transaction(url) as db:
        old = await suggest(db, "远程指导开启权限", limit=20)
    assert first not in [h.id for h in old]


async def test_kb1_search_finds_chinese_variations_of_the_same_problem(settings, actor):
    export = await add(
        settings,
        actor,
        "无法导出报表",
        "点击导出按钮没有反应，提示没有权限",
        "管理员在角色权限中开启报表导出",
        category="fault",
    )
    printing = await add(
        settings, actor, "报表打印乱码", "打印出来的报表中文显示为方块", "安装中文字体后重新打印"
    )
    login = await add(settings, actor, "无法登录系统", "输入密码后提示用户名或密码错误", "在登录页找回密码")
    mine = {export, printing, login}
    env = ActivityEnvironment()

    async def ranked(text: str) -> list[int]:
        hits = await env.run(acts(settings).suggest_cases, SuggestRequest(text=text, limit=20))
        assert all(isinstance(h, LibraryHit) for h in hits)
        return [h.id for h in hits if h.id in mine]

    assert (await ranked("报表导出失败"))[0] == export  # different word order, extra words
    assert (await ranked("导出不了报表怎么办"))[0] == export
    assert (await ranked("报表 导出"))[0] == export
    assert (await ranked("打印报表是乱码"))[0] == printing
    assert await ranked("登录不上，密码错误") == [login]  # shares no bigram with the other two
    assert await ranked("今天天气很好") == []  # nothing in common: no noise at intake


async def test_kb1_search_finds_english_words_and_weights_the_title(settings, actor):
    title_hit = await add(
        settings, actor, "Excel import fails", "导入时提示格式错误", "另存为 xlsx 后重新导入"
    )
    body_hit = await add(
        settings, actor, "批量上传很慢", "几万行的 EXCEL 文件导入要十分钟", "分批上传，每批 5000 行"
    )
    hits = await ActivityEnvironment().run(
        acts(settings).suggest_cases, SuggestRequest(text="excel 导入", limit=20)
    )
    ids = [h.id for h in hits if h.id in {title_hit, body_hit}]
    assert ids == [title_hit, body_hit]  # both hold every term; the title's word ranks higher
    assert hits[0].score >= hits[-1].score > 0


async def test_kb1_suggest_respects_the_limit_and_returns_the_remedy(settings, actor):
    for i in range(4):
        await add(
            settings, actor, f"发票开具问题 {i}", "客户需要开具增值税专用发票", f"在费用中心申请（{i}）"
        )
    async with transaction(settings.sqlalchemy_url()) as db:
        hits = await suggest(db, "怎么开增值税发票", limit=2)
    assert len(hits) == 2
    assert all("费用中心" in h.remedy and h.case_number is None for h in hits)


async def test_kb1_seed_library_adds_the_demo_faq_once(settings):
    url = settings.sqlalchemy_url()
    try:
        async with transaction(url) as db:
            assert await seed_library(db) == len(SEED_ENTRIES)
        async with transaction(url) as db:
            assert await seed_library(db) == 0
            hits = await suggest(db, "报表导出失败")
        assert hits[0].title == "无法导出报表" and hits[0].category == "fault"
        async with transaction(url) as db:
            titles = (
                await db.scalars(select(LibraryEntry.title).where(LibraryEntry.created_by == "seed"))
            ).all()
        assert sorted(titles) == sorted(e.title for e in SEED_ENTRIES)
    finally:
        async with transaction(url) as db:
            await db.execute(delete(LibraryEntry).where(LibraryEntry.created_by == "seed"))


def test_kb1_worker_registers_archive_and_suggest(settings):
    from worker import activity_methods

    names = [m.__name__ for m in activity_methods(acts(settings))]
    assert names == ["archive_case", "suggest_cases"]
