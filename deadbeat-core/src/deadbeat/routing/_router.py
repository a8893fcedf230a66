"""Routes: one train's data sent on to several trains of their own, chosen by condition.

Shape. A :class:`Router` is the last cog of a train. Each :class:`Route` owns a
Train on the same Escapement whose first cog is a small entrance; the route's
own cogs (a formatter, an output) follow it. The router sorts each list it is
given into one list per route, and sends each list into its route's train as a
:class:`~deadbeat.movement.Batch` with an id of the router's making.

Acknowledgement. What a route has not acknowledged when its ``send`` returns
(a cog of the route holds it: a lookup, a slow output), the router counts with
``train.hold`` on the train it serves, so that train acknowledges nothing (no
``batch_done`` to the supply, no state file written) while a route has not
finished with its data.
A route's train acknowledges the router's batch as it acknowledges any supply's
batch (``batch_done``, after the ``flush`` that wrote its data, never while a
cog of the route holds data back), and the router releases what it held for
it. A datum that took two routes is held twice and is done when both are.

Whose ``batch_done``. The route's cogs must not hear of the router's batches:
an output sharing a state file with the supply (``fs.write`` beside
``fs.tail``) notes how far it has written in ``batch_done``, and that note
must describe the same moment as the supply's position. Noted when one route
is done, while another still holds the batch, a save in between would pair
the output's offset with an older position, and a restart would write those
lines again. So a route's train (:class:`_RouteTrain`) keeps the router's
batches to itself, and its cogs get the ``batch_done`` and ``checkpoint`` of
the train the router serves, forwarded by the router, when that train
acknowledges: in the same broadcast as the supply. Nothing here reaches into
the Train's insides: hold, release and the broadcasts are its public protocol.

Why an entrance. A Train takes its first cog for a supply: it pauses it under
backpressure, and data the cog sends on late count as entering. A route's first
real cog may be a DNS lookup that holds data and answers late; paused, its
answers would never come. The entrance is the supply instead: it has nothing to
pause and it passes whole lists on untouched, which costs one call per list.

Speed. The choice is generated code, one ``if``/``elif`` per route over the
list, the loop a person would write (see :func:`_classifier`); a route's data
then go on as one list.

Errors. A condition that raises, or (with ``unmatched = "error"``) a datum that
matches no route, fails the whole list before anything is sent: the train then
gives the router the list datum by datum (``call_batch``'s contract), so only
the failing datum reaches the error output, with the event id it came in with.
A cog of a route that raises sends its datum to the error output of the train
the router serves, its record naming the route (``route alerts: fs.write(...)``)
and the cog's place among the route's cogs.

Event ids. A route's train asks the router's batch for its data's ids, and the
batch asks :class:`_EventIds`: the ids the served train traces the router's
list back to (the supply's, beside its batch, whatever parsers made of the
data), by the datum's place in that list. Never a field of the datum when the
served train can trace them, nor the id of another datum: a route's copy (with
``match = "all"``) has the id of what it was copied from, and datum by datum
(after a failure in the list) the router takes each datum's place from the
order the train calls it in, as the train itself knows it. Only where the
served train cannot trace the list (its supply tells no ids, or a cog on the
way that takes whole lists does not say it is one-to-one) is the datum's own
id, the train's ``id_getter``, all there is, as for an error in the served
train itself.
"""

from __future__ import annotations

import ast
import copy
import itertools
import linecache
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from ..movement import Batch, Cog, DeadLetterLog, ErrorRecord, Escapement, Hold, Train, cog_name, hook
from ..movement._errors import FailureLog

__all__ = ["NoRoute", "Route", "Router"]

log = logging.getLogger("deadbeat.routing")

Condition = Callable[[Any], Any]

_MATCH = ("first", "all")
_UNMATCHED = ("error", "drop")
_classifier_numbers = itertools.count(1)


class NoRoute(LookupError):
    """A datum matched no route and there is no default route (``unmatched = "error"``)."""


