"""Formatting data back to text, and text to and from bytes."""

from __future__ import annotations

import codecs
import csv
import io
import string
from collections.abc import Sequence
from typing import Any

from deadbeat import conf, movement

from ._fields import FieldPath, check_field_path

__all__ = ["CSVFormat", "Decode", "Encode", "TemplateFormat"]


class CSVFormat(movement.Cog):
    """Write chosen fields as one CSV record.

    :param fieldnames: the fields, in column order (names or field paths).
    :param target: where the text goes (callable or field path); ``None`` makes
        it the datum.
    :param delimiter: column separator; ``None`` for the dialect's.
    :param dialect: a :mod:`csv` dialect name (``excel``, ``excel-tab``, ``unix``
        or one registered with :func:`csv.register_dialect`).
    """

    one_to_one = True

    def __init__(
        self,
        fieldnames: Sequence[str],
        target: movement.FieldSetter | None = None,
        delimiter: str | None = None,
        dialect: str = "excel",
    ) -> None:
        if isinstance(fieldnames, str):
            raise TypeError("fieldnames must be a list of names, not one string")
        self.fieldnames = list(fieldnames)
        self.target = target
        self.delimiter = delimiter
        self.dialect = dialect
        self._getters = [movement.getter(name) for name in self.fieldnames]
        self._set = movement.setter(target) if target is not None else None
        self._options: dict[str, Any] = {"delimiter": delimiter} if delimiter is not None else {}
        csv.get_dialect(dialect)
        # One buffer and writer for every record: making them costs more than writing.
        self._buffer = io.StringIO()
        # The record's own line end, cut off below. Not "": the csv module quotes a field holding a
        # character of the line terminator, and with none a field holding a line break went out bare,
        # one record becoming two broken ones. Both CR and LF, whatever the dialect ends lines with.
        self._writer = csv.writer(self._buffer, dialect, lineterminator="\r\n", **self._options)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        row = []
        for name, get in zip(self.fieldnames, self._getters, strict=True):
            try:
                value = get(data)
            except LookupError:
                raise ValueError(f"missing field {name!r}") from None
            row.append("" if value is None else value)
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self._writer.writerow(row)
        text = buffer.getvalue()[:-2]
        return (text,) if self._set is None else (self._set(data, text),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Format a list of data; the same results as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)


class TemplateFormat(movement.Cog):
    """Fill a ``string.Template`` (``$name`` / ``${name}``) from the datum's fields.

    :param template: the template text.
    :param target: where the text goes (callable or field path); ``None`` makes
        it the datum.
    """

    one_to_one = True

    def __init__(self, template: str, target: movement.FieldSetter | None = None) -> None:
        self.template = template
        self.target = target
        self._template = string.Template(template)
        for match in self._template.pattern.finditer(template):
            if match.group("invalid") is not None:
                raise ValueError(f"invalid template {template!r} at column {match.start('invalid') + 1}")
        self._set = movement.setter(target) if target is not None else None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        try:
            text = self._template.substitute(data)
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r} for the template") from None
        return (text,) if self._set is None else (self._set(data, text),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Format a list of data; the same results as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)


def _check_error_handler(errors: str) -> None:
    """Refuse an unknown error handler now, rather than on every datum.

    :raises ValueError: naming it.
    """
    try:
        codecs.lookup_error(errors)
    except (LookupError, TypeError):
        raise ValueError(f"unknown error handler {errors!r} (strict, replace, ignore, ...)") from None


class Encode(movement.Cog):
    """Turn text into bytes in the configured encoding.

    :param encoding: the encoding.
    :param errors: what to do with characters the encoding lacks: a :mod:`codecs`
        error handler (``strict`` sends the datum to the error output,
        ``replace``, ``ignore``, ``xmlcharrefreplace``, ``backslashreplace``...).
    :param field: where the text is and the bytes go (field path; read and
        written in place, so not a callable); ``None`` for the datum itself.
    """

    one_to_one = True
    #: Whole lists, each datum once (a class attribute: bound, ``call_each(self, data)`` calls the cog).
    call_batch = movement.call_each

    def __init__(
        self, encoding: conf.Encoding = "utf-8", errors: str = "strict", field: FieldPath | None = None
    ) -> None:
        self.encoding = encoding
        self.errors = errors
        self.field = field
        conf.require_encoding(encoding)
        _check_error_handler(errors)
        if field is not None:
            check_field_path("field", field)
        self._get = movement.getter(field) if field is not None else None
        self._set = movement.setter(field) if field is not None else None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        value = data if self._get is None else self._get(data)
        if not isinstance(value, str):
            where = "" if self.field is None else f"field {self.field!r}: "
            already = " (already bytes)" if isinstance(value, (bytes, bytearray, memoryview)) else ""
            raise TypeError(f"text.encode: {where}only text can be encoded, not {type(value).__name__}{already}")
        encoded = value.encode(self.encoding, self.errors)
        if self._set is None:
            return (encoded,)
        return (self._set(data, encoded),)


class Decode(movement.Cog):
    """Turn bytes into text in the configured encoding.

    :param encoding: the encoding.
    :param errors: a :mod:`codecs` error handler: ``strict`` (bad bytes send the
        datum to the error output), ``replace``, ``ignore``, ``surrogateescape``...
    :param field: where the bytes are and the text goes (field path; read and
        written in place, so not a callable); ``None`` for the datum itself.
    """

    one_to_one = True
    #: Whole lists, each datum once (a class attribute: bound, ``call_each(self, data)`` calls the cog).
    call_batch = movement.call_each

    def __init__(
        self, encoding: conf.Encoding = "utf-8", errors: str = "strict", field: FieldPath | None = None
    ) -> None:
        self.encoding = encoding
        self.errors = errors
        self.field = field
        conf.require_encoding(encoding)
        _check_error_handler(errors)
        if field is not None:
            check_field_path("field", field)
        self._get = movement.getter(field) if field is not None else None
        self._set = movement.setter(field) if field is not None else None

    def __call__(self, data: Any) -> tuple[Any, ...]:
        value = data if self._get is None else self._get(data)
        # Only bytes-like values: bytes(5) would be five NUL bytes, bytes(10**12) a terabyte.
        if not isinstance(value, (bytes, bytearray, memoryview)):
            where = "" if self.field is None else f"field {self.field!r}: "
            already = " (already text)" if isinstance(value, str) else ""
            raise TypeError(f"text.decode: {where}only bytes can be decoded, not {type(value).__name__}{already}")
        decoded = (value if isinstance(value, bytes) else bytes(value)).decode(self.encoding, self.errors)
        if self._set is None:
            return (decoded,)
        return (self._set(data, decoded),)
