"""Logging configuration: handlers, event ids and logrotate."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from deadbeat import log


class TestConfigure:
    def test_file_logging_survives_logrotate(self, tmp_path: Path) -> None:
        """After the log file is moved away, new lines go to a new file at the same path."""
        path = tmp_path / "app.log"
        log.configure(level="info", stderr=False, file=str(path), format="%(event_id)s %(message)s")
        try:
            logging.getLogger("t").info("before")
            os.rename(path, tmp_path / "app.log.1")
            logging.getLogger("t").info("after")
        finally:
            log.configure()
        assert (tmp_path / "app.log.1").read_text() == "- before\n"
        assert path.read_text() == "- after\n"

    def test_event_logger_prefixes_the_event_id(self, tmp_path: Path) -> None:
        """event_logger puts the id first in the message and in the record."""
        path = tmp_path / "ev.log"
        log.configure(level="debug", stderr=False, file=str(path), format="[%(event_id)s] %(message)s")
        try:
            log.event_logger("cog", "idea-42").warning("removed %s", "/tmp/x")
            log.event_logger(logging.getLogger("cog"), None).warning("no id")
        finally:
            log.configure()
        assert path.read_text().splitlines() == ["[idea-42] idea-42: removed /tmp/x", "[-] -: no id"]

    def test_level_filters(self, tmp_path: Path) -> None:
        """Messages below the configured level are dropped."""
        path = tmp_path / "lvl.log"
        log.configure(level="warning", stderr=False, file=str(path), format="%(levelname)s")
        try:
            logging.getLogger("t").info("quiet")
            logging.getLogger("t").error("loud")
        finally:
            log.configure()
        assert path.read_text() == "ERROR\n"

    def test_syslog_to_a_unix_socket(self, tmp_path: Path) -> None:
        """Syslog output reaches a real datagram socket with the facility's priority."""
        import socket

        address = str(tmp_path / "syslog.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(address)
        server.settimeout(5)
        log.configure(level="info", stderr=False, syslog=True, syslog_address=address, syslog_facility="local3")
        try:
            logging.getLogger("app").warning("to syslog")
            message = server.recv(1024)
        finally:
            log.configure()
            server.close()
        # local3 (19) * 8 + warning (4) = 156
        assert message.startswith(b"<156>app[") and b"WARNING to syslog" in message