def compile_condition(when: str | Condition | None, regex_engine: str = "re2") -> Condition | None:
    """:returns: the function of ``when``: itself when callable, a compiled filter expression when text.

    Filter expressions are those of ``flow.filter`` (deadbeat-cogs-text):
    ``severity >= 5 and matches(host, "^db")``.

    :raises ValueError: when the expression does not compile, or deadbeat-cogs-text is not installed.
    """
    if when is None or callable(when):
        return when
    if not isinstance(when, str):
        raise TypeError(f"when must be a filter expression or a function of the datum, not {type(when).__name__}")
    try:
        from deadbeat.flow import compile_expression
    except ImportError:
        raise ValueError(
            f"when = {when!r}: filter expressions need deadbeat-cogs-text (deadbeat.flow), which is not installed"
        ) from None
    return compile_expression(when, regex_engine)


class _Token(int):
    """The id of a batch the router sent into a route (an int of its own type, unlike any supply's)."""

    __slots__ = ()


class _RouteBatch(Batch):
    """A list the router sends into a route: its data tell their event ids one by one, through ``ids``.

    Not a Batch given a function of itself (a lambda over the batch): that is a
    reference cycle, which only the garbage collector frees, so every list
    routed (and the served train's list, which ``ids`` knows) would live until
    a collection, and collections would grow with them.
    """

    __slots__ = ("_of",)

    def __init__(self, token: _Token, ids: _EventIds | None, event_id: Any = None) -> None:
        """:param ids: what tells the ids of the data to be appended; ``None`` for one datum of ``event_id``."""
        # Batch's attributes set here: the list starts empty, and this runs per route and per list.
        self.batch_id = token
        self._make_ids = None
        self._ids = None if ids is not None else [event_id]
        self._of = ids

    @property
    def knows_ids(self) -> bool:
        """Always: ``ids`` can tell them."""
        return True

    def event_ids(self) -> list[Any]:
        """:returns: every datum's event id, in order (asked of ``ids`` once)."""
        if self._ids is None:
            of = self._of
            self._ids = [of(datum) for datum in self] if of is not None else [None] * len(self)
        return self._ids

    def settle(self) -> None:
        """The route holds some of the data past the served train's send: note now where their ids come from."""
        if self._of is not None:
            self._of.settle()


class _EventIds:
    """The event ids of the data of one list the router was given, told datum by datum.

    The ids are those the served train traces the list back to
    (:meth:`Train.event_ids_later`: the supply's, kept beside its batch), by
    the datum's place in the list; a deep copy made for a further route has the
    id of the datum it was copied from. What the train traces is noted at the
    first question, or by :meth:`settle`, while the served train's send runs
    (afterwards it knows no more); the ids themselves are made only when asked
    for, so that routing pays nothing per datum for them.

    When the served train cannot trace the list, each datum's own id (the
    train's ``id_getter``) is all there is, as for the train's own errors. When
    it can, that is never asked: an object that is in the list twice (which of
    its events is meant cannot be told) has no id rather than a wrong one, or
    one read from its fields.
    """

    __slots__ = ("_data", "_train", "_settled", "_later", "_ids", "_by_object", "_copies", "_copied", "_next")

    def __init__(self, data: list[Any], train: Train) -> None:
        self._data = data
        self._train = train
        self._settled = False
        #: ``train.event_ids_later(data)`` once settled: ``None`` when the list cannot be traced.
        self._later: Callable[[], list[Any]] | None = None
        self._ids: list[Any] | None = None
        self._by_object: dict[int, Any] | None = None
        #: ``(copy, original)`` for every deep copy made for a further route (``match = "all"``).
        self._copies: list[tuple[Any, Any]] = []
        self._copied = 0  # how many of them ``_by_object`` knows
        self._next = 0  # datum by datum: the place of the datum the train calls next

    def settle(self) -> None:
        """Note how the served train traces the list, while its send runs (it forgets when it ends)."""
        if not self._settled:
            self._settled = True
            self._later = self._train.event_ids_later(self._data)

    def deep_copy(self, datum: Any) -> Any:
        """:returns: a deep copy of ``datum`` for a further route, which will have ``datum``'s event id."""
        made = copy.deepcopy(datum)
        self._copies.append((made, datum))
        return made

    def __call__(self, datum: Any) -> Any:
        """:returns: the event id of ``datum``, one of the list's data or a copy :meth:`deep_copy` made of one."""
        self.settle()
        if self._later is None:
            return self._own_id(datum)
        by_object = self._by_object
        if by_object is None:
            by_object = self._by_object = {}
            for item, event_id in zip(self._data, self._traced(), strict=True):
                # An object twice in the list cannot tell its event: none rather than a wrong one.
                by_object[id(item)] = None if id(item) in by_object else event_id
        copies = self._copies
        while self._copied < len(copies):
            made, original = copies[self._copied]
            by_object[id(made)] = by_object.get(id(original))
            self._copied += 1
        return by_object.get(id(datum))

    def take(self, datum: Any) -> int | None:
        """Datum by datum: :returns: the place of ``datum`` in the list, the train calling the data in order.

        ``None`` when it is not there (then the list is over: forgotten).
        """
        data, place = self._data, self._next
        # The datum expected, or (the train gave one before it elsewhere) one of the next.
        while place < len(data) and data[place] is not datum:
            place += 1
        if place >= len(data):
            self._next = len(data)
            return None
        self._next = place + 1
        return place

    @property
    def over(self) -> bool:
        """Whether the train has called the router on every datum of the list."""
        return self._next >= len(self._data)

    def at(self, place: int) -> Any:
        """:returns: the event id of the datum at ``place`` in the list."""
        self.settle()
        if self._later is None:
            return self._own_id(self._data[place])
        return self._traced()[place]

    def _traced(self) -> list[Any]:
        """The ids the served train traced the list to, one per datum (made once)."""
        if self._ids is None:
            self._ids = self._later() if self._later is not None else [None] * len(self._data)
        return self._ids

    def _own_id(self, datum: Any) -> Any:
        """The id the datum carries (the train's ``id_getter``), where nothing traces the list."""
        try:
            return self._train.id_getter(datum)
        except Exception:  # noqa: BLE001 - a datum without an id is still routed
            return None


