"""The staff web app's languages (issue 6): zh-CN by default, English from a Babel catalog.

The templates are written in Chinese and mark their text with ``{{ _("…") }}`` / ``{% trans %}``; the msgids
are that Chinese text, and ``locale/en/LC_MESSAGES/messages.po`` translates them. Labels of codes
(``t("first_response")``) come from ``domain/i18n.py``; in English a label is the catalog's translation of
its Chinese text, else the code itself made readable ("first_response" → "First response"), so an English
page never falls back to Chinese. ``scripts/i18n.py`` extracts the messages and updates the catalog; a test
checks it is complete.

The language of a request: the ``careflow_lang`` cookie (the switch in the top bar), else the signed-in
user's preference, else zh-CN. The time zone: the user's, else Asia/Shanghai.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from functools import cache
from http.cookies import CookieError, SimpleCookie
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment

from domain.i18n import LABELS, label

LOCALES = {"zh-CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh-CN"
DEFAULT_TIMEZONE = "Asia/Shanghai"
LANG_COOKIE = "careflow_lang"
TZ_COOKIE = "careflow_tz"
CATALOG_DIR = Path(__file__).resolve().parent.parent / "locale"

locale_var: ContextVar[str] = ContextVar("careflow_locale", default=DEFAULT_LOCALE)
timezone_var: ContextVar[str] = ContextVar("careflow_timezone", default=DEFAULT_TIMEZONE)


def catalog_path(locale: str) -> Path:
    return CATALOG_DIR / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (compiled in memory from the .po: no binary files in the repo)."""
    path = catalog_path(locale)
    if locale == DEFAULT_LOCALE or not path.exists():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale.replace("-", "_"))
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def pick_locale(cookie: str | None, preference: str | None) -> str:
    for candidate in (cookie, preference):
        if candidate in LOCALES:
            return candidate
    return DEFAULT_LOCALE


def gettext(message: str) -> str:
    return translations(locale_var.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(locale_var.get()).ngettext(singular, plural, n)


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


class LocaleMiddleware:
    """Sets the request's language and time zone from the cookies the switch (and the login) set."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        locale_token = locale_var.set(pick_locale(cookies.get(LANG_COOKIE), None))
        timezone_token = timezone_var.set(_valid_timezone(cookies.get(TZ_COOKIE)))
        try:
            await self.app(scope, receive, send)
        finally:
            locale_var.reset(locale_token)
            timezone_var.reset(timezone_token)


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    raw = b"; ".join(value for name, value in scope.get("headers", []) if name == b"cookie")
    jar = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except CookieError:  # a malformed Cookie header: no preferences
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


def _valid_timezone(name: str | None) -> str:
    if not name:
        return DEFAULT_TIMEZONE
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIMEZONE
    return name


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """The ``local`` filter: an instant in the request's time zone."""
    return value.astimezone(ZoneInfo(timezone_var.get())).strftime(fmt) if value else "—"


def install(env: Environment) -> None:
    """Gives the templates ``_``/``{% trans %}``, ``t(code)``, the ``local`` filter and the languages."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["t"] = display_label
    env.globals["locales"] = LOCALES
    env.globals["current_locale"] = locale_var.get
    env.filters["local"] = local_time
