"""What the two DNS cogs share: the cache, lookups in flight, their order, their end.

The life of a datum. The cog reads the datum's address (or name) with its
getter. An answer in the cache (positive or negative, not expired) is set on the
datum with the setter at once, and the datum goes on from the call, as any
cog's would. Otherwise the datum is *held* (reported to the Train with
``hold``, so supplies pause above ``high_water``) and waits for a *lookup*: one
per key, shared by every datum with that key that arrives before its answer.

Lookups in flight. At most ``max_in_flight`` questions are out at c-ares at
once; a lookup that does not fit waits in a queue, in arrival order, and is sent
when answers make room. Nothing is dropped for lack of room: the queue is as
long as what the Train lets in, which backpressure bounds. A question counts
until c-ares calls it back, even after the cog's own deadline gave up on it,
so the bound holds for what the server sees. Such abandoned questions (c-ares
may go on asking a silent server for a long while) are cancelled as soon as no
live lookup is out, which frees their room: a dead resolver costs each batch of
lookups ``timeout``, not c-ares's whole schedule of tries.

Asked again alone. On the shared channel a question's tries are not its own:
c-ares drops a socket on which a reply it cannot parse came, and each question
waiting on that socket is sent again at the cost of a try, so replies of garbage
for one name use up the tries of every question sharing the socket; and once
c-ares knows the server answers fast it tries again after 0.25 s on another
socket, losing the reply to the earlier try (see the ``_resolver`` module). So
the shared channel gets few tries (``shared_tries``), and a question that fails
there before its deadline, with a malformed reply or (``retries`` unset) with no
answer, is asked again once, alone on a new channel (and a socket) of its own
(at most ``_MOST_ALONE`` at once, the rest waiting their turn), whose one try
waits for the whole time the lookup has left and where only its own replies
count: the innocent ones are answered, the guilty one fails for good. Once only,
so a flood of garbage cannot loop; not when less than ``_LEAST_ALONE`` is left
(its deadline is as good as there).

Deadlines. Each lookup sent gets a deadline, ``timeout`` seconds on. The
deadlines are kept in a deque in the order they were set, which is their order
in time, and one timer waits for the earliest: at it, every lookup past its
deadline is given up (its data go on with the ``failed`` marker, or unchanged).

Sending on. Data whose lookups end during one batch of c-ares events (a socket
ready, a time-out) are collected and sent on with one ``train.send`` after the
batch, so that outputs write them in one go. An answer c-ares has at hand (its
own cache) calls back before the question returns: the data it completes are
then returned from the very call that held them.

Order. By default (``keep_order`` false) each datum goes on as soon as its
answer is there; a datum whose answer is cached, or which has no address, is
never held up by a slow lookup. With ``keep_order`` every datum takes its place
in one line, in arrival order, and leaves only when the data before it have:
a slow answer then holds up everything behind it, for at most ``timeout``.

The end. ``finish`` gives up at once on the lookups still queued (never sent),
waits for those in flight until each answers or reaches its deadline, so that
everything held goes on within ``timeout``, and closes the resolver.
"""

from __future__ import annotations

import logging
import operator
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from itertools import repeat
from typing import Any

from deadbeat import movement
from deadbeat.plugins import missing_library

from ._cache import NOT_FOUND, AnswerCache
from ._complaints import Complaints
from ._resolver import EBADRESP, ECANCELLED, ETIMEOUT, EXTRA, FAILURES, NEGATIVE, Resolver, shared_tries, tries_for

__all__ = ["Lookup", "Question"]

log = logging.getLogger("deadbeat.dns")

#: A question as c-ares takes it: the name and the record type number.
Question = tuple[str, int]

#: The failure of a lookup that reached its deadline (not a c-ares status).
DEADLINE = -1
#: The most questions asked alone at once, each on a channel and a socket of its own (see the module docstring).
_MOST_ALONE = 256
#: A question with less time than this left (seconds) is not asked alone: its deadline comes first.
_LEAST_ALONE = 0.05


