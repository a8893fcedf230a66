"""Parsing lines: CSV, regular expressions with named groups, key=value pairs.

Each parser reads a text: the datum itself (what ``fs.read`` and ``fs.tail``
give by default), or for a mapping datum (what they give with ``line_setter``
and ``id_setter``: ``{"id": ..., "line": ...}``) the field ``source``; a line
read as bytes (``encoding_errors = "bytes"``) is read as UTF-8. Without
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
import re
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import contains, itemgetter
from typing import Any, Literal

from deadbeat import movement
from deadbeat.movement import only

from ._regex import CaptureEngine, compile_pattern, missing_engine

__all__ = ["CSVParse", "KeyValueParse", "RegexParse", "split_words"]

_BYTES = (bytes, bytearray, memoryview)


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
        # A line read as bytes (encoding_errors = "bytes") is the text itself, as for text.json_parse and
        # text.syslog_parse: looking a field up in it gave "byte indices must be integers", naming nothing.
        text = data if type(data) is str or isinstance(data, _BYTES) else self._get(data)
        if type(text) is str:
            return text  # the usual case, before any other test
        if isinstance(text, _BYTES):
            try:
                return bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"the line is not UTF-8 (byte {exc.start + 1}); text.decode can read others") from None
        if not isinstance(text, str):
            raise TypeError(f"expected text, got {type(text).__name__}")
        return text

    def _deliver(self, data: Any, fields: dict[str, Any]) -> tuple[Any, ...]:
        if self._set is not None:
            if type(data) is str or isinstance(data, _BYTES):
                data = {}
            return (self._set(data, fields),)
        if self.keep and type(data) is not str and not isinstance(data, _BYTES):
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
        repeated = sorted({name for name in fieldnames if list(fieldnames).count(name) > 1})
        if repeated:
            # Each record would keep only the last of those columns, silently.
            raise ValueError(
                f"fieldnames: {', '.join(map(repr, repeated))} named twice; a column needs a name of its own"
            )
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
    :param engine: ``"guarded"`` (the default): RE2's fields, found by Python's
        ``re`` under a CPU-time bound, RE2 taking over a line that exceeds it;
        ``"re2"``: RE2 alone (linear time, slower captures); both need the
        ``re2`` extra. ``"re"``: Python's backtracking ``re``, with
        backreferences and lookaround, which a hostile line can keep busy for
        hours with some patterns: choose it knowingly.
    """

    one_to_one = True

    @staticmethod
    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        """What building this cog with ``params`` would miss here (for ``deadbeat check``): RE2 for its engine."""
        return missing_engine(str(params.get("engine", "guarded")))

    def __init__(
        self,
        pattern: str,
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        search: bool = False,
        keep: Sequence[str] = (),
        engine: CaptureEngine = "guarded",
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
        found: list[Any] = self._regex.fields_all(texts)
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


#: White space between words: what POSIX shells (and :func:`shlex.split`) split on, no more.
_BLANKS = " \t\r\n"
_WORD = re.compile(r"[^ \t\r\n]+")
_SPACES = re.compile(r"[ \t\r\n]*")
_PLAIN = re.compile(r"[^ \t\r\n'\"\\]*")
_IN_DOUBLE = re.compile(r'[^"\\]*')
_SPECIAL = re.compile(r"['\"\\]")
_DOUBLE_ESCAPE = re.compile(r'\\(["\\])')
_SECOND = itemgetter(1)
#: Words without quotes or backslashes further than this before the next one are split at once.
_FAR = 256


def _trailing_backslashes(text: str) -> int:
    return len(text) - len(text.rstrip("\\"))


def _double_quoted(text: str, start: int) -> tuple[str, int]:
    """The text of a double-quoted piece holding a backslash, its body starting at ``start``; and where it ends.

    The closing quote is the first one after an even number of backslashes;
    each is found by ``str.find``, its backslashes counted once.

    :raises ValueError: as :func:`shlex.split`, for a quote left open.
    """
    at = start
    while True:
        close = text.find('"', at)
        if close < 0:
            odd = _trailing_backslashes(text[at:]) % 2
            raise ValueError("No escaped character" if odd else "No closing quotation")
        if not _trailing_backslashes(text[at:close]) % 2:
            break
        at = close + 1
    body = text[start:close]
    return _DOUBLE_ESCAPE.sub(_SECOND, body), close + 1


def split_words(text: str) -> list[str]:
    """Split ``text`` into words as a POSIX shell does: what :func:`shlex.split` gives, in linear time.

    Words are separated by space, tab, CR and LF. Outside quotes a backslash
    takes the next character as it is. Single quotes take everything up to the
    next single quote as it is. Double quotes take everything up to the next
    unescaped double quote, a backslash escaping only ``"`` and ``\\`` (before
    anything else it stays). Quoted and unquoted pieces next to each other make
    one word (``a="b c"d`` is ``a=b cd``); ``''`` is an empty word.

    Each piece is found by ``str.find`` or a pattern of one repeated character
    class (neither can backtrack), words without quotes or backslashes many at
    a time, and each character is looked at a bounded number of times: a line
    of megabytes costs what reading it costs, whatever it holds.
    (:func:`shlex.split` builds each word a character at a time, copying it
    each time: quadratic, 24 s for one word of a megabyte.)

    :raises ValueError: ``No closing quotation`` or ``No escaped character``, as :func:`shlex.split`.
    """
    if "'" not in text and '"' not in text and "\\" not in text:
        return _WORD.findall(text)
    words: list[str] = []
    end = len(text)
    find = text.find
    plain = _PLAIN.match
    in_double = _IN_DOUBLE.match
    spaces = _SPACES.match
    special = -1  # where the next quote or backslash is, once looked for
    at = spaces(text).end()  # type: ignore[union-attr]  # "*" always matches
    while at < end:
        char = text[at]
        if char != "'" and char != '"' and char != "\\":
            stop = plain(text, at).end()  # type: ignore[union-attr]
            if stop == end or text[stop] in _BLANKS:
                # A word without quotes or backslashes; when the next of them is
                # far, all the words up to the one holding it, at once.
                if special < at:
                    found = _SPECIAL.search(text, at)
                    special = end if found is None else found.start()
                if special - at > _FAR:
                    start = max(text.rfind(blank, at, special) for blank in _BLANKS) + 1
                    if start > at:  # (not when this word is the last)
                        words += _WORD.findall(text, at, start)
                        at = start
                        continue
                words.append(text[at:stop])
                at = spaces(text, stop).end()  # type: ignore[union-attr]
                continue
            parts = [text[at:stop]]
            at = stop
            char = text[at]
        else:
            parts = []
        add = parts.append
        # A word with quotes or backslashes, piece by piece.
        while True:
            if char == "'":
                close = find("'", at + 1)
                if close < 0:
                    raise ValueError("No closing quotation")
                add(text[at + 1 : close])
                at = close + 1
            elif char == '"':
                stop = in_double(text, at + 1).end()  # type: ignore[union-attr]
                if stop < end and text[stop] == '"':
                    add(text[at + 1 : stop])
                    at = stop + 1
                else:
                    piece, at = _double_quoted(text, at + 1)
                    add(piece)
            elif char == "\\":
                at += 1
                if at == end:
                    raise ValueError("No escaped character")
                add(text[at])
                at += 1
            else:
                stop = plain(text, at).end()  # type: ignore[union-attr]
                add(text[at:stop])
                at = stop
            if at == end:
                break
            char = text[at]
            if char in _BLANKS:
                break
        words.append("".join(parts))
        at = spaces(text, at).end()  # type: ignore[union-attr]
    return words


#: What a key given more than once on a line becomes (``repeated`` of the key=value parsers).
REPEATED = ("list", "error", "first", "last")
Repeated = Literal["list", "error", "first", "last"]


def check_repeated(repeated: Any) -> None:
    """:raises ValueError: for a ``repeated`` policy that is none of :data:`REPEATED`."""
    if repeated not in REPEATED:
        raise ValueError(f"repeated must be one of {', '.join(REPEATED)}, not {repeated!r}")


def add_pair(fields: dict[str, Any], key: str, value: str, repeated: str) -> None:
    """Add ``key=value`` to ``fields``, a key seen before on the line going as ``repeated`` says.

    A second value silently replacing the first let one appended field (a
    user name in a security log) pass for the real one: by default every
    value is kept, in order, in a list, which a cog further on that expects
    text refuses, naming the event.

    :raises ValueError: for a repeated key, when ``repeated`` is ``error``.
    """
    if key not in fields:
        fields[key] = value
    elif repeated == "list":
        known = fields[key]
        if isinstance(known, list):
            known.append(value)
        else:
            fields[key] = [known, value]
    elif repeated == "error":
        raise ValueError(f"key {key!r} is given more than once")
    elif repeated == "last":
        fields[key] = value


class KeyValueParse(_FromText):
    """Parse ``key=value`` pairs separated by white space; values may be quoted.

    The line is split into words as a POSIX shell splits them, as Python's
    ``shlex.split`` does: white space is space, tab, CR and LF; single quotes
    keep everything up to the next one as it is; in double quotes a backslash
    escapes ``"`` and ``\\``; outside quotes a backslash escapes any character;
    quoted and unquoted pieces next to each other make one word, so
    ``msg="disk full" path='/var/log'`` gives ``msg`` and ``path``. Each word
    is then ``key``, ``separator``, ``value`` (split at the first separator);
    a word without one, an empty key, a quote left open or a backslash at the
    end is an error for the line. The time taken is linear in the line's
    length, whatever it holds.

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
    :param repeated: what a key given more than once on a line becomes:
        ``list`` (every value, in order, in a list), ``error`` (the line goes to
        the error output), ``first`` or ``last`` (that value alone).
    """

    one_to_one = True

    def __init__(
        self,
        separator: str = "=",
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        keep: Sequence[str] = (),
        repeated: Repeated = "list",
    ) -> None:
        if not separator:
            raise ValueError("separator must not be empty")
        check_repeated(repeated)
        self.repeated = repeated
        self.separator = separator
        self.source = source
        self.target = target
        self._setup(keep)

    def __call__(self, data: Any) -> tuple[Any, ...]:
        text = self._text(data)
        try:
            tokens = split_words(text)
        except ValueError as exc:
            raise ValueError(f"invalid key=value text: {exc}") from None
        fields: dict[str, Any] = {}
        for token in tokens:
            key, sep, value = token.partition(self.separator)
            if not sep or not key:
                shown = repr(token) if len(token) <= 80 else f"{token[:40]!r}..."
                raise ValueError(f"{shown} is not key{self.separator}value")
            if key in fields:
                add_pair(fields, key, value, self.repeated)
            else:
                fields[key] = value
        return self._deliver(data, fields)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Parse a list of data; the same results as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)
