"""The SLA engine inside running cases: business calendars, tier targets, hand-offs (SLA-2, T-5, ESC-2).

The time-skipping server starts at the real time, so each test builds its calendar around "today" (for
example: today and tomorrow are holidays) and states the deadline a person would compute from that.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain import presales as ps
from domain.actions import HandOff, HandOffReply
from tests.workflows.helpers import close_case, events, publish, rows, start_presales, wait_for_step
from tests.workflows.helpers import view as view_of
from workflows.presales import PresalesWorkflow

CST = ZoneInfo("Asia/Shanghai")


def sql(settings, statement: str, *args) -> None:
    import psycopg

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(statement, args)


@pytest.fixture
def calendar_name(settings):
    """A throwaway calendar: every day 09:00–18:00, no public holidays of its own."""
    name = f"t-{uuid.uuid4().hex[:6]}"
    week = '[[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]],[["09:00","18:00"]]]'
    sql(
        settings,
        "INSERT INTO calendars (name, title, timezone, week, confirmed_years) VALUES (%s, %s, 'Asia/Shanghai', %s, '[]')",
        name,
        "test",
        week,
    )
    return name


def first_response(target: str, calendar: str, **extra) -> list[dict]:
    """The pre-sales first-response target, for the inquiry channel and the catch-all."""
    return [
        {
            "process": "presales",
            "step": "first_response",
            "target": target,
            "calendar": calendar,
            **extra,
            **key,
        }
        for key in ({}, {"channel": "online_chat"})
    ]


async def test_sla2_deadline_skips_the_holidays_a_person_would_skip(
    env: WorkflowEnvironment, client, settings, worker, restore_policy, calendar_name
):
    today = (await env.get_current_time()).astimezone(CST).date()
    for day in (today, today + timedelta(days=1)):
        sql(
            settings,
            "INSERT INTO calendar_days (calendar, day, kind, note, created_by) VALUES (%s, %s, 'holiday', '测试假日', 't')",
            calendar_name,
            day,
        )
    await publish(settings, *first_response("30m", calendar_name), note="30 working minutes")
    handle = await start_presales(client, settings)
    view = await wait_for_step(handle, "first_response")
    # Today and tomorrow are off: the 30 minutes run from 09:00 the day after tomorrow.
    expected = datetime.combine(today + timedelta(days=2), datetime.min.time(), CST).replace(
        hour=9, minute=30
    )
    assert view.open_step.due_at == expected and view.open_step.calendar == calendar_name
    step = rows(settings, "SELECT due_at, target_seconds FROM case_steps WHERE case_number=%s", handle.id)[0]
    assert step["due_at"] == expected and step["target_seconds"] == 1800
    # Nothing fires during the holidays; the warning comes at 80 % of the working time.
    await env.sleep(expected - await env.get_current_time() - timedelta(minutes=7))
    assert (await view_of(handle)).sla_state == "on_track"
    await env.sleep(timedelta(minutes=2))
    assert (await view_of(handle)).sla_state == "warning"
    await env.sleep(timedelta(minutes=6))
    assert (await view_of(handle)).sla_state == "breached"
    await close_case(handle)


async def test_sla2_a_deadline_in_a_year_without_holiday_data_carries_a_warning(
    env: WorkflowEnvironment, client, settings, worker, restore_policy
):
    now = await env.get_current_time()
    # A target long enough to reach past the last year the holiday package knows (2026 today).
    days = (date(now.year + 2, 1, 10) - now.date()).days
    await publish(
        settings,
        *first_response(f"{days * 9}h", "cn-standard"),
        # Lift the normal tier's 24 h response ceiling (T-5) for this test.
        {
            "kind": "ceiling",
            "process": "*",
            "step": "*",
            "metric": "response",
            "tier": "normal",
            "target": "99999h",
        },
        note="into next year",
    )
    handle = await start_presales(client, settings)
    view = await wait_for_step(handle, "first_response")
    assert view.open_step.calendar_gap and min(view.open_step.calendar_gap) >= 2027
    opened = rows(
        settings, "SELECT payload FROM case_events WHERE case_number=%s AND kind='step_opened'", handle.id
    )
    assert opened[0]["payload"]["calendar_gap"] == view.open_step.calendar_gap
    await close_case(handle)


async def test_t5_vip_gets_the_shorter_target_when_the_step_opens_on_a_non_working_day(
    env: WorkflowEnvironment, client, settings, worker, restore_policy
):
    today = (await env.get_current_time()).astimezone(CST).date()
    sql(
        settings,
        "INSERT INTO calendar_days (calendar, day, kind, note, created_by) VALUES ('cn-standard', %s, 'holiday', 't', 't')"
        " ON CONFLICT (calendar, day) DO UPDATE SET kind='holiday'",
        today,
    )
    try:
        await publish(
            settings,
            *first_response("1h", "24x7"),
            {
                "kind": "ceiling",
                "process": "*",
                "step": "*",
                "metric": "response",
                "tier": "vip",
                "target": "4h",
                "off_hours_target": "20m",
                "calendar": "24x7",
                "source": "test: VIP off-hours",
            },
            note="VIP off-hours",
        )
        customer = rows(
            settings,
            "INSERT INTO customers (type, name, contacts, tier) VALUES ('enterprise', 'VIP公司', '[]', 'vip') RETURNING id",
        )[0]["id"]
        vip = await start_presales(client, settings, customer_id=customer)
        normal = await start_presales(client, settings)
        vip_view, normal_view = (
            await wait_for_step(vip, "first_response"),
            await wait_for_step(normal, "first_response"),
        )
        assert vip_view.open_step.target_seconds == 20 * 60
        assert normal_view.open_step.target_seconds == 60 * 60
        for h in (vip, normal):
            await close_case(h)
    finally:
        sql(settings, "DELETE FROM calendar_days WHERE calendar='cn-standard' AND day=%s", today)


async def test_esc2_hand_off_runs_an_internal_deadline_and_tells_the_department_supervisor(
    env: WorkflowEnvironment, client, settings, worker
):
    sql(
        settings,
        "INSERT INTO staff (username, display_name, role, department) VALUES (%s, '仓储主管', 'supervisor', 'warehouse')"
        " ON CONFLICT DO NOTHING",
        "wh-boss",
    )
    handle = await start_presales(client, settings)
    await wait_for_step(handle, "first_response")
    view = await handle.execute_update(
        PresalesWorkflow.hand_off, HandOff(actor="小李", department="warehouse", note="请反馈物流进度")
    )
    handoff = view.open_step.handoffs[0]
    # 000 §(三): the warehouse reports logistics progress within 2 h (the seeded hand-off target).
    assert handoff.department == "warehouse" and handoff.due_at - handoff.handed_at == timedelta(hours=2)
    assert "reply_handoff" in view.actions
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            PresalesWorkflow.hand_off, HandOff(actor="小李", department="warehouse", note="再次")
        )
    assert "already with warehouse" in str(err.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(
            PresalesWorkflow.reply_handoff, HandOffReply(actor="x", department="tech", reply="?")
        )
    assert "no hand-off to tech" in str(err.value.cause)
    await env.sleep(timedelta(hours=2, minutes=1))
    assert (await view_of(handle)).open_step.handoffs[0].overdue
    told = rows(
        settings,
        "SELECT recipient, recipient_role, body FROM notifications WHERE case_number=%s AND purpose='handoff_overdue'"
        " AND channel='inbox'",
        handle.id,
    )
    assert [(t["recipient"], t["recipient_role"]) for t in told] == [("wh-boss", "supervisor")]
    view = await handle.execute_update(
        PresalesWorkflow.reply_handoff, HandOffReply(actor="仓储", department="warehouse", reply="明日发货")
    )
    assert view.open_step.handoffs[0].reply == "明日发货" and "reply_handoff" not in view.actions
    kinds = events(settings, handle.id)
    assert kinds.index("handed_off") < kinds.index("handoff_overdue") < kinds.index("handoff_replied")
    # The step itself is untouched by the hand-off: responding still completes it.
    view = await handle.execute_update(PresalesWorkflow.respond, ps.FirstResponse(actor="a", note="已回复"))
    assert view.open_step.step == "needs_analysis" and view.open_step.handoffs == []
    await close_case(handle)
    sql(settings, "DELETE FROM staff WHERE username='wh-boss'")  # staff match every later role-wide notice


async def test_esc1_a_breach_emails_the_supervisor_with_the_history_and_fills_the_inbox(
    env: WorkflowEnvironment, client, settings, tmp_path
):
    from tests.activities.helpers import add_staff, remove_created_staff, start_mail_sink
    from worker import build_worker

    sink, task = await start_mail_sink(tmp_path / "mail")
    boss = await add_staff(
        settings.sqlalchemy_url(), role="supervisor", email_address="boss@example.com", name="王主管"
    )
    own = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": sink.port, "task_queue": f"{settings.task_queue}-smtp"}
    )
    try:
        async with build_worker(client, own):
            handle = await start_presales(client, own)
            await wait_for_step(handle, "first_response")
            await env.sleep(timedelta(minutes=6))
            assert (await view_of(handle)).sla_state == "breached"
            mails = [m for m in sink.messages() if handle.id in str(m["Subject"])]
            escalation = [m for m in mails if "boss@example.com" in str(m["To"])]
            assert len(escalation) == 1  # one rung, one message, however the activity was retried
            body = escalation[0].get_content()
            assert "王先生" in body and "创建案件" in body  # the whole history travels with it (ESC-1)
            inbox = rows(
                settings,
                "SELECT recipient, status FROM notifications WHERE case_number=%s AND purpose='escalation'"
                " AND channel='inbox'",
                handle.id,
            )
            assert inbox == [{"recipient": boss, "status": "sent"}]
            emailed = rows(
                settings,
                "SELECT status, sent_at FROM notifications WHERE case_number=%s AND purpose='escalation'"
                " AND channel='email'",
                handle.id,
            )
            assert emailed[0]["status"] == "sent" and emailed[0]["sent_at"] is not None
            await close_case(handle)
    finally:
        await remove_created_staff(settings.sqlalchemy_url())
        task.cancel()