class _RouteTrain(Train):
    """A route's train: its own acknowledgements go to the router, its cogs hear the served train's.

    See "Whose ``batch_done``" in the module's docstring.
    """

    route: Route

    def notify(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Broadcast as a Train does, but for the router's batches and this train's own checkpoints."""
        if name == "batch_done" and args and type(args[0]) is _Token:
            router = self.route.router
            if router is not None:
                router._acknowledged(args[0])
            return []
        if name == "checkpoint" and not self.route._forwarding:
            return []  # comes with the served train's acknowledgement instead
        return super().notify(name, *args, **kwargs)


class _Entrance(Cog):
    """The first cog of a route's train: passes data on (the supply the Train wants first)."""

    one_to_one = True

    def __init__(self, route: Route) -> None:
        self._route = route

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (data,)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Pass the whole list on as it is."""
        return data

    def __str__(self) -> str:
        return f"route {self._route.name} entrance"


class _RouteErrors(DeadLetterLog):
    """A route's error output: the error output of the train its router serves.

    A :class:`DeadLetterLog` by type, so that the route's train logs no line of
    its own about the failure: the output forwarded to says it (a dead letter),
    or, for an error train, one rate-limited line here, as a train says it.
    """

    def __init__(self, route: Route) -> None:
        self.route = route
        self._failures = FailureLog(log)

    def __call__(self, record: ErrorRecord) -> None:
        # Positions count the route's own cogs, without the entrance.
        record.cog = f"route {self.route.name}: {record.cog}"
        record.position -= 1
        router = self.route.router
        if router is not None:
            # The served train's counts (the run's summary, the metrics) say
            # what failed in its routes: failed, not out (the router passed
            # the datum on, and the served train counted it as out).
            router.train.errors += 1
            router.train.events_out -= 1
        output = router.train.error_output if router is not None else DeadLetterLog()
        if isinstance(output, Train):
            shown = record.event_id if record.event_id is not None else "-"
            self._failures.error(shown, "%s raised %s: %s", record.cog, type(record.error).__name__, record.error)
            output.send(None, (record.as_dict(),))
        else:
            output(record)


class Route:
    """One way out of a :class:`Router`: a condition and a train of cogs.

    The route's train (``route.train``) runs on the Escapement given (the
    application's by default); a cog that needs a train is given
    ``route.train``. Its first cog is the route's entrance, so ``route.cogs``
    (the route's own cogs) is ``route.train.cogs[1:]``.

    :param name: how error records, log lines and counts name the route.
    :param when: the condition: a filter expression (as ``flow.filter`` takes,
        needs deadbeat-cogs-text), or a function of the datum, true for data
        that take the route. ``None`` makes the *default route*: the data that
        matched no other route.
    :param cogs: the route's cogs, in order (may be set later, through ``route.cogs``).
    :param esc: the Escapement; the application's when omitted.
    :param regex_engine: the engine of ``matches()`` in ``when``: ``"re2"`` or ``"re"``.
    :param high_water: data held by the route's cogs above which they count as
        paused (see :class:`~deadbeat.movement.Train`).
    :raises ValueError: when ``when`` does not compile.
    """

    def __init__(
        self,
        name: str,
        when: str | Condition | None = None,
        cogs: Iterable[Any] = (),
        *,
        esc: Escapement | None = None,
        regex_engine: str = "re2",
        high_water: int = 10_000,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a route needs a name")
        self.name = name
        self.when = when
        self.test = compile_condition(when, regex_engine)
        #: The router that sends data here (set when a Router takes the route).
        self.router: Router | None = None
        self._entrance = _Entrance(self)
        # While the router forwards the served train's checkpoint (see _RouteTrain).
        self._forwarding = False
        self.train: Train = _RouteTrain(esc, [self._entrance], name=f"route {name}", high_water=high_water)
        self.train.route = self  # type: ignore[attr-defined]
        # Finished by its router, right after the cogs before the router have
        # flushed into it: never before the train that feeds it.
        self.train.esc.leave_shutdown(self.train)
        self.train.error_output = _RouteErrors(self)
        self.cogs = list(cogs)

    @property
    def cogs(self) -> list[Any]:
        """The route's own cogs, in order; assigning a new list rebuilds its train."""
        return self.train.cogs[1:]

    @cogs.setter
    def cogs(self, cogs: Iterable[Any]) -> None:
        self.train.cogs = [self._entrance, *cogs]

    def __repr__(self) -> str:
        when = self.when if isinstance(self.when, str) or self.when is None else cog_name(self.when)
        return f"Route({self.name!r}, when={when!r}, cogs={[cog_name(c) for c in self.cogs]})"


class Router(Cog):
    """Send each datum on to the route (or routes) whose condition it meets; the last cog of its train.

    With ``match = "first"`` a datum takes the first route whose condition
    holds, as ``if``/``elif`` would; with ``"all"`` it takes every such route,
    and each route after the first gets a deep copy, so that what one route's
    cogs change the others never see. Conditions all see the datum as it
    reached the router.

    A datum that meets no condition goes to the *default route*, the route
    without a condition, when there is one. Otherwise ``unmatched`` decides:
    ``"error"`` (the default) sends it to the error output, failing with
    :class:`NoRoute`; ``"drop"`` drops it, counted.

    The train is acknowledged (``batch_done`` to its supplies, state files
    saved) only once every route a datum took has written it, or sent it to the
    error output. Data a route has not acknowledged yet count as held, so they
    also pace the supplies. The router passes the data that took a route on,
    to be counted as leaving the train: put no cog after it.

    :param train: the train the router is the last cog of.
    :param routes: the routes, in order; at most one without a condition.
    :param match: ``"first"`` or ``"all"``.
    :param unmatched: without a default route, what happens to a datum that
        matches no route: ``"error"`` or ``"drop"``.
    :raises ValueError: for two default routes, two routes of one name, or a
        route another router has taken.
    """

    def __init__(
        self,
        train: Train,
        routes: Sequence[Route],
        match: Literal["first", "all"] = "first",
        unmatched: Literal["error", "drop"] = "error",
    ) -> None:
        if match not in _MATCH:
            raise ValueError(f"match must be 'first' or 'all', not {match!r}")
        if unmatched not in _UNMATCHED:
            raise ValueError(f"unmatched must be 'error' or 'drop', not {unmatched!r}")
        routes = list(routes)
        if not routes:
            raise ValueError("a router needs at least one route")
        names = [route.name for route in routes]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"two routes are called {', '.join(map(repr, twice))}")
        defaults = [route.name for route in routes if route.test is None]
        if len(defaults) > 1:
            raise ValueError(f"only one route may have no condition (the default route), not {defaults}")
        for route in routes:
            if route.router is not None:
                raise ValueError(f"route {route.name!r} already belongs to a router")
            route.router = self
        self.train = train
        self.routes = routes
        self.match = match
        self.unmatched = unmatched
        self.default = next((route for route in routes if route.test is None), None)
        self._conditional = [route for route in routes if route.test is not None]
        self._classify = _classifier(
            len(self._conditional), match == "all", train.name, [inline_condition(r.when) for r in self._conditional]
        )
        self._tests = [route.test for route in self._conditional]
        self._tokens = map(_Token, itertools.count(1))
        #: Batches sent into routes and not acknowledged yet: token -> how many
        #: data are held for it and the served train's hold token (None while
        #: its send() has not returned: not held yet).
        self._pending: dict[_Token, tuple[int, Hold] | None] = {}
        self._routed = dict.fromkeys((route.name for route in routes), 0)
        self._dropped = 0
        #: The ids of the list whose call_batch failed, while the train gives it to the router datum by datum.
        self._one_by_one: _EventIds | None = None

    # -- choosing -------------------------------------------------------------

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Sort a list into the routes and send each route its part; :returns: the data that took a route."""
        ids = _EventIds(data, self.train)
        # Each part is the batch sent into its route as it is (not a copy).
        buckets = [self._batch(ids) for _ in self._conditional]
        rest = self._batch(ids)
        # Every condition is evaluated before anything is sent: when one
        # raises, the train gives us the list again datum by datum, and no
        # route may have had any of it already.
        try:
            self._classify(data, self._tests, [bucket.append for bucket in buckets], rest.append, ids.deep_copy)
            if rest and self.default is None and self.unmatched == "error":
                raise NoRoute(f"{len(rest)} data match no route")
        except Exception:
            # The train now calls the router on each datum of this very list,
            # in order (call_batch's contract): each is routed with the id of
            # its own place, noted while the send runs (see __call__).
            ids.settle()
            self._one_by_one = ids
            raise
        for route, bucket in zip(self._conditional, buckets, strict=True):
            if bucket:
                self._send(route, bucket)
        if rest:
            if self.default is not None:
                self._send(self.default, rest)
            else:
                self._dropped += len(rest)
        if not rest or self.default is not None:
            out = data
        elif self.match == "first":
            out = [datum for bucket in buckets for datum in bucket]
        else:
            dropped = {id(datum) for datum in rest}
            out = [datum for datum in data if id(datum) not in dropped]
        if self.match == "all":
            # Copies for further routes count as splits in the served train's figures.
            routed = sum(map(len, buckets)) + (len(rest) if self.default is not None else 0)
            self.train.events_out += routed - len(out)
        return out

    def __call__(self, datum: Any) -> tuple[Any, ...] | None:
        """Route one datum. :raises NoRoute: when it matches none and that is an error."""
        # Before any condition can raise: the train calls the data of a failed
        # list in order, failing or not, and the place is what names the event.
        given, place = self._one_by_one, None
        if given is not None:
            place = given.take(datum)
            if given.over:
                self._one_by_one = None
        taken = []
        for route in self._conditional:
            if route.test(datum):  # type: ignore[misc]
                taken.append(route)
                if self.match == "first":
                    break
        if not taken:
            if self.default is None:
                if self.unmatched == "error":
                    raise NoRoute("matches no route")
                self._dropped += 1
                return None
            taken.append(self.default)
        # The datum's place in the failed list names its event (an object in
        # the list twice is no riddle here); a datum called on its own has the
        # id the served train traces it to, else its own.
        event_id = given.at(place) if given is not None and place is not None else _EventIds([datum], self.train)(datum)
        # Every copy is made before anything is sent: the first route's cogs
        # run within its send, and a copy made after it would carry what they
        # changed (an address anonymised for one route, in another's archive).
        copies = [datum, *(copy.deepcopy(datum) for _ in taken[1:])]
        for route, taken_datum in zip(taken, copies, strict=True):
            batch = _RouteBatch(next(self._tokens), None, event_id)
            batch.append(taken_datum)
            self._send(route, batch)
        # Copies for further routes count as splits in the served train's figures.
        self.train.events_out += len(taken) - 1
        return (datum,)

    def _batch(self, ids: _EventIds) -> _RouteBatch:
        """:returns: an empty batch of the router's, whose data will tell their event ids through ``ids``."""
        return _RouteBatch(next(self._tokens), ids)

    def _send(self, route: Route, data: _RouteBatch) -> None:
        token = data.batch_id
        count = len(data)
        self._routed[route.name] += count
        # Usually the route writes its data and acknowledges them before send()
        # returns: then nothing was ever held, and the served train pays no
        # hold, release and scheduled completion per route and list. Only what
        # the route has not acknowledged when send() returns is held. In
        # between, nothing can acknowledge the served train: it is in the
        # middle of its own send (this is its last cog), and its completion
        # runs when that send ends, or later, from the loop.
        self._pending[token] = None
        # Entering after the entrance, as data from a supply do: one stage less per list.
        route.train.send(route._entrance, data)
        if token in self._pending:
            # The data came with the served train's send in progress: only
            # their batch waits for the route (see Train.hold).
            self._pending[token] = (count, self.train.hold(count, current=True))
            # A cog of the route may ask their ids later (an output giving up on
            # them): what the served train traces them to is known only now.
            data.settle()

    def _acknowledged(self, token: Any) -> None:
        held = self._pending.pop(token, None)
        if held is not None:
            self.train.release(*held)

    @hook
    def batch_done(self, batch_id: Any) -> None:
        """The served train acknowledged a supply's batch: the routes' cogs hear it too, in the same broadcast."""
        for route in self.routes:
            if route.train.listens("batch_done"):
                route.train.notify("batch_done", batch_id)

    @hook
    def checkpoint(self) -> None:
        """The served train's checkpoint, forwarded to every route's cogs."""
        for route in self.routes:
            if not route.train.listens("checkpoint"):
                continue
            route._forwarding = True
            try:
                route.train.notify("checkpoint")
            finally:
                route._forwarding = False

    # -- what the train asks of a cog -------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        """Data sent into each route, dropped unmatched, and failed in the routes' cogs (for the run's summary)."""
        shown = {f"route {name}": count for name, count in self._routed.items()}
        shown["unmatched dropped"] = self._dropped
        shown["failed in routes"] = sum(route.train.errors for route in self.routes)
        return shown

    def finish(self) -> Any:
        """Finish each route's train, in order, once the cogs before the router have flushed into it."""
        return self._finish_routes()

    async def _finish_routes(self) -> None:
        for route in self.routes:
            await route.train.finish()

    def done(self) -> None:
        """End each route's train."""
        for route in self.routes:
            route.train.done()

    def explain(self) -> str:
        """:returns: what ``Train.explain`` says of each route's train."""
        return "\n".join(route.train.explain() for route in self.routes)

    def __str__(self) -> str:
        shown = ", ".join(repr(route.name) for route in self.routes)
        return f"Router(routes=[{shown}], match={self.match!r}, unmatched={self.unmatched!r})"

    __repr__ = __str__


_INLINE_COMPARE = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}


