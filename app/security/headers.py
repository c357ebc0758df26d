"""Security headers on every response (SPEC §10): pages, static files, API JSON, error
pages and redirects alike.

- ``Content-Security-Policy`` from ``CONTENT_SECURITY_POLICY`` (config.py says why each
  part), with a nonce of its own per response. Templates get it as ``csp_nonce()``, the
  name Flask-AppBuilder's ``baselib.get_nonce()`` looks for, so every inline ``<script>``
  of FAB's templates (and of Atrium's, which use the same macro) carries it and nothing
  else inline runs. The nonce is made on first use and kept in the request's WSGI environ,
  so a page rendered after an earlier hook refused the request (a CSRF 400, a 429 at the
  login) has the same nonce as its header, and one request never reuses another's.
- Downloads (any response with ``Content-Disposition: attachment``: client files, report
  PDFs, CSV exports) get ``DOWNLOAD_POLICY`` instead, a sandboxing CSP (``sandbox;
  default-src 'none'``), in this one place whichever view sends them.
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (with CSP
  ``frame-ancestors 'none'`` for older browsers), ``Referrer-Policy:
  strict-origin-when-cross-origin``, ``Permissions-Policy`` (``PERMISSIONS_POLICY``: no
  camera, microphone, geolocation, sensors, payment, USB or topics), ``Cross-Origin-Opener-Policy:
  same-origin``; ``Strict-Transport-Security`` when ``HSTS_SECONDS`` is set (production).

Why not flask-talisman: these are a few lines; Talisman also redirects to HTTPS, sets
the session cookie flags itself (config.py owns those) and makes its nonce in a
``before_request`` hook, which an earlier hook's refusal skips (its error page then
carries no valid nonce).
"""

from __future__ import annotations

import secrets

from flask import current_app, has_request_context, request

_NONCE = "atrium.csp_nonce"


def csp_nonce() -> str:
    """This response's CSP nonce (made on first use)."""
    if not has_request_context():
        return ""  # a template rendered outside a request (a report) runs no inline script
    environ = request.environ
    nonce = environ.get(_NONCE)
    if nonce is None:
        nonce = environ[_NONCE] = secrets.token_urlsafe(18)
    return nonce


def content_security_policy(nonce: str) -> str:
    policy = current_app.config["CONTENT_SECURITY_POLICY"]
    return "; ".join(f"{name} {value.format(nonce=nonce)}" for name, value in policy.items())


# Every download (client files, report PDFs, CSV exports): should a browser ever render
# one (an old plug-in, a mistaken "open"), it runs in a sandbox of its own, with no
# script, no same-origin access, and nothing loaded.
DOWNLOAD_POLICY = "sandbox; default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"


def _is_download(response) -> bool:
    return response.headers.get("Content-Disposition", "").lstrip().lower().startswith("attachment")


def _set_headers(response):
    config = current_app.config
    headers = response.headers
    if _is_download(response):
        headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    else:
        headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["Permissions-Policy"] = config["PERMISSIONS_POLICY"]
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if config.get("HSTS_SECONDS"):
        headers["Strict-Transport-Security"] = f"max-age={int(config['HSTS_SECONDS'])}; includeSubDomains"
    return response


def init_app(app) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_set_headers)
