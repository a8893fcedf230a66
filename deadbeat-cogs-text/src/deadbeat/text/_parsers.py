"""Parsing lines: CSV, regular expressions with named groups, key=value pairs.

Each parser reads a text: the datum itself (what ``fs.read`` and ``fs.tail``
give by default), or for a mapping datum (what they give with ``line_setter``
and ``id_setter``: ``{"id": ..., "line": ...}``) the field ``source``. Without
a ``target``, the parsed fields become the datum, as with ``text.json_parse``:
the reader's fields are not mixed in, so the raw ``line`` does not travel
further down the train (an error record after ``ip.anonymise`` then holds the
anonymised fields, not the original text), and neither set of fields
overwrites the other. ``keep`` carries named reader fields (such as
``"id"``) into the parsed ones, refusing to overwrite a parsed field of the same
name; a ``target`` keeps the whole datum and puts the fields there. The event
keeps its id all the same: error records and ``event_done`` name the id the datum
had when it entered the train.
"""

from __future__ import annotations

import csv
import io
import shlex
from collections.abc import Sequence
from itertools import repeat
from operator import contains
from typing import Any

from deadbeat import movement
from deadbeat.movement import only

from ._regex import RegexEngine, compile_pattern

__all__ = ["CSVParse", "KeyValueParse", "RegexParse"]


class _FromText(movement.Cog):
    """Shared shape: text from ``source`` (or the datum itself), fields as the datum or at ``target``."""

    source: movement.FieldGetter
    target: movement.FieldSetter | None
    keep: list[str]

    def _setup(self, keep: Sequence[str]) -> None:
        if isinstance(keep, str):
            raise TypeError("keep must be a list of field names, not one string")
        self.keep = list(keep)
        self._get = movement.getter(self.source)
        self._set = movement.setter(self.target) if self.target is not None else None

    def _refuse_kept(self, names: Sequence[str], what: str) -> None:
        """Refuse, when the cog is built, to keep a field every parse makes (it would be overwritten)."""
        clash = [key for key in self.keep if key in names]
        if clash:
            raise ValueError(
                f"keep: {', '.join(map(repr, clash))} is also {what}; the reader's field would overwrite the parsed one"
            )

    def _text(self, data: Any) -> str:
        text = data if type(data) is str else self._get(data)
        if not isinstance(text, str):
            raise TypeError(f"expected text, got {type(text).__name__}")
        return text

    def _deliver(self, data: Any, fields: dict[str, Any]) -> tuple[Any, ...]:
        if self._set is not None:
            if type(data) is str:
                data = {}
            return (self._set(data, fields),)
        if self.keep and type(data) is not str:
            clash = [key for key in self.keep if key in fields]
            if clash:
                raise ValueError(
                    f"the parsed fields have their own {', '.join(map(repr, clash))}; keep would overwrite it"
                )
            for key in self.keep:
                if key in data:
                    fields[key] = data[key]
        return (fields,)


