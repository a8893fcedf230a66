"""POSTing data to an HTTP server, acknowledging only what the server accepted.

The promise: a datum that reaches ``http.post`` leaves it in one of three ways,
and the train acknowledges it (``event_done``, ``batch_done``) only after that:

* the server answered 2xx to the request holding it: the datum goes on down the
  train from here (to the cogs after this one, or out of the end);
* the server refused it (a 4xx other than 401, 403, 407, 408 and 429): the
  datum goes to the train's error output, with the status, the start of the server's answer and,
  for a batch, whether the whole batch was refused;
* it could not be delivered within ``retry_for`` seconds: the run stops, failed,
  and the datum stays unacknowledged (``give_up = "stop"``), or it goes to the
  error output and the run goes on (``give_up = "error_output"``).

Holding. Until the answer, the data are held (``Train.hold``): the train does not
acknowledge anything while any datum is held, so a supply's position, a message
set or an HTTP client's request waits for the server. While a request fails and
is tried again, the train is blocked (``Train.block``): the supplies pause and
nothing piles up here; the data already on their way in still join the outbox,
which is bounded by ``max_held_bytes`` (blocking the train too) and by the
train's ``high_water``.

Batching without added latency. Requests go out when the train flushes, that
is after each batch a supply sent; while ``concurrency`` requests are out, what
arrives fills the next request, up to ``max_batch`` data and ``max_batch_bytes``.
So a slow server gets large requests and a fast one small ones, and nothing waits
for a timer unless ``linger`` asks for it.

Retries. Connection errors, time-outs, 408, 429 and 5xx are tried again with
growing pauses (exponential, with jitter), at least as long as a ``Retry-After``
asks. One exception: a connection closed before any byte of the answer came
(a server may close a kept-alive connection just as a request is sent on it) is
tried again at once and quietly (counted among the retries), once per
request. POST is not idempotent: a
request whose answer was lost is sent again, so a server may receive a batch
twice (at-least-once delivery). That includes a request that timed out while the
server was still working on it: it is sent again after the pause, and the server
gets the batch twice; so ``timeout`` must be longer than the server's worst time
to answer.

Credentials. 401, 403 and 407 refuse our credentials, not the data: every
datum would be refused alike until someone fixes them, and sending everything
to the error output meanwhile would bury it there. They are tried again like a
server down (the train blocked, the data held, an error logged), with
``headers_file`` read again before each try, so that a token rotated in that
file is taken up without a restart; after ``retry_for``, ``give_up`` decides.

Refusals. A batch refused with 400, 413 or 422 says something in it is wrong,
not which datum: with ``split_refused`` it is cut in halves, each tried on its
own, until the refused data are alone and the others delivered; a refused datum
then goes to the error output by itself. Other refusals (404, 405, a redirect)
would refuse any datum, so the whole request goes to the error output at once.

Deadlines. A request is tried until ``retry_for`` runs out (and, at shutdown,
``finish_timeout``): a pause that would run past the deadline, however long the
back-off or a ``Retry-After`` made it, is cut short so that the request is tried
once more before it, never given up early. That try is the last before that
deadline: if it fails too, the request is given up on, rather than tried again
and again after ever shorter pauses against a server that asked for quiet.

Shutdown. ``finish`` sends what is collected and waits for the answers; a request
already being tried again is tried at once, then with its usual pauses, cut
short to fit ``finish_timeout``; what is not delivered by then is handled as
``give_up`` says: the run fails (exit status 1, the data are not acknowledged)
or the data go to the error output.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
import time
from collections.abc import Awaitable, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from deadbeat import conf, movement

from ._backoff import Backoff, retry_after
from ._json import encode, encode_all, encode_line
from ._library import aiohttp
from ._outbox import Outbox, Request
from ._ratelog import RateLimitedLog
from ._secrets import HeadersFileError, check_header, read_headers_file, shown_headers, shown_url

__all__ = ["HTTPPostDrain", "Refused"]

log = logging.getLogger("deadbeat.http")

#: Refusals that blame the content: a batch is split to find the datum at fault.
_CONTENT_REFUSALS = frozenset({400, 413, 422})
#: 4xx answers that mean "later", not "never".
_TRY_AGAIN = frozenset({408, 429})
#: Refusals of our credentials (see the module docstring): tried again, the headers file read again.
_CREDENTIAL_REFUSALS = frozenset({401, 403, 407})
#: Bytes of a server's answer kept for error messages; more is read (to reuse the connection) up to _DRAIN.
_EXCERPT = 300
_DRAIN = 1 << 16
_FIRST_PAUSE = 0.1
_LONGEST_PAUSE = 30.0
#: Before a deadline (retry_for, finish_timeout), a pause that would run past it ends this many seconds early,
#: so that one more try can be answered in time; with less left than _LAST_ROOM, nothing more is tried.
_LAST_TRY = 0.5
_LAST_ROOM = 0.05

_CONTENT_TYPES = {"lines": "application/x-ndjson", "document": "application/json"}


class Refused(Exception):  # noqa: N818 - what happened to the datum, not a program error
    """What the error output receives for data the server refused or that could not be delivered."""


class _Outcome:
    """How one attempt ended: ``"accepted"``, ``"refused"`` or ``"failed"`` (try again)."""

    __slots__ = ("kind", "why", "status", "asked", "stale")

    def __init__(self, kind: str, why: str, status: int = 0, asked: float | None = None, stale: bool = False) -> None:
        self.kind = kind
        self.why = why
        self.status = status
        #: Seconds the server asked us to wait (Retry-After), if it did.
        self.asked = asked
        #: The connection was closed before any byte of the answer (a kept-alive one the server had just closed).
        self.stale = stale


class HTTPPostDrain(movement.Cog):
    """POST data to an HTTP server as JSON lines in batches, or one JSON document per request.

    Each datum is encoded as it arrives: text and bytes are sent as they are
    (JSON written by ``text.json_format``, say), anything else as compact JSON
    (orjson when installed). Data are acknowledged only once the server answered
    2xx; until then they are held, so the supplies' positions wait. The status
    line is the server's word: a 2xx whose body is then cut off still counts as
    accepted (sending the batch again would repeat it on a server that took it).
    Connection
    errors, time-outs, 408, 429 (``Retry-After`` is honoured) and 5xx are tried
    again with growing pauses for ``retry_for`` seconds, the train blocked
    meanwhile (supplies pause, nothing is dropped); so are 401, 403 and 407, which
    refuse the credentials rather than the data, with ``headers_file`` read again
    before each try (a rotated token is taken up). Data the server refuses (other
    4xx) go to the error output, naming the status and the event ids; a batch
    refused for its content is split until the bad data are found. A redirect
    (3xx) is not followed: every batch goes to the error output, the log naming
    the URL it points to, so check a new ``url`` with a short run first (``http://``
    answered by a redirect to ``https://`` sends everything there). Delivered data
    go on down the train, so cogs after this one see only what the server accepted.

    :param train: the Train.
    :param url: where to POST (``http://`` or ``https://``). A password or query
        values in it are masked in log lines.
    :param mode: ``"lines"``: a batch of JSON lines per request
        (``application/x-ndjson``); ``"document"``: one datum per request
        (``application/json``).
    :param max_batch: most data in one request (``lines``).
    :param max_batch_bytes: most body bytes in one request; a larger datum travels alone.
    :param linger: seconds a request waits for more data after its first datum;
        0 sends at every flush of the train (no added latency).
    :param concurrency: requests out at once; above 1, data may arrive out of order.
    :param timeout: seconds one attempt may take (connecting, sending, the answer).
        An attempt that times out is tried again like any failure, even if the
        server did process it: the batch is then sent twice (at-least-once), so
        make ``timeout`` longer than the server's worst time to answer.
    :param retry_for: seconds a failing request is tried again before giving up
        (``inf`` for ever); a pause that would run past them is cut short, so the
        last try comes just before they run out.
    :param give_up: what becomes of data not delivered within ``retry_for`` (or
        ``finish_timeout`` at shutdown): ``"stop"`` fails the run and leaves them
        unacknowledged; ``"error_output"`` sends them to the error output and goes on.
    :param split_refused: split a batch refused with 400, 413 or 422 to find the data at fault.
    :param finish_timeout: seconds shutdown waits for the last answers, trying
        a failing request again until they run out.
    :param headers: extra request headers; values of credential-like headers
        (``Authorization``, ``*token*``, ``*key*``) are masked in log lines.
    :param headers_file: a file of ``Name: value`` lines added to ``headers`` (best for tokens: chmod 600);
        read again after the server refused the credentials (401, 403, 407).
    :param content_type: the ``Content-Type`` to send; by default
        ``application/x-ndjson`` (lines) or ``application/json`` (document).
    :param ca_file: CA certificates (PEM) to verify the server with, instead of the system's.
    :param verify_tls: verify the server's certificate and name; ``false`` only for tests.
    :param cert_file: a client certificate (PEM) for servers that ask for one.
    :param key_file: the client certificate's private key, if not in ``cert_file``.
    :param id_getter: how to read a datum's event id for log lines and error
        records (callable or field path); by default the train's.
    :param max_held_bytes: encoded bytes held waiting for answers above which the
        train is blocked (supplies pause) until half of them are delivered.
    """

    def __init__(
        self,
        train: movement.Train,
        url: str,
        mode: Literal["lines", "document"] = "lines",
        max_batch: Annotated[int, conf.Range(1)] = 1000,
        max_batch_bytes: Annotated[int, conf.Range(1)] = 1 << 20,
        linger: Annotated[float, conf.Range(0)] = 0.0,
        concurrency: Annotated[int, conf.Range(1)] = 1,
        timeout: Annotated[float, conf.Range(0, above=True)] = 30.0,
        retry_for: Annotated[float, conf.Range(0, above=True)] = 300.0,
        give_up: Literal["stop", "error_output"] = "stop",
        split_refused: bool = True,
        finish_timeout: Annotated[float, conf.Range(0, above=True)] = 10.0,
        headers: Mapping[str, str] | None = None,
        headers_file: conf.Path | None = None,
        content_type: str | None = None,
        ca_file: conf.Path | None = None,
        verify_tls: bool = True,
        cert_file: conf.Path | None = None,
        key_file: conf.Path | None = None,
        id_getter: movement.FieldGetter | None = None,
        max_held_bytes: int = 64 << 20,
    ) -> None:
        if mode not in _CONTENT_TYPES:
            raise ValueError(f"mode must be 'lines' or 'document', not {mode!r}")
        if give_up not in ("stop", "error_output"):
            raise ValueError(f"give_up must be 'stop' or 'error_output', not {give_up!r}")
        for name, value in (
            ("max_batch", max_batch),
            ("max_batch_bytes", max_batch_bytes),
            ("concurrency", concurrency),
        ):
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
        for name, number in (("timeout", timeout), ("retry_for", retry_for), ("finish_timeout", finish_timeout)):
            if not number > 0:
                raise ValueError(f"{name} must be more than 0 seconds, not {number!r}")
        if linger < 0:
            raise ValueError(f"linger must be 0 or more seconds, not {linger!r}")
        if not isinstance(train, movement.Train):
            raise TypeError(f"http.post needs the Train as its first argument, not {type(train).__name__}")
        self.train = train
        self.esc = movement.escapement_of(train)
        self._url = _checked_url(url)
        self.url = shown_url(url)
        self.mode = mode
        self.max_batch = max_batch
        self.max_batch_bytes = max_batch_bytes
        self.linger = linger
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry_for = retry_for
        self.give_up = give_up
        self.split_refused = split_refused
        self.finish_timeout = finish_timeout
        sent_headers = {"Content-Type": content_type or _CONTENT_TYPES[mode], "User-Agent": "deadbeat-http"}
        for header, text in (headers or {}).items():
            check_header(header, text, "headers")
            sent_headers[header] = text
        # The headers given inline; the file's are added to them, now and whenever it is read again.
        self._inline_headers = dict(sent_headers)
        if headers_file:
            sent_headers.update(read_headers_file(headers_file))
        if "@" in urlsplit(url).netloc and any(h.lower() == "authorization" for h in sent_headers):
            raise ValueError("give credentials either in the url or in an Authorization header, not both")
        self._headers = sent_headers
        self.headers = shown_headers(headers or {})
        self.headers_file = headers_file
        self.content_type = content_type
        self.ca_file = ca_file
        self.verify_tls = verify_tls
        self.cert_file = cert_file
        self.key_file = key_file
        self.id_getter = id_getter
        self.max_held_bytes = max_held_bytes
        self._ssl = self._tls_context() if self._url.startswith("https:") else None
        self._lines = mode == "lines"
        self._get_id = movement.getter(id_getter, train.id_getter)
        self._outbox = Outbox(max_batch, max_batch_bytes, self._lines)
        #: Requests out now, and the task binding of each.
        self._flying: dict[Request, movement.TaskBinding] = {}
        #: Data and body bytes taken and not answered yet (outbox and flying); what the train holds for us.
        self._held = 0
        self._held_bytes = 0
        #: Requests being tried again; the train is blocked while there is any, or while too much is held.
        self._failing: set[Request] = set()
        self._full = False
        self._blocked = False
        self._linger_timer: movement.Binding | None = None
        self._linger_due = False
        #: Set when the run is to stop (give_up "stop"): nothing more is sent until finish tries once more.
        self._stopped = False
        self._finishing = False
        self._deadline = float("inf")
        # Made on the loop when first needed (aiohttp wants a running loop).
        self._session: aiohttp.ClientSession | None = None
        self._wake: asyncio.Event | None = None
        self._said = RateLimitedLog(log)
        #: Data delivered (2xx), refused and sent to the error output, and given up; for the run's summary.
        self.counts = {"delivered": 0, "refused": 0, "undelivered": 0, "requests": 0, "retries": 0}
        self._last_error = 0.0

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file or None)
        if not self.verify_tls:
            log.warning("%s: TLS verification is off: any server can pose as %s", self, self.url)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- taking data -----------------------------------------------------------

    def __call__(self, data: Any) -> None:
        # Encoded now, not when sending: a datum that cannot be encoded fails
        # alone and goes to the error output; in a batch it would sink the batch.
        piece = encode_line(data) if self._lines else encode(data)
        self._take([data], [piece])
        return None

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Take a whole list: encoded first, all or nothing, so a datum that fails sends the list datum by datum."""
        if data:
            self._take(data, encode_all(data, self._lines))
        return []

    def _take(self, data: list[Any], pieces: list[bytes]) -> None:
        if not (isinstance(data, movement.Batch) and data.knows_ids):
            # Parsed and formatted on the way, the data are new objects: where
            # they came from is noted now (it is known only during the send),
            # for the ids of records should they be given up on.
            later = self.train.event_ids_later(data)
            if later is not None:
                data = movement.Batch(data, event_ids=later)
        before = self._outbox.size
        # The data come with the train's send in progress: held, they hold back their own batch only.
        self._outbox.add(data, pieces, self.train.hold(len(data), current=True))
        self._held += len(data)
        self._held_bytes += self._outbox.size - before
        if self._held_bytes > self.max_held_bytes and not self._full:
            self._full = True
            self._pace()

    @movement.hook
    def flush(self) -> None:
        """Send what is collected, as far as ``concurrency`` allows (the train's flush, after each send)."""
        if self.linger and self._outbox.open is not None and self._linger_timer is None and not self._linger_due:
            self._linger_timer = self.esc.after(self.linger, self._lingered)
        self._pump()

    def _lingered(self) -> None:
        self._linger_timer = None
        self._linger_due = True
        self._pump()

    def _pump(self) -> None:
        """Start requests while fewer than ``concurrency`` are out."""
        outbox = self._outbox
        while len(self._flying) < self.concurrency and not self._stopped:
            request = outbox.next()
            if request is None:
                # The open request goes when nothing else waits: at once, or once it has lingered.
                if outbox.open is None or not (self.linger == 0 or self._linger_due or self._finishing):
                    break
                outbox.close()
                self._linger_due = False
                if self._linger_timer is not None:
                    self.esc.dequeue(self._linger_timer)
                    self._linger_timer = None
                continue
            self._flying[request] = self.esc.spawn(self._deliver(request), self._delivery_ended, request)

    def _delivery_ended(self, request: Request, _: Any) -> None:
        """The task of ``request`` ended; everything was done inside it (see :meth:`_deliver`)."""
        return None

    # -- one request -------------------------------------------------------------

    async def _deliver(self, request: Request) -> None:
        """Send ``request`` until it is answered for good, then settle its data.

        The data are settled here, in the task, rather than in a callback: a
        callback of a cog the train counts as a supply (first in an error train)
        would wait while that train is paused, and the train would wait for it.
        """
        backoff = Backoff(_FIRST_PAUSE, _LONGEST_PAUSE)
        failing_since = 0.0
        stale_retried = False
        # The deadline a pause was last cut short for: the try after that pause was the last one before it.
        cut_for: float | None = None
        # Cancelled at the end of finish_timeout: finish settles what is left then.
        while True:
            outcome = await self._attempt(request)
            if outcome.kind == "accepted":
                self._delivered(request, failing_since)
                return
            if outcome.kind == "refused":
                self._refused(request, outcome)
                return
            now = self.esc.loop.time()
            if outcome.stale and not stale_retried and not self._finishing:
                # A kept-alive connection the server had just closed: once more at once, on a new one.
                # Only that: a time-out, a refused connection or a 5xx is a failed try, counted and paused.
                stale_retried = True
                # Counted: the server may have had the batch before the connection went (at-least-once).
                self.counts["retries"] += 1
                log.debug("%s: %s; trying again at once", self.url, outcome.why)
                continue
            self._last_error = time.time()
            credentials = outcome.status in _CREDENTIAL_REFUSALS
            if not failing_since:
                failing_since = now
                self._failing.add(request)
                self._said.log(
                    logging.ERROR if credentials else logging.WARNING,
                    "failing requests",
                    "%s: POST of %d data failed (%s)%s; trying again for up to %g s, supplies paused",
                    self.url,
                    len(request),
                    outcome.why,
                    " - the server refuses our credentials; the data wait for them to be fixed"
                    + (
                        f" (headers_file {self.headers_file} is read again before each try)"
                        if self.headers_file
                        else ""
                    )
                    if credentials
                    else "",
                    # Shutting down: finish_timeout is the bound, when it comes first.
                    round(max(0.0, min(self.retry_for, self._deadline - now)), 1),
                )
                self._pace()
            # Tried until the deadline (finish_timeout at shutdown, else retry_for):
            # a pause that would run past it is cut short to fit, not a reason to stop.
            deadline = min(self._deadline, failing_since + self.retry_for)
            left = deadline - now
            if left < _LAST_ROOM or deadline == cut_for:
                # Nothing left, or the last try before this deadline was made: one, not a burst of
                # ever shorter pauses (a server asking for an hour of quiet got a dozen requests).
                self._gave_up(request, outcome.why)
                return
            pause = backoff.pause(outcome.asked)
            if pause > left - _LAST_ROOM:
                # The try after it must have time to be answered before the deadline; it is the last.
                pause = max(left - _LAST_TRY, left / 2)
                cut_for = deadline
            self.counts["retries"] += 1
            log.debug("%s: trying again in %.3f s (%s; Retry-After %s)", self.url, pause, outcome.why, outcome.asked)
            await self._nap(pause)
            if credentials and self.headers_file:
                self._read_headers_again()
            if self._stopped:
                self._flying.pop(request, None)
                self._failing.discard(request)
                self._outbox.put_back(request)  # finish tries it once more
                return

    def _read_headers_again(self) -> None:
        """Read ``headers_file`` again (a token rotated there); keep the headers as they were if it cannot be read."""
        assert self.headers_file is not None
        try:
            from_file = read_headers_file(self.headers_file)
        except HeadersFileError as exc:
            self._said.log(logging.ERROR, "headers file", "%s: %s; keeping the headers read before", self.url, exc)
            return
        headers = dict(self._inline_headers)
        headers.update(from_file)
        self._headers = headers

    async def _nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if shutdown begins (finish tries at once)."""
        if self._wake is None:
            self._wake = asyncio.Event()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _attempt(self, request: Request) -> _Outcome:
        """POST ``request`` once. :returns: how it went."""
        request.tries += 1
        self.counts["requests"] += 1
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency, ssl=self._ssl if self._ssl else True),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        answered = False
        try:
            async with self._session.post(
                self._url, data=request.body(self._lines), headers=self._headers, allow_redirects=False
            ) as answer:
                answered = True
                status = answer.status
                try:
                    excerpt = await _read_answer(answer)
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    if 200 <= status < 300:
                        # The status line is the server's word: accepted, even if the rest of the answer was lost.
                        return _Outcome("accepted", "", status)
                    raise
                if 200 <= status < 300:
                    return _Outcome("accepted", "", status)
                why = f"HTTP {status} {answer.reason or ''}".rstrip()
                if excerpt:
                    why += f": {excerpt}"
                if status >= 500 or status in _TRY_AGAIN or status in _CREDENTIAL_REFUSALS:
                    return _Outcome("failed", why, status, retry_after(answer.headers.get("Retry-After")))
                if 300 <= status < 400:
                    why += f" (redirected to {shown_url(answer.headers.get('Location', '?'))}; give that URL)"
                return _Outcome("refused", why, status)
        except asyncio.TimeoutError:
            return _Outcome("failed", f"no answer within {self.timeout:g} s")
        except aiohttp.ClientError as exc:
            return _Outcome("failed", f"{type(exc).__name__}: {exc}", stale=not answered and _closed_on_us(exc))
        except OSError as exc:
            return _Outcome(
                "failed", f"{type(exc).__name__}: {exc.strerror or exc}", stale=not answered and _closed_on_us(exc)
            )
        except Exception as exc:  # noqa: BLE001 - whatever else broke this attempt, the data must not be stranded
            log.error("%s: unexpected error while posting; trying again", self.url, exc_info=exc)
            return _Outcome("failed", f"{type(exc).__name__}: {exc}")

    # -- settling data -------------------------------------------------------------

    def _settled(self, request: Request) -> movement.Hold | None:
        """``request`` leaves us: its data are no longer held.

        :returns: the hold token to send its data on with.
        """
        self._flying.pop(request, None)
        if request in self._failing:
            self._failing.discard(request)
        self._held -= len(request)
        self._held_bytes -= request.size
        if self._full and self._held_bytes <= self.max_held_bytes // 2:
            self._full = False
        self._pace()
        return request.holds.release(self.train.release)

    def _delivered(self, request: Request, failing_since: float) -> None:
        if failing_since:
            log.info("%s: delivered again after %d tries", self.url, request.tries)
        self.counts["delivered"] += len(request)
        token = self._settled(request)
        cogs = self.train.cogs
        # First and last in its train (the only cog of an [[errors]] train): there is nowhere to go on to,
        # and the train would count data sent on from its first cog as entering again.
        if not (cogs and cogs[0] is self and len(cogs) == 1):
            try:
                # Released first, so that the train may acknowledge them as soon as they leave.
                self.train.send(self, request.data, token=token)
            except Exception as exc:  # noqa: BLE001 - data the server has must not be reported lost silently
                self.esc.fail(self, f"{len(request)} delivered data could not go on down the train: {exc}")
        self._pump()

    def _refused(self, request: Request, outcome: _Outcome) -> None:
        if self.split_refused and len(request) > 1 and outcome.status in _CONTENT_REFUSALS:
            # Which datum is at fault the server does not say: halves, until each is alone.
            self._flying.pop(request, None)
            self._outbox.put_back(*request.halves())
            self._said.log(
                logging.INFO,
                "split batches",
                "%s: a batch of %d data was refused (%s); sending it in halves to find the data at fault",
                self.url,
                len(request),
                outcome.why,
            )
            self._pump()
            return
        whole = f"the whole batch of {len(request)} data refused: " if len(request) > 1 else ""
        self._to_error_output(request, f"{self.url}: {whole}{outcome.why}", "refused")
        self._settled(request)
        self._pump()

    def _gave_up(self, request: Request, why: str) -> None:
        if self._finishing and self.give_up == "stop":
            # Finish says what could not be delivered, once, for everything left.
            self._flying.pop(request, None)
            self._failing.discard(request)
            self._outbox.put_back(request)
            self._stopped = True
            return
        waited = "at shutdown" if self._finishing else f"for {self.retry_for:g} s"
        if self.give_up == "error_output":
            self._to_error_output(request, f"{self.url}: not delivered {waited}: {why}", "undelivered")
            self._settled(request)
            self._pump()
            return
        # give_up "stop": the data stay held, so nothing after them is acknowledged.
        self._flying.pop(request, None)
        self._failing.discard(request)
        self._outbox.put_back(request)
        if not self._stopped:
            self._stopped = True
            self.esc.fail(
                self,
                f"{self.url}: could not deliver {len(request)} data {waited} ({why}); stopping;"
                f" {self._held} data are not acknowledged (among them: {self._some_ids()})",
            )
            self.esc.shutdown()

    def _to_error_output(self, request: Request, message: str, count: str) -> None:
        """Hand every datum of ``request`` to the train's error output, as the train does for a cog's failure.

        ``Train.reject`` is for supplies: it counts the datum as entering the
        train, and this one entered long ago. So the record is made and routed
        here, through the train's public ``error_output`` and ``errors``.
        """
        train = self.train
        self.counts[count] += len(request)
        position = next((i for i, cog in enumerate(train.cogs) if cog is self), -1)
        name = movement.cog_name(self)
        # The records leave the process: the pipeline's ${file:...} secrets (a
        # header's token) shown as *** there too, as the train shows its own.
        redact = getattr(train, "redact", None)
        if redact is not None:
            name, message = redact(name), redact(message)
        ids = request.event_ids(self._event_id)
        self._said.log(
            logging.WARNING,
            count,
            "%s (%d data to the error output; ids %s)",
            message,
            len(request),
            _few(ids),
        )
        output = train.error_output
        for datum, event_id in zip(request.data, ids, strict=True):
            train.errors += 1
            record = movement.ErrorRecord(event_id, name, position, Refused(message), datum)
            try:
                if isinstance(output, movement.Train):
                    output.send(None, (record.as_dict(),))
                else:
                    output(record)
            except Exception as exc:  # noqa: BLE001 - the datum must still be somewhere
                movement.DeadLetterLog()(record)
                self.esc.fail(self, f"{event_id}: the error output failed ({exc}); the datum is in the log")

    def _event_id(self, datum: Any) -> Any:
        try:
            return self._get_id(datum)
        except Exception:  # noqa: BLE001 - a datum without an id is still reported
            return None

    def _some_ids(self) -> str:
        requests = [*self._flying, *self._outbox.waiting]
        if self._outbox.open is not None:
            requests.append(self._outbox.open)
        ids = [i for request in requests[:2] for i in request.event_ids(self._event_id)]
        return ", ".join(str(i) if i is not None else "-" for i in ids[:5])

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :attr:`counts` are reported beside them, each as a counter
        (``delivered_total``, ``refused_total``, ``undelivered_total``,
        ``requests_total``, ``retries_total``).

        :returns: the gauges ``pending`` (data taken and not answered yet:
            collected, waiting or in a request), ``pending_bytes`` (their
            encoded bytes), ``requests_in_flight``, ``ready`` (0 while a request
            keeps failing: ``/ready`` then answers 503) and
            ``last_error_timestamp_seconds`` (when an attempt last failed, in
            seconds since the epoch; 0: never).
        """
        return {
            "pending": self._held,
            "pending_bytes": self._held_bytes,
            "requests_in_flight": len(self._flying),
            "ready": 0 if self._failing else 1,
            "last_error_timestamp_seconds": self._last_error,
        }

    def _pace(self) -> None:
        """Block the train while a request fails or too much is held; unblock when neither holds."""
        blocked = bool(self._failing) or self._full
        if blocked and not self._blocked:
            self._blocked = True
            self.train.block(self)
        elif not blocked and self._blocked:
            self._blocked = False
            self.train.unblock(self)

    # -- shutdown -------------------------------------------------------------------

    def finish(self) -> Awaitable[None] | None:
        """Send what is collected and wait for the answers, at most ``finish_timeout`` seconds."""
        self._finishing = True
        if self._linger_timer is not None:
            self.esc.dequeue(self._linger_timer)
            self._linger_timer = None
        if not self._held and self._session is None:
            return None
        return self._finish()

    async def _finish(self) -> None:
        loop = self.esc.loop
        # Counted from the shutdown, not from this finish: outputs finish one after another.
        self._deadline = loop.time() + movement.finish_time_left(self.esc, self.finish_timeout)
        self._stopped = False  # one more go for what a "stop" kept
        # Retries waiting out a pause try at once; the pauses after that are waited out again
        # (a new event: the one set would cut every later pause to nothing, hammering the server).
        woken, self._wake = self._wake, asyncio.Event()
        if woken is not None:
            woken.set()
        while self._held and loop.time() < self._deadline:
            self._pump()
            tasks = [b.task for b in self._flying.values() if b.task is not None and not b.task.done()]
            if not tasks:
                break  # nothing can be sent any more (given up), or a task died: settled below
            await asyncio.wait(
                tasks, timeout=max(0.0, self._deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
        for binding in list(self._flying.values()):
            binding.cancel()
        cut = [b.task for b in self._flying.values() if b.task is not None]
        if cut:
            await asyncio.gather(*cut, return_exceptions=True)
        left = [*self._flying, *self._outbox.take_all()]
        self._flying.clear()
        self._failing.clear()
        for request in left:
            self._outbox.put_back(request)
        if left:
            self._stopped = True
            if self.give_up == "error_output":
                for request in self._outbox.take_all():
                    self._to_error_output(
                        request,
                        f"{self.url}: not delivered within finish_timeout {self.finish_timeout:g} s",
                        "undelivered",
                    )
                    self._settled(request)
            else:
                self.esc.fail(
                    self,
                    f"{self.url}: {self._held} data not delivered within finish_timeout {self.finish_timeout:g} s;"
                    f" not acknowledged (among them: {self._some_ids()})",
                )
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._said.flush()

    def done(self) -> None:
        """Nothing is left to release: ``finish`` closed the connections."""
        self._said.flush()


async def _read_answer(answer: aiohttp.ClientResponse) -> str:
    """Read the server's answer (so the connection can be reused) and keep its start for messages."""
    kept = await answer.content.read(_EXCERPT)
    seen = len(kept)
    while seen < _DRAIN:
        chunk = await answer.content.read(_DRAIN - seen)
        if not chunk:
            break
        seen += len(chunk)
    else:
        answer.close()  # an answer this long is not worth reading to its end: the connection goes
    text = kept.decode("utf-8", "replace").strip()
    return " ".join(text.split())[:_EXCERPT]


def _closed_on_us(exc: BaseException) -> bool:
    """:returns: whether ``exc`` says an open connection was closed under the request (not a time-out, not refused)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return True
    return (
        isinstance(exc, OSError)
        and not isinstance(exc, aiohttp.ClientConnectorError)
        and exc.errno in (errno.ECONNRESET, errno.EPIPE)
    )


def _checked_url(url: str) -> str:
    """:returns: ``url`` if it is one http.post can use. :raises ValueError: saying what is wrong, password masked."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"url {shown_url(url)}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be http://HOST/... or https://HOST/..., not {shown_url(url)}")
    return url


def _few(ids: list[Any]) -> str:
    shown = [str(i) if i is not None else "-" for i in ids[:5]]
    return ", ".join(shown) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
