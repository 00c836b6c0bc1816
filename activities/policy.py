"""SLA policies as data (SLA-1): published versions in Postgres, the seed, and the one in force.

A version is never edited: an admin's change publishes the next version, and a case keeps the version it
opened with (its rules travel in the case's history). Publishing validates the whole rule set first, so
nothing invalid is ever in force.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.calendars import calendar_names
from db.engine import transaction
from db.models import SlaPolicyVersion, SlaRule
from domain.sla import (
    DEFAULT_RULES,
    PolicyRule,
    PolicySet,
    check_policy,
    seed_rules_for_new_steps,
    version_of,
)

SEED_NOTE = "种子版本：SPEC 与手册中的全部默认时限，每条规则注明出处 (seed: every SLA default of SPEC, with its source)"


class PolicyRejected(ValueError):
    """The rule set cannot be published; ``problems`` says why, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def rule_row(version: int, rule: PolicyRule) -> dict[str, Any]:
    return {
        "version": version,
        "kind": rule.kind,
        "process": rule.process,
        "step": rule.step,
        "metric": rule.metric,
        "severity": rule.severity,
        "tier": rule.tier,
        "channel": rule.channel,
        "variant": rule.variant,
        "owner_role": rule.owner_role,
        "target_seconds": _seconds(rule.target),
        "off_hours_target_seconds": _seconds(rule.off_hours_target),
        "warn_at": rule.warn_at,
        "calendar": rule.calendar,
        "chain": [{"role": level.role, "after": int(level.after.total_seconds())} for level in rule.chain],
        "source": rule.source,
    }


def rule_of(row: SlaRule) -> PolicyRule:
    return PolicyRule(
        kind=row.kind,  # type: ignore[arg-type]
        process=row.process,
        step=row.step,
        metric=row.metric,  # type: ignore[arg-type]
        severity=row.severity,
        tier=row.tier,
        channel=row.channel,
        variant=row.variant,
        owner_role=row.owner_role,  # type: ignore[arg-type]
        target=row.target_seconds,  # type: ignore[arg-type]
        off_hours_target=row.off_hours_target_seconds,  # type: ignore[arg-type]
        warn_at=row.warn_at,
        calendar=row.calendar,
        chain=row.chain,  # type: ignore[arg-type]
        source=row.source,
    )


_CACHE: dict[tuple[str, int], PolicySet] = {}


async def current_version(db: AsyncSession) -> int | None:
    return (await db.execute(select(func.max(SlaPolicyVersion.version)))).scalar_one_or_none()


async def load_policy(db: AsyncSession, version: int) -> PolicySet:
    """A published version's rules (cached: versions never change)."""
    key = (str(db.bind.url) if db.bind else "", version)
    if key not in _CACHE:
        rows = (
            await db.execute(select(SlaRule).where(SlaRule.version == version).order_by(SlaRule.id))
        ).scalars()
        _CACHE[key] = PolicySet(version=str(version), rules=[rule_of(r) for r in rows])
    return _CACHE[key]


async def policy_in_force(db: AsyncSession) -> PolicySet:
    version = await current_version(db)
    if version is None:
        raise LookupError("no SLA policy is published (run `careflow migrate`, which publishes the seed)")
    return await load_policy(db, version)


async def publish(db: AsyncSession, rules: list[PolicyRule], *, note: str, actor: str) -> SlaPolicyVersion:
    """Validates the whole set and publishes it as the next version; refuses an invalid or unchanged set."""
    problems = check_policy(rules, await calendar_names(db))
    if problems:
        raise PolicyRejected(problems)
    digest = version_of(rules)
    # One publisher at a time: the next version number is taken under a lock.
    await db.execute(select(func.pg_advisory_xact_lock(4_242_001)))
    latest = await current_version(db)
    if latest is not None:
        in_force = await db.get(SlaPolicyVersion, latest)
        if in_force is not None and in_force.digest == digest:
            raise PolicyRejected([f"nothing changed: the rules are those of version {latest}"])
    version = SlaPolicyVersion(
        version=(latest or 0) + 1, note=note, published_by=actor, digest=digest, rule_count=len(rules)
    )
    db.add(version)
    await db.flush()
    await db.execute(SlaRule.__table__.insert(), [rule_row(version.version, r) for r in rules])
    return version


async def seed_policy(database_url: str) -> int | None:
    """Publishes the seed as version 1 on an empty database. On a database whose policy predates steps this
    release added, publishes the next version with the seeded targets of those steps (the admins' own
    changes stay). Returns the version published, if any."""
    async with transaction(database_url) as db:
        if await current_version(db) is None:
            return (await publish(db, list(DEFAULT_RULES), note=SEED_NOTE, actor="seed")).version
        rules = (await policy_in_force(db)).rules
        added = seed_rules_for_new_steps(rules)
        if not added:
            return None
        steps = ", ".join(sorted({f"{r.process}/{r.step}" for r in added}))
        note = f"种子：新步骤的默认时限 (seed: targets of new steps: {steps})"
        return (await publish(db, [*rules, *added], note=note, actor="seed")).version


def parse_rules(raw: list[dict[str, Any]]) -> list[PolicyRule]:
    """Rules from JSON, with errors that name the rule: ``rules[3].warn_at: ...``."""
    rules, problems = [], []
    for i, item in enumerate(raw):
        try:
            rules.append(PolicyRule.model_validate(item))
        except ValidationError as err:
            for e in err.errors():
                where = ".".join(str(p) for p in e["loc"])
                problems.append(
                    f"rules[{i}]{'.' + where if where else ''}: {e['msg'].removeprefix('Value error, ')}"
                )
    if problems:
        raise PolicyRejected(problems)
    return rules