def inline_condition(when: Any) -> str | None:
    """:returns: a filter expression as Python source over ``d``, or ``None`` when it is not one of the simple ones.

    Written out in the classifier, ``severity >= 5`` costs what the hand-written
    ``d["severity"] >= 5`` costs, where calling the compiled expression costs a
    few Python calls per datum. Only the forms whose Python meaning is the
    filter language's meaning *whenever Python does not raise* are written out:
    a top-level field compared with a constant (one operator), ``startswith``
    and ``endswith`` of a top-level field and a text, and ``and``/``or``/``not``
    of those. Wherever the filter language differs from Python, Python raises:
    a missing field (``KeyError``), a datum that is no mapping (``TypeError``),
    an order between a number and a text or ``None`` (``TypeError``),
    membership in ``None``. The classifier catches that and asks the compiled
    expression itself for that datum, so every answer is the filter language's.
    """
    if not isinstance(when, str) or "\\" in when:
        # A backslash: the filter language's texts are raw (in "C:\temp", a
        # backslash and a t), Python's here would not be (a tab): the compiled
        # expression decides, as in flow.filter.
        return None
    try:
        tree = ast.parse(when, mode="eval").body
    except SyntaxError:
        return None
    return _inline(tree)


def _inline_constant(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and type(node.value) in (str, int, float, bool, type(None)):
        return repr(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        number = node.operand.value
        if type(number) in (int, float):
            return repr(-number)  # type: ignore[operator]
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_inline_constant(e) for e in node.elts]
        if all(item is not None for item in items):
            # A list, as the compiled expression builds: membership by ==, same answers.
            return "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    return None


def _inline(node: ast.AST) -> str | None:
    if isinstance(node, ast.BoolOp):
        parts = [_inline(value) for value in node.values]
        if any(part is None for part in parts):
            return None
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return "(" + joiner.join(f"({part})" for part in parts) + ")"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _inline(node.operand)
        return None if inner is None else f"(not ({inner}))"
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _INLINE_COMPARE:
        left, right = node.left, node.comparators[0]
        constant = _inline_constant(right)
        if isinstance(left, ast.Name) and constant is not None:
            op = _INLINE_COMPARE[type(node.ops[0])]
            if op in ("in", "not in") and not constant.startswith("["):
                return None  # membership in a text or a number: left to the compiled expression
            return f"(d[{left.id!r}] {op} {constant})"
        return None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("startswith", "endswith")
        and not node.keywords
        and len(node.args) == 2
        and isinstance(node.args[0], ast.Name)
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    ):
        field, affix = node.args[0].id, node.args[1].value
        # str.startswith itself, not the value's method: it raises for a value that is not text (where
        # the language is false, and a bytes' or another object's method could say true), so that
        # the compiled expression answers for it; for text, it answers as the language does.
        return f"str_{node.func.id}(d[{field!r}], {affix!r})"
    return None


