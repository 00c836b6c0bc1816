"""Which SLA policy is in force: the defaults of domain/sla.py, overlaid by CAREFLOW_SLA_POLICY."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from domain.sla import DEFAULT_POLICY, PolicySet, policy_from_document


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> PolicySet:
    return policy_from_document(json.loads(Path(path).read_text(encoding="utf-8")), DEFAULT_POLICY.rules)


def current_policy(path: Path | None) -> PolicySet:
    if path is None:
        return DEFAULT_POLICY
    return _load(str(path), path.stat().st_mtime)
