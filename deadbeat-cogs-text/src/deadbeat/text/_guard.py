"""Python's ``re`` under a CPU-time bound, with RE2 taking over a line that exceeds it.

Why. RE2 matches in time linear in the line, but its Python binding gives
captures several times slower than :mod:`re` (a combined access log line:
about 15 µs against 2-3 µs). Python's ``re`` backtracks, and a hostile line
can keep it busy for hours. The ``guarded`` engine has both: ``re`` does the
work, and no line may cost more than a bound.

How. The matching of a run of lines (:data:`CHUNK` at most) is given a budget
of CPU time, :data:`BASE_BUDGET` plus :data:`LINE_BUDGET` per line, by a
virtual-time interval timer (``setitimer(ITIMER_VIRTUAL)``, signal
``SIGVTALRM``). ``re``'s matching loop checks for signals every few thousand
steps, so the handler's exception stops a runaway match. The line being
matched is then matched by RE2, a warning is logged, and RE2 matches every
line for :data:`COOLING` seconds: a stream of hostile lines costs at most one
budget per cooling period.

Where it cannot run. Signal handlers run in the main thread only: elsewhere,
or where another handler owns ``SIGVTALRM`` (a profiler), lines are matched by
RE2 alone. The timer counts the CPU time of the whole process, so a busy thread
beside the pipeline can end a budget early: RE2 then takes over (the same
fields, slower), never a wrong result.

No collection under the timer. The garbage collector is off while the timer
is armed. A collection runs Python code of others (weakref callbacks,
finalizers, ``gc.callbacks`` such as hypothesis's): the bound's exception,
landing there, would cut that code short, be swallowed ("Exception ignored
in ..."), and leave the run without a bound; and a full collection of a big
heap (a tenth of a second) is no line's cost. The collection comes after the
run. A thread that turns the collector on meanwhile can still bring one in.

The same answers. The ``re`` side is compiled with ``re.ASCII``, as RE2's
``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII; lines where the engines could
still differ (not ASCII, with a newline or a vertical tab) go to RE2. A
pattern ``re`` cannot compile, or that means something else to it (POSIX
classes such as ``[[:alpha:]]``), runs on RE2 alone.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["BASE_BUDGET", "CHUNK", "COOLING", "LINE_BUDGET", "Guarded", "Overrun"]

log = logging.getLogger("deadbeat.text")

T = TypeVar("T")

#: Lines matched under one timer (two system calls per run of lines).
CHUNK = 256
#: CPU seconds every run of lines may take, whatever its length.
BASE_BUDGET = 0.05
#: CPU seconds more per line of the run: some hundred times what a line costs.
LINE_BUDGET = 0.0002
#: Seconds during which RE2 matches every line after a line exceeded its budget.
COOLING = 10.0


class Overrun(BaseException):
    """Raised by the timer's handler inside a match that exceeded its budget.

    A BaseException, so that no ``except Exception`` between the handler and
    the guard takes it for an error of the line.
    """


_MAIN_THREAD = threading.main_thread().ident
# Whether the timer is armed by a guard now: the handler raises only then (a
# signal already on its way when the timer is disarmed must not raise later,
# anywhere).
_armed = False
_installed: bool | None = None


def _on_timer(signum: int, frame: Any) -> None:
    if _armed:
        raise Overrun()


def _disarm() -> None:
    """Stop the timer; from the moment ``_armed`` is false, a signal on its way raises nothing."""
    global _armed
    _armed = False
    signal.setitimer(signal.ITIMER_VIRTUAL, 0)


def _can_guard() -> bool:
    """Whether this thread can bound a match: the main thread, with SIGVTALRM ours (installed on first use)."""
    global _installed
    if threading.get_ident() != _MAIN_THREAD:
        return False
    if _installed is None:
        try:
            current = signal.getsignal(signal.SIGVTALRM)
            if current in (signal.SIG_DFL, None):
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)  # raises where there is no such timer
                signal.signal(signal.SIGVTALRM, _on_timer)
                _installed = True
            else:
                _installed = current is _on_timer
        except (ValueError, OSError, AttributeError):  # no such signal or timer here
            _installed = False
        if not _installed:
            log.info("SIGVTALRM has a handler of its own: guarded patterns are matched by RE2 alone")
    return _installed


def _plain(text: str) -> bool:
    """Whether the two engines are known to answer alike for ``text`` (see the module)."""
    return text.isascii() and "\n" not in text and "\x0b" not in text


class Guarded(Generic[T]):
    """A function of a line computed by ``fast`` (on ``re``) under a CPU bound, else by ``safe`` (on RE2).

    Both must give the same result for a line (or raise the same error); an
    exception of ``fast`` other than the bound's goes to the caller as it is.

    :param fast: the function using Python's ``re``, or ``None`` when the
        pattern must run on RE2 alone.
    :param safe: the same function using RE2.
    :param what: how a warning names the pattern.
    """

    def __init__(self, fast: Callable[[str], T] | None, safe: Callable[[str], T], what: str) -> None:
        self.fast = fast
        self.safe = safe
        self.what = what
        #: Until when (time.monotonic()) RE2 matches every line.
        self.cooling_until = 0.0
        #: How many lines exceeded the bound.
        self.overruns = 0

    def _use_fast(self) -> bool:
        return self.fast is not None and not _armed and _can_guard() and time.monotonic() >= self.cooling_until

    def one(self, text: str) -> T:
        """:returns: the result for one line."""
        if not self._use_fast() or not _plain(text):
            return self.safe(text)
        return self.many([text])[0]

    def many(self, texts: Sequence[str]) -> list[T]:
        """:returns: the results for ``texts``, in order."""
        if not self._use_fast():
            return list(map(self.safe, texts))
        fast, safe = self.fast, self.safe
        assert fast is not None  # for the type checker: _use_fast said so
        out: list[T] = []
        total = len(texts)
        while len(out) < total:
            start = len(out)
            stop = min(total, start + CHUNK)
            try:
                self._run(fast, safe, texts, start, stop, out)
            except Overrun:
                # Again: the signal may have landed in _run's finally, before it
                # disarmed (the timer fires once, so it cannot land here).
                _disarm()
                self._overran(texts, out, safe)
                out += map(safe, texts[len(out) :])
        return out

    @staticmethod
    def _run(
        fast: Callable[[str], T], safe: Callable[[str], T], texts: Sequence[str], start: int, stop: int, out: list[T]
    ) -> None:
        global _armed
        append = out.append
        # Off while armed (see the module): a collection's Python code must not receive the Overrun.
        collecting = gc.isenabled()
        gc.disable()
        _armed = True
        signal.setitimer(signal.ITIMER_VIRTUAL, BASE_BUDGET + LINE_BUDGET * (stop - start))
        try:
            for index in range(start, stop):
                text = texts[index]
                # _plain(text), written out: this runs once per line.
                if text.isascii() and "\n" not in text and "\x0b" not in text:
                    append(fast(text))
                else:
                    append(safe(text))
        finally:
            try:
                _disarm()
            finally:
                # Even when the signal lands in _disarm, before it disarmed (it fires once: not here).
                if collecting:
                    gc.enable()

    def _overran(self, texts: Sequence[str], out: list[T], safe: Callable[[str], T]) -> None:
        """The line at ``len(out)`` exceeded the bound (or the run ended just as it fired): RE2 takes over."""
        self.overruns += 1
        self.cooling_until = time.monotonic() + COOLING
        if len(out) < len(texts):
            line = texts[len(out)]
            shown = ascii(line[:80]) + ("..." if len(line) > 80 else "")
            log.warning(
                "%s: a line of %d characters took Python's re over its CPU budget (%s); "
                "RE2 matches this pattern for the next %.0f s",
                self.what,
                len(line),
                shown,
                COOLING,
            )
            out.append(safe(line))
