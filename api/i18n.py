"""The staff web app's languages (issue 6): zh-CN by default, English from a Babel catalog.

The templates are written in Chinese and mark their text with ``{{ _("…") }}`` / ``{% trans %}``; the msgids
are that Chinese text, and ``locale/en/LC_MESSAGES/messages.po`` translates them. Labels of codes
(``t("first_response")``) come from ``domain/i18n.py``; in English a label is the catalog's translation of
its Chinese text, else the code itself made readable ("first_response" → "First response"), so an English
page never falls back to Chinese. ``scripts/i18n.py`` extracts the messages and updates the catalog; a test
checks it is complete.

The language of a page: the ``careflow_lang`` cookie (the switch in the top bar), else the signed-in
user's preference, else zh-CN; ``_render`` (api/web/pages.py) sets it before rendering. Times are shown in
the user's time zone (the ``local`` filter there).
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment

from domain.i18n import LABELS, label, qualified_label

LOCALES = {"zh-CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh-CN"
LANG_COOKIE = "careflow_lang"
CATALOG_DIR = Path(__file__).resolve().parent.parent / "locale"

locale_var: ContextVar[str] = ContextVar("careflow_locale", default=DEFAULT_LOCALE)


def catalog_path(locale: str) -> Path:
    return CATALOG_DIR / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"


def catalogs(locale: str) -> list[Path]:
    """The catalog files of ``locale``: ``messages.po`` and any ``<area>.po`` beside it (an area's
    translations while it is being written; ``scripts/i18n.py`` folds them into ``messages.po``)."""
    folder = catalog_path(locale).parent
    return sorted(folder.glob("*.po")) if folder.exists() else []


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (compiled in memory from the .po: no binary files in the repo)."""
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    merged: NullTranslations | None = None
    for path in catalogs(locale):
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale.replace("-", "_"))
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        compiled = Translations(buffer)
        merged = compiled if merged is None else merged.merge(compiled)
    return merged or NullTranslations()


def pick_locale(cookie: str | None, preference: str | None) -> str:
    for candidate in (cookie, preference):
        if candidate in LOCALES:
            return candidate
    return DEFAULT_LOCALE


def gettext(message: str) -> str:
    return translations(locale_var.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(locale_var.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined (a module constant); ``_()`` translates it
    where it is shown."""
    return message


def readable(code: str) -> str:
    """ "first_response" → "First response": the English of a code the catalog does not translate."""
    words = code.replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:] if words else code


def display_label(key: str | None) -> str:
    """``t(key)`` in the templates: the label in the request's language."""
    if key is None:
        return ""
    text = label(key)
    if locale_var.get() == DEFAULT_LOCALE:
        return text
    translated = gettext(text)
    if translated != text or str(key) not in LABELS[DEFAULT_LOCALE]:
        return translated
    return readable(str(key))


def display_qualified_label(keys: list[str], plain: str) -> str:
    """``domain.i18n.qualified_label`` in the request's language: the Chinese label of the first of ``keys``
    the catalog has (else of ``plain``), translated; in English without a translation, ``plain`` made
    readable ("order_number" → "Order number")."""
    text = qualified_label(keys, plain)
    if locale_var.get() == DEFAULT_LOCALE:
        return text
    translated = gettext(text)
    return translated if translated != text else readable(plain)


def install(env: Environment) -> None:
    """Gives the templates ``_``/``{% trans %}``, ``t(code)`` and the languages."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["t"] = display_label
    env.globals["locales"] = LOCALES
    env.globals["current_locale"] = locale_var.get
