"""Issue 6 (i18n): every message the pages mark has an English translation, and the catalog file is the one
`scripts/i18n.py` writes (no area catalogs left beside it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from api.i18n import catalog_path, catalogs

ROOT = Path(__file__).resolve().parents[1]


def test_english_catalog_translates_every_marked_message() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "i18n.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_one_catalog_file_per_language() -> None:
    assert catalogs("en") == [catalog_path("en")]
