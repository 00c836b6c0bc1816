"""Satisfaction surveys through the app: the public link page (SAT-1/2), the REST answer, the improvement
tasks a low score opens (SAT-1) and the survey figures (SAT-2). Real app, worker, Temporal and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType

from activities import surveys
from db.engine import transaction
from domain.surveys import IssuedSurvey, IssueSurvey, SurveyKind
from tests.activities.helpers import make_case, unique
from tests.workflows.helpers import close_case, rows, start_presales, wait_for_step


async def case_with_customer(settings) -> tuple[str, int]:
    """A case row and its customer; no workflow runs for it (like a case closed long ago)."""
    number = await make_case(settings.sqlalchemy_url())
    return number, rows(settings, "SELECT customer_id FROM cases WHERE number=%s", number)[0]["customer_id"]


async def issue(
    settings,
    *,
    customer_id: int,
    number: str | None = None,
    process: str | None = "presales",
    kind: SurveyKind = SurveyKind.CSAT,
    round_: str | None = None,
    issued_at: datetime | None = None,
) -> IssuedSurvey:
    async with transaction(settings.sqlalchemy_url()) as db:
        return await surveys.issue(
            db,
            settings,
            IssueSurvey(
                key=unique("test-survey-"),
                kind=kind,
                customer_id=customer_id,
                number=number,
                process=process if number else None,
                round=round_,
                issued_at=issued_at or datetime.now(UTC),
            ),
        )


def path_of(issued: IssuedSurvey) -> str:
    return "/s/" + issued.url.rsplit("/s/", 1)[1]


def survey_row(settings, survey_id: int) -> dict:
    return rows(settings, "SELECT * FROM surveys WHERE id=%s", survey_id)[0]


def tasks_of(settings, survey_id: int) -> list[dict]:
    return rows(settings, "SELECT * FROM improvement_tasks WHERE survey_id=%s", survey_id)


async def case_survey(settings) -> tuple[str, IssuedSurvey]:
    number, customer = await case_with_customer(settings)
    return number, await issue(settings, customer_id=customer, number=number)


# -- the public page -------------------------------------------------------------------------------------------


async def test_sat1_link_answer_below_4_is_stored_and_opens_an_improvement_task(http, settings):
    number, survey = await case_survey(settings)
    page = await http.get(path_of(survey))
    assert page.status_code == 200 and "您对本次服务满意吗" in page.text
    assert page.text.count('name="score"') == 5 and "1 非常不满意" in page.text
    assert "案件列表" not in page.text  # standalone: not the staff layout

    r = await http.post(path_of(survey), data={"score": "3", "comment": "等了三天才有人回电"})
    assert r.status_code == 200 and "感谢您的反馈" in r.text and "3 天内跟进" in r.text
    row = survey_row(settings, survey.id)
    assert (row["score"], row["comment"], row["answered_via"]) == (3, "等了三天才有人回电", "link")
    [task] = tasks_of(settings, survey.id)
    assert task["status"] == "open" and task["case_number"] == number and task["score"] == 3
    assert task["due_at"] - row["answered_at"] == timedelta(days=3)
    [notice] = rows(settings, "SELECT * FROM notifications WHERE key=%s", f"improvement:{task['id']}")
    assert notice["recipient_role"] == "supervisor" and notice["channel"] == "inbox"
    assert "满意度 3 分" in notice["subject"] and number in notice["subject"]
    timeline = rows(
        settings, "SELECT kind, payload FROM case_events WHERE case_number=%s ORDER BY id", number
    )
    assert timeline[-1]["kind"] == "improvement_opened"  # on the case page's timeline
    assert timeline[-1]["payload"]["note"] == "等了三天才有人回电"

    listed = (await http.get("/api/v1/improvement-tasks", params={"status": "open", "page_size": 200})).json()
    mine = next(t for t in listed["items"] if t["id"] == task["id"])
    assert mine["case_number"] == number and mine["comment"] == "等了三天才有人回电" and not mine["overdue"]
    assert mine["kind"] == "csat" and mine["process"] == "presales" and mine["customer_name"]


async def test_sat1_link_answer_of_5_opens_no_improvement_task(http, settings):
    _, survey = await case_survey(settings)
    r = await http.post(path_of(survey), data={"score": "5", "comment": ""})
    assert r.status_code == 200 and "感谢您的反馈" in r.text
    assert survey_row(settings, survey.id)["score"] == 5
    assert tasks_of(settings, survey.id) == []


async def test_sat1_reused_link_is_409_and_changes_nothing(http, settings):
    _, survey = await case_survey(settings)
    assert (await http.post(path_of(survey), data={"score": "4"})).status_code == 200
    before = survey_row(settings, survey.id)
    again = await http.post(path_of(survey), data={"score": "1", "comment": "再来一次"})
    assert again.status_code == 409 and "已提交过" in again.text
    assert (await http.get(path_of(survey))).status_code == 409
    token = path_of(survey).removeprefix("/s/")
    rest = await http.post(f"/api/v1/surveys/{token}/answer", json={"score": 1})
    assert rest.status_code == 409
    assert survey_row(settings, survey.id) == before and tasks_of(settings, survey.id) == []


async def test_sat1_expired_link_is_410_and_stores_nothing(http, settings):
    _, customer = await case_with_customer(settings)
    survey = await issue(settings, customer_id=customer, issued_at=datetime.now(UTC) - timedelta(days=8))
    page = await http.get(path_of(survey))
    assert page.status_code == 410 and "链接已过期" in page.text
    r = await http.post(path_of(survey), data={"score": "5"})
    assert r.status_code == 410 and "已过期" in r.text
    assert survey_row(settings, survey.id)["answered_at"] is None


async def test_sat1_tampered_or_malformed_link_is_404_and_stores_nothing(http, settings):
    _, survey = await case_survey(settings)
    survey_id, expires, mac = path_of(survey).removeprefix("/s/").split(".")
    other = await issue(settings, customer_id=survey_row(settings, survey.id)["customer_id"])
    for token in (
        f"{other.id}.{expires}.{mac}",  # another survey's id under this signature
        f"{survey_id}.{int(expires) + 86400 * 30}.{mac}",  # a later expiry
        f"{survey_id}.{expires}.{mac[:-2]}xx",
        "not-a-token",
    ):
        page = await http.get(f"/s/{token}")
        assert page.status_code == 404 and "链接无效" in page.text, token
        assert (await http.post(f"/s/{token}", data={"score": "1"})).status_code == 404
        rest = await http.post(f"/api/v1/surveys/{token}/answer", json={"score": 1})
        assert rest.status_code == 404
    for untouched in (survey.id, other.id):
        assert survey_row(settings, untouched)["answered_at"] is None


async def test_sat1_out_of_range_score_shows_the_form_again_with_422(http, settings):
    _, csat = await case_survey(settings)
    customer = survey_row(settings, csat.id)["customer_id"]
    r = await http.post(path_of(csat), data={"score": "6", "comment": "很好"})
    assert r.status_code == 422 and "请选择 1–5 分" in r.text
    assert r.text.count('name="score"') == 5 and ">很好</textarea>" in r.text  # what was typed is kept
    assert (await http.post(path_of(csat), data={"comment": "忘了打分"})).status_code == 422
    assert (await http.post(path_of(csat), data={"score": "abc"})).status_code == 422
    token = path_of(csat).removeprefix("/s/")
    rest = await http.post(f"/api/v1/surveys/{token}/answer", json={"score": 0})
    assert rest.status_code == 422 and rest.json()["detail"][0]["loc"] == ["body", "score"]
    assert survey_row(settings, csat.id)["answered_at"] is None

    nps = await issue(settings, customer_id=customer, kind=SurveyKind.NPS, round_=unique("nps-T"))
    page = await http.get(path_of(nps))
    assert page.status_code == 200 and "推荐" in page.text and page.text.count('name="score"') == 11
    r = await http.post(path_of(nps), data={"score": "11"})
    assert r.status_code == 422 and "请选择 0–10 分" in r.text
    assert (await http.post(path_of(nps), data={"score": "0"})).status_code == 200
    assert survey_row(settings, nps.id)["score"] == 0
    assert tasks_of(settings, nps.id) == []  # NPS detractors are counted, not turned into tasks


async def test_sat1_rest_answer_for_other_systems(http, settings):
    _, survey = await case_survey(settings)
    token = path_of(survey).removeprefix("/s/")
    r = await http.post(f"/api/v1/surveys/{token}/answer", json={"score": 2, "comment": "态度一般"})
    assert r.status_code == 200
    body = r.json()
    assert body["survey_id"] == survey.id and body["score"] == 2 and body["first"] is True
    [task] = tasks_of(settings, survey.id)
    assert body["improvement_task"] == task["id"]
    assert survey_row(settings, survey.id)["answered_via"] == "link"


async def test_sat1_link_answer_reaches_the_running_case_workflow(http, client, settings, worker):
    handle = await start_presales(client, settings)
    view = await wait_for_step(handle, "first_response")
    survey = await issue(settings, customer_id=view.customer_id, number=handle.id)
    r = await http.post(path_of(survey), data={"score": "5", "comment": "回复很快"})
    assert r.status_code == 200 and "感谢您的反馈" in r.text
    signals = [
        e.workflow_execution_signaled_event_attributes
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert [s.signal_name for s in signals] == ["survey_answered"]
    assert f'"survey_id":{survey.id}' in signals[0].input.payloads[0].data.decode()
    await close_case(handle)


# -- improvement tasks ---------------------------------------------------------------------------------------


async def low_score_task(settings, *, answered_at: datetime | None = None) -> tuple[str, int]:
    number, survey = await case_survey(settings)
    async with transaction(settings.sqlalchemy_url()) as db:
        result = await surveys.answer(
            db,
            survey.id,
            score=2,
            comment="安装师傅迟到",
            via="callback",
            by="小李",
            at=answered_at or datetime.now(UTC),
        )
    assert result.improvement_task is not None
    return number, result.improvement_task


async def test_sat1_improvement_task_done_then_409_and_unknown_404(http, settings):
    number, task = await low_score_task(settings)
    bad = await http.post(
        f"/api/v1/improvement-tasks/{task}/done", json={"resolution": "", "actor": "王主管"}
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "resolution"]
    done = {"resolution": "与工程部约定上门前 1 小时电话确认", "actor": "王主管"}
    r = await http.post(f"/api/v1/improvement-tasks/{task}/done", json=done)
    assert r.status_code == 200
    body = r.json()
    assert (
        body["status"] == "done" and body["done_by"] == "王主管" and body["resolution"] == done["resolution"]
    )
    again = await http.post(f"/api/v1/improvement-tasks/{task}/done", json={**done, "actor": "赵总监"})
    assert again.status_code == 409
    assert rows(settings, "SELECT done_by FROM improvement_tasks WHERE id=%s", task)[0]["done_by"] == "王主管"
    assert (await http.post("/api/v1/improvement-tasks/987654321/done", json=done)).status_code == 404
    kinds = [
        e["kind"]
        for e in rows(settings, "SELECT kind FROM case_events WHERE case_number=%s ORDER BY id", number)
    ]
    assert kinds[-2:] == ["improvement_opened", "improvement_done"]
    listed = (await http.get("/api/v1/improvement-tasks", params={"status": "done", "page_size": 200})).json()
    assert task in [t["id"] for t in listed["items"]]


async def test_sat1_improvements_page_highlights_overdue_tasks_and_closes_one(http, settings):
    number, task = await low_score_task(settings, answered_at=datetime.now(UTC) - timedelta(days=5))
    page = await http.get("/improvements")
    assert page.status_code == 200 and '<a href="/improvements">满意度改进</a>' in page.text
    card = page.text.split(f'id="task-{task}"', 1)[1].split("</li>", 1)[0]
    assert (
        "已超期" in card and f'href="/cases/{number}"' in card and "安装师傅迟到" in card and "2 分" in card
    )
    assert (
        'class="card improvement overdue"' in page.text.split(f'id="task-{task}"', 1)[0].rsplit("<li", 1)[1]
    )

    r = await http.post(f"/improvements/{task}/done", data={"resolution": " ", "actor": "王主管"})
    assert r.status_code == 422 and 'class="error"' in r.text
    r = await http.post(
        f"/improvements/{task}/done", data={"resolution": "已回访道歉并调整排班", "actor": "王主管"}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/improvements?closed={task}"
    assert f'id="task-{task}"' not in (await http.get("/improvements")).text
    done = await http.get("/improvements", params={"status": "done"})
    assert f'id="task-{task}"' in done.text and "已回访道歉并调整排班" in done.text
    again = await http.post(f"/improvements/{task}/done", data={"resolution": "再次", "actor": "王主管"})
    assert again.status_code == 409


# -- figures (SAT-2) -------------------------------------------------------------------------------------------


async def answered(settings, issued: IssuedSurvey, score: int | None) -> None:
    if score is None:
        return
    async with transaction(settings.sqlalchemy_url()) as db:
        await surveys.answer(
            db, issued.id, score=score, comment=None, via="link", by=None, at=datetime.now(UTC)
        )


async def test_sat2_summary_gives_answered_csat_nps_and_per_process_satisfaction(http, settings):
    number, customer = await case_with_customer(settings)
    nps_round, csat_round = unique("nps-T"), unique("csat-T")
    for score in (10, 10, 9, 8, 7, 6, 0, None):
        survey = await issue(settings, customer_id=customer, kind=SurveyKind.NPS, round_=nps_round)
        await answered(settings, survey, score)
    for score in (5, 4, 4, 3, 1):
        survey = await issue(settings, customer_id=customer, round_=csat_round)
        await answered(settings, survey, score)
    # After-case surveys issued in a month nothing else in the suite uses.
    month = datetime(2031, 3, 10, tzinfo=UTC)
    for process, scores in (("presales", (5, 3)), ("aftersales", (4, 4, 2, None))):
        for score in scores:
            survey = await issue(
                settings, customer_id=customer, number=number, process=process, issued_at=month
            )
            await answered(settings, survey, score)

    r = await http.get("/api/v1/surveys/summary", params={"round": nps_round})
    assert r.status_code == 200
    [nps] = r.json()["rounds"]
    # 3 promoters (9–10) and 2 detractors (0–6) of 7 answers: NPS = 42.9 % - 28.6 % = 14.3.
    assert nps == {
        "round": nps_round,
        "kind": "nps",
        "issued": 8,
        "answered": 7,
        "response_rate": 87.5,
        "average": 7.14,
        "csat": None,
        "nps": 14.3,
    }
    [csat] = (await http.get("/api/v1/surveys/summary", params={"round": csat_round})).json()["rounds"]
    assert (csat["answered"], csat["csat"], csat["average"], csat["nps"]) == (5, 60.0, 3.4, None)

    r = await http.get("/api/v1/surveys/summary", params={"since": "2031-03-01", "until": "2031-04-01"})
    processes = {p["process"]: p for p in r.json()["processes"]}
    assert set(processes) == {"presales", "aftersales"}
    assert (processes["presales"]["answered"], processes["presales"]["average"]) == (2, 4.0)
    assert processes["presales"]["csat"] == 50.0
    after = processes["aftersales"]
    assert (after["issued"], after["answered"], after["average"], after["csat"]) == (4, 3, 3.33, 66.7)
    assert {nps_round, csat_round} <= {x["round"] for x in r.json()["rounds"]}

    assert (await http.get("/api/v1/surveys/summary", params={"round": "nps-1999Q1"})).status_code == 404
    page = await http.get("/surveys", params={"since": "2031-03-01", "until": "2031-04-01"})
    assert page.status_code == 200 and nps_round in page.text and "14.3" in page.text
    assert "售后问题" in page.text and "66.7%" in page.text
    assert (await http.get("/surveys", params={"since": "", "until": "x"})).status_code == 200
