"""``[log] syslog``: an address that cannot work is refused at the start, in one line, not record by record.

Before, with no syslog daemon at the socket (or a port of 99999) the run went
on, exited 0, and every record, dead letters included, became a forty-line
"--- Logging error ---" traceback on standard error; "localhost:abc" gave a raw
ValueError traceback, and "[::1]:514" was taken as the host "[::1]".
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deadbeat import log


def write_pipeline(tmp_path: Path, address: str) -> Path:
    (tmp_path / "in.txt").write_text("one\ntwo\n")
    path = tmp_path / "p.toml"
    path.write_text(
        f"""
[log]
syslog = true
syslog_address = "{address}"

[[cog]]
use = "fs.read"
filenames = ["in.txt"]

[[cog]]
use = "fs.write"
filename = "out.txt"
"""
    )
    return path


def deadbeat(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


class TestRefusedAtTheStart:
    def test_no_syslog_daemon_at_the_socket(self, tmp_path: Path) -> None:
        """The socket path does not exist: exit 1, one line naming the key and the path, and the run never starts."""
        missing = tmp_path / "no-syslog.sock"
        write_pipeline(tmp_path, str(missing))
        result = deadbeat(tmp_path, "run", "--once", "p.toml")
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"deadbeat: p.toml: [log]: syslog_address: {missing}: cannot send to syslog there: No such file or"
            " directory (no syslog daemon listening? give syslog_address, or syslog = false)"
        ]
        assert not (tmp_path / "out.txt").exists()

    def test_a_socket_nobody_listens_on(self, tmp_path: Path) -> None:
        """A socket file left by a syslog daemon that is gone: connection refused, said the same way."""
        path = tmp_path / "dead.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
            gone.bind(str(path))
        write_pipeline(tmp_path, str(path))
        result = deadbeat(tmp_path, "run", "--once", "p.toml")
        assert result.returncode == 1
        assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
        assert f"[log]: syslog_address: {path}: cannot send to syslog there: Connection refused" in result.stderr

    @pytest.mark.parametrize(
        ("address", "why"),
        [
            ("127.0.0.1:99999", "the port must be a number from 1 to 65535, not '99999'"),
            ("localhost:abc", "the port must be a number from 1 to 65535, not 'abc'"),
            ("localhost:0", "the port must be a number from 1 to 65535, not '0'"),
            ("::1:514", "an IPv6 address goes in brackets, then the port: [::1]:514"),
        ],
    )
    def test_a_wrong_address_is_refused_by_check_and_run(self, tmp_path: Path, address: str, why: str) -> None:
        write_pipeline(tmp_path, address)
        checked = deadbeat(tmp_path, "check", "--once", "p.toml")
        assert checked.returncode == 1
        assert (
            "p.toml: log.syslog_address: expected a syslog socket path, or host:port" in checked.stdout + checked.stderr
        )
        result = deadbeat(tmp_path, "run", "--once", "p.toml")
        assert result.returncode == 1
        assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert not (tmp_path / "out.txt").exists()
        # configure() itself, as an application calls it, says why.
        with pytest.raises(OSError, match="^syslog_address: ") as caught:
            log.configure(stderr=False, syslog=True, syslog_address=address)
        assert why in str(caught.value)


class TestSent:
    def test_ipv6_in_brackets(self, tmp_path: Path) -> None:
        """``[::1]:PORT`` sends to ::1 over UDP; the whole run goes through, exit 0."""
        try:
            server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            server.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        with server:
            server.settimeout(10)
            port = server.getsockname()[1]
            write_pipeline(tmp_path, f"[::1]:{port}")
            result = deadbeat(tmp_path, "run", "--once", "p.toml")
            assert result.returncode == 0, result.stderr
            received = b""
            while b"finished: in 2, out 2" not in received:
                received += server.recv(4096)  # socket.timeout fails the test
            assert (tmp_path / "out.txt").read_text() == "one\ntwo\n"

    def test_syslog_going_away_later_is_one_line_not_a_traceback_per_record(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        address = str(tmp_path / "syslog.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(address)
        server.settimeout(5)
        log.configure(stderr=False, syslog=True, syslog_address=address)
        try:
            logging.getLogger("app").warning("first")
            assert b"first" in server.recv(1024)
            server.close()
            os.unlink(address)
            for number in range(5):
                logging.getLogger("app").error("lost %d", number)
        finally:
            log.configure()
        err = capsys.readouterr().err
        assert "Logging error" not in err and "Traceback" not in err
        assert err.count(f"deadbeat: syslog {address}: cannot send, records are lost meanwhile") == 1, err