def _classifier(count: int, every: bool, train_name: str, inline: Sequence[str | None] = ()) -> Callable[..., None]:
    """Write and compile the loop that sorts a list into ``count`` routes and the rest.

    ``if``/``elif`` for the first match; one ``if`` per route for every match,
    a deep copy to each route after the first. A condition whose Python source
    is given (see :func:`inline_condition`) is written out in the loop, inside
    a ``try``: when it raises, the datum is sorted again by the compiled
    conditions, which then decide (or raise, and the datum fails). Nothing is
    put anywhere before every condition the datum needs has been evaluated. The
    source is registered with :mod:`linecache`, so tracebacks show it.
    """
    inline = list(inline) or [None] * count
    fast = [source if source is not None else f"t{i}(d)" for i, source in enumerate(inline)]
    slow = [f"t{i}(d)" for i in range(count)]
    written_out = any(source is not None for source in inline)
    tests = [f"t{i}" for i in range(count)]
    puts = [f"p{i}" for i in range(count)]
    lines = [
        f"# Generated by deadbeat.routing.Router for train {ascii(train_name)}: {count} routes,"
        f" {'every match' if every else 'first match'}.",
        "def classify(data, tests, puts, rest, deep_copy, str_startswith=str.startswith, str_endswith=str.endswith):",
    ]
    if count:
        lines.append(f"    {', '.join(tests)}, = tests")
        lines.append(f"    {', '.join(puts)}, = puts")
    lines.append("    for d in data:")

    def choose(conditions: list[str], depth: int) -> list[str]:
        # Every condition first, into a tuple: nothing is put before all are known.
        return [f"{'    ' * depth}m = ({', '.join(conditions)},)"]

    if not count:
        lines.append("        rest(d)")
        body: list[str] = []
    elif not written_out and not every:
        # Calls only: nothing to fall back to, so the puts stand in the chain.
        body = []
        for i in range(count):
            body.append(f"        {'if' if i == 0 else 'elif'} t{i}(d):")
            body.append(f"            p{i}(d)")
        body += ["        else:", "            rest(d)"]
    elif not every:
        # The puts stand in the chain: a condition raises before anything of
        # this datum is put, and the compiled conditions then sort it again.
        def chain(conditions: list[str], depth: int) -> list[str]:
            pad = "    " * depth
            out = []
            for i, condition in enumerate(conditions):
                out += [f"{pad}{'if' if i == 0 else 'elif'} {condition}:", f"{pad}    p{i}(d)"]
            return [*out, f"{pad}else:", f"{pad}    rest(d)"]

        body = ["        try:", *chain(fast, 3), "        except Exception:", *chain(slow, 3)]
    else:
        if written_out:
            body = ["        try:", *choose(fast, 3), "        except Exception:", *choose(slow, 3)]
        else:
            body = choose(slow, 2)
        body.append("        taken = False")
        for i in range(count):
            body.append(f"        if m[{i}]:")
            body.append(f"            p{i}(deep_copy(d) if taken else d)" if i else f"            p{i}(d)")
            body.append("            taken = True")
        body += ["        if not taken:", "            rest(d)"]
    lines += body
    source = "\n".join(lines) + "\n"
    filename = f"<deadbeat router {ascii(train_name)[1:-1]} {next(_classifier_numbers)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated source
    return namespace["classify"]  # type: ignore[no-any-return]
