"""Per-cog counters, the metrics server over real HTTP, systemd notifications over a real socket, log formats."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deadbeat import daemon, metrics, movement
from deadbeat import log as dblog


def tag(datum: Any) -> tuple[Any, ...]:
    return (datum,)


def drop_odd(datum: int) -> tuple[int, ...]:
    return (datum,) if datum % 2 == 0 else ()


def twice(datum: Any) -> tuple[Any, ...]:
    return (datum, datum)


def refuse_4(datum: int) -> tuple[int, ...]:
    if datum == 4:
        raise ValueError("four")
    return (datum,)


class Whole:
    """A list cog: a stage of its own."""

    one_to_one = True

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        return (datum,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        return list(data)


class Reporting:
    """A cog reporting figures of its own, as supplies and outputs should."""

    def __init__(self) -> None:
        self.counts = {"seen": 0}

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        self.counts["seen"] += 1
        return (datum,)

    def metrics(self) -> dict[str, float]:
        return {"pending": 3, "written_total": self.counts["seen"], "ready": 1}


def quiet_train(cogs: list[Any], measure: str) -> movement.Train:
    train = movement.Train(movement.Escapement(), cogs, error_output=lambda record: None)
    train.measure = measure
    return train


class TestTrainCounts:
    def test_every_cog_counted_when_measuring_cogs(self) -> None:
        """measure="cogs": in, out and errors per cog add up to what each cog did, late sends included."""
        train = quiet_train([tag, drop_odd, Whole(), twice, refuse_4], "cogs")
        train.send(None, list(range(10)))
        train.send(train.cogs[1], [4, 6])  # sent late by drop_odd
        shot = metrics.snapshot([train])
        cogs = shot.trains[0].cogs
        assert [(c.data_in, c.data_out, c.errors) for c in cogs[1:]] == [
            (10, 7, 0),  # 5 at once, 2 sent late
            (7, 7, 0),
            (7, 14, 0),
            (14, 10, 4),
        ]
        assert cogs[0].data_in is None  # a supply is given nothing
        assert cogs[4].data_out == train.events_out == 10
        assert cogs[1].dropped == 3
        assert shot.trains[0].errors == 4

    def test_stages_counted_at_their_ends(self) -> None:
        """measure="stages": a list cog's counts are exact; inside a nest only its ends are known."""
        train = quiet_train([tag, drop_odd, Whole(), twice, refuse_4], "stages")
        train.send(None, list(range(10)))
        cogs = metrics.snapshot([train]).trains[0].cogs
        assert train.stages() == [(0, 1), (1, 2), (2, 3), (3, 5)]
        assert (cogs[2].data_in, cogs[2].data_out) == (5, 5)
        assert (cogs[3].data_in, cogs[3].data_out) == (5, None)
        assert (cogs[4].data_in, cogs[4].data_out, cogs[4].errors) == (None, 8, 2)
        assert all(seconds >= 0 for _, _, seconds in metrics.snapshot([train]).trains[0].stages)

    def test_off_by_default_and_the_code_has_no_counter(self) -> None:
        """A train that does not measure counts only its totals and errors per cog."""
        train = quiet_train([tag, refuse_4], "off")
        assert "passed" not in train.explain()
        train.send(None, [3, 4])
        cogs = metrics.snapshot([train]).trains[0].cogs
        assert (cogs[1].data_in, cogs[1].errors) == (None, 1)

    def test_cogs_report_counts_and_metrics(self) -> None:
        """``counts`` values are counters, ``metrics()`` names ending in _total too, the rest gauges."""
        cog = Reporting()
        train = quiet_train([tag, cog], "stages")
        train.send(None, [1, 2])
        row = metrics.snapshot([train]).trains[0].cogs[1]
        assert row.counters == {"seen_total": 2.0, "written_total": 2.0}
        assert row.gauges == {"pending": 3.0, "ready": 1.0}

    def test_measure_refuses_unknown_modes(self) -> None:
        """A mistyped mode is an error, not silently off."""
        with pytest.raises(ValueError, match="stages"):
            quiet_train([tag], "stage")


