"""Demo data for `make dev`'s first run: customers of each tier and pre-sales cases at several steps."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api import services
from api.schemas import start_request_model
from config import Settings
from db.engine import sessionmaker_for
from db.models import Case, Customer, Staff
from domain.models import Process
from domain.presales import PresalesIntake
from workflows.registry import PROCESSES, connect

CUSTOMERS = [
    {
        "type": "enterprise",
        "name": "A公司（华东精密制造）",
        "phone": "13800001111",
        "industry": "制造",
        "region": "上海",
        "tier": "vip",
    },
    {
        "type": "enterprise",
        "name": "B公司（云途软件）",
        "phone": "13900002222",
        "industry": "SaaS",
        "region": "杭州",
        "tier": "key",
    },
    {
        "type": "individual",
        "name": "陈女士",
        "phone": "13700003333",
        "email": "chen@example.com",
        "region": "深圳",
        "tier": "normal",
    },
]

# (customer index, intake, actions to run in order)
CASES: list[tuple[int, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
    (
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
]


# One person per role the escalation chain and hand-offs reach; their mail lands in the dev mail sink.
STAFF = [
    ("agent.li", "李娜（客服专员）", "agent", "customer_service"),
    ("sales.zhao", "赵磊（销售顾问）", "sales_consultant", "sales"),
    ("tech.sun", "孙工（技术支持）", "tech_support", "tech"),
    ("supervisor.wang", "王芳（客服主管）", "supervisor", "customer_service"),
    ("warehouse.zhou", "周强（仓储主管）", "supervisor", "warehouse"),
    ("director.liu", "刘总（部门总监）", "director", "customer_service"),
]


async def _wait_open(client: Any, number: str) -> None:
    for _ in range(200):
        view = await client.get_workflow_handle(number).query(PROCESSES[Process.PRESALES].workflow.view)
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
        await db.commit()
        if await db.scalar(select(func.count()).select_from(Case)):
            return False
        ids = [
            (await db.execute(insert(Customer).values(contacts=[], **c).returning(Customer.id))).scalar_one()
            for c in CUSTOMERS
        ]
        await db.commit()
        request_model = start_request_model(Process.PRESALES, PresalesIntake)
        for index, intake, actions in CASES:
            started = await services.start_case(
                db=db,
                client=client,
                settings=settings,
                process=Process.PRESALES,
                body=request_model.model_validate({**intake, "customer_id": ids[index]}),
                idempotency_key=f"demo-{intake['product']}",
                actor="demo",
            )
            await _wait_open(client, started.number)
            for action, payload in actions:
                await services.perform_action(
                    client=client,
                    number=started.number,
                    action=action,
                    payload={"actor": "演示坐席", **payload},
                )
    return True
