"""Custom search attributes that make the Temporal Web UI read like a queue (DESIGN.md).

``careflow dev``, the compose stack and the test environment register exactly these.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_PROCESS = SearchAttributeKey.for_keyword("CaseProcess")
CASE_STEP = SearchAttributeKey.for_keyword("CaseStep")
CUSTOMER_TIER = SearchAttributeKey.for_keyword("CustomerTier")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
OWNER = SearchAttributeKey.for_keyword("Owner")
SLA_STATE = SearchAttributeKey.for_keyword("SlaState")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")

ALL = [
    CASE_PROCESS,
    CASE_STEP,
    CUSTOMER_TIER,
    SEVERITY,
    OWNER,
    SLA_STATE,
    NEXT_DEADLINE,
    ESCALATION_LEVEL,
    CUSTOMER_ID,
]

# name -> the type word the `temporal` CLI takes (`--search-attribute Name=Type`)
REGISTRATION: dict[str, str] = {
    key.name: {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}[key.indexed_value_type.name]
    for key in ALL
}