class TestMetricsServer:
    def test_scrape_during_a_run(self) -> None:
        """/metrics, /health and /ready answer over real HTTP while the loop runs; counters match the data sent."""
        esc = movement.Escapement()
        sent = list(range(25))

        class Supply(movement.Supply):
            def __init__(self) -> None:
                esc.after(0, self.give)

            def give(self) -> list[int]:
                return list(sent)

        train = movement.Train(esc, [Supply(), drop_odd, Reporting()], name="scraped")
        train.measure = "cogs"
        server = metrics.MetricsServer(esc, lambda: [train], port=0)
        server.start()
        answers: dict[str, Any] = {}

        def scrape() -> None:
            try:
                base = f"http://127.0.0.1:{server.port}"
                for _ in range(200):
                    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
                    # The first callbacks may run before run() has marked the loop running (not ready yet).
                    if 'deadbeat_train_events_in_total{train="scraped"} 25.0' in text and "deadbeat_ready 1.0" in text:
                        break
                    threading.Event().wait(0.05)
                answers["metrics"] = text
                answers["health"] = urllib.request.urlopen(base + "/health", timeout=10).status
                answers["ready"] = urllib.request.urlopen(base + "/ready", timeout=10).status
                try:
                    urllib.request.urlopen(base + "/nothing", timeout=10)
                except urllib.error.HTTPError as exc:
                    answers["missing"] = exc.code
            finally:
                esc.loop.call_soon_threadsafe(lambda: (keeper.cancel(), esc.shutdown()))

        keeper = esc.every(10, lambda: None)  # keeps the loop alive until the scraper is done
        scraper = threading.Thread(target=scrape)
        scraper.start()
        try:
            esc.run()
        finally:
            scraper.join()
            esc.close()
            server.close()
        text = answers["metrics"]
        assert 'deadbeat_train_events_in_total{train="scraped"} 25.0' in text
        assert 'deadbeat_train_events_out_total{train="scraped"} 13.0' in text
        assert 'deadbeat_cog_data_in_total{cog="drop_odd",position="1",train="scraped"} 25.0' in text
        assert 'deadbeat_cog_data_out_total{cog="drop_odd",position="1",train="scraped"} 13.0' in text
        assert 'deadbeat_cog_seen_total{cog="Reporting",position="2",train="scraped"} 13.0' in text
        assert 'deadbeat_cog_pending{cog="Reporting",position="2",train="scraped"} 3.0' in text
        assert "deadbeat_ready 1.0" in text
        assert "process_cpu_seconds_total" in text
        assert (answers["health"], answers["ready"], answers["missing"]) == (200, 200, 404)

    def test_a_closed_loop_is_unhealthy(self) -> None:
        """When the loop cannot answer, /health and /ready say 503."""
        esc = movement.Escapement()
        server = metrics.MetricsServer(esc, lambda: [], port=0, timeout=0.5)
        server.start()
        esc.close()
        try:
            for path in ("/health", "/ready", "/metrics"):
                with pytest.raises(urllib.error.HTTPError) as caught:
                    urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10)
                assert caught.value.code == 503
        finally:
            server.close()

    def test_ipv6_loopback_and_head(self) -> None:
        """--metrics-address ::1 serves (it failed: address family not supported); HEAD answers as GET, no body."""
        esc = movement.Escapement()
        train = movement.Train(esc, [tag], name="six")
        server = metrics.MetricsServer(esc, lambda: [train], host="::1", port=0)
        server.start()
        answers: dict[str, Any] = {}

        def scrape() -> None:
            try:
                with urllib.request.urlopen(f"http://[::1]:{server.port}/metrics", timeout=10) as answer:
                    answers["metrics"] = answer.read()
                request = urllib.request.Request(f"http://[::1]:{server.port}/health", method="HEAD")
                with urllib.request.urlopen(request, timeout=10) as answer:
                    answers["head"] = (answer.status, answer.headers["Content-Length"], answer.read())
            finally:
                esc.loop.call_soon_threadsafe(lambda: (keeper.cancel(), esc.shutdown()))

        keeper = esc.every(10, lambda: None)  # keeps the loop alive until the scraper is done
        scraper = threading.Thread(target=scrape)
        scraper.start()
        try:
            esc.run()
        finally:
            scraper.join(30)
            server.close()
            esc.close()
        assert b'deadbeat_train_events_in_total{train="six"}' in answers["metrics"]
        assert answers["head"] == (200, "3", b"")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Any:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    listener.bind(str(path))
    listener.settimeout(10)
    yield path, listener
    listener.close()


