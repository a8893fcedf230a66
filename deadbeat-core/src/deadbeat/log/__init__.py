"""Logging set up the same way for every Deadbeat application.

:func:`configure` takes the ``log`` section of :data:`log_base_config`
(``log.configure(**cfg.log)``). Every record gets an ``event_id`` attribute
(``-`` when none), so formats can show it; :func:`event_logger` gives a logger
whose messages start with the event id, as the manual asks of cogs.

Under systemd. When standard error is the journal's stream (``$JOURNAL_STREAM``
names its device and inode), each line starts with the ``<N>`` syslog priority
the journal reads, and leaves out the time and pid the journal records anyway;
``json = true`` writes one JSON object per line instead, for log shippers.
"""

from __future__ import annotations

import datetime
import json as jsonlib
import logging
import logging.handlers
import os
import sys
from collections.abc import MutableMapping
from typing import Any

from ..conf import (
    cast_boolean,
    cast_choice,
    cast_loglevel,
    cast_optional,
    cast_path,
    cast_str,
    cfg_item,
    cfg_section,
    expects,
)

__all__ = [
    "DEFAULT_FORMAT",
    "EventIdFilter",
    "JournalFormatter",
    "JsonFormatter",
    "SafeFileHandler",
    "SafeFormatter",
    "cast_syslog_address",
    "configure",
    "escape_controls",
    "event_logger",
    "log_base_config",
    "syslog_address_of",
]

DEFAULT_FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s"
SYSLOG_FORMAT = "%(name)s[%(process)d]: %(levelname)s %(message)s"

_FACILITIES = tuple(sorted(logging.handlers.SysLogHandler.facility_names))


def syslog_address_of(text: str) -> str | tuple[str, int]:
    """Where ``[log] syslog_address`` sends: a unix socket's path, or ``(host, port)`` for UDP.

    ``host:port``, an IPv6 address in brackets (``[::1]:514``); anything
    starting with ``/`` or without a ``:`` is a socket path.

    :raises ValueError: saying what is wrong: a port that is not a number from 1
        to 65535, an IPv6 address without its brackets, no host.
    """
    if not text or "\0" in text:
        raise ValueError(f"{text!r}: not a socket path nor host:port")
    if text.startswith("/") or ":" not in text:
        return text
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]:")
        if not bracket or not host:
            raise ValueError(f"{text!r}: an IPv6 address goes in brackets, then the port: [::1]:514")
    else:
        host, _, port = text.rpartition(":")
        if ":" in host:
            raise ValueError(f"{text!r}: an IPv6 address goes in brackets, then the port: [{host}]:{port or 514}")
        if not host:
            raise ValueError(f"{text!r}: no host before the port (host:port, or a socket path starting with /)")
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535, not {port!r}")
    return host, int(port)


@expects(
    "a syslog socket path, or host:port for UDP ([address]:port for IPv6, the port from 1 to 65535)", "syslog address"
)
def cast_syslog_address(value: Any) -> str:
    """Accept what :func:`syslog_address_of` takes, as the text given."""
    if not isinstance(value, str):
        raise ValueError(value)
    syslog_address_of(value)
    return value


def _check_syslog_socket(path: str) -> None:
    """Connect to the syslog socket ``path`` once, as :class:`logging.handlers.SysLogHandler` does.

    The handler takes a socket that is not there at the start quietly, and
    then prints a traceback for every record it cannot send: the run went on
    and its log, dead letters included, went nowhere.

    :raises OSError: naming the key and the path, when no syslog listens there.
    """
    import errno
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(path)
            return
        except OSError as exc:
            first = exc
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
            return
        except OSError as exc:
            # A stream socket refuses a datagram connect (EPROTOTYPE): then the stream's reason is the one to say.
            reason = exc if first.errno == errno.EPROTOTYPE else first
    raise OSError(
        f"syslog_address: {path}: cannot send to syslog there: {reason.strerror or reason}"
        " (no syslog daemon listening? give syslog_address, or syslog = false)"
    )


