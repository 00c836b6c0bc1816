"""Who may do what (SPEC §1, SEC-1, SEC-4): one permission per guarded action, a set of them per role,
and the scopes an API credential for another system can carry.

Reading cases, customers (masked) and the library is open to every signed-in staff member; everything that
changes something, or shows a sensitive field in clear, needs the permission named here.
"""

from __future__ import annotations

from enum import StrEnum

from domain.models import Role


class Permission(StrEnum):
    CASES_CREATE = "cases.create"
    CASES_ACT = "cases.act"  # take a step's actions (answer, dispatch, hand off, record a callback…)
    COMPLAINTS_GRADE_MAJOR = "complaints.grade_major"  # CP-2: a major complaint goes to the director
    CUSTOMERS_EDIT = "customers.edit"  # create and edit records (C-1, C-2)
    CUSTOMERS_IMPORT = "customers.import"  # bulk CSV/XLSX (C-2)
    CUSTOMERS_REVIEW = "customers.review"  # verify and merge records (C-3)
    CONTACTS_REVEAL = "contacts.reveal"  # show a phone / email in clear, audited (SEC-1, SEC-2)
    TIERS_ADJUST = "tiers.adjust"  # T-3: propose a tier with a reason
    TIERS_APPROVE = "tiers.approve"  # T-3: the sales supervisor approves or rejects
    TIER_MODELS_EDIT = "tier_models.edit"  # T-1 weights per industry
    CARE_TASKS = "care.tasks"  # R-1..R-7 journey and plan tasks
    CAMPAIGNS = "campaigns.manage"  # VP: value-added pushes
    LIBRARY_EDIT = "library.edit"  # KB-1
    REPORTS = "reports.view"  # REP-1, T-6, records export
    COMPLIANCE_REVIEW = "compliance.review"  # T-7 monthly sample
    POLICIES_EDIT = "policies.edit"  # SLA policies, calendars, message templates (SLA-1, SLA-2, COM-2)
    USERS_MANAGE = "users.manage"
    TOKENS_MANAGE = "tokens.manage"  # SEC-4
    AUDIT_READ = "audit.read"  # SEC-2


P = Permission
_FRONT_LINE = {P.CASES_CREATE, P.CASES_ACT, P.CUSTOMERS_EDIT, P.CONTACTS_REVEAL, P.LIBRARY_EDIT}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset(_FRONT_LINE | {P.CARE_TASKS}),
    Role.SALES_CONSULTANT: frozenset(_FRONT_LINE),
    Role.ORDER_SPECIALIST: frozenset(_FRONT_LINE),
    Role.LOGISTICS_COORDINATOR: frozenset({P.CASES_ACT, P.CONTACTS_REVEAL}),
    Role.TECH_SUPPORT: frozenset(_FRONT_LINE),
    Role.FIELD_ENGINEER: frozenset({P.CASES_ACT, P.CONTACTS_REVEAL}),
    Role.COMPLAINT_SPECIALIST: frozenset(_FRONT_LINE),
    Role.SUPERVISOR: frozenset(
        _FRONT_LINE
        | {P.COMPLAINTS_GRADE_MAJOR, P.CUSTOMERS_IMPORT, P.CUSTOMERS_REVIEW, P.CARE_TASKS, P.CAMPAIGNS}
        | {P.REPORTS, P.COMPLIANCE_REVIEW}
    ),
    Role.DIRECTOR: frozenset(_FRONT_LINE | {P.COMPLAINTS_GRADE_MAJOR, P.REPORTS, P.COMPLIANCE_REVIEW}),
    Role.CUSTOMER_OPS: frozenset(
        {P.CASES_CREATE, P.CASES_ACT, P.CUSTOMERS_EDIT, P.CUSTOMERS_IMPORT, P.CUSTOMERS_REVIEW}
        | {P.CONTACTS_REVEAL, P.CARE_TASKS, P.CAMPAIGNS, P.REPORTS}
    ),
    # Works with figures, never with a customer's contact details.
    Role.DATA_ANALYST: frozenset({P.REPORTS, P.CAMPAIGNS}),
    Role.ACCOUNT_MANAGER: frozenset(_FRONT_LINE | {P.TIERS_ADJUST, P.CARE_TASKS, P.CUSTOMERS_IMPORT}),
    Role.SALES_SUPERVISOR: frozenset(
        {P.CUSTOMERS_EDIT, P.CUSTOMERS_REVIEW, P.CONTACTS_REVEAL, P.TIERS_ADJUST, P.TIERS_APPROVE}
        | {P.TIER_MODELS_EDIT, P.CARE_TASKS, P.REPORTS}
    ),
    # Runs the system; sees customers masked like anyone who does not serve them.
    Role.ADMIN: frozenset(
        {P.POLICIES_EDIT, P.USERS_MANAGE, P.TOKENS_MANAGE, P.AUDIT_READ, P.REPORTS, P.TIER_MODELS_EDIT}
    ),
}


def allowed(role: Role | str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


class Scope(StrEnum):
    """SEC-4: what an API credential for another system may do."""

    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"  # start cases, take actions
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"  # upsert by external id, import
    ORDERS_EVENTS = "orders:events"  # OF-2 order status events
    SURVEYS_WRITE = "surveys:write"
    REPORTS_READ = "reports:read"
    POLICIES_WRITE = "policies:write"


# What stands for a permission when the caller is another system (SEC-4): the scope its token must carry.
# Permissions not listed (tier approval, review, users, tokens, audit…) are for signed-in staff only.
TOKEN_SCOPES: dict[Permission, Scope] = {
    P.CASES_CREATE: Scope.CASES_WRITE,
    P.CASES_ACT: Scope.CASES_WRITE,
    P.COMPLAINTS_GRADE_MAJOR: Scope.CASES_WRITE,
    P.CARE_TASKS: Scope.CASES_WRITE,
    P.CAMPAIGNS: Scope.CASES_WRITE,
    P.LIBRARY_EDIT: Scope.CASES_WRITE,
    P.CUSTOMERS_EDIT: Scope.CUSTOMERS_WRITE,
    P.CUSTOMERS_IMPORT: Scope.CUSTOMERS_WRITE,
    P.CONTACTS_REVEAL: Scope.CUSTOMERS_READ,
    P.REPORTS: Scope.REPORTS_READ,
    P.POLICIES_EDIT: Scope.POLICIES_WRITE,
}
