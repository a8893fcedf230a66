"""Receiving JSON over HTTP, answering 2xx only once the train has taken the data.

What "accepted" means. A 200 answer says that every datum of the request went
through the whole train: written by the outputs, dropped by a filter, or put in
the error output. The request's data are one :class:`~deadbeat.movement.Batch`;
the handler waits for its ``batch_done``, which the train sends only when all of
them have left it and every output has flushed. A client that has its 200 may
forget its data. If that does not happen within ``ack_timeout`` seconds (an
output is slow or its peer down) the answer is 503 with ``Retry-After``: the data
are still on their way and will be delivered, so a client that sends them again
may deliver them twice. This is at-least-once delivery, the only kind a client
that must not lose data can have over HTTP.

All or nothing. A body is read whole (up to ``max_body``) and parsed before any
of it enters the train. A body that is not what its content type says (a line
that is not JSON, bytes that are not UTF-8) is refused with 400, naming the line
and column, and nothing of it enters: the client keeps all its data and can fix
and send the request again. A partial acceptance would leave it guessing which
lines to send again.

Backpressure. While the train is paused (its outputs hold too much, or one is
blocked), requests are answered 503 with ``Retry-After`` before their body is
read (a client sending ``Expect: 100-continue`` does not even send it).

Encodings. A body may come compressed (``Content-Encoding`` gzip or deflate);
it is decompressed here, bounded by ``max_body`` (see :mod:`._decoding`). Any
other encoding, and a charset other than UTF-8 (or US-ASCII, a part of it), is
refused with 415 before the body is read, naming what is taken.

Hostile clients. Bodies are bounded (413); a malformed request gets aiohttp's
400 and one log line (rate-limited); slow and idle connections are closed and
their number capped (see :mod:`._guard`). A connection is never closed to make
room once its request's head was read, until its answer is written, and data
whose connection closed before they could be answered do not enter the train:
data that entered it get their answer (unless the client itself goes away).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Annotated, Any

from deadbeat import conf, movement

from ._decoding import ACCEPTED, BodyEncodingError, Decoder, UnsupportedEncoding, coding_of
from ._guard import GuardedServer, peer_of
from ._json import MAX_DEPTH, BodyError, parse_document, parse_lines
from ._library import web
from ._ratelog import RateLimitedLog

__all__ = ["HTTPListenSupply"]

log = logging.getLogger("deadbeat.http")

#: Content types read as JSON lines, one document per line.
LINE_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
        "application/json-lines",
    }
)

#: Charsets a body may be declared in (JSON is UTF-8, of which US-ASCII is a part).
CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


class _ServerLog(logging.Logger):
    """What aiohttp's server says about a connection, with its complaints about clients rate-limited.

    aiohttp answers a request it cannot parse (binary garbage, a header line
    over the limit) with 400 by itself and logs it with a traceback; one client
    sending garbage in a loop would flood the log. Here each such complaint is
    one line, at most a few per window.
    """

    def __init__(self, said: RateLimitedLog) -> None:
        super().__init__("deadbeat.http.server")
        self.parent = log
        self._said = said

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else None
        reason = " ".join(f"{type(error).__name__}: {error}".split())[:300] if error is not None else "-"
        if self._about_a_client(msg):
            self._said.log(
                logging.WARNING,
                "malformed requests",
                "http.listen: a request from %s could not be read (%s); answered 400 and closed",
                args[0] if args else "-",
                reason,
            )
            return
        if type(error).__name__ == "RequestPayloadError":
            # The client's body (bad gzip, a chunk cut short), met again as aiohttp reads what the request left
            # unread; the request was answered 400 already, saying why: no server error of ours.
            log.debug("http.listen: %s (%s)", str(msg) % args, reason)
            return
        self._said.log(logging.ERROR, "server errors", "http.listen: %s (%s)", str(msg) % args, reason)

    error = exception  # type: ignore[assignment]

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        # aiohttp says "not HTTP at all" (a TLS hello on a plain port) at debug
        # level only; it is the same news for whoever reads the log.
        if self._about_a_client(msg):
            self.exception(msg, *args, **kwargs)
        else:
            super().debug(msg, *args, **kwargs)

    @staticmethod
    def _about_a_client(msg: object) -> bool:
        return isinstance(msg, str) and msg.startswith("Error handling request")


class HTTPListenSupply(movement.Supply):
    """Receive JSON documents POSTed over HTTP; answer 200 only once the train has taken them.

    A body of ``application/json`` is one document (a top-level array is one
    datum per item, unless ``split_arrays`` is false); a body of
    ``application/x-ndjson`` (or ``application/jsonl``) is one document per line,
    blank lines skipped. Each request's data go down the train as one batch, and
    the answer, ``{"accepted": N}``, is given once all of them have left the train
    (written, filtered out, or in the error output). A body that is not valid
    JSON is refused whole with 400, naming the line; nothing of it enters the train.
    While the train is paused by backpressure, or the data are not through it
    within ``ack_timeout``, the answer is 503 with ``Retry-After`` (what was sent
    may then arrive twice if the client sends it again). A body may be sent
    compressed (``Content-Encoding: gzip`` or ``deflate``); another encoding,
    or a charset other than UTF-8, is refused with 415. Binds to the loopback
    address unless ``host`` says otherwise.

    Each datum is the document itself; its event id ``http:REQUEST:INDEX`` is
    known to the train (error records, ``event_done``) without being in the
    data. ``document_setter``, ``peer_setter`` and ``id_setter`` put the
    document, the client's address and the id into mappings instead.

    :param esc: the Escapement (a Train is taken too).
    :param port: the TCP port to listen on (0: any free port).
    :param host: the address to bind; ``127.0.0.1`` (loopback) by default.
    :param path: the URL path that takes data; other paths are answered 404.
    :param max_body: largest body in bytes (as sent, and after decompression); larger are answered 413.
    :param max_depth: how deep a document may nest (a flat object is 1 deep); deeper is refused with 400.
    :param split_arrays: a JSON body holding an array gives one datum per item.
    :param ack_timeout: seconds to wait for the train to take a request's data
        before answering 503.
    :param retry_after: seconds a 503 answer asks the client to wait.
    :param request_timeout: seconds a connection has, from its opening or its
        last answer, to deliver a complete request (head and body); then it is closed.
    :param max_connections: connections open at once; beyond, the oldest one not
        being answered (idle, or still sending its request's head) is closed, or
        the new one when every open one has a request under way.
    :param document_setter: where the document goes in a new mapping (callable
        or field path, such as ``"event"``); by default the datum is the document.
    :param peer_setter: where the client's address goes (in that mapping, or in
        the document, which must then be an object); by default nowhere.
    :param id_setter: where the event id ``http:REQUEST:INDEX`` goes (a setter
        or field path), or a function of the datum that sets an id of its own.
        A datum whose setter fails goes to the error output.
    :param cert_file: a certificate (PEM) to serve HTTPS with; by default plain HTTP.
    :param key_file: its private key, if not in ``cert_file``.
    """

    def __init__(
        self,
        esc: movement.Escapement,
        port: Annotated[int, conf.Range(0, 65535)],
        host: str = "127.0.0.1",
        path: str = "/",
        max_body: Annotated[int, conf.Range(1)] = 1 << 20,
        max_depth: Annotated[int, conf.Range(1)] = MAX_DEPTH,
        split_arrays: bool = True,
        ack_timeout: Annotated[float, conf.Range(0, above=True)] = 30.0,
        retry_after: Annotated[int, conf.Range(1)] = 5,
        request_timeout: Annotated[float, conf.Range(0, above=True)] = 30.0,
        max_connections: Annotated[int, conf.Range(1)] = 256,
        document_setter: movement.FieldSetter | None = None,
        peer_setter: movement.FieldSetter | None = None,
        id_setter: movement.IdSetter | None = None,
        cert_file: conf.Path | None = None,
        key_file: conf.Path | None = None,
    ) -> None:
        for name, value in (
            ("max_body", max_body),
            ("max_depth", max_depth),
            ("max_connections", max_connections),
            ("retry_after", retry_after),
        ):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
        for name, number in (("ack_timeout", ack_timeout), ("request_timeout", request_timeout)):
            if not number > 0:
                raise ValueError(f"{name} must be more than 0 seconds, not {number!r}")
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', not {path!r}")
        esc = movement.escapement_of(esc)
        self.esc = esc
        self.port = port
        self.host = host
        self.path = path
        self.max_body = max_body
        self.max_depth = max_depth
        self.split_arrays = split_arrays
        self.ack_timeout = ack_timeout
        self.retry_after = retry_after
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.document_setter = document_setter
        self.peer_setter = peer_setter
        self.id_setter = id_setter
        self.cert_file = cert_file
        self.key_file = key_file
        self._set_document = movement.setter(document_setter) if document_setter is not None else None
        self._set_peer = movement.setter(peer_setter) if peer_setter is not None else None
        self._set_id = movement.id_setter(id_setter)
        self._ssl: ssl.SSLContext | None = None
        if cert_file:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(cert_file, key_file or None)
        self._said = RateLimitedLog(log)
        self._seq = itertools.count(1)
        #: Requests waiting for their batch's acknowledgement, by batch id.
        self._waiting: dict[Any, asyncio.Future[None]] = {}
        self._closing = False
        self._server: GuardedServer | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._stop: asyncio.Future[None] | None = None
        #: Requests answered 200, and refused by status; data accepted.
        self.counts = {"accepted": 0, "requests": 0, "refused": 0, "timed_out": 0, "busy": 0}
        # Bound now, so that a port in use or a bad address stops the start with a clear error.
        self._socket = _listening_socket(host, port)
        # The server starts on the loop's first turn: a cog built and never run
        # leaves no coroutine behind.
        self._life: movement.TaskBinding | None = None
        self._starting: movement.Binding | None = esc.enqueue(self._begin)

    @property
    def address(self) -> tuple[str, int]:
        """The address and port listened on (the port chosen when ``port`` is 0)."""
        name = self._socket.getsockname()
        return name[0], name[1]

    @property
    def open_connections(self) -> int:
        """How many client connections are open now."""
        return self._server.open_connections if self._server is not None else 0

    # -- the server's life ---------------------------------------------------------

    def _begin(self) -> None:
        self._starting = None
        self._life = self.esc.spawn(self._serve(), self._served)

    async def _serve(self) -> None:
        """Serve until finish: this task is the supply's binding, keeping the run alive meanwhile."""
        if self._closing:
            return  # finished before the loop came to start it
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        self._server = GuardedServer(
            self._handle,
            loop=loop,
            max_connections=self.max_connections,
            request_timeout=self.request_timeout,
            said=self._said,
            # aiohttp's own idle limit stays behind ours, so ours decides and says why.
            keepalive_timeout=self.request_timeout + 1,
            access_log=None,
            logger=_ServerLog(self._said),
            # Bodies are decompressed here (see _decoding), so that every encoding is answered as this cog answers.
            auto_decompress=False,
        )
        self._listener = await loop.create_server(self._server, sock=self._socket, ssl=self._ssl, backlog=1024)
        if self._closing:
            self._listener.close()
            return
        scheme = "https" if self._ssl is not None else "http"
        host, port = self.address
        log.info("http.listen: taking JSON on %s://%s:%d%s", scheme, host, port, self.path)
        await self._stop

    def _served(self, _: Any) -> None:
        """The serving task ended (at finish)."""
        return None

    # -- one request -----------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer a request, and write the answer before the connection counts as idle again.

        From here (the request's head was read) until the answer is written, the
        connection is not closed to make room for others (see :mod:`._guard`).
        """
        host, peer = peer_of(request.transport)
        server = self._server
        if server is not None:
            server.started(request.protocol)
        try:
            answer = await self._answer(request, host, peer)
            try:
                # Written here, not after this returns as aiohttp would, so that the connection is never idle
                # (and so closable) while its answer is still to be written.
                await answer.prepare(request)
                await answer.write_eof()
            except ConnectionError as exc:  # the client has gone
                log.debug("http.listen: the answer to %s could not be written: %s", peer, exc)
            return answer
        finally:
            if server is not None:
                server.answered(request.protocol)

    async def _answer(self, request: web.BaseRequest, host: str, peer: str) -> web.StreamResponse:
        self.counts["requests"] += 1
        refusal = self._refusal_before_the_body(request, peer)
        if refusal is not None:
            if request.body_exists:
                # The body is not read: a client that waited for "100 Continue" never sent it, and one that
                # did must not have it read as its next request. The connection ends with this answer.
                refusal.force_close()
            return refusal
        lines = request.content_type in LINE_TYPES
        if request.headers.get("Expect", "").lower() == "100-continue":
            # Checked everything that can be told from the head: now the body may come.
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await self._read_body(request)
        except BodyEncodingError as exc:
            self._said.log(
                logging.WARNING,
                "invalid bodies",
                "http.listen: a body from %s is not what its Content-Encoding says (%s); answered 400",
                peer,
                exc,
            )
            return self._refuse(400, str(exc))
        except Exception as exc:  # noqa: BLE001 - a connection lost or cut, a bad chunk: the request is over
            log.debug("http.listen: the body from %s did not arrive whole: %s", peer, exc)
            if "content-encoding" in str(exc).lower():
                encoding = request.headers.get("Content-Encoding", "")
                return self._refuse(400, f"the body is not what its Content-Encoding ({encoding}) says")
            return self._refuse(400, "the body did not arrive whole")
        if body is None:
            return self._too_large(peer)
        if self._server is not None:
            self._server.answering(request.protocol)
        try:
            documents = parse_lines(body, self.max_depth) if lines else self._documents(body)
        except BodyError as exc:
            self._said.log(
                logging.WARNING,
                "invalid bodies",
                "http.listen: a body from %s is not JSON (%s); answered 400",
                peer,
                exc,
            )
            return self._refuse(400, str(exc))
        if _gone(request):
            # Closed while its body came (request_timeout, or the client left): no answer can reach the
            # client, so its data do not enter the train (a client sending them again would duplicate them).
            log.debug("http.listen: the connection from %s closed before its request was answered", peer)
            return self._refuse(400, "the connection closed before the request was answered")
        return await self._take(documents, host, peer)

    def _refusal_before_the_body(self, request: web.BaseRequest, peer: str) -> web.StreamResponse | None:
        """:returns: the answer a request gets from its head alone, or ``None`` when its body is wanted."""
        if request.path != self.path:
            return self._refuse(404, f"no such path; POST to {self.path}")
        if request.method != "POST":
            return self._refuse(405, "only POST is taken here", {"Allow": "POST"})
        if self._closing:
            return self._busy("shutting down")
        if self.esc.is_paused(self):
            return self._busy("the pipeline is full; try again later")
        content_type = request.content_type
        if content_type not in LINE_TYPES and content_type != "application/json" and not content_type.endswith("+json"):
            return self._refuse(
                415, f"Content-Type {content_type!r} is not taken; send application/json or application/x-ndjson"
            )
        charset = request.charset
        if charset is not None and charset.strip().lower() not in CHARSETS:
            return self._refuse(415, f"charset {charset!r} is not taken; send the body as UTF-8 (charset=utf-8)")
        try:
            coding_of(request.headers.get("Content-Encoding", ""))
        except UnsupportedEncoding as exc:
            return self._refuse(415, str(exc), {"Accept-Encoding": ACCEPTED})
        length = request.content_length
        if length is not None and length > self.max_body:
            return self._too_large(peer)
        return None

    def _documents(self, body: bytes) -> list[Any]:
        document = parse_document(body, self.max_depth)
        return document if self.split_arrays and isinstance(document, list) else [document]

    async def _read_body(self, request: web.BaseRequest) -> bytes | None:
        """:returns: the whole body, decompressed as its Content-Encoding says, or ``None`` as soon as it is
        larger than ``max_body``, as sent or decompressed (the rest unread).

        :raises BodyEncodingError: when it is not what its Content-Encoding says.
        """
        coding = coding_of(request.headers.get("Content-Encoding", ""))  # taken: checked from the head
        decoder = Decoder(coding) if coding != "identity" else None
        chunks: list[bytes] = []
        sent = size = 0
        while True:
            chunk = await request.content.readany()
            if not chunk:
                if decoder is not None:
                    decoder.finish()
                return b"".join(chunks)
            sent += len(chunk)
            if sent > self.max_body:
                return None
            if decoder is not None:
                decoded = decoder.decode(chunk, self.max_body - size)
                if decoded is None:
                    return None
                chunk = decoded
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)

    async def _take(self, documents: list[Any], host: str, peer: str) -> web.StreamResponse:
        """Send the documents down the train as one batch and answer when it is acknowledged."""
        seq = next(self._seq)
        data, kept = self._make_data(documents, seq, host, peer)
        batch_id = ("http.listen", id(self), seq)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[batch_id] = waiter
        try:
            # Acknowledged within the send itself when nothing holds data back.
            self.esc.send_from(self, movement.Batch(data, batch_id=batch_id, event_ids=_ids(seq, len(data), kept)))
            try:
                await asyncio.wait_for(asyncio.shield(waiter), self.ack_timeout)
            except asyncio.TimeoutError:
                self.counts["timed_out"] += 1
                self._said.log(
                    logging.WARNING,
                    "slow acknowledgements",
                    "http.listen: the %d data of request http:%d from %s were not through the train within %g s"
                    " (ack_timeout); answered 503: they are still on their way, and may arrive twice if sent again",
                    len(documents),
                    seq,
                    peer,
                    self.ack_timeout,
                )
                return self._busy("the data are not through the pipeline yet", counted=False)
        finally:
            self._waiting.pop(batch_id, None)
        self.counts["accepted"] += len(documents)
        return web.json_response({"accepted": len(documents)})

    def _make_data(self, documents: list[Any], seq: int, host: str, peer: str) -> tuple[list[Any], list[int] | None]:
        """The data of a request's documents, as the setters shape them.

        :returns: the data and, when some went to the error output instead, the
            indexes of those kept (for their event ids); ``None`` when all were kept.
        """
        set_document, set_peer, set_id = self._set_document, self._set_peer, self._set_id
        if set_document is None and set_peer is None and set_id is None:
            return documents, None
        data: list[Any] = []
        kept: list[int] = []
        for index, document in enumerate(documents):
            event_id = f"http:{seq}:{index}"
            try:
                datum = document if set_document is None else set_document({}, document)
                if set_peer is not None:
                    datum = set_peer(datum, host)
                if set_id is not None:
                    datum = set_id(datum, event_id)
            except Exception as exc:  # noqa: BLE001 - the pipeline's setter failed: that datum to the error output
                self.esc.reject(self, {"id": event_id, "peer": peer, "document": document}, exc)
                continue
            data.append(datum)
            kept.append(index)
        return data, (kept if len(kept) < len(documents) else None)

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        """A request's batch has left the train: its client may have its answer."""
        waiter = self._waiting.get(batch_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- answers ---------------------------------------------------------------------

    def _refuse(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.StreamResponse:
        self.counts["refused"] += 1
        return _json_answer(status, {"error": message}, headers)

    def _busy(self, message: str, counted: bool = True) -> web.StreamResponse:
        """A 503 with Retry-After; counted as busy unless already counted otherwise (timed out)."""
        if counted:
            self.counts["busy"] += 1
        answer = _json_answer(503, {"error": message}, {"Retry-After": str(self.retry_after)})
        return answer

    def _too_large(self, peer: str) -> web.StreamResponse:
        self._said.log(
            logging.WARNING,
            "large bodies",
            "http.listen: %s sent a body larger than max_body %d bytes; answered 413",
            peer,
            self.max_body,
        )
        answer = self._refuse(413, f"the body is larger than {self.max_body} bytes; send less per request")
        answer.force_close()  # the rest of the body is not read
        return answer

    # -- shutdown --------------------------------------------------------------------

    def finish(self) -> Any:
        """Stop taking requests; answer those in the train (for a while), then close every connection."""
        self._closing = True
        return self._finish()

    async def _finish(self) -> None:
        if self._listener is not None:
            self._listener.close()  # no new connections; the port is free again
        # Requests whose data are in the train are answered as their data get
        # through, for at most ack_timeout. The cogs after this one finish only
        # after this returns, so data they hold until their own finish are
        # answered 503 (and may come twice if sent again).
        waiting = [waiter for waiter in self._waiting.values() if not waiter.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=self.ack_timeout)
        if self._server is not None:
            # Answers due are written; connections idle or still sending are closed, and so are,
            # after a moment, any still being answered.
            self._server.pre_shutdown()
            await self._server.shutdown(2.0)
        if self._stop is not None and not self._stop.done():
            self._stop.set_result(None)
        if self._starting is not None:
            self.esc.dequeue(self._starting)
            self._starting = None
        task = self._life.task if self._life is not None else None
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=1.0)
            if not task.done() and self._life is not None:
                self._life.cancel()
        self._said.flush()

    def done(self) -> None:
        """Close the listening socket if the server never took it over."""
        self._socket.close()


def _gone(request: web.BaseRequest) -> bool:
    """Whether the request's connection is closed (or closing): an answer would reach no one."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _json_answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


def _ids(seq: int, count: int, kept: list[int] | None) -> Callable[[], list[Any]]:
    """What makes the event ids ``http:REQUEST:INDEX`` of a request's ``count`` data, when the train asks.

    :param kept: the indexes of the documents the data come from, when some went
        to the error output instead; ``None`` when they are all there, in order.
    """

    def event_ids() -> list[Any]:
        return [f"http:{seq}:{index}" for index in (kept if kept is not None else range(count))]

    return event_ids


def _listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking socket. :raises OSError: naming the address (a port in use, say)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock
