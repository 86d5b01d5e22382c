"""Response headers and the request id: a Content-Security-Policy with a nonce per
response, ``Cache-Control: no-store``, and every 500 logged with its traceback and
the id that the error page shows.

The CSP allows scripts from the app's own origin and inline scripts that carry
the response's nonce, nothing else (no 'unsafe-inline' for scripts; styles keep
it: FAB's widgets and Select2 set style attributes). Parts of pages are rendered
once per user and language and reused (app/rendering.py), so templates write a
placeholder as the nonce (``csp_nonce()``, what FAB's templates call) and each
HTML response gets its own random nonce in its place. User-typed text cannot
carry the placeholder into a script tag: it is escaped, quotes included.
"""

from __future__ import annotations

import logging
import re
import secrets

from flask import Flask, g, request
from flask.globals import _cv_app, _cv_request

CSP_NONCE = "kartoteka-nonce-" + secrets.token_hex(8)  # replaced in every HTML response
_PLACEHOLDER = f'nonce="{CSP_NONCE}"'.encode()
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
STATIC_ENDPOINTS = {"static", "appbuilder.static"}

POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

log = logging.getLogger("kartoteka.errors")


def request_id() -> str:
    """This request's id (X-Request-Id from a trusted proxy, else a new one)."""
    known = _cv_app.get().g.__dict__  # g without its proxy
    value = known.get("request_id")
    if value is None:
        request_ = _cv_request.get().request
        incoming = request_.headers.get("X-Request-Id", "")
        trusted = request_.environ.get("werkzeug.proxy_fix.orig") is not None
        value = incoming if trusted and _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
        known["request_id"] = value
    return value


def log_exception(app: Flask):
    """Flask's log of an unhandled exception, with the request id the error page shows."""

    def log_with_id(exc_info) -> None:
        log.error(
            "500 on %s %s (request %s, user %s)",
            request.method,
            request.path,
            request_id(),
            getattr(g.get("user"), "id", None),
            exc_info=exc_info,
        )

    return log_with_id


def install(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = lambda: CSP_NONCE
    app.jinja_env.globals["request_id"] = request_id
    app.log_exception = log_exception(app)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        # set, as headers[name] = value would, but a name not there yet is only added:
        # each assignment lowered every header's name again (~12 Python calls)
        present = {key.lower() for key, _value in headers}

        def put(name: str, value: str) -> None:
            if name.lower() in present:
                headers[name] = value
            else:
                headers.add(name, value)

        put("X-Request-Id", request_id())
        if _cv_request.get().request.endpoint in STATIC_ENDPOINTS:
            return response
        # Pages and API answers carry personal data: no browser or proxy keeps them.
        put("Cache-Control", "no-store")
        if response.mimetype == "text/html" and not response.direct_passthrough:
            nonce = secrets.token_urlsafe(18)
            body = response.get_data()
            if _PLACEHOLDER in body:
                response.set_data(body.replace(_PLACEHOLDER, f'nonce="{nonce}"'.encode()))
            put("Content-Security-Policy", POLICY.format(nonce=nonce))
        return response