class TestNotifier:
    def test_messages_reach_the_socket(self, notify_socket: Any) -> None:
        """READY, STATUS, STOPPING and WATCHDOG arrive as datagrams on $NOTIFY_SOCKET."""
        path, listener = notify_socket
        notifier = daemon.Notifier({"NOTIFY_SOCKET": str(path)})
        assert notifier.ready("reading\nfiles")
        assert notifier.status("in 5/s")
        assert notifier.watchdog()
        assert notifier.stopping()
        received = [listener.recv(4096).decode() for _ in range(4)]
        assert received == ["READY=1\nSTATUS=reading files", "STATUS=in 5/s", "WATCHDOG=1", "STOPPING=1"]
        notifier.close()

    def test_reloading_carries_the_monotonic_time(self, notify_socket: Any) -> None:
        """RELOADING=1 goes with MONOTONIC_USEC, as Type=notify-reload requires."""
        path, listener = notify_socket
        notifier = daemon.Notifier({"NOTIFY_SOCKET": str(path)})
        assert notifier.reloading("reloading p.toml")
        lines = listener.recv(4096).decode().split("\n")
        assert lines[0] == "RELOADING=1"
        assert lines[1].startswith("MONOTONIC_USEC=") and lines[1].split("=")[1].isdigit()
        assert lines[2] == "STATUS=reloading p.toml"
        notifier.close()

    def test_watchdog_pings_from_the_loop_at_half_the_interval(self, notify_socket: Any) -> None:
        """With $WATCHDOG_USEC, the loop pings at half of it; the pings stop with the loop."""
        path, listener = notify_socket
        notifier = daemon.Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
        assert notifier.watchdog_interval == 0.05
        esc = movement.Escapement()
        ticks: list[float] = []
        assert notifier.start_watchdog(lambda interval, callback: esc.every(interval, callback, keeps_alive=False))
        esc.every(0.05, lambda: ticks.append(1) if len(ticks) < 3 else esc.shutdown())
        try:
            esc.run()
        finally:
            esc.close()
        pings = [listener.recv(4096).decode() for _ in range(3)]
        assert pings == ["WATCHDOG=1"] * 3

    def test_nothing_without_systemd(self) -> None:
        """Without $NOTIFY_SOCKET, or with a watchdog meant for another pid, nothing is sent."""
        assert not daemon.Notifier({}).ready()
        other = daemon.Notifier({"NOTIFY_SOCKET": "/nowhere", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
        assert other.watchdog_interval is None


class TestLogFormats:
    def test_text_lines_escape_what_would_reorder_a_terminal(self) -> None:
        """A datum or file name holding U+202E (right-to-left override) reordered the operator's terminal line;
        bidirectional controls are written as escapes, as line breaks and other controls are."""
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(dblog.SafeFormatter("%(message)s"))
        logger = logging.getLogger("deadbeat.test.bidi")
        logger.addHandler(handler)
        try:
            logger.warning("file evil\u202etxt.exe\u2066x\u2069 and \u200f, \x1b[31m")
        finally:
            logger.removeHandler(handler)
        assert stream.getvalue() == "file evil\\u202etxt.exe\\u2066x\\u2069 and \\u200f, \\x1b[31m\n"

    def test_json_lines(self) -> None:
        """json = true: one JSON object per record, control characters escaped by JSON."""
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(dblog.JsonFormatter())
        handler.addFilter(dblog.EventIdFilter())
        logger = logging.getLogger("deadbeat.test.json")
        logger.addHandler(handler)
        try:
            logger.warning("bad\nline", extra={"event_id": "in.txt:10"})
        finally:
            logger.removeHandler(handler)
        (line,) = stream.getvalue().splitlines()
        entry = json.loads(line)
        assert (entry["level"], entry["event_id"], entry["message"]) == ("warning", "in.txt:10", "bad\nline")

    def test_journal_priorities(self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
        """When stderr is the journal's stream, every line carries its syslog priority."""
        status = os.fstat(2)
        monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
        assert dblog.stderr_is_journal()
        formatter = dblog.JournalFormatter(dblog.JOURNAL_FORMAT)
        record = logging.LogRecord("deadbeat", logging.ERROR, __file__, 1, "two\nlines", None, None)
        assert formatter.format(record) == "<3>deadbeat: ERROR two\\nlines"
        record = logging.LogRecord("deadbeat", logging.DEBUG, __file__, 1, "x", None, None)
        assert formatter.format(record).startswith("<7>")
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")
        assert not dblog.stderr_is_journal()


class TestExposition:
    def test_odd_and_clashing_names(self) -> None:
        """A figure is cleaned into a metric name; one clashing with the core's, or changing kind, is left out."""

        class Odd:
            counts = {"data_in": 5, "bytes-read": 7}

            def __call__(self, datum: Any) -> tuple[Any, ...]:
                return (datum,)

            def metrics(self) -> dict[str, float]:
                return {"bytes-read_total": 1, "bytes_read": 2, "lag seconds": 0.5}

        train = quiet_train([tag, Odd()], "stages")
        text = metrics.prometheus_text(metrics.snapshot([train]), process=False).decode()
        assert 'deadbeat_cog_bytes_read_total{cog="Odd",position="1",train="' in text
        assert 'deadbeat_cog_lag_seconds{cog="Odd",position="1",train="' in text
        assert text.count("# TYPE deadbeat_cog_bytes_read") == 1
        assert text.count("# TYPE deadbeat_cog_data_in_total") == 1
        assert "5.0" not in text
