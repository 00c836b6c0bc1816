"""Extracts the web app's messages and updates the English catalog (issue 6, api/i18n.py).

    .venv/bin/python scripts/i18n.py          # update locale/en/LC_MESSAGES/messages.po, keep translations
                                              # (and fold in, then remove, any <area>.po beside it)
    .venv/bin/python scripts/i18n.py --check  # exit 1 listing the messages the catalog does not translate

Messages: every ``_("…")`` / ``{% trans %}`` in api/templates and every ``_("…")`` / ``gettext("…")`` in api/,
the tiers' benefits (domain/customers.py), plus the Chinese labels of domain/i18n.py (marked ``label: <code>``; a label without a translation shows its
code made readable, so those are optional and --check leaves them out).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.i18n import catalog_path, catalogs
from domain.customers import TIER_BENEFITS
from domain.i18n import LABELS

METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
LABEL_COMMENT = "label: "


def template() -> Catalog:
    catalog = Catalog(project="Careflow", locale=None, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT / "api"),
        METHODS,
        OPTIONS,
        keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        catalog.add(message, locations=[(f"api/{filename}", lineno)], auto_comments=comments, context=context)
    for tier, text in TIER_BENEFITS.items():  # shown on the compliance page (T-5, T-7); must be translated
        catalog.add(text, locations=[("domain/customers.py", 0)], auto_comments=[f"tier benefits: {tier}"])
    for code, text in LABELS["zh-CN"].items():
        if text not in catalog:
            catalog.add(text, auto_comments=[f"{LABEL_COMMENT}{code}"])
    return catalog


def untranslated(catalog: Catalog) -> list[str]:
    return [
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalog
        if m.id
        and not (m.string if isinstance(m.string, str | None) else all(m.string))
        and not all(c.startswith(LABEL_COMMENT) for c in m.auto_comments or ["x"])
    ]


def load(locale: str) -> Catalog:
    """``messages.po`` with the translations of any ``<area>.po`` beside it folded in."""
    path = catalog_path(locale)
    catalog = Catalog(locale=locale.replace("-", "_"), project="Careflow", charset="utf-8")
    for po in [path, *(p for p in catalogs(locale) if p != path)]:
        if not po.exists():
            continue
        with po.open("rb") as f:
            for message in read_po(f, locale=locale.replace("-", "_")):
                if message.id and (message.string or message.id not in catalog):
                    if message.id in catalog:  # setting an existing id would keep its old (empty) translation
                        catalog.delete(message.id)
                    catalog[message.id] = message
    return catalog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a message has no English translation")
    args = parser.parse_args()
    catalog = load("en")
    catalog.update(template(), no_fuzzy_matching=True)
    catalog.fuzzy = False
    if args.check:
        missing = untranslated(catalog)
        for message in missing:
            print(f"untranslated: {message!r}")
        return 1 if missing else 0
    path = catalog_path("en")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=120, omit_header=False, ignore_obsolete=True, sort_output=False)
    for area in catalogs("en"):
        if area != path:
            area.unlink()
    print(f"{path.relative_to(ROOT)}: {len(catalog)} messages, {len(untranslated(catalog))} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
