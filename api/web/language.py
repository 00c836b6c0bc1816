"""The language switch in the top bar (issue 6): remembers the choice in a cookie, for signed-in staff and
on the login page alike. It changes nothing on the server, so a plain link does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from api.errors import Invalid
from api.i18n import LANG_COOKIE, LOCALES

router = APIRouter(include_in_schema=False)
YEAR = 365 * 24 * 3600


@router.get("/lang/{locale}")
async def switch_language(request: Request, locale: str, next: str = "/") -> RedirectResponse:
    if locale not in LOCALES:
        raise Invalid("locale", f"unknown language {locale!r}; one of {', '.join(LOCALES)}")
    # Only a path of this site: never an open redirect.
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(LANG_COOKIE, locale, max_age=YEAR, httponly=True, samesite="lax")
    return response
