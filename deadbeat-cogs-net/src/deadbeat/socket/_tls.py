"""TLS contexts from certificate and key files (standard :mod:`ssl`), checked at start.

Handshakes are not done here: a listener runs each one step by step as its
socket becomes ready (``do_handshake`` on a non-blocking socket), so a client
that connects and never speaks holds up nobody.
"""

from __future__ import annotations

import logging
import os
import ssl

__all__ = ["client_context", "reason", "server_context"]

log = logging.getLogger("deadbeat.socket")


def _check_key_file(path: str) -> None:
    """Warn about a key file its group or others can read (it is refused by nobody, but it is no secret)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # loading it says what is wrong
    if mode & 0o077:
        log.warning(
            "TLS key file %s can be read or written by its group or others (mode %o); chmod 600 it", path, mode & 0o777
        )


def server_context(cert: str, key: str | None, ca: str | None) -> ssl.SSLContext:
    """A server context: our certificate chain, and client certificates required when ``ca`` is given.

    :param cert: PEM file with the certificate (and its chain; the key too when ``key`` is none).
    :param key: PEM file with the private key.
    :param ca: PEM file of the authorities client certificates must be signed by.
    :raises ValueError: naming the file that cannot be used.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # No TLS 1.3 session tickets: they are bytes the server sends after the
    # handshake, which a client that only writes (a log shipper) never reads.
    # Closing with them unread makes its kernel reset the connection, and the
    # reset throws away what it sent last before we have read it.
    context.num_tickets = 0
    _check_key_file(key or cert)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"TLS certificate {cert} / key {key or cert}: cannot load: {exc}") from None
    if ca:
        try:
            context.load_verify_locations(ca)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"TLS authorities {ca}: cannot load: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """A client context verifying the server against ``ca`` (the system's authorities when none).

    :param ca: PEM file of the authorities the server's certificate must be signed by.
    :param cert: our client certificate, when the server asks for one.
    :param key: its private key.
    :raises ValueError: naming the file that cannot be used.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if ca:
            context.load_verify_locations(ca)
        if cert:
            _check_key_file(key or cert)
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"TLS files (ca {ca}, certificate {cert}, key {key}): cannot load: {exc}") from None
    return context


def reason(exc: BaseException) -> str:
    """A short, readable reason for a socket or TLS failure, for log lines."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
