"""Reference data every installation starts with: calendars, the seeded SLA policy, message templates.

``careflow migrate`` runs this after the schema migrations. Each part only adds what is missing, so an
admin's edits survive every later migrate.
"""

from __future__ import annotations

from activities.calendars import seed_calendars
from activities.messages import seed_templates
from activities.policy import seed_policy


async def seed_reference_data(database_url: str) -> dict[str, int]:
    calendars = await seed_calendars(database_url)  # before the policy: publishing checks calendar names
    policy = await seed_policy(database_url)
    templates = await seed_templates(database_url)
    return {"calendars": calendars, "policy_version": policy or 0, "templates": templates}
