"""Demo data for `make dev`'s first run: customers of each tier, a case of every process at a few steps, the
staff the escalations reach (one sign-in per role, password DEMO_PASSWORD), and the case library's FAQ."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from activities.library import seed_library
from api import services
from api.auth import hash_password, system_user
from api.schemas import start_request_model
from config import Settings
from db.engine import sessionmaker_for
from db.models import Case, Customer, Staff
from domain.models import Process
from workflows.registry import PROCESSES, connect

CUSTOMERS = [
    {
        "type": "enterprise",
        "name": "A公司（华东精密制造）",
        "phone": "13800001111",
        "industry": "制造",
        "region": "上海",
        "tier": "vip",
        "email": "li@a-precision.example.com",
        "tags": ["high_activity", "after_sales_care"],
        "preferred_channel": "email",
    },
    {
        "type": "enterprise",
        "name": "B公司（云途软件）",
        "phone": "13900002222",
        "industry": "SaaS",
        "region": "杭州",
        "tier": "key",
        "email": "wang@yuntu.example.com",
        "tags": ["upgrade_need", "high_activity"],
        "preferred_channel": "wechat",
    },
    {
        "type": "individual",
        "name": "陈女士",
        "phone": "13700003333",
        "email": "chen@example.com",
        "region": "深圳",
        "tier": "normal",
        "tags": ["after_sales_care"],
        "preferred_channel": "sms",
    },
]

# (process, customer index (-1: none, a campaign), intake, actions to run in order)
CASES: list[tuple[Process, int, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    (
        Process.PRESALES,
        0,
        {
            "channel": "phone",
            "contact": "李总 13800001111",
            "product": "MES 生产管理系统",
            "need": "三个工厂统一排产，需对接 SAP",
            "budget": "200万",
        },
        [],
    ),
    (
        Process.PRESALES,
        1,
        {
            "channel": "online_chat",
            "contact": "王经理 13900002222",
            "product": "智能客服",
            "need": "在线客服 80 坐席，接入企业微信",
            "budget": "30万",
        },
        [("respond", {"note": "已在线回复，约定明天电话沟通"})],
    ),
    (
        Process.PRESALES,
        2,
        {
            "channel": "web_form",
            "contact": "陈女士 chen@example.com",
            "product": "家用净水器",
            "need": "三口之家，想了解安装与滤芯更换",
        },
        [
            ("respond", {"note": "已电话回复"}),
            ("grade", {"urgency": "non_urgent", "value": "normal", "analysis": "标准家用需求"}),
        ],
    ),
    (
        Process.PRESALES,
        1,
        {
            "channel": "email",
            "contact": "王经理 13900002222",
            "product": "数据分析平台",
            "need": "对接现有 BI，需私有化部署",
            "budget": "80万",
        },
        [
            ("respond", {"note": "邮件确认收到"}),
            (
                "grade",
                {
                    "urgency": "urgent",
                    "value": "high",
                    "complex": "true",
                    "analysis": "私有化+BI 对接，需技术评估",
                },
            ),
        ],
    ),
    # 003 §3.2's example order, one day after it was confirmed by sales.
    (
        Process.ORDER_FOLLOWUP,
        1,
        {
            "channel": "api",
            "order_no": "DD20261124001",
            "amount": "50000",
            "model": "V3.0 标准版",
            "quantity": 1,
            "payment_status": "paid",
            "address": "杭州市西湖区文三路 100 号",
            "contact": "王经理 13900002222",
            "planned": "ship=2026-12-01 10:00; install=2026-12-03 14:00",
        },
        [],
    ),
    # 003 §3.3's example issue: a report cannot be exported.
    (
        Process.AFTERSALES,
        0,
        {
            "channel": "phone",
            "contact": "李总 13800001111",
            "description": "无法导出报表，点击导出后没有反应",
            "environment": "V3.0 标准版，Chrome 浏览器",
            "issue_type": "fault",
            "urgency": "urgent",
        },
        [("respond", {"note": "已致电了解情况，转技术支持", "route": "dispatch"})],
    ),
    # 003 §3.4's example complaint: delivery three days late.
    (
        Process.COMPLAINT,
        2,
        {
            "channel": "phone",
            "contact": "陈女士 13700003333",
            "content": "物流延迟3天，安装师傅也没有按约定上门",
            "demand": "尽快安装并给予补偿",
            "emotion": "upset",
            "scope": "single",
        },
        [],
    ),
    # 003 §3.5's example push: a new-feature video for highly active customers (no customer: an audience).
    (
        Process.VALUE_PUSH,
        -1,
        {
            "push_type": "monthly",
            "tag": "high_activity",
            "service": "新功能操作视频",
            "link": "https://careflow.example.com/tutorials/new-features",
            "owner": "ops.chu",
        },
        [],
    ),
]


# One person per role the escalation chain and hand-offs reach; their mail lands in the dev mail sink.
STAFF = [
    ("agent.li", "李娜（客服专员）", "agent", "customer_service"),
    ("sales.zhao", "赵磊（销售顾问）", "sales_consultant", "sales"),
    ("tech.sun", "孙工（技术支持）", "tech_support", "tech"),
    ("supervisor.wang", "王芳（客服主管）", "supervisor", "customer_service"),
    ("order.qian", "钱敏（订单专员）", "order_specialist", "customer_service"),
    ("logistics.wu", "吴涛（物流协调员）", "logistics_coordinator", "logistics"),
    ("field.zheng", "郑伟（现场工程师）", "field_engineer", "tech"),
    ("complaint.feng", "冯丽（投诉处理专员）", "complaint_specialist", "customer_service"),
    ("ops.chu", "褚欣（客户运营专员）", "customer_ops", "customer_service"),
    ("warehouse.zhou", "周强（仓储主管）", "supervisor", "warehouse"),
    ("director.liu", "刘总（部门总监）", "director", "customer_service"),
    ("analyst.he", "何静（数据分析师）", "data_analyst", "customer_service"),
    ("am.lv", "吕洋（客户经理）", "account_manager", "sales"),
    ("salesmgr.shi", "施涛（销售主管）", "sales_supervisor", "sales"),
    ("admin", "系统管理员", "admin", None),
]

# Every demo account signs in with this password (SEC-4); `careflow dev` prints the accounts at start.
DEMO_PASSWORD = "careflow-demo"


def demo_accounts() -> list[tuple[str, str, str]]:
    """(username, display name, role) of each demo sign-in, in STAFF order."""
    return [(u, n, r) for u, n, r, _ in STAFF]


async def _demo_passwords(db: Any) -> None:
    """Demo staff without a password get the demo one (hashing once, not on every start)."""
    hashed = hash_password(DEMO_PASSWORD)
    await db.execute(
        update(Staff)
        .where(Staff.username.in_([u for u, *_ in STAFF]), Staff.password_hash.is_(None))
        .values(password_hash=hashed)
    )


async def _wait_open(client: Any, process: Process, number: str) -> None:
    for _ in range(200):
        view = await client.get_workflow_handle(number).query(PROCESSES[process].workflow.view)
        if view.open_step is not None:
            return
        await asyncio.sleep(0.1)


async def seed_demo(settings: Settings) -> bool:
    """Seeds once; returns False when the database already has cases."""
    sessions = sessionmaker_for(settings.sqlalchemy_url())
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    async with sessions() as db:
        await db.execute(
            pg_insert(Staff)
            .values(
                [
                    {
                        "username": u,
                        "display_name": n,
                        "role": r,
                        "department": d,
                        "email": f"{u}@demo.careflow.local",
                    }
                    for u, n, r, d in STAFF
                ]
            )
            .on_conflict_do_nothing(index_elements=["username"])
        )
        await _demo_passwords(db)
        await db.commit()
        if await db.scalar(select(func.count()).select_from(Case)):
            return False
        ids = [
            (await db.execute(insert(Customer).values(contacts=[], **c).returning(Customer.id))).scalar_one()
            for c in CUSTOMERS
        ]
        await db.commit()
        await seed_library(db)  # KB-1: the FAQ the after-sales agent is offered at intake
        await db.commit()
        for n, (process, index, intake, actions) in enumerate(CASES):
            request_model = start_request_model(process, PROCESSES[process].intake_model)
            started = await services.start_case(
                db=db,
                client=client,
                settings=settings,
                process=process,
                body=request_model.model_validate(
                    {**intake, **({"customer_id": ids[index]} if index >= 0 else {})}
                ),
                idempotency_key=f"demo-{n}",
                actor="demo",
            )
            if actions:
                await _wait_open(client, process, started.number)
            for action, payload in actions:
                await services.perform_action(
                    client=client,
                    number=started.number,
                    action=action,
                    payload={"actor": "演示坐席", **payload},
                    user=system_user("demo"),
                )
    return True
