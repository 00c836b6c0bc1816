"""The notifier against real receivers: an aiosmtpd server, an HTTP gateway and the session's Postgres."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.changes import Notice
from activities.messages import default_templates, find_template, seed_templates
from activities.notify import NotifyActivities
from config import Settings
from db.engine import transaction
from db.models import MessageTemplate, Notification
from domain.models import Role, Step
from tests.activities.helpers import Gateway, add_staff, make_case, unique
from tests.workflows.helpers import rows

DUE = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def notifier(settings: Settings, **overrides: Any) -> NotifyActivities:
    return NotifyActivities(settings.sqlalchemy_url(), settings.model_copy(update=overrides))


async def run(acts: NotifyActivities, notice: Notice) -> None:
    await ActivityEnvironment().run(acts.notify, notice)


def notifications(settings: Settings, notice_key: str) -> list[dict[str, Any]]:
    return rows(settings, "SELECT * FROM notifications WHERE key LIKE %s ORDER BY key", f"{notice_key}:%")


async def test_esc1_escalation_email_carries_case_history_and_reaches_supervisor_inbox(
    settings, mail_sink, caplog
):
    caplog.set_level(logging.INFO, logger="careflow.mailsink")
    url = settings.sqlalchemy_url()
    number = await make_case(url, notes=("已电话联系王经理，客户需要 200 坐席",))
    dept = unique("d")
    boss = await add_staff(
        url, role="supervisor", department=dept, email_address="boss@example.com", name="张伟"
    )
    deputy = await add_staff(url, role="supervisor", department=dept, name="赵敏")  # no email address
    await add_staff(url, role="supervisor", department=dept, email_address="gone@example.com", active=False)
    notice = Notice(
        key=f"{number}:notify:escalation:1",
        number=number,
        purpose="escalation",
        recipient_role=Role.SUPERVISOR,
        department=dept,
        step=Step.PROPOSAL,
        level=1,
        due_at=DUE,
    )

    await run(notifier(settings, smtp_host="127.0.0.1", smtp_port=mail_sink.port), notice)

    [mail] = mail_sink.messages()
    assert mail["To"] == "boss@example.com"
    assert "升级 L1" in mail["Subject"] and number in mail["Subject"]
    assert mail["Message-ID"].startswith("<careflow.")
    text = mail.get_content()
    assert "张伟，您好" in text and "方案制定与反馈" in text and "2026-11-26 09:00" in text
    # ESC-1: the whole timeline travels with the escalation, so nobody asks the customer again.
    assert "已电话联系王经理，客户需要 200 坐席" in text and "创建案件" in text and "超时升级" in text
    assert f"/cases/{number}" in text
    assert f"mail to boss@example.com: {mail['Subject']}" in caplog.text  # the mail sink's one line

    got = {(r["recipient"], r["channel"]): r for r in notifications(settings, notice.key)}
    assert set(got) == {(boss, "inbox"), (deputy, "inbox"), (boss, "email")}
    assert all(r["status"] == "sent" and r["sent_at"] for r in got.values())
    assert got[(boss, "email")]["attempts"] == 1 and got[(boss, "email")]["case_number"] == number
    assert "已电话联系王经理" in got[(deputy, "inbox")]["body"]


async def test_esc1_nobody_in_the_role_still_leaves_a_message_in_the_role_inbox(settings):
    number = await make_case(settings.sqlalchemy_url())
    notice = Notice(
        key=f"{number}:notify:warning",
        number=number,
        purpose="warning",
        recipient_role=Role.DIRECTOR,
        department=unique("empty"),
        step=Step.PROPOSAL,
        due_at=DUE,
    )
    await run(notifier(settings), notice)
    [row] = notifications(settings, notice.key)
    assert (row["channel"], row["recipient"], row["recipient_role"], row["status"]) == (
        "inbox",
        None,
        "director",
        "sent",
    )
    assert row["key"] == f"{notice.key}:inbox:director"


async def test_esc1_notify_run_twice_sends_each_email_once(settings, mail_sink):
    url = settings.sqlalchemy_url()
    number = await make_case(url)
    boss = await add_staff(url, role="supervisor", department=unique("d"), email_address="boss@example.com")
    notice = Notice(
        key=f"{number}:notify:breach",
        number=number,
        purpose="breach",
        recipient=boss,
        step=Step.PROPOSAL,
        due_at=DUE,
    )
    acts = notifier(settings, smtp_host="127.0.0.1", smtp_port=mail_sink.port)

    await run(acts, notice)
    await run(acts, notice)  # a retried activity, or a replayed workflow asking again
    await run(notifier(settings, smtp_host="127.0.0.1", smtp_port=mail_sink.port), notice)  # another worker

    assert len(mail_sink.messages()) == 1
    assert [(r["channel"], r["status"], r["attempts"]) for r in notifications(settings, notice.key)] == [
        ("email", "sent", 1),
        ("inbox", "sent", 0),
    ]


async def test_com2_customer_sms_goes_through_the_gateway_with_an_idempotency_key(settings, gateway: Gateway):
    url = settings.sqlalchemy_url()
    number = await make_case(url, email_address=None, phone="13900139000", name="李女士")
    notice = Notice(
        key=f"{number}:notify:apology",
        number=number,
        purpose="apology",
        audience="customer",
        context={"reason": "物流延误"},
    )

    await run(notifier(settings, gateway_url=gateway.url, gateway_token="s3cret"), notice)

    [request] = gateway.requests
    [row] = notifications(settings, notice.key)
    assert row["channel"] == "sms" and row["status"] == "sent" and row["recipient"].startswith("customer:")
    assert request["headers"]["Idempotency-Key"] == row["key"]
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["json"]["key"] == row["key"]
    assert request["json"]["channel"] == "sms" and request["json"]["to"] == "13900139000"
    text = request["json"]["text"]
    assert "李女士" in text and "物流延误" in text and "创建案件" not in text  # short: no history
    assert (
        rows(
            settings,
            "SELECT count(*) AS n FROM notifications WHERE key LIKE %s AND channel='inbox'",
            f"{notice.key}:%",
        )[0]["n"]
        == 0
    )


async def test_com2_failing_gateway_marks_the_row_failed_and_a_later_success_sends_once(settings, gateway):
    url = settings.sqlalchemy_url()
    number = await make_case(url)
    notice = Notice(
        key=f"{number}:notify:reminder",
        number=number,
        purpose="reminder",
        audience="customer",
        channels=["wechat"],
        context={"topic": "合同续约", "when": "2026-12-25"},
    )
    acts = notifier(settings, gateway_url=gateway.url)

    gateway.status = 500
    with pytest.raises(ApplicationError, match="gateway HTTP 500"):
        await run(acts, notice)
    [row] = notifications(settings, notice.key)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("failed", 1, None)
    assert "500" in row["error"] and "upstream down" in row["error"]

    gateway.status = 200
    await run(acts, notice)  # Temporal's retry
    await run(acts, notice)  # and one more: the sent row is not sent again
    [row] = notifications(settings, notice.key)
    assert (row["status"], row["attempts"], row["error"]) == ("sent", 2, None) and row["sent_at"]
    assert [r["status"] for r in gateway.requests] == [500, 200]
    assert (
        gateway.requests[0]["headers"]["Idempotency-Key"] == gateway.requests[1]["headers"]["Idempotency-Key"]
    )
    assert gateway.requests[1]["json"]["text"].startswith("温馨提醒")  # WeChat: title, then body


async def test_com2_unconfigured_channels_are_skipped_not_failed(settings):
    url = settings.sqlalchemy_url()
    number = await make_case(url)
    boss = await add_staff(url, role="supervisor", email_address="boss@example.com", phone="13700137000")
    staff_notice = Notice(
        key=f"{number}:notify:handoff",
        number=number,
        purpose="handoff",
        recipient=boss,
        channels=["inbox", "email", "sms"],
        context={
            "department": "warehouse",
            "lead_department": "customer_service",
            "internal_due_at": "2026-11-25T08:00:00+00:00",
            "note": "请反馈物流进度",
        },
    )

    await run(notifier(settings, smtp_host=None, gateway_url=None), staff_notice)

    got = {r["channel"]: r for r in notifications(settings, staff_notice.key)}
    assert got["inbox"]["status"] == "sent"
    assert "仓储部" in got["inbox"]["body"] and "2026-11-25 16:00" in got["inbox"]["body"]
    assert got["email"]["status"] == "skipped" and "SMTP_HOST" in got["email"]["error"]
    assert got["sms"]["status"] == "skipped" and "CAREFLOW_GATEWAY_URL" in got["sms"]["error"]


async def test_com2_templates_are_chosen_per_tier_and_locale_with_fallbacks(settings, mail_sink):
    url = settings.sqlalchemy_url()
    purpose = unique("p")
    variants = [
        ("*", "*", "zh-CN", "通用"),
        ("email", "vip", "zh-CN", "VIP 邮件"),
        ("*", "*", "en", "English"),
    ]
    async with transaction(url) as db:
        for channel, tier, locale, subject in variants:
            db.add(
                MessageTemplate(
                    purpose=purpose,
                    channel=channel,
                    tier=tier,
                    locale=locale,
                    subject=subject,
                    body="{{ customer.name }}",
                )
            )
    async with transaction(url) as db:

        async def chosen(channel: str, tier: str, locale: str) -> str:
            found = await find_template(db, purpose=purpose, channel=channel, tier=tier, locale=locale)
            assert found
            return found.subject

        assert await chosen("email", "vip", "zh-CN") == "VIP 邮件"
        assert await chosen("email", "key", "zh-CN") == "通用"  # tier, then channel fall back to *
        assert await chosen("sms", "vip", "zh-CN") == "通用"
        assert await chosen("inbox", "normal", "en") == "English"
        assert (
            await chosen("email", "vip", "en") == "VIP 邮件"
        )  # no English VIP email: zh-CN before any channel
        assert await chosen("email", "normal", "fr") == "通用"  # unknown locale: zh-CN

    # Through the notifier: the VIP customer's welcome email is the VIP variant, a normal one the general
    # text; an English-speaking supervisor reads the English escalation, a Chinese one the Chinese text.
    acts = notifier(settings, smtp_host="127.0.0.1", smtp_port=mail_sink.port)
    vip = await make_case(url, tier="vip", email_address="vip@example.com")
    normal = await make_case(url, tier="normal", email_address="normal@example.com")
    for number in (vip, normal):
        await run(
            acts, Notice(key=f"{number}:welcome", number=number, purpose="welcome", audience="customer")
        )
    subjects = {m["To"]: m["Subject"] for m in mail_sink.messages()}
    assert "VIP" in subjects["vip@example.com"] and "VIP" not in subjects["normal@example.com"]

    dept = unique("d")
    en = await add_staff(url, role="director", department=dept, locale="en", name="Alice")
    zh = await add_staff(url, role="director", department=dept, locale="zh-CN", name="王总")
    notice = Notice(
        key=f"{vip}:esc2",
        number=vip,
        purpose="escalation",
        recipient_role=Role.DIRECTOR,
        department=dept,
        step=Step.PROPOSAL,
        level=2,
        due_at=DUE,
    )
    await run(acts, notice)
    got = {r["recipient"]: r for r in notifications(settings, notice.key)}
    assert got[en]["locale"] == "en" and got[en]["subject"].startswith("[Escalation L2]")
    assert "Hello Alice" in got[en]["body"] and "first_response" in got[en]["body"]
    assert got[zh]["locale"] == "zh-CN" and got[zh]["subject"].startswith("【升级 L2】")


async def test_com2_a_template_that_fails_on_a_case_falls_back_to_the_default(settings):
    url = settings.sqlalchemy_url()
    purpose = "handoff_overdue"
    number = await make_case(url)
    boss = await add_staff(url, role="supervisor")
    async with transaction(url) as db:
        await seed_templates(url)
        original = await db.scalar(
            select(MessageTemplate).where(
                MessageTemplate.purpose == purpose,
                MessageTemplate.channel == "*",
                MessageTemplate.tier == "*",
                MessageTemplate.locale == "zh-CN",
            )
        )
        assert original
        saved = original.body
        original.body = "{{ context.no_such_key }}"  # passes nothing to a sender that omits the key
    try:
        notice = Notice(
            key=f"{number}:ho",
            number=number,
            purpose=purpose,
            recipient=boss,
            context={
                "department": "warehouse",
                "lead_department": "sales",
                "internal_due_at": "2026-11-25T08:00:00+00:00",
                "note": "n",
            },
        )
        await run(notifier(settings), notice)
        [row] = notifications(settings, notice.key)
        assert row["status"] == "sent" and "交接超时" in row["subject"] and "仓储部" in row["body"]
    finally:
        async with transaction(url) as db:
            await db.execute(
                update(MessageTemplate).where(MessageTemplate.id == original.id).values(body=saved)
            )


async def test_com2_seed_templates_is_idempotent_and_keeps_an_admins_edit(settings):
    url = settings.sqlalchemy_url()
    defaults = default_templates()
    await seed_templates(url)
    assert await seed_templates(url) == 0
    count = rows(
        settings, "SELECT count(*) AS n FROM message_templates WHERE updated_by IN ('seed', 'admin')"
    )
    assert count[0]["n"] >= len(defaults)
    purposes = {t.purpose for t in defaults}
    assert {
        "warning",
        "breach",
        "escalation",
        "handoff",
        "handoff_overdue",
        "product_update",
        "welcome",
        "care",
        "reminder",
        "apology",
    } <= purposes
    assert any(t.tier == "vip" for t in defaults)

    async with transaction(url) as db:
        await db.execute(
            update(MessageTemplate)
            .where(MessageTemplate.purpose == "care", MessageTemplate.channel == "sms")
            .values(body="管理员改过的关怀短信 {{ customer.name }}", updated_by="admin")
        )
        await db.execute(
            delete(MessageTemplate).where(
                MessageTemplate.purpose == "care", MessageTemplate.channel == "email"
            )
        )
    assert await seed_templates(url) == 1  # the deleted one comes back, nothing else changes
    [care_sms] = rows(settings, "SELECT * FROM message_templates WHERE purpose='care' AND channel='sms'")
    assert care_sms["body"].startswith("管理员改过的关怀短信") and care_sms["updated_by"] == "admin"


async def test_notification_rows_are_keyed_per_recipient_and_channel(settings):
    url = settings.sqlalchemy_url()
    number = await make_case(url)
    dept = unique("d")
    a = await add_staff(url, role="agent", department=dept, email_address="a@example.com")
    notice = Notice(
        key=f"{number}:k",
        number=number,
        purpose="warning",
        recipient_role=Role.AGENT,
        department=dept,
        step=Step.PROPOSAL,
        due_at=DUE,
    )
    await run(notifier(settings), notice)
    async with transaction(url) as db:
        keys = sorted(
            (await db.execute(select(Notification.key).where(Notification.case_number == number))).scalars()
        )
    assert keys == [f"{notice.key}:email:{a}", f"{notice.key}:inbox:{a}"]