class _Slot:
    """One held datum: replaced by what the setter returns, and ready once it may go on; its train hold token."""

    __slots__ = ("datum", "ready", "hold", "event_id")

    def __init__(self, datum: Any, hold: Any, ready: bool = False, event_id: Any = None) -> None:
        self.datum = datum
        self.hold = hold
        self.ready = ready
        #: The id the train knew for the datum when it came (it goes on with it), if known.
        self.event_id = event_id


class _Pending:
    """One lookup: its questions, the data waiting for it, and what came back so far.

    States: queued (``deadline`` is None), sent (``left`` questions outstanding),
    done (``done`` true; its data have been handed out).
    """

    __slots__ = (
        "key",
        "questions",
        "waiting",
        "ids",
        "holds",
        "left",
        "found",
        "ttl",
        "failure",
        "deadline",
        "done",
        "alone",
        "first_id",
    )

    def __init__(self, key: Hashable, questions: list[Question]) -> None:
        self.key = key
        self.questions = questions
        #: The data waiting for the answer; with keep_order, their places in the line (_Slot).
        self.waiting: list[Any] = []
        #: Without keep_order: the event ids the train knew for the waiting data (None where unknown).
        self.ids: list[Any] = []
        #: Without keep_order: the train's hold tokens of the waiting data.
        self.holds = movement.HeldRuns()
        self.left = len(questions)
        #: The values found, per question (empty where none came).
        self.found: list[list[Any]] = [[]] if len(questions) == 1 else [[] for _ in questions]
        #: The least TTL among the records of the answers.
        self.ttl = 1 << 31
        #: The first failure (a c-ares status), if any question failed.
        self.failure: int | None = None
        self.deadline: float | None = None
        self.done = False
        #: The questions (a bit each, by index) asked again alone (see _answered).
        self.alone = 0
        #: The event id the train knows for the first datum waiting (the one log lines name), if known.
        self.first_id: Any = None


def _text(name: Any) -> str:
    # pycares gives bytes for a name it cannot decode as ASCII.
    return name if isinstance(name, str) else bytes(name).decode("ascii", "backslashreplace")


#: What the data of an answer record give, by record type (PTR, A, AAAA, MX, TXT).
_VALUE_OF: dict[int, Any] = {
    12: lambda data: _text(data.dname),
    1: operator.attrgetter("addr"),
    28: operator.attrgetter("addr"),
    15: lambda data: (data.priority, _text(data.exchange)),
    16: lambda data: data.data.decode("utf-8", "backslashreplace"),
}


