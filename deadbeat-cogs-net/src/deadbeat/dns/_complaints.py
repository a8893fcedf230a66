"""Log lines about failed lookups: one for the first failure of each kind, then a count.

A dead or misbehaving server fails every lookup sent to it; one line per datum
would bury the log. So each kind of failure (no answer in time, a malformed
reply, a server failure ...) gets one full line, naming the event, the question
and the server, as soon as it happens; further failures of that kind are counted
and summed up in one line per ``window`` seconds (and at shutdown). The data
themselves are never held back by this: each goes on, marked as its cog says.
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["Complaints"]


class Complaints:
    """Rate-limited warnings, by kind.

    :param logger: where the lines go.
    :param who: what the lines start with after the event id (the cog's name).
    :param window: seconds between two lines of the same kind.
    """

    def __init__(self, logger: logging.Logger, who: str, window: float = 10.0) -> None:
        self.logger = logger
        self.who = who
        self.window = window
        # kind -> [time of its last line, failures not logged since]
        self._kinds: dict[str, list[Any]] = {}

    def failed(self, kind: str, event_id: Any, message: str) -> None:
        """Report one failure of ``kind``: logged if none of its kind was within the window, else counted."""
        now = time.monotonic()
        state = self._kinds.get(kind)
        if state is None:
            self._kinds[kind] = [now, 0]
        elif now - state[0] < self.window:
            state[1] += 1
            return
        else:
            self._say_more(kind, state)
            state[0] = now
        shown = event_id if event_id is not None else "-"
        self.logger.warning("%s: %s: %s", shown, self.who, message, extra={"event_id": shown})

    def _say_more(self, kind: str, state: list[Any]) -> None:
        if state[1]:
            self.logger.warning(
                "%s: %d more lookups failed the same way (%s) in the last %.3g s; not logged one by one",
                self.who,
                state[1],
                kind,
                time.monotonic() - state[0],
            )
            state[1] = 0

    def flush(self) -> None:
        """Log the counts not said yet (at shutdown)."""
        for kind, state in self._kinds.items():
            self._say_more(kind, state)
