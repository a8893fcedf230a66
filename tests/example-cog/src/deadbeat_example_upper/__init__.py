"""Example third-party cogs: one plain transformation and one that holds data."""

from __future__ import annotations

from typing import Any

from deadbeat import movement

__all__ = ["Delay", "Upper"]


class Upper(movement.Cog):
    """Upper-case the text in one field.

    :param field: the field (a name or a dotted path).
    """

    one_to_one = True

    def __init__(self, field: str = "line") -> None:
        self.field = field
        self._get = movement.getter(field)
        self._set = movement.setter(field)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (self._set(data, self._get(data).upper()),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """The same for a whole list, which the Train hands over when a cog has this method.

        Every value is read and upper-cased before any is set: a datum without
        the field raises before anything changed, and the Train then calls the
        cog datum by datum so that only that datum goes to the error output.
        """
        values = [value.upper() for value in map(self._get, data)]
        return [self._set(datum, value) for datum, value in zip(data, values, strict=True)]


class Delay(movement.Cog):
    """Hold each datum for ``seconds``, then send it on from this cog's position.

    :param train: the Train (needed to send late data and to report what is held).
    :param seconds: how long each datum waits.
    """

    def __init__(self, train: movement.Train, seconds: float = 0.05) -> None:
        self.train = train
        self.seconds = seconds
        self._held: dict[int, tuple[Any, movement.Binding, Any]] = {}
        self._next = 0

    def __call__(self, data: Any) -> None:
        key = self._next
        self._next += 1
        esc = self.train.esc
        timer = esc.after(self.seconds, self.release, key)
        # Through the Escapement, which knows the train this cog runs in.
        # current=True: the datum came with this call, so only its own batch
        # waits for it; the token says which batch that is.
        token = esc.hold(self, current=True)
        self._held[key] = (data, timer, token)
        return None

    def release(self, key: int) -> None:
        """Timer callback: the datum goes on down the train from here, with its batch's token."""
        data, _, token = self._held.pop(key)
        esc = self.train.esc
        esc.send_from(self, (data,), token)
        esc.release(self, 1, token)

    def finish(self) -> list[Any]:
        """Cancel the timers and send everything held on at once."""
        flushed = []
        esc = self.train.esc
        for data, timer, token in self._held.values():
            esc.dequeue(timer)
            flushed.append(data)
            esc.release(self, 1, token)
        self._held.clear()
        return flushed
