"""The systemd notification protocol, spoken directly: one datagram per message.

A service of ``Type=notify`` tells systemd it is ready (``READY=1``), what it is
doing (``STATUS=...``), that it is stopping (``STOPPING=1``) and that it is alive
(``WATCHDOG=1``, at least once per ``WatchdogSec``) by sending text datagrams to
the Unix socket named in ``$NOTIFY_SOCKET``. The protocol is a few lines of
``socket`` code, so no systemd library is needed; outside systemd (no
``$NOTIFY_SOCKET``) every call does nothing.

Why the watchdog pings come from the loop. systemd restarts a service whose
pings stop; the point is to catch a loop that no longer turns (a cog stuck in
a blocking call), so the pings are a timer of the Escapement, not a thread that
would go on pinging for a dead loop. They go at half of ``$WATCHDOG_USEC``, the
interval systemd's documentation recommends, leaving a whole half for a slow turn.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

__all__ = ["Notifier"]

log = logging.getLogger("deadbeat.daemon")


class Notifier:
    """Sends systemd notifications to ``$NOTIFY_SOCKET``, or nothing when it is not set.

    :param environ: where to read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and
        ``WATCHDOG_PID`` (the process environment by default).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        # An address starting with "@" is in the abstract namespace: a NUL byte in the kernel's terms.
        self.address: str | None = ("\0" + address[1:] if address.startswith("@") else address) or None
        self.watchdog_interval: float | None = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1_000_000 / 2
        self._socket: socket.socket | None = None
        self._failed = False

    @property
    def enabled(self) -> bool:
        """Whether systemd listens (``$NOTIFY_SOCKET`` is set)."""
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send one message of ``KEY=value`` lines, e.g. ``notify(READY=1, STATUS="reading")``.

        :returns: whether it was sent; a failure is logged once and never raised:
            a lost notification must not stop the data.
        """
        if self.address is None:
            return False
        text = "\n".join(f"{key}={str(value).replace(chr(10), ' ')}" for key, value in fields.items())
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(text.encode("utf-8", "replace"), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.warning("cannot notify systemd at %s: %s", self.address.replace("\0", "@"), exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Tell systemd the service is up (``READY=1``), with a status line."""
        return self.notify(READY=1, STATUS=status) if status else self.notify(READY=1)

    def stopping(self, status: str = "") -> bool:
        """Tell systemd the service is stopping (``STOPPING=1``)."""
        return self.notify(STOPPING=1, STATUS=status) if status else self.notify(STOPPING=1)

    def reloading(self, status: str = "") -> bool:
        """Tell systemd the service reloads its configuration (``RELOADING=1``); :meth:`ready` ends it.

        ``MONOTONIC_USEC`` goes with it, as ``Type=notify-reload`` requires.
        """
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        fields: dict[str, str | int] = {"RELOADING": 1, "MONOTONIC_USEC": now}
        if status:
            fields["STATUS"] = status
        return self.notify(**fields)

    def status(self, text: str) -> bool:
        """Set the line ``systemctl status`` shows."""
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """Tell systemd the loop still turns (``WATCHDOG=1``)."""
        return self.notify(WATCHDOG=1)

    def start_watchdog(self, every: Callable[..., object]) -> bool:
        """Ping the watchdog at half of ``$WATCHDOG_USEC`` through ``every(interval, callback)``.

        :param every: a repeating timer, such as ``functools.partial(esc.every, keeps_alive=False)``.
        :returns: whether systemd asked for pings.
        """
        if self.address is None or self.watchdog_interval is None:
            return False
        every(self.watchdog_interval, self.watchdog)
        return True

    def close(self) -> None:
        """Release the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
