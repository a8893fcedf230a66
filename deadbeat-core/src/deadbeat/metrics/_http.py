"""``/metrics``, ``/health`` and ``/ready`` over HTTP, in a thread of their own.

Why a thread, and why it never touches a cog. The HTTP server must answer even
while the loop is busy with a long batch, and must not add its sockets' work to
the loop's turns; so it runs in a daemon thread with the standard library's
server. It never reads a train or a cog itself: each request hands
:func:`~deadbeat.metrics.snapshot` to the loop (``call_soon_threadsafe``) and
waits for the result, so every figure is read in the loop's thread, between two
callbacks, where no counter is half-updated and no cog's dict changes size
under the reader. A loop that does not answer within ``timeout`` seconds is
stuck: ``/health`` then says 503, which is what a liveness probe is for.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.server
import logging
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..movement import Escapement, Train
from ._snapshot import Snapshot, snapshot

__all__ = ["MetricsServer", "prometheus_text"]

log = logging.getLogger("deadbeat.metrics")


#: Names of the families the core writes for every cog: a cog's own figure of such a name is left out.
_CORE_NAMES = frozenset({"data_in_total", "data_out_total", "errors_total"})


def _metric_name(name: str) -> str | None:
    """``deadbeat_cog_NAME`` for a cog's own figure, made a valid metric name; ``None`` for one the core owns."""
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", name).lower()
    if cleaned in _CORE_NAMES or cleaned.removesuffix("_total") in {"data_in", "data_out", "errors"}:
        return None
    return f"deadbeat_cog_{cleaned}"


def _families(shot: Snapshot) -> Iterator[Any]:
    """The Prometheus metric families of a snapshot."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    train_labels = ["train"]
    cog_labels = ["train", "position", "cog"]
    events_in = CounterMetricFamily("deadbeat_train_events_in", "Data that entered the train", labels=train_labels)
    events_out = CounterMetricFamily(
        "deadbeat_train_events_out", "Data that left the train's last cog", labels=train_labels
    )
    errors = CounterMetricFamily("deadbeat_train_errors", "Data that went to the error output", labels=train_labels)
    held = GaugeMetricFamily("deadbeat_train_held", "Data held back by cogs (in flight)", labels=train_labels)
    paused = GaugeMetricFamily("deadbeat_train_paused", "1 while the supplies are paused", labels=train_labels)
    blocked = GaugeMetricFamily("deadbeat_train_blocked_outputs", "Outputs that cannot take data", labels=train_labels)
    cog_in = CounterMetricFamily("deadbeat_cog_data_in", "Data given to the cog", labels=cog_labels)
    cog_out = CounterMetricFamily("deadbeat_cog_data_out", "Data the cog gave on", labels=cog_labels)
    cog_errors = CounterMetricFamily("deadbeat_cog_errors", "Data the cog raised on or rejected", labels=cog_labels)
    seconds = CounterMetricFamily(
        "deadbeat_stage_seconds",
        "Time spent in a stage of the generated code (cogs first to last)",
        labels=["train", "first", "last"],
    )
    reported: dict[str, Any] = {}
    for train in shot.trains:
        events_in.add_metric([train.name], train.events_in)
        events_out.add_metric([train.name], train.events_out)
        errors.add_metric([train.name], train.errors)
        held.add_metric([train.name], train.held)
        paused.add_metric([train.name], 1 if train.paused else 0)
        blocked.add_metric([train.name], train.blocked)
        for first, end, spent in train.stages:
            seconds.add_metric([train.name, str(first), str(end - 1)], spent)
        for cog in train.cogs:
            labels = [train.name, str(cog.position), cog.name]
            # Only what is known: a supply is given nothing; counting stages, a cog inside a nest has neither.
            if cog.data_in is not None:
                cog_in.add_metric(labels, cog.data_in)
            if cog.data_out is not None:
                cog_out.add_metric(labels, cog.data_out)
            cog_errors.add_metric(labels, cog.errors)
            # A name is one family whatever cog reports it; a counter and a
            # gauge of the same name (after cleaning) would be two families of
            # one name, which Prometheus refuses: the first kind seen keeps it.
            for kind, figures in (("counter", cog.counters), ("gauge", cog.gauges)):
                for name, value in figures.items():
                    metric = _metric_name(name)
                    if metric is None:
                        continue
                    key = metric.removesuffix("_total")
                    family = reported.get(key)
                    if family is None:
                        make = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                        family = reported[key] = make(metric, f"{name} as the cog reports it", labels=cog_labels)
                    elif family.type != kind:
                        continue
                    family.add_metric(labels, value)
    up = GaugeMetricFamily("deadbeat_ready", "1 when every supply is open and every output takes data")
    up.add_metric([], 1 if shot.ready else 0)
    failures = GaugeMetricFamily("deadbeat_failures", "Failures the run could not make good (exit status 1 at the end)")
    failures.add_metric([], shot.failures)
    yield from (events_in, events_out, errors, held, paused, blocked, cog_in, cog_out, cog_errors, seconds)
    yield from reported.values()
    yield from (up, failures)


class _Collector:
    """A prometheus_client collector giving one snapshot's families."""

    def __init__(self, shot: Snapshot) -> None:
        self.shot = shot

    def collect(self) -> Iterator[Any]:
        return _families(self.shot)


