"""An application's own cog, used by demo.toml as ``demo_cogs:Tag``."""

from typing import Any

from deadbeat import movement


class Tag(movement.Cog):
    """Set a field to a fixed value.

    :param field: the field to set (a name or a dotted path).
    :param value: the value to put there.
    """

    def __init__(self, field: str, value: str) -> None:
        self.field = field
        self.value = value
        self._set = movement.setter(field)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (self._set(data, self.value),)