class _FromTextLists(_FromText):
    """A parser that can parse a whole list of texts in one pass (see ``call_batch``).

    Its parsed field names are fixed (columns, groups), so ``keep`` cannot clash
    with them: that is refused when the cog is built.
    """

    one_to_one = True

    def _fields_of_all(self, texts: list[str]) -> list[dict[str, Any]] | None:
        """The fields of every text, or ``None`` when some text needs a closer look."""
        raise NotImplementedError

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data at once; the same results as one call per datum.

        Lines, or mappings (replaced by their fields, with the ``keep`` fields),
        go through the parser in one pass when every one of them parses;
        otherwise datum by datum, which names the bad one.
        """
        if data and self._set is None:
            texts: list[Any] | None = None
            mappings = False
            if only(data, str):
                texts = data
            elif only(data, dict):
                mappings = True
                try:
                    texts = list(map(self._get, data))
                except Exception:  # noqa: BLE001 - found again, datum by datum
                    texts = None
                if texts is not None and not only(texts, str):
                    texts = None
            if texts is not None:
                fields = self._fields_of_all(texts)
                if fields is not None:
                    if mappings and self.keep:
                        for datum, found in zip(data, fields, strict=True):
                            for key in self.keep:
                                if key in datum:
                                    found[key] = datum[key]
                    return fields
        return [out for datum in data for out in self(datum) or ()]


class CSVParse(_FromTextLists):
    """Parse one CSV record per line into named fields.

    Without a ``target``, the fields become the datum: a mapping datum (a
    reader's ``{"id": ..., "line": ...}``) is replaced, so its raw line goes no
    further; ``keep`` carries reader fields over.

    :param fieldnames: the column names, in order; a record with another number of
        columns is an error (the datum goes to the error output).
    :param delimiter: column separator; ``None`` for the dialect's.
    :param quotechar: quoting character; ``None`` for the dialect's.
    :param dialect: a :mod:`csv` dialect name (``excel``, ``excel-tab``, ``unix``
        or one registered with :func:`csv.register_dialect`); ``delimiter`` and
        ``quotechar`` given explicitly win over it.
    :param source: where the line is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``false`` makes
        them the datum, replacing a mapping datum and its raw line.
    :param keep: fields of a mapping datum to carry into the parsed fields
        (without a ``target``), such as ``["id"]``; naming a column is refused.
    """

    def __init__(
        self,
        fieldnames: Sequence[str],
        delimiter: str | None = None,
        quotechar: str | None = None,
        dialect: str = "excel",
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        keep: Sequence[str] = (),
    ) -> None:
        if isinstance(fieldnames, str):
            raise TypeError("fieldnames must be a list of names, not one string")
        self.fieldnames = list(fieldnames)
        self.delimiter = delimiter
        self.quotechar = quotechar
        self.dialect = dialect
        self.source = source
        self.target = target
        self._setup(keep)
        self._refuse_kept(self.fieldnames, "a column")
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


#: Marks a text the last list did not remember.
_UNSEEN = (None, None)


class RegexParse(_FromText):
    """Match a regular expression and take its named groups as fields.

    The pattern runs on RE2 by default, in time linear in the line whatever the
    pattern (the ``re2`` extra: ``pip install 'deadbeat-cogs-text[re2]'``);
    without the extra, or for a pattern RE2 cannot compile (backreferences,
    lookaround), the cog is refused when it is built unless ``engine`` is
    ``"re"``. In RE2, ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII only (``\\pL``
    and ``\\pN`` are Unicode letters and numbers).

    Without a ``target``, the fields become the datum: a mapping datum (a
    reader's ``{"id": ..., "line": ...}``) is replaced, so its raw line goes no
    further; ``keep`` carries reader fields over. Each line is matched once, in
    a whole list as datum by datum.

    :param pattern: a regular expression with named groups (``(?P<name>...)``).
    :param source: where the text is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``false`` makes
        them the datum, replacing a mapping datum and its raw line.
    :param search: find the pattern anywhere (default: it must match the whole text).
    :param keep: fields of a mapping datum to carry into the parsed fields
        (without a ``target``), such as ``["id"]``; naming a group is refused.
    :param engine: ``"re2"``: linear time, needs the ``re2`` extra; ``"re"``:
        Python's backtracking ``re``, with backreferences and lookaround, which a
        hostile line can keep busy for hours with some patterns: choose it knowingly.
    """

    one_to_one = True

    def __init__(
        self,
        pattern: str,
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        search: bool = False,
        keep: Sequence[str] = (),
        engine: RegexEngine = "re2",
    ) -> None:
        self.pattern = pattern
        self.source = source
        self.target = target
        self.search = search
        self.engine = engine
        self._setup(keep)
        self._regex = compile_pattern(pattern, engine, search=search)
        if not self._regex.names:
            raise ValueError(f"regular expression {pattern!r} has no named groups")
        self._refuse_kept(self._regex.names, "a group of the pattern")
        self._fields = self._regex.fields
        # What the last list's texts gave, by the text's identity, when some of
        # them did not match: the train then goes through that list datum by
        # datum, and each call takes its result from here instead of matching
        # again. Each entry holds its text, so no other object can take its id.
        self._seen: dict[int, tuple[str | None, dict[str, Any] | None]] = {}

    def __call__(self, data: Any) -> tuple[Any, ...]:
        text = self._text(data)
        seen = self._seen
        if seen:
            remembered, fields = seen.pop(id(text), _UNSEEN)
            if remembered is not text:
                fields = self._fields(text)
        else:
            fields = self._fields(text)
        if fields is None:
            raise ValueError("line does not match the pattern")
        return self._deliver(data, fields)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data at once; the same results as one call per datum.

        Every text is matched once. When one does not match (or cannot be
        delivered), this raises as that call would, and the calls the train then
        makes datum by datum take the matches from here instead of matching again.
        """
        if not data:
            return []
        self._seen = {}
        if only(data, str):
            texts: list[Any] = data
        elif only(data, dict):
            texts = list(map(self._get, data))
            if not only(texts, str):
                texts = list(map(self._text, data))
        else:
            texts = list(map(self._text, data))
        found: list[Any] = list(map(self._fields, texts))
        try:
            if None in found:
                raise ValueError("line does not match the pattern")
            if self._set is None and texts is data:
                return found
            if self._set is None and only(data, dict):
                # Replaced by their fields; keep cannot clash with a group (refused when built).
                keep = self.keep
                if keep:
                    for datum, fields in zip(data, found, strict=True):
                        for key in keep:
                            if key in datum:
                                fields[key] = datum[key]
                return found
            return [out for datum, fields in zip(data, found, strict=True) for out in self._deliver(datum, fields)]
        except Exception:
            self._seen = {id(text): (text, fields) for text, fields in zip(texts, found, strict=True)}
            raise


class KeyValueParse(_FromText):
    """Parse ``key=value`` pairs separated by white space; values may be quoted.

    Without a ``target``, the pairs become the datum: a mapping datum (a
    reader's ``{"id": ..., "line": ...}``) is replaced, so its raw line goes no
    further; ``keep`` carries reader fields over.

    :param separator: between key and value.
    :param source: where the text is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``false`` makes
        them the datum, replacing a mapping datum and its raw line.
    :param keep: fields of a mapping datum to carry into the parsed pairs
        (without a ``target``), such as ``["id"]``; a line with a key of the same
        name is an error, not overwritten.
    """

    def __init__(
        self,
        separator: str = "=",
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        keep: Sequence[str] = (),
    ) -> None:
        if not separator:
            raise ValueError("separator must not be empty")
        self.separator = separator
        self.source = source
        self.target = target
        self._setup(keep)

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