#: The ``log`` section an application adds to its configuration.
log_base_config = cfg_section(
    "log",
    (
        cfg_item("level", cast_loglevel, "Lowest level of messages to log", "info"),
        cfg_item("stderr", cast_boolean, "Log to standard error", True),
        cfg_item("file", cast_optional(cast_path), "Log to this file (reopened after logrotate moves it)", None),
        cfg_item("syslog", cast_boolean, "Log to syslog", False),
        cfg_item(
            "syslog_address", cast_syslog_address, "Syslog socket path, or host:port for UDP ([::1]:514)", "/dev/log"
        ),
        cfg_item("syslog_facility", cast_choice(*_FACILITIES), "Syslog facility", "daemon"),
        cfg_item("format", cast_optional(cast_str), "logging format string (default: time, name, pid, level)", None),
        cfg_item(
            "json", cast_boolean, "Log to standard error and the file as JSON lines (one object per record)", False
        ),
    ),
    "Logging",
)


#: Characters that reorder the text around them on a terminal (the bidirectional controls and marks): in a
#: quoted datum or file name, one could make a log line read otherwise than it is.
_BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _escape_table() -> dict[int, str]:
    table = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
    table.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})
    table.update({code: f"\\u{code:04x}" for code in _BIDI_CONTROLS})
    return table


_ESCAPES = _escape_table()


def escape_controls(text: str) -> str:
    """:returns: ``text`` with line breaks, other control characters and bidirectional controls written as escapes."""
    return text.translate(_ESCAPES)


class SafeFormatter(logging.Formatter):
    """A formatter that writes control characters of the message as escapes.

    Messages quote data (event ids, lines, file names); a datum holding a newline
    must not be able to forge a line of its own in the log. Tracebacks, added
    after the message, keep their lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - the logging API's name
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


#: Syslog priorities of the logging levels, as the journal reads them from a ``<N>`` prefix.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
JOURNAL_FORMAT = "%(name)s: %(levelname)s %(message)s"


class JournalFormatter(SafeFormatter):
    """Lines for the systemd journal: a ``<N>`` priority prefix, no time or pid (the journal keeps those).

    A traceback's lines follow in the same record; the journal takes each line
    as an entry of the same priority only when prefixed, so every line is.
    """

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in _PRIORITIES if record.levelno >= level), 7)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).split("\n"))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``pid``, ``event_id``, ``message`` and, with an exception, ``traceback``.

    JSON escapes every control character, so a datum cannot forge a line.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "event_id": getattr(record, "event_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return jsonlib.dumps(entry, ensure_ascii=False, default=str)


def stderr_is_journal() -> bool:
    """:returns: whether standard error is connected to the systemd journal (``$JOURNAL_STREAM``)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        status = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (int(device), int(inode))


