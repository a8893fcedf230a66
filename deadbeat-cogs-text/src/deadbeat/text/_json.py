"""JSON lines in and out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from deadbeat import movement

__all__ = ["JSONFormat", "JSONParse"]


class JSONParse(movement.Cog):
    """Parse a JSON object from a field and merge its keys into the datum.

    A value that is not valid JSON, or not a JSON object when no ``target`` is
    given, raises ``ValueError`` naming the position, so the datum goes to the
    train's error output with its event id.

    :param source: where the JSON text is (callable or field path).
    :param target: where the parsed value goes; ``None`` merges an object's keys
        into the datum itself.
    """

    def __init__(self, source: Any = "line", target: Any = None) -> None:
        self.source = source
        self.target = target
        self._get = movement.getter(source)
        self._set = movement.setter(target) if target is not None else None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        text = self._get(data)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON at column {exc.colno}: {exc.msg}") from None
        if self._set is not None:
            return (self._set(data, value),)
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        data.update(value)
        return (data,)


class JSONFormat(movement.Cog):
    """Format the datum (or one field of it) as one line of JSON.

    :param target: where the JSON text goes (callable or field path).
    :param source: what to format; ``None`` formats the datum without the
        ``exclude`` keys.
    :param exclude: keys left out when formatting the whole datum.
    :param sort_keys: sort object keys, for output that diffs well.
    """

    def __init__(
        self,
        target: Any = "line",
        source: Any = None,
        exclude: Sequence[str] = ("line",),
        sort_keys: bool = False,
    ) -> None:
        self.target = target
        self.source = source
        self.exclude = list(exclude)
        self.sort_keys = sort_keys
        self._set = movement.setter(target)
        self._get = movement.getter(source) if source is not None else None
        self._exclude = frozenset(exclude)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        if self._get is not None:
            value = self._get(data)
        else:
            value = {k: v for k, v in data.items() if k not in self._exclude}
        text = json.dumps(value, ensure_ascii=False, sort_keys=self.sort_keys, separators=(",", ":"))
        return (self._set(data, text),)
