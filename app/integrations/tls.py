"""TLS certificate check by a real handshake (SPEC §7).

``check_certificate(host)`` connects to ``host:443`` (``port`` and ``address`` can be
overridden: tests point them at a loopback server), completes a verifying TLS handshake
with SNI for ``host`` and returns a ``CertificateResult``: the certificate's issuer and
``notAfter`` when the handshake succeeded, or an error text and kind when it did not.

Verification is never turned off: the chain must lead to a trusted root (the system's
store, plus ``ca_bundle`` when given, a PEM file of extra roots) and the certificate
must name ``host``. A certificate that fails verification is reported as such
(``error_kind`` ``expired``, ``untrusted``, ``hostname``), a server that cannot be
reached as ``unreachable``.

What does not live here: what a result changes on a domain and who is warned
(``app.services.monitoring``). No database access here.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from dataclasses import dataclass

# OpenSSL verification codes (X509_V_ERR_*) worth telling apart.
_EXPIRED = {10}  # certificate has expired
_HOSTNAME = {62}  # hostname mismatch


@dataclass(frozen=True)
class CertificateResult:
    host: str
    ok: bool
    issuer: str | None = None
    subject: str | None = None
    not_after: dt.datetime | None = None  # UTC-aware
    error: str | None = None
    error_kind: str | None = None  # expired | hostname | untrusted | handshake | unreachable

    def days_left(self, now: dt.datetime) -> float | None:
        if self.not_after is None:
            return None
        return (self.not_after - now).total_seconds() / 86400


def _name(rdns) -> str | None:
    """``getpeercert()``'s nested name tuples as one readable string (CN first)."""
    fields = {}
    for rdn in rdns or ():
        for key, value in rdn:
            fields.setdefault(key, value)
    common, org = fields.get("commonName"), fields.get("organizationName")
    if common and org and org not in common:
        return f"{common} ({org})"
    return common or org


def parse_not_after(value: str) -> dt.datetime:
    """``'Jun  1 12:00:00 2026 GMT'`` (OpenSSL's format) as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(value), dt.UTC)


def check_certificate(host: str, port: int = 443, *, address: str | None = None, timeout: float = 10,
                      ca_bundle: str | None = None) -> CertificateResult:
    """Handshake with ``host`` (SNI and name check) at ``address or host``:``port``."""
    if not host or not isinstance(host, str):
        raise ValueError("a host name is required for a TLS check")
    if not 0 < int(port) < 65536:
        raise ValueError(f"invalid port {port!r}")
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    try:
        raw = socket.create_connection((address or host, int(port)), timeout=timeout)
    except TimeoutError:
        return CertificateResult(host, False, error=f"no answer from {host}:{port} within {timeout:g} s",
                                 error_kind="unreachable")
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return CertificateResult(host, False, error=f"could not connect to {host}:{port}: {reason}",
                                 error_kind="unreachable")
    try:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            cert = tls.getpeercert()
    except ssl.SSLCertVerificationError as exc:
        code = exc.verify_code
        kind = "expired" if code in _EXPIRED else "hostname" if code in _HOSTNAME else "untrusted"
        return CertificateResult(host, False, error=f"certificate not accepted: {exc.verify_message or exc}",
                                 error_kind=kind)
    except TimeoutError:
        return CertificateResult(host, False, error=f"TLS handshake with {host}:{port} timed out after {timeout:g} s",
                                 error_kind="unreachable")
    except (ssl.SSLError, OSError) as exc:
        return CertificateResult(host, False, error=f"TLS handshake with {host}:{port} failed: {exc}",
                                 error_kind="handshake")
    finally:
        raw.close()
    return CertificateResult(host, True, issuer=_name(cert.get("issuer")), subject=_name(cert.get("subject")),
                             not_after=parse_not_after(cert["notAfter"]))