class EventIdFilter(logging.Filter):
    """Give every record an ``event_id`` attribute (``"-"`` when not set)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "event_id"):
            record.event_id = "-"
        return True


class _EventAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        event_id = self.extra["event_id"] if self.extra else "-"
        kwargs.setdefault("extra", {})["event_id"] = event_id
        return f"{event_id}: {msg}", kwargs


def event_logger(logger: logging.Logger | str, event_id: Any) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """:returns: a logger whose messages start with ``event_id`` and carry it as ``event_id``."""
    if isinstance(logger, str):
        logger = logging.getLogger(logger)
    return _EventAdapter(logger, {"event_id": "-" if event_id is None else event_id})


class SafeFileHandler(logging.handlers.WatchedFileHandler):
    """A ``WatchedFileHandler`` (reopened when logrotate moves the file) that never writes through a link.

    The file is opened by :func:`deadbeat.daemon.open_log_file`: no link
    another account could have planted is followed on the way to its
    directory, the file itself is opened with ``O_NOFOLLOW``, and a file that
    is not a plain file of ours (another user's, or with other hard links)
    is refused, at the start and at every reopening.

    When the file cannot be opened again after logrotate moved it (a link
    planted in its place), standard error says so once, and lines are not
    written to the file until it can be: logging never raises into the code
    that logs.

    :raises deadbeat.daemon.UnsafePath: when the place or the file is unsafe at the start.
    """

    _refused = ""

    def _open(self) -> Any:
        from ..daemon import open_log_file

        fd = open_log_file(self.baseFilename)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.reopenIfNeeded()
            if self.stream is None:
                self.stream = self._open()
                self._statstream()
        except OSError as exc:
            if str(exc) != self._refused:
                self._refused = str(exc)
                sys.stderr.write(f"deadbeat: log file {self.baseFilename}: cannot write: {exc}\n")
            return
        self._refused = ""
        logging.FileHandler.emit(self, record)


class _SysLogHandler(logging.handlers.SysLogHandler):
    """A ``SysLogHandler`` whose failures to send (the syslog daemon restarted or gone) are one line on
    standard error, said once until sending works again, instead of a traceback for every record."""

    _failing = ""
    _failed = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)
        if not self._failed:
            self._failing = ""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - the logging API's name
        self._failed = True
        exc = sys.exc_info()[1]
        said = f"{type(exc).__name__}: {exc}"
        if said == self._failing:
            return
        self._failing = said
        try:
            sys.stderr.write(f"deadbeat: syslog {self.address}: cannot send, records are lost meanwhile: {exc}\n")
        except (OSError, ValueError):
            pass


_installed: list[logging.Handler] = []


def configure(
    level: str | int = "info",
    stderr: bool = True,
    file: str | None = None,
    syslog: bool = False,
    syslog_address: str = "/dev/log",
    syslog_facility: str = "daemon",
    format: str | None = None,
    json: bool = False,
) -> None:
    """Set up the root logger; calling it again replaces what it set up before.

    :param level: lowest level logged (name or number).
    :param stderr: log to standard error.
    :param file: log to this file; it is reopened when logrotate moves it away,
        and never written through a link (:class:`SafeFileHandler`).
    :param syslog: log to syslog at ``syslog_address`` (a socket path, or
        ``host:port`` for UDP, ``[address]:port`` for IPv6; see
        :func:`syslog_address_of`). A socket path must have a syslog daemon
        listening when this is called: a log that would go nowhere is refused
        at the start, not found record by record. Records that cannot be sent
        later (the daemon restarted) are lost, said in one line on standard
        error until sending works again.
    :param syslog_facility: syslog facility name.
    :param format: a :mod:`logging` format string; ``%(event_id)s`` is available.
    :param json: standard error and the file get JSON lines (:class:`JsonFormatter`;
        syslog keeps its own lines). Otherwise, when standard error is the
        systemd journal, lines carry ``<N>`` priority prefixes (:class:`JournalFormatter`).
    :raises OSError: when the file or syslog cannot be used (a log file whose
        place is unsafe: :class:`deadbeat.daemon.UnsafePath`; a syslog address
        that is wrong or where nothing listens, the message starting with
        ``syslog_address:``); what was set up before is then kept.
    """
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    try:
        if stderr:
            err_handler = logging.StreamHandler(sys.stderr)
            if json:
                err_handler.setFormatter(JsonFormatter())
            elif stderr_is_journal():
                err_handler.setFormatter(JournalFormatter(format or JOURNAL_FORMAT))
            handlers.append(err_handler)
        if file:
            file_handler = SafeFileHandler(file, encoding="utf-8")
            if json:
                file_handler.setFormatter(JsonFormatter())  # for a log shipper reading the file
            handlers.append(file_handler)
        if syslog:
            try:
                address = syslog_address_of(syslog_address)
            except ValueError as exc:
                raise OSError(f"syslog_address: {exc}") from None
            if isinstance(address, str):
                _check_syslog_socket(address)
            facility = logging.handlers.SysLogHandler.facility_names[syslog_facility]
            try:
                sys_handler = _SysLogHandler(address=address, facility=facility)
            except OSError as exc:
                # A host name that does not resolve.
                raise OSError(f"syslog_address: {syslog_address}: {exc.strerror or exc}") from None
            sys_handler.setFormatter(SafeFormatter(format or SYSLOG_FORMAT))
            handlers.append(sys_handler)
    except BaseException:
        for handler in handlers:
            handler.close()
        raise
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    _installed.clear()
    for handler in handlers:
        if handler.formatter is None:
            handler.setFormatter(SafeFormatter(format or DEFAULT_FORMAT))
        handler.addFilter(EventIdFilter())
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