def prometheus_text(shot: Snapshot, process: bool = True) -> bytes:
    """:returns: ``shot`` in the Prometheus text exposition format, by ``prometheus_client``.

    :param process: add the process's own figures (CPU seconds, memory, open
        descriptors) as ``process_*``.
    """
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(shot))  # type: ignore[arg-type]
    if process:
        ProcessCollector(registry=registry)
    return generate_latest(registry)


class MetricsServer:
    """Serves ``/metrics``, ``/health`` and ``/ready`` for an Escapement's trains.

    :param esc: the Escapement whose loop reads the figures.
    :param trains: gives the trains to report, asked at each request (a
        reloaded pipeline brings new ones).
    :param host: address to listen on; loopback unless said otherwise.
    :param port: port to listen on; 0 takes a free one (see :attr:`port`).
    :param timeout: seconds the loop has to answer before ``/health`` says 503.
    :raises ImportError: when ``prometheus-client`` is not installed (``deadbeat-core[metrics]``).
    :raises OSError: when the address cannot be bound.
    """

    def __init__(
        self,
        esc: Escapement,
        trains: Callable[[], list[Train]],
        host: str = "127.0.0.1",
        port: int = 9109,
        timeout: float = 5.0,
    ) -> None:
        import prometheus_client  # noqa: F401 - fail now, with the extra's name, not at the first scrape

        self.esc = esc
        self.trains = trains
        self.timeout = timeout
        #: Failures of the pipelines that ran before ``esc``'s, in this process (a reload starts a new
        #: Escapement, with none of its own): ``deadbeat_failures`` counts them too, as the exit status will.
        self.failures_before = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server._answer(self)

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
                # What GET would answer, without the body (a monitor's probe).
                server._answer(self, body=False)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                log.debug("metrics: " + format, *args)

        # An IPv6 address (::1) needs a server of that family; ThreadingHTTPServer is IPv4's.
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        server_class = type(
            "MetricsServer",
            (http.server.ThreadingHTTPServer,),
            {"address_family": family, "handle_error": _handle_error},
        )
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start answering, in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="deadbeat-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop answering and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def _snapshot(self) -> Snapshot | None:
        """The figures, read in the loop's thread; ``None`` when the loop does not answer in time."""
        future: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()

        def read() -> None:
            try:
                shot = snapshot(self.trains(), self.esc)
                if self.failures_before:
                    shot = dataclasses.replace(shot, failures=shot.failures + self.failures_before)
                future.set_result(shot)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(exc)

        try:
            self.esc.loop.call_soon_threadsafe(read)
            return future.result(self.timeout)
        except (RuntimeError, concurrent.futures.TimeoutError):
            return None  # the loop is closed, or stuck

    def _answer(self, request: http.server.BaseHTTPRequestHandler, body: bool = True) -> None:
        def send(status: int, text: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self._send(request, status, text, content_type, body)

        path = request.path.split("?", 1)[0]
        if path not in ("/metrics", "/health", "/ready"):
            send(404, b"not found: try /metrics, /health or /ready\n")
            return
        shot = self._snapshot()
        if path == "/health":
            if shot is None:
                send(503, b"the loop does not answer\n")
            else:
                send(200, b"ok\n")
        elif path == "/ready":
            if shot is None:
                send(503, b"the loop does not answer\n")
            elif shot.ready:
                send(200, b"ready\n")
            else:
                send(503, ("\n".join(shot.not_ready) + "\n").encode())
        elif shot is None:
            send(503, b"the loop does not answer\n")
        else:
            from prometheus_client import CONTENT_TYPE_LATEST

            send(200, prometheus_text(shot), CONTENT_TYPE_LATEST)

    @staticmethod
    def _send(
        request: http.server.BaseHTTPRequestHandler,
        status: int,
        text: bytes,
        content_type: str = "text/plain; charset=utf-8",
        body: bool = True,
    ) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(text)))
            request.end_headers()
            if body:
                request.wfile.write(text)
        except (ConnectionError, TimeoutError) as exc:
            # A scraper that gave up (its timeout ran out while the loop was busy): nobody to answer.
            _client_gone(request.client_address, exc)


def _client_gone(client_address: Any, exc: BaseException) -> None:
    log.debug("metrics: %s went away before the answer was sent: %s", _client(client_address), exc)


def _client(client_address: Any) -> str:
    if isinstance(client_address, tuple) and len(client_address) >= 2:
        return f"{client_address[0]}:{client_address[1]}"
    return str(client_address)


def _handle_error(self: Any, request: Any, client_address: Any) -> None:
    """The server's ``handle_error``: through logging, never a traceback printed on standard error.

    ``socketserver`` prints "Exception occurred during processing of request"
    and the traceback to ``sys.stderr`` itself, past the log's handlers and
    format. A client that went away (the last flush of an answer it no longer
    waits for) is said at debug level; anything else is an error of the log's.
    """
    exc = sys.exc_info()[1]
    if isinstance(exc, (ConnectionError, TimeoutError)):
        _client_gone(client_address, exc)
        return
    log.error("metrics: request from %s failed", _client(client_address), exc_info=True)
