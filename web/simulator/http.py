"""HTTP sessions as a browser would hold them: cookies, the login form, CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

CSRF_RE = re.compile(r'name="csrf[-_]token"\s+(?:value|content)="([^"]+)"')
TIMEOUT = aiohttp.ClientTimeout(total=120)


class SimError(RuntimeError):
    """The server refused something the simulator cannot go on without (login, setup)."""


def browser() -> aiohttp.ClientSession:
    # unsafe=True: aiohttp keeps no cookies for IP-address hosts (127.0.0.1) otherwise
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=TIMEOUT)


async def csrf_token(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        page = await r.text()
    found = CSRF_RE.search(page)
    if found is None:
        raise SimError(f"no CSRF token on {url} (answered {r.status})")
    return found.group(1)


async def login(http: aiohttp.ClientSession, base: str, form: dict[str, str]) -> None:
    """Post the login form (``username``/``password`` or ``badge``); a redirect is success."""
    token = await csrf_token(http, base + "/login")
    async with http.post(
        base + "/login", data={"csrf_token": token, **form}, allow_redirects=False
    ) as r:
        if r.status != 302:
            who = form.get("username") or "a badge"
            raise SimError(f"login of {who} answered {r.status}")


def cookie_header(http: aiohttp.ClientSession) -> str:
    return "; ".join(f"{c.key}={c.value}" for c in http.cookie_jar)


async def json_call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, csrf: str = ""
) -> tuple[int, Any]:
    """One JSON request (with the page's CSRF token in ``X-CSRFToken`` when given); the status
    and the decoded body (``None`` when it is not JSON)."""
    headers = {"X-CSRFToken": csrf} if csrf else None
    async with http.request(method, url, json=body, headers=headers) as r:
        try:
            data = await r.json(content_type=None)
        except ValueError:
            data = None
        return r.status, data
