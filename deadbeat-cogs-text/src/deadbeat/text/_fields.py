"""The annotation of a field a cog both reads and writes back (``text.encode``'s ``field``).

Such a parameter cannot be one callable: a getter cannot store and a setter
cannot read. It is a field path (or an index), which :func:`movement.getter` and
:func:`movement.setter` both take; a pipeline file gives it as text.
"""

from __future__ import annotations

from typing import Annotated, Any

from deadbeat import conf, movement

__all__ = ["FieldPath", "cast_field_path", "check_field_path"]


@conf.expects('a field path (such as "Source.0.IP4") or an index', "field path")
def cast_field_path(value: Any) -> Any:
    """Check a field path from a file: text with no empty segment, or an index (a boolean is neither)."""
    if not isinstance(value, (str, int)):
        raise ValueError(value)
    return movement.cast_getter(value)


#: A field read and written in place: a dotted path or an index, not a callable.
FieldPath = Annotated[str | int, cast_field_path]


def check_field_path(name: str, value: Any) -> Any:
    """Refuse, when the cog is built, a callable (or anything but a path) given for a field read and written in place.

    A getter given there would be called as a setter on every datum, and every
    datum would go to the error output; said once, here, it is a mistake to fix.

    :param name: the parameter's name, for the message.
    :returns: ``value``.
    :raises TypeError: for anything but text or a whole number.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        kind = "a callable" if callable(value) else type(value).__name__
        raise TypeError(
            f'{name} is read and written in place, so it is a field path (such as "src.ip") or an index, not {kind}'
        )
    return value