class Lookup(movement.Cog):
    """Base class of the DNS cogs; see the module's docstring. Subclasses set what is asked and what is kept.

    A subclass calls :meth:`_setup` from its ``__init__`` and defines
    :meth:`_questions` (the questions for a key; raises ``ValueError`` for a key
    that cannot be asked about) and :meth:`_value` (what the answers make).
    """

    #: The Train (set by each subclass, as its first ``__init__`` argument).
    train: movement.Train
    #: The cog's entry-point name, for log lines.
    public_name = "dns"
    #: What a key is, for messages ("an IP address").
    key_noun = "a value"
    #: Whether each datum gets its own copy of a cached value (a list).
    copies_value = False

    @classmethod
    def missing_requirements(cls, params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: pycares, when it is not installed (looked up, not imported)."""
        return missing_library("pycares", EXTRA, cls.public_name)

    def _setup(
        self,
        train: movement.Train,
        getter: movement.FieldGetter,
        setter: movement.FieldSetter,
        *,
        servers: Sequence[str],
        port: int,
        timeout: float,
        retries: int | None,
        max_in_flight: int,
        keep_order: bool,
        cache_size: int,
        max_ttl: float,
        negative_ttl: float,
        not_found: Any,
        failed: Any,
        id_getter: movement.FieldGetter | None,
        questions_per_key: int,
    ) -> None:
        if not isinstance(train, movement.Train):
            raise TypeError(f"{type(self).__name__} needs the Train (to hold data and send them on late)")
        if timeout <= 0:
            raise ValueError(f"timeout must be more than 0 seconds, not {timeout}")
        if retries is not None and retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries}")
        if max_in_flight < questions_per_key:
            raise ValueError(f"max_in_flight must be at least {questions_per_key} (questions per lookup)")
        if max_ttl < 0 or negative_ttl < 0:
            raise ValueError("max_ttl and negative_ttl must be 0 or more")
        self._get = movement.getter(getter)
        self._set = movement.setter(setter)
        # A plain field name lets a whole list of cached answers be set in one C loop.
        self._plain_key = setter if isinstance(setter, str) and "." not in setter and "\\" not in setter else None
        # By default the ids the train knows: the supply's (beside the data) where it can tell them,
        # else its id_getter; a given id_getter is used as it is.
        self._event_id = movement.getter(id_getter, train.id_getter)
        self._train_ids = id_getter is None
        #: While the train calls this cog datum by datum for a list (OneByOne): the list, the ids the
        #: train knows for it (or None), and the place of the next datum expected.
        self._one_by_one: tuple[list[Any], list[Any] | None, list[int]] | None = None
        self._esc = train.esc
        self._now = train.esc.loop.time
        self._timeout = timeout
        # Tries on the shared channel; with retries unset, a question they fail is asked again alone.
        self._tries = shared_tries(timeout) if retries is None else retries + 1
        self._alone_after_no_answer = retries is None
        self._keep_order = keep_order
        self._max_in_flight = max_in_flight
        self._max_ttl = max_ttl
        self._negative_ttl = negative_ttl
        self._not_found_value = not_found
        self._failed_value = failed
        self._cache = AnswerCache(cache_size)
        self._cache_get = self._cache.entries.get
        self._resolver = Resolver(train.esc, servers, port, timeout, self._tries, after=self._deliver)
        self._complaints = Complaints(log, self.public_name)
        #: Lookups by key, from arrival until done.
        self._pending: dict[Hashable, _Pending] = {}
        #: Lookups waiting for room in flight, in arrival order.
        self._queue: deque[_Pending] = deque()
        #: Questions waiting to be asked alone (see _answered).
        self._alone: deque[tuple[_Pending, int]] = deque()
        #: Lookups sent, in the order of their deadlines (see the module docstring).
        self._deadlines: deque[_Pending] = deque()
        self._deadline_timer: movement.Binding | None = None
        #: With keep_order: every held datum, in arrival order.
        self._line: deque[_Slot] = deque()
        #: Held data that may go on, collected during one batch of events,
        #: and their train hold tokens.
        self._out: list[Any] = []
        #: The event ids of ``_out``, in order (None where unknown), and of the data _take_out took last.
        self._out_ids: list[Any] = []
        self._taken_ids: list[Any] = []
        self._out_holds = movement.HeldRuns()
        self._out_token: movement.Hold | None = None
        self._filling = False
        #: Lookups sent and not done: what c-ares has out beyond them was given up (abandoned).
        self._live = 0
        self._cancelling = False
        self._finishing = False
        self._idle: Any = None
        self._closed = False
        self._resolved = self._hits = self._not_found = self._failed = self._without = self._unset = 0
        if retries is not None and self._tries < tries_for(timeout):
            log.warning(
                "%s: retries=%d: c-ares may give up after %.2g s on a server that usually answers fast,"
                " sooner than timeout=%g s; slower answers then count as failed (leave retries unset to"
                " wait the whole timeout)",
                self.public_name,
                retries,
                0.125 * 2**self._tries,
                timeout,
            )

    # -- what subclasses say -------------------------------------------------------

    def _questions(self, key: Any) -> list[Question]:
        """:returns: the questions to ask for ``key``. :raises ValueError: when it cannot be asked about."""
        raise NotImplementedError

    def _value(self, found: list[list[Any]]) -> Any:
        """:returns: what the values found (per question) make, as cached and set; ``None`` for nothing."""
        raise NotImplementedError

    # -- the numbers in the run's summary ------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        """Data by what became of them: resolved by an answer, from the cache, not found, failed, no address.

        "result not set" counts data the setter could not take the result (or
        marker) for: they went on unchanged, each said in the log.
        """
        return {
            "resolved": self._resolved,
            "from cache": self._hits,
            "not found": self._not_found,
            "failed": self._failed,
            "no address": self._without,
            "result not set": self._unset,
        }

    @property
    def in_flight(self) -> int:
        """Questions out at c-ares now (those given up by the deadline included, until c-ares lets go)."""
        return self._resolver.outstanding

    @property
    def cached(self) -> int:
        """Answers in the cache now."""
        return len(self._cache)

    @property
    def lookups(self) -> int:
        """Lookups not over yet: queued or in flight (each may have several data waiting)."""
        return len(self._pending)

    @property
    def resolver(self) -> Resolver:
        """The c-ares channel and its bindings on the Escapement."""
        return self._resolver

    # -- one datum ----------------------------------------------------------------

    def __call__(self, datum: Any) -> Any:
        """Set the cached answer and pass ``datum`` on, or hold it for a lookup (returning ``None``)."""
        try:
            key = self._get(datum)
        except LookupError:
            return self._pass_without(datum)
        try:
            entry = self._cache_get(key)
        except TypeError:
            raise ValueError(f"expected {self.key_noun} as text, got {type(key).__name__}") from None
        if entry is not None and entry[0] > self._now():
            self._hits += 1
            value = entry[1]
            if value is not NOT_FOUND:
                datum = self._set(datum, list(value) if self.copies_value else value)
            elif self._not_found_value is not None:
                datum = self._set(datum, self._not_found_value)
            if self._line:
                return self._behind_line(datum, self._known_id(datum))
            return (datum,)
        if key is None or key == "":
            return self._pass_without(datum)
        return self._miss(datum, key)

    def _pass_without(self, datum: Any) -> Any:
        self._without += 1
        if self._line:
            return self._behind_line(datum, self._known_id(datum))
        return (datum,)

    def _behind_line(self, datum: Any, event_id: Any = None) -> None:
        """Keep order: a datum that needs no lookup waits for those before it."""
        # Held by the datum's own batch only (see Train.hold): it came with this call.
        self._line.append(_Slot(datum, self.train.hold(current=True), True, event_id))
        return None

    def _miss(self, datum: Any, key: Any) -> Any:
        self._check_in_train()
        pending = self._pending.get(key)
        event_id = self._known_id(datum)
        if pending is None:
            questions = self._questions(key)  # a key that cannot be asked about raises here, before anything is held
            if self._finishing:
                # Shutting down: nothing new is asked.
                self._failed += 1
                if self._failed_value is not None:
                    datum = self._set(datum, self._failed_value)
                return self._behind_line(datum, event_id) if self._line else (datum,)
            self._start(key, questions, datum, self.train.hold(current=True), event_id)
        else:
            self._attach(pending, datum, self.train.hold(current=True), event_id)
        return self._take_out()

    def _known_id(self, datum: Any) -> Any:
        """The event id the train knows for ``datum``, being called datum by datum for a list; else ``None``."""
        stash = self._one_by_one
        if stash is None:
            return None
        data, ids, cursor = stash
        place = cursor[0]
        # The train calls in order: the datum expected, or (a datum before it went elsewhere) one of the next.
        while place < len(data) and data[place] is not datum:
            place += 1
        if place >= len(data):
            self._one_by_one = None  # another call: the stash was for a list now over
            return None
        cursor[0] = place + 1
        return ids[place] if ids is not None else None

    def _stash_ids(self, data: list[Any]) -> None:
        """The list is about to be called datum by datum (OneByOne): keep the ids the train knows for it."""
        self._one_by_one = (data, self.train.event_ids_of(data), [0]) if self._train_ids else None

    def _start(self, key: Hashable, questions: list[Question], datum: Any, hold: Any, event_id: Any = None) -> None:
        """A new lookup for ``datum`` (held already, under ``hold``): sent now if there is room, else queued."""
        pending = self._pending[key] = _Pending(key, questions)
        pending.first_id = event_id
        self._attach(pending, datum, hold, event_id)
        if self._queue or self._resolver.outstanding + len(questions) > self._max_in_flight:
            self._queue.append(pending)
        else:
            self._send(pending)

    def _check_in_train(self) -> None:
        """Data held here go on through ``self.train``: refuse to hold any if this cog is not in it."""
        if not self.train.has_cog(self):
            raise RuntimeError(
                f"{self.public_name} is not a cog of the Train it was given; build it with the Train it runs in"
            )

    def _attach(self, pending: _Pending, datum: Any, hold: Any, event_id: Any = None) -> None:
        """``datum`` (held already, under ``hold``) waits for ``pending`` (keeping order, in its place in the line).

        :param event_id: the id the train knew for it when it came: it goes on with it (see _deliver).
        """
        if self._keep_order:
            slot = _Slot(datum, hold, False, event_id)
            pending.waiting.append(slot)
            self._line.append(slot)
        else:
            pending.waiting.append(datum)
            pending.ids.append(event_id)
            pending.holds.add(hold)

    # -- whole lists --------------------------------------------------------------

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Take a list at once: the same as one call per datum.

        Every key is read, looked up in the cache and (for the misses) checked
        before anything is changed or held; a list with a datum that a call
        would refuse, or (with ``keep_order``) one that would wait, goes datum
        by datum (``OneByOne``). A list whose answers are all cached, set on a
        plain field, is done by C loops.
        """
        if self._line:
            self._stash_ids(data)
            raise movement.OneByOne
        try:
            keys = list(map(self._get, data))
            entries: list[Any] = list(map(self._cache_get, keys))
        except Exception:  # noqa: BLE001 - a missing field or an odd value: datum by datum says which
            self._stash_ids(data)
            raise movement.OneByOne from None
        now = self._now()
        if entries and None not in entries and min(map(operator.itemgetter(0), entries)) > now:
            values = list(map(operator.itemgetter(1), entries))
            if NOT_FOUND not in values:
                self._hits += len(data)
                if self.copies_value:
                    values = [list(value) for value in values]
                if self._plain_key is not None:
                    movement.exhaust(map(operator.setitem, data, repeat(self._plain_key), values))
                    return data
                return list(map(self._set, data, values))
        return self._mixed_batch(data, keys, entries, now)

    def _mixed_batch(self, data: list[Any], keys: list[Any], entries: list[Any], now: float) -> list[Any]:
        misses: list[tuple[Any, Any, list[Question] | None]] = []
        hits: list[tuple[int, Any]] = []
        asked: dict[Any, list[Question] | None] = {}
        for index, (key, entry) in enumerate(zip(keys, entries, strict=True)):
            if entry is not None and entry[0] > now:
                hits.append((index, entry[1]))
            elif key is None or key == "":
                hits.append((index, None))
            else:
                if key not in asked:
                    try:
                        asked[key] = self._questions(key) if key not in self._pending else None
                    except ValueError:
                        self._stash_ids(data)
                        raise movement.OneByOne from None
                misses.append((index, key, asked[key]))
        if misses:
            if self._keep_order or self._finishing:
                self._stash_ids(data)
                raise movement.OneByOne
            self._check_in_train()
        # Everything checked: set the cached answers (a second go would set the same), then hold the rest.
        out = []
        for index, value in hits:
            datum = data[index]
            if value is None:
                self._without += 1
            else:
                self._hits += 1
                if value is not NOT_FOUND:
                    datum = self._set(datum, list(value) if self.copies_value else value)
                elif self._not_found_value is not None:
                    datum = self._set(datum, self._not_found_value)
            out.append(datum)
        hold = self.train.hold(len(misses), current=True) if misses else None
        # Once per list with data to hold: the ids they go on with when answered, and log lines name.
        ids = (self.train.event_ids_of(data) or []) if misses and self._train_ids else []
        for index, key, questions in misses:
            pending = self._pending.get(key)
            event_id = ids[index] if ids else None
            if pending is None:
                # (A lookup pending at the check may have ended since: its key was good.)
                self._start(key, questions or self._questions(key), data[index], hold, event_id)
            else:
                self._attach(pending, data[index], hold, event_id)
        late = self._take_out()
        if late:
            out += late
        return out

    # -- asking ------------------------------------------------------------------

    def _send(self, pending: _Pending) -> None:
        self._live += 1
        pending.deadline = self._now() + self._timeout
        self._deadlines.append(pending)
        if self._deadline_timer is None:
            self._deadline_timer = self._esc.after(self._timeout, self._expire, keeps_alive=False)
        answered = self._answered
        query = self._resolver.query
        for index, (name, qtype) in enumerate(pending.questions):
            query(name, qtype, answered, pending, index)

    def _fill(self) -> None:
        """Send queued lookups while there is room (once, however deeply answers call back)."""
        if self._filling:
            return
        self._filling = True
        try:
            queue = self._queue
            while queue and self._resolver.outstanding + len(queue[0].questions) <= self._max_in_flight:
                self._send(queue.popleft())
        finally:
            self._filling = False

    def _answered(self, pending: _Pending, index: int, result: Any, status: int | None) -> None:
        """c-ares called back for question ``index`` of ``pending``."""
        if not pending.done:
            if status is None:
                qtype = pending.questions[index][1]
                value_of = _VALUE_OF[qtype]
                values = []
                ttl = pending.ttl
                for record in result.answer:
                    # The least TTL of the whole answer: a CNAME on the way expires too.
                    if record.ttl < ttl:
                        ttl = record.ttl
                    if record.type == qtype:
                        values.append(value_of(record.data))
                pending.ttl = ttl
                pending.found[index] = values
            elif (
                (status == EBADRESP or (status == ETIMEOUT and self._alone_after_no_answer))
                and not pending.alone & (1 << index)
                and not self._closed
            ):
                # The shared channel spent the question's tries: on a reply it could not parse
                # (for this question or another sharing its socket), or on waits shorter than the
                # answer takes. Asked again alone (once: no loop), it waits all the time it has
                # left, and loses its try to its own replies only.
                pending.alone |= 1 << index
                self._alone.append((pending, index))
                self._ask_alone()
                return
            elif status not in NEGATIVE and pending.failure is None:
                pending.failure = status
            pending.left -= 1
            if pending.left <= 0:
                self._complete(pending)
        if self._queue and not self._finishing and not self._cancelling:
            self._fill()

    def _ask_alone(self) -> None:
        """Ask the questions waiting to be asked alone, at most ``_MOST_ALONE`` at once (a socket each).

        Each waits for the time its lookup has left; one with less than
        ``_LEAST_ALONE`` left is not asked: its deadline gives it up.
        """
        alone = self._alone
        now = self._now()
        while alone and self._resolver.alone_out < _MOST_ALONE:
            pending, index = alone.popleft()
            if pending.done:
                continue
            left = pending.deadline - now  # type: ignore[operator]
            if left < _LEAST_ALONE:
                continue
            name, qtype = pending.questions[index]
            self._resolver.query_alone(name, qtype, left, self._answered_alone, pending, index)

    def _answered_alone(self, pending: _Pending, index: int, result: Any, status: int | None) -> None:
        self._answered(pending, index, result, status)
        if self._alone and not self._closed:
            self._ask_alone()

    def _expire(self) -> None:
        """The earliest deadline is due: give up on every lookup past its own."""
        self._deadline_timer = None
        if self._closed:
            return
        now = self._now()
        deadlines = self._deadlines
        while deadlines and (deadlines[0].done or deadlines[0].deadline <= now):  # type: ignore[operator]
            pending = deadlines.popleft()
            if not pending.done:
                pending.failure = DEADLINE
                self._complete(pending)
        if deadlines:
            self._deadline_timer = self._esc.after(
                max(0.0, deadlines[0].deadline - now),  # type: ignore[operator]
                self._expire,
                keeps_alive=False,
            )
        self._deliver()

    def _drop_abandoned(self) -> None:
        """Cancel the questions given up by their deadline once nothing live is out, and fill their room.

        c-ares has no way to cancel one question: only all of them. When
        every question out was given up, that is exactly those. Never called
        from inside a c-ares callback (c-ares must not cancel from there).
        """
        if not self._live and self._resolver.outstanding:
            self._cancelling = True
            try:
                self._resolver.cancel()
            finally:
                self._cancelling = False
            if self._queue and not self._finishing:
                self._fill()

    # -- answers into data -----------------------------------------------------------

    def _complete(self, pending: _Pending) -> None:
        """The lookup is over: cache what it found, set it on its data, and let them go."""
        pending.done = True
        if pending.deadline is not None:
            self._live -= 1
        del self._pending[pending.key]
        deadlines = self._deadlines
        while deadlines and deadlines[0].done:
            deadlines.popleft()
        if not deadlines and self._deadline_timer is not None:
            # Nothing left to time: no wake-up while idle.
            self._deadline_timer.cancel()
            self._deadline_timer = None
        count = len(pending.waiting)
        value = self._value(pending.found)
        if value is not None:
            self._resolved += count
            if pending.failure is None and pending.ttl > 0:
                self._cache.put(pending.key, value, self._now() + min(pending.ttl, self._max_ttl))
            self._hand_out(pending, value, self.copies_value)
        elif pending.failure is not None:
            self._failed += count
            if pending.failure != ECANCELLED:
                self._complain(pending)
            self._hand_out(pending, self._failed_value)
        else:
            self._not_found += count
            if self._negative_ttl > 0:
                self._cache.put(pending.key, NOT_FOUND, self._now() + self._negative_ttl)
            self._hand_out(pending, self._not_found_value)
        if self._finishing and not self._pending and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    def _hand_out(self, pending: _Pending, value: Any, copies: bool = False) -> None:
        """Set ``value`` (a list of its own each, with ``copies``) on the data of ``pending``; they may go on.

        ``None`` leaves them as they are.
        """
        if not self._keep_order:
            data = pending.waiting
            self._out += data if value is None else self._set_all(data, value, copies)
            self._out_ids += pending.ids
            self._out_holds.extend(pending.holds)
            return
        slots = pending.waiting
        if value is not None:
            for slot, datum in zip(slots, self._set_all([s.datum for s in slots], value, copies), strict=True):
                slot.datum = datum
        for slot in slots:
            slot.ready = True
        line = self._line
        out = self._out
        out_ids = self._out_ids
        runs = self._out_holds
        while line and line[0].ready:
            slot = line.popleft()
            out.append(slot.datum)
            out_ids.append(slot.event_id)
            runs.add(slot.hold)

    def _set_all(self, data: list[Any], value: Any, copies: bool) -> list[Any]:
        """``value`` set on each datum; one whose setter fails goes on as it is, and says so (not lost)."""
        setter = self._set
        try:
            if copies:
                return [setter(datum, list(value)) for datum in data]
            return [setter(datum, value) for datum in data]
        except Exception:  # noqa: BLE001 - found again below, datum by datum
            pass
        out = []
        for datum in data:
            try:
                out.append(setter(datum, list(value) if copies else value))
            except Exception as exc:  # noqa: BLE001 - the datum goes on unchanged; said, not lost
                self._unset += 1
                self._complaints.failed(
                    "result not set",
                    self._id_of(datum),
                    f"cannot set the result ({type(exc).__name__}: {exc}); the datum goes on without it",
                )
                out.append(datum)
        return out

    def _complain(self, pending: _Pending) -> None:
        failure = pending.failure or 0
        kind, meaning = FAILURES.get(failure, ("lookup failed", f"c-ares status {failure}"))
        name, _ = pending.questions[0]
        names = name if len(pending.questions) == 1 else f"{name} ({len(pending.questions)} types)"
        if failure in (DEADLINE, ETIMEOUT):
            kind = "no answer"
            waited = f"within {self._timeout:g} s" if failure == DEADLINE else "to c-ares's tries"
            meaning = (
                f"no answer {waited} (c-ares drops replies that do not match the question,"
                " and asks again over TCP when one is truncated)"
            )
        marker = "unchanged" if self._failed_value is None else f"marked {self._failed_value!r}"
        self._complaints.failed(
            kind,
            pending.first_id if pending.first_id is not None else self._id_of(self._first_waiting(pending)),
            f"{names}: {meaning} from {', '.join(self._resolver.servers) or 'the system resolver'};"
            f" {len(pending.waiting)} data go on {marker}",
        )

    def _first_waiting(self, pending: _Pending) -> Any:
        if not pending.waiting:
            return None
        first = pending.waiting[0]
        return first.datum if self._keep_order else first

    def _id_of(self, datum: Any) -> Any:
        try:
            return self._event_id(datum)
        except Exception:  # noqa: BLE001 - a log line must not fail
            return None

    def _take_out(self) -> list[Any] | None:
        """Release and return the data that may go on now (``None`` when there are none)."""
        out = self._out
        if not out:
            return None
        self._out = []
        self._taken_ids, self._out_ids = self._out_ids, []
        self._out_token = self._out_holds.release(self.train.release)
        return out

    def _deliver(self) -> None:
        """After a batch of c-ares events (or deadlines): send on, in one go, the data that may go on."""
        if not self._live and self._resolver.outstanding and not self._closed:
            self._drop_abandoned()
        out = self._take_out()
        if out:
            ids = self._taken_ids
            if len(ids) == len(out) and any(event_id is not None for event_id in ids):
                # The ids they came with go on with them: error records and log lines after this cog name them.
                out = movement.Batch(out, event_ids=ids)
            # With the earliest batch's token: an output after this cog that holds them holds that batch back.
            self.train.send(self, out, token=self._out_token)

    # -- the end -----------------------------------------------------------------------

    def finish(self) -> Any:
        """Give up on the queued lookups, wait (at most ``timeout``) for those in flight, close the resolver.

        :returns: the data still to go on, or a coroutine that returns them
            once the lookups in flight have ended.
        """
        self._finishing = True
        unsent = len(self._queue)
        while self._queue:
            pending = self._queue.popleft()
            pending.failure = ECANCELLED
            self._complete(pending)
        if unsent:
            log.info(
                "%s: shutting down: %d lookups not sent; their data go on %s",
                self.public_name,
                unsent,
                "unchanged" if self._failed_value is None else f"marked {self._failed_value!r}",
            )
        if not self._pending:
            self._close()
            return self._take_out()
        self._idle = self._esc.loop.create_future()
        return self._drain()

    async def _drain(self) -> list[Any] | None:
        await self._idle
        self._close()
        return self._take_out()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._resolver.close()
        self._complaints.flush()

    def done(self) -> None:
        """Close the resolver if ``finish`` did not (its sockets and timer are let go)."""
        self._finishing = True
        self._close()
