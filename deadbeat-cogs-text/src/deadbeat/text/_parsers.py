"""Parsing lines: CSV, regular expressions with named groups, key=value pairs."""

from __future__ import annotations

import csv
import io
import re
import shlex
from collections.abc import Sequence
from itertools import repeat
from operator import contains
from typing import Any

from deadbeat import movement

from ._lists import exhaust, only

__all__ = ["CSVParse", "KeyValueParse", "RegexParse"]


class _FromText(movement.Cog):
    """Shared shape: text from ``source`` (or the datum itself), fields into the datum or ``target``."""

    source: movement.FieldGetter
    target: movement.FieldSetter | None

    def _setup(self) -> None:
        self._get = movement.getter(self.source)
        self._set = movement.setter(self.target) if self.target is not None else None

    def _text(self, data: Any) -> str:
        return data if type(data) is str else self._get(data)

    def _deliver(self, data: Any, fields: dict[str, Any]) -> tuple[Any, ...]:
        if self._set is not None:
            if type(data) is str:
                data = {}
            return (self._set(data, fields),)
        if type(data) is str:
            return (fields,)
        data.update(fields)
        return (data,)


class _FromTextLists(_FromText):
    """A parser that can parse a whole list of texts in one pass (see ``call_batch``)."""

    one_to_one = True

    def _fields_of_all(self, texts: list[str]) -> list[dict[str, Any]] | None:
        """The fields of every text, or ``None`` when some text needs a closer look."""
        raise NotImplementedError

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data at once; the same results as one call per datum.

        Lines (or mappings, merged into) go through the parser in one pass when
        every one of them parses; otherwise datum by datum, which names the bad one.
        """
        if data and self._set is None:
            if only(data, str):
                fields = self._fields_of_all(data)
                if fields is not None:
                    return fields
            elif only(data, dict):
                try:
                    texts = list(map(self._get, data))
                except Exception:  # noqa: BLE001 - found again, datum by datum
                    texts = []
                fields = self._fields_of_all(texts) if texts and only(texts, str) else None
                if fields is not None:
                    exhaust(map(dict.update, data, fields))
                    return data
        return [out for datum in data for out in self(datum) or ()]


class CSVParse(_FromTextLists):
    """Parse one CSV record per line into named fields.

    :param fieldnames: the column names, in order; a record with another number of
        columns is an error (the datum goes to the error output).
    :param delimiter: column separator; ``None`` for the dialect's.
    :param quotechar: quoting character; ``None`` for the dialect's.
    :param dialect: a :mod:`csv` dialect name (``excel``, ``excel-tab``, ``unix``
        or one registered with :func:`csv.register_dialect`); ``delimiter`` and
        ``quotechar`` given explicitly win over it.
    :param source: where the line is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``None`` merges
        them into the datum.
    """

    def __init__(
        self,
        fieldnames: Sequence[str],
        delimiter: str | None = None,
        quotechar: str | None = None,
        dialect: str = "excel",
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
    ) -> None:
        if isinstance(fieldnames, str):
            raise TypeError("fieldnames must be a list of names, not one string")
        self.fieldnames = list(fieldnames)
        self.delimiter = delimiter
        self.quotechar = quotechar
        self.dialect = dialect
        self.source = source
        self.target = target
        self._setup()
        options: dict[str, Any] = {}
        if delimiter is not None:
            options["delimiter"] = delimiter
        if quotechar is not None:
            options["quotechar"] = quotechar
        self._options = options
        csv.get_dialect(dialect)  # unknown dialects fail here, not per line
        csv.reader([], dialect, **options)  # and so does a delimiter of two characters

    def __call__(self, data: Any) -> tuple[Any, ...]:
        text = self._text(data)
        try:
            rows = list(csv.reader(io.StringIO(text), self.dialect, strict=True, **self._options))
        except csv.Error as exc:
            raise ValueError(f"invalid CSV: {exc}") from None
        if len(rows) != 1:
            raise ValueError(f"expected one CSV record, got {len(rows)}")
        row = rows[0]
        if len(row) != len(self.fieldnames):
            raise ValueError(f"expected {len(self.fieldnames)} columns, got {len(row)}")
        return self._deliver(data, dict(zip(self.fieldnames, row, strict=True)))

    def _fields_of_all(self, texts: list[str]) -> list[dict[str, Any]] | None:
        # One reader over the whole list. A quoted field left open joins the
        # next line into its record, and such a list comes out with fewer
        # records than lines: then line by line, which reports it. A text
        # holding a newline is several lines to a single call's reader, so
        # such a list goes line by line too.
        if any(map(contains, texts, repeat("\n"))):
            return None
        try:
            rows = list(csv.reader(texts, self.dialect, strict=True, **self._options))
        except csv.Error:
            return None
        if len(rows) != len(texts) or set(map(len, rows)) != {len(self.fieldnames)}:
            return None
        names = self.fieldnames
        return [dict(zip(names, row, strict=True)) for row in rows]


class RegexParse(_FromTextLists):
    """Match a regular expression and take its named groups as fields.

    :param pattern: a regular expression with named groups (``(?P<name>...)``).
    :param source: where the text is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``None`` merges
        them into the datum.
    :param search: find the pattern anywhere (default: it must match the whole text).
    """

    def __init__(
        self,
        pattern: str,
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        search: bool = False,
    ) -> None:
        self.pattern = pattern
        self.source = source
        self.target = target
        self.search = search
        self._setup()
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        if not compiled.groupindex:
            raise ValueError(f"regular expression {pattern!r} has no named groups")
        self._match = compiled.search if search else compiled.fullmatch

    def __call__(self, data: Any) -> tuple[Any, ...]:
        text = self._text(data)
        found = self._match(text)
        if found is None:
            raise ValueError("line does not match the pattern")
        return self._deliver(data, found.groupdict())

    def _fields_of_all(self, texts: list[str]) -> list[dict[str, Any]] | None:
        matches = list(map(self._match, texts))
        if None in matches:
            return None
        return [match.groupdict() for match in matches if match is not None]


class KeyValueParse(_FromText):
    """Parse ``key=value`` pairs separated by white space; values may be quoted.

    :param separator: between key and value.
    :param source: where the text is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``None`` merges
        them into the datum.
    """

    def __init__(
        self,
        separator: str = "=",
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
    ) -> None:
        if not separator:
            raise ValueError("separator must not be empty")
        self.separator = separator
        self.source = source
        self.target = target
        self._setup()

    def __call__(self, data: Any) -> tuple[Any, ...]:
        text = self._text(data)
        try:
            tokens = shlex.split(text, posix=True)
        except ValueError as exc:
            raise ValueError(f"invalid key=value text: {exc}") from None
        fields: dict[str, Any] = {}
        for token in tokens:
            key, sep, value = token.partition(self.separator)
            if not sep or not key:
                raise ValueError(f"{token!r} is not key{self.separator}value")
            fields[key] = value
        return self._deliver(data, fields)
