"""Transport hardening: trusted proxy headers and the security headers on every response.

* ``FLOOR_TRUSTED_PROXIES=N``: the server sits behind N reverse proxies; werkzeug's ProxyFix then
  takes the client address, scheme, host and port from the last N ``X-Forwarded-*`` values.
  Without it those headers are ignored (any client could send them): the login throttle would
  otherwise count attempts per forged address.
* Every response says: only this server's own scripts, styles, images and connections
  (``Content-Security-Policy``; the pages have no inline script or style attribute), never inside
  a frame (``frame-ancestors 'none'``), no MIME sniffing, no referrer to other sites.
* ``Cache-Control: no-store`` on every answer to a logged-in request, and on the logout answer:
  on a shared packing-station PC or handheld, after logout the Back button would otherwise show
  the previous user's pages (orders, ship-to addresses) from the browser's cache. Static assets
  hold nothing personal and stay cacheable.
* ``Strict-Transport-Security`` only when the request came over TLS (directly, or as the trusted
  proxy says): sent over plain HTTP it would be ignored, or lock a site out of its own HTTP.

Written by hand rather than with Flask-Talisman: six headers, and Talisman's HTTPS redirect and
per-view options would be switched off here anyway (TLS ends at the proxy).
"""

from __future__ import annotations

from flask import Flask, Response, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"


def install(app: Flask, *, trusted_proxies: int = 0) -> None:
    """Wrap the WSGI app in ProxyFix (outermost, so Socket.IO's origin check sees the client's
    scheme and host too) and add the headers to every Flask response."""
    if trusted_proxies > 0:
        n = trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if _personal(response):
            response.headers["Cache-Control"] = "no-store"
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def _personal(response: Response) -> bool:
    """Whether the answer belongs to a logged-in user (or is the logout): a session that names a
    user, or a user this request was checked as (logout clears the session before answering)."""
    if request.endpoint == "static":
        return False
    if request.endpoint == "auth.logout":
        return True
    if "Authorization" in request.headers:  # an API client's key
        return True
    return g.get("floor_actor") is not None or "uid" in session
