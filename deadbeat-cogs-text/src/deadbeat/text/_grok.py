"""Grok: regular expressions built from named patterns, ``%{IP:client} %{WORD:method}``.

The language. ``%{NAME}`` stands for the library pattern ``NAME``;
``%{NAME:field}`` also captures what it matched as ``field``;
``%{NAME:field:int}`` (or ``:float``) converts the capture. Everything else is
a regular expression, named groups ``(?P<field>...)`` included. The library is
:data:`~._grok_patterns.STANDARD_PATTERNS` (IP, HOSTNAME, NUMBER,
TIMESTAMP_ISO8601, SYSLOGBASE, COMBINEDAPACHELOG, ...), to which pattern files
(Logstash's format: ``NAME expression`` per line, ``#`` comments) and a table of
the cog's own add or replace entries.

Compiling. A pattern is expanded once, when the cog is built: each reference is
replaced by its expression wrapped in a group (a capturing one only where a
field is named), recursively, with a reference cycle or an unknown name refused
there, naming the chain. The expansion is compiled by :mod:`._regex`, on RE2 by
default, so matching takes time linear in the line whatever the patterns say;
the standard library avoids lookaround and backreferences for that reason.

Fields. A field named twice (``(?:%{IP:client}|%{HOSTNAME:client})``) gets
whichever part matched; where both matched (``%{WORD:x} %{WORD:x}``) it gets a
list of the values in order, as Logstash does. RE2 and ``re`` want distinct
group names, so the second one is captured under an internal name and merged. A named part that took no
part in the match (an optional group) gives no field, rather than ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from deadbeat import conf, movement

from . import _regex
from ._grok_patterns import STANDARD_PATTERNS
from ._guard import Guarded
from ._parsers import _FromTextLists
from ._regex import CaptureEngine, UserPattern, compile_pattern, missing_engine

__all__ = ["GROK_TYPES", "Grok", "GrokParse", "load_pattern_file"]

#: ``%{NAME}``, ``%{NAME:field}``, ``%{NAME:field:type}``.
_REFERENCE = re.compile(r"%\{(?P<name>[A-Za-z0-9_]+)(?::(?P<field>[^:}]+))?(?::(?P<type>[^:}]+))?\}")
_GROUP_NAME = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.@-]*")
#: What a capture may be converted to.
GROK_TYPES: dict[str, Callable[[str], Any]] = {"int": conf.cast_int, "float": conf.cast_float}
_MAX_DEPTH = 64
#: The most characters one pattern may expand to (the standard library's longest is
#: a few thousand).
_MAX_EXPANDED = 1_000_000


def load_pattern_file(path: str) -> dict[str, str]:
    """Read a grok pattern file: ``NAME expression`` per line; blank lines and ``#`` comments skipped.

    :raises ValueError: naming the file and line of a line without a name and an expression.
    """
    patterns: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            name, _, expression = text.partition(" ")
            expression = expression.strip()
            if not re.fullmatch(r"[A-Za-z0-9_]+", name) or not expression:
                raise ValueError(f"{path}:{number}: expected 'NAME expression', got {text[:80]!r}")
            patterns[name] = expression
    return patterns


class Grok:
    """One grok pattern, expanded and compiled.

    :param pattern: the grok pattern.
    :param library: name to expression, for the references.
    :param engine: ``"re2"`` or ``"re"`` (see :mod:`._regex`).
    :param search: find the pattern anywhere in the text (default: the whole text).
    :raises ValueError: for an unknown reference, a cycle, an unknown type, a bad
        field name, or an expression the engine refuses, saying which.
    :ivar regex: the expanded regular expression.
    :ivar fields: the captured field names, in order.
    """

    def __init__(self, pattern: str, library: Mapping[str, str], engine: str = "re2", search: bool = False) -> None:
        if not isinstance(pattern, str):
            raise TypeError(f"a grok pattern must be text, not {type(pattern).__name__}")
        self.pattern = pattern
        self._library = library
        # Group name -> (field, conversion or None), in order of appearance.
        self._captures: dict[str, tuple[str, Callable[[str], Any] | None]] = {}
        self._seen_fields: set[str] = set()
        self.regex = self._expand(pattern, ())
        for name in _GROUP_NAME.findall(self.regex):
            if name not in self._captures:
                # A named group written as a regular expression: a text field.
                self._captures[name] = (name, None)
        # The engine asked for, in any refusal (RE2 missing); then, for guarded, RE2
        # compiled as the engine that answers, re beside it as the one that usually does.
        _regex.check_regex_engine(engine)
        self.compiled: UserPattern = compile_pattern(
            self.regex, "re2" if engine == "guarded" else engine, search=search
        )
        self.fields = tuple(dict.fromkeys(field for field, _ in self._captures.values()))
        self._finish = self._finisher()
        #: ``parse(text)``: the fields of a match, or ``None`` when the pattern does not match (on RE2
        #: for ``"guarded"``, which :class:`GrokParse` bounds).
        self.parse = self._fast_parse(search) or self._plain_parse(self.compiled)
        #: With ``"guarded"``, the same on Python's ``re`` (``None`` where ``re`` would read the pattern otherwise).
        self.parse_re: Callable[[str], dict[str, Any] | None] | None = None
        if engine == "guarded":
            on_re = _regex.compile_for_guard(self.regex, search)
            self.parse_re = self._re_parse(on_re.compiled, search) if on_re is not None else None

    def _re_parse(self, compiled: re.Pattern[str], search: bool) -> Callable[[str], dict[str, Any] | None]:
        """On Python's ``re``: one function from the text to the fields (the guarded engine's usual path)."""
        find = compiled.search if search else compiled.fullmatch
        finish = self._finish
        if finish is not _keep_present:

            def parse_and_finish(text: str) -> dict[str, Any] | None:
                found = find(text)
                return None if found is None else finish(found.groupdict())

            return parse_and_finish

        def parse(text: str) -> dict[str, Any] | None:
            found = find(text)
            if found is None:
                return None
            fields = found.groupdict()
            # The groups that took no part, found by identity and deleted: cheaper than
            # `None in values()` (an == per value) and a copy without them.
            for name in [name for name, value in fields.items() if value is None]:
                del fields[name]
            return fields

        return parse

    def _plain_parse(self, compiled: UserPattern) -> Callable[[str], dict[str, Any] | None]:
        match = compiled.fields
        finish = self._finish

        def parse(text: str) -> dict[str, Any] | None:
            found = match(text)
            return None if found is None else finish(found)

        return parse

    def _fast_parse(self, search: bool) -> Callable[[str], dict[str, Any] | None] | None:
        """On RE2, fields straight from the spans: one pass that also leaves out the groups that took no part.

        Grok patterns have many optional groups (a request that is not ``VERB
        PATH``, ``-`` for a size), so most matches would otherwise be built as a
        dict with ``None`` values and then copied without them.
        """
        raw = getattr(self.compiled.compiled, "_regexp", None)
        anchors = getattr(getattr(_regex, "re2", None), "_Anchor", None)  # the layer below google-re2's re-like API
        if self.compiled.engine != "re2" or raw is None or anchors is None or not callable(getattr(raw, "Match", None)):
            return None
        match = raw.Match
        anchor = anchors.UNANCHORED if search else anchors.ANCHOR_BOTH
        index: dict[str, int] = dict(self.compiled.compiled.groupindex)
        named = sorted(index.items(), key=lambda item: item[1])
        names = tuple(name for name, _ in named)
        positions = tuple(position for _, position in named)
        # The named groups' spans out of all groups' spans, as a tuple, in C.
        pick: Callable[[list[tuple[int, int]]], tuple[tuple[int, int], ...]]
        if len(positions) > 1:
            pick = itemgetter(*positions)
        else:
            chosen = positions  # none or one: itemgetter would give a bare item

            def pick(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
                return tuple(spans[i] for i in chosen)

        finish = self._finish
        plain = finish is _keep_present  # no renaming or conversion: the present groups are the fields

        def parse(text: str) -> dict[str, Any] | None:
            if text.isascii():
                # Byte offsets are character offsets in ASCII text.
                data = text.encode()
                spans = match(anchor, data, 0, len(data))
                if spans[0][0] < 0:
                    return None
                found = {n: text[s:e] for n, (s, e) in zip(names, pick(spans), strict=True) if s >= 0}
            else:
                data = text.encode("utf-8", "surrogatepass")
                spans = match(anchor, data, 0, len(data))
                if spans[0][0] < 0:
                    return None
                found = {
                    n: data[s:e].decode("utf-8", "surrogatepass")
                    for n, (s, e) in zip(names, pick(spans), strict=True)
                    if s >= 0
                }
            return found if plain else finish(found)

        return parse

    def _expand(self, pattern: str, chain: tuple[str, ...]) -> str:
        if len(chain) > _MAX_DEPTH:
            raise ValueError(f"grok patterns nested deeper than {_MAX_DEPTH}: {' -> '.join(chain[:5])} ...")

        def replace(found: re.Match[str]) -> str:
            name, field, kind = found.group("name", "field", "type")
            if name in chain:
                raise ValueError(f"grok pattern {name} refers to itself: {' -> '.join((*chain, name))}")
            expression = self._library.get(name)
            if expression is None:
                known = ", ".join(sorted(self._library)[:12])
                raise ValueError(f"unknown grok pattern %{{{name}}} (known include {known}, ...)")
            inner = self._expand(expression, (*chain, name))
            if len(inner) > _MAX_EXPANDED:
                # Definitions that each use the one before twice double at every
                # level: 22 levels took 11 s and 241 MB before this bound.
                raise ValueError(
                    f"grok pattern %{{{name}}} expands to more than {_MAX_EXPANDED:,} characters"
                    f" ({' -> '.join((*chain, name)[:5])} ...)"
                )
            if field is None:
                if kind is not None:  # pragma: no cover - the reference syntax cannot give a type without a field
                    raise ValueError(f"%{{{name}}}: a type needs a field name")
                return f"(?:{inner})"
            return f"(?P<{self._group_for(field, kind)}>{inner})"

        return _REFERENCE.sub(replace, pattern)

    def _group_for(self, field: str, kind: str | None) -> str:
        if not _FIELD_NAME.fullmatch(field):
            raise ValueError(f"grok field name {field!r}: letters, digits, '_', '.', '@' and '-' only")
        convert = None
        if kind is not None:
            convert = GROK_TYPES.get(kind)
            if convert is None:
                raise ValueError(f"grok field {field!r}: unknown type {kind!r} (one of {', '.join(GROK_TYPES)})")
        group = field if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field) else ""
        if not group or field in self._seen_fields or group in self._captures:
            group = f"_g{len(self._captures)}_{re.sub(r'[^A-Za-z0-9_]', '_', field)}"
        self._seen_fields.add(field)
        self._captures[group] = (field, convert)
        return group

    def _finisher(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """What turns the groups of a match into fields: drop absent ones, rename, convert."""
        renamed = [(group, field) for group, (field, _) in self._captures.items() if group != field]
        converted = [(group, field, convert) for group, (field, convert) in self._captures.items() if convert]
        if not renamed and not converted:
            return _keep_present

        def finish(found: dict[str, Any]) -> dict[str, Any]:
            # Conversions first, while every value is still under its group name.
            for group, field, convert in converted:
                value = found.get(group)
                if value is not None:
                    try:
                        found[group] = convert(value)
                    except ValueError:
                        raise ValueError(f"field {field!r}: {value!r} is not {conf.expected_of(convert)}") from None
            out = {k: v for k, v in found.items() if v is not None}
            for group, field in renamed:
                value = out.pop(group, None)
                if value is None:
                    continue
                if field not in out:
                    out[field] = value
                else:
                    # Named twice and both matched (not alternatives): every value is kept, in order.
                    before = out[field]
                    out[field] = [*before, value] if isinstance(before, list) else [before, value]
            return out

        return finish


def _first_of(parses: list[Callable[[str], dict[str, Any] | None]]) -> Callable[[str], dict[str, Any] | None]:
    """:returns: a parse giving the fields of the first of ``parses`` that matches."""
    if len(parses) == 1:
        return parses[0]

    def first(text: str) -> dict[str, Any] | None:
        for parse in parses:
            found = parse(text)
            if found is not None:
                return found
        return None

    return first


def _keep_present(found: dict[str, Any]) -> dict[str, Any]:
    """The fields of a match: its groups, less those that took no part (deleted: see ``_re_parse``)."""
    for name in [name for name, value in found.items() if value is None]:
        del found[name]
    return found


def _library(patterns: Mapping[str, str], pattern_files: Sequence[str]) -> dict[str, str]:
    library = dict(STANDARD_PATTERNS)
    for path in pattern_files:
        library.update(load_pattern_file(path))
    for name, expression in patterns.items():
        if not re.fullmatch(r"[A-Za-z0-9_]+", name) or not isinstance(expression, str):
            raise ValueError(f"patterns: {name!r} must be a NAME (letters, digits, _) with an expression as text")
        library[name] = expression
    return library


class GrokParse(_FromTextLists):
    """Parse lines with grok patterns: ``%{IPORHOST:client} %{WORD:verb} %{NUMBER:bytes:int}``.

    ``%{NAME}`` refers to a pattern of the standard library (IP, IPV4, IPV6,
    HOSTNAME, IPORHOST, WORD, NOTSPACE, NUMBER, INT, POSINT, DATA, GREEDYDATA,
    QUOTEDSTRING, UUID, MAC, URI, PATH, TIMESTAMP_ISO8601, HTTPDATE,
    SYSLOGTIMESTAMP, SYSLOGBASE, LOGLEVEL, COMMONAPACHELOG, COMBINEDAPACHELOG,
    ...), of ``pattern_files`` or of ``patterns``; ``%{NAME:field}`` captures it
    as ``field``, ``%{NAME:field:int}`` (or ``:float``) converts it. The Apache
    and nginx combined access log is ``pattern = "%{COMBINEDAPACHELOG}"``
    (fields ``clientip``, ``ident``, ``auth``, ``timestamp``, ``verb``,
    ``request``, ``httpversion``, ``response``, ``bytes``, ``referrer``,
    ``agent``, as text).

    Several patterns are tried in order and the first that matches gives the
    fields; a line none matches goes to the error output. The patterns are
    expanded and compiled once, when the cog is built, on RE2 by default:
    matching is linear in the line whatever the patterns. Without a ``target``,
    the fields become the datum; ``keep`` carries reader fields over.

    :param pattern: a grok pattern, or a list of them tried in order.
    :param patterns: more named patterns (``{"MYID": "[a-z]{3}-[0-9]+"}``),
        which also replace library ones of the same name.
    :param pattern_files: files of named patterns, ``NAME expression`` per line
        (``#`` comments), read once when the cog is built.
    :param source: where the text is (callable or field path), for mapping data.
    :param target: where the fields go (callable or field path); ``false`` makes
        them the datum, replacing a mapping datum and its raw line.
    :param search: find the pattern anywhere in the line (default: it must match the whole line).
    :param keep: fields of a mapping datum to carry into the parsed fields
        (without a ``target``), such as ``["id"]``; naming a captured field is refused.
    :param engine: ``"guarded"`` (the default): RE2's fields, found by Python's
        ``re`` under a CPU-time bound, RE2 taking over a line that exceeds it
        (and every line for a while after); ``"re2"``: RE2 alone (linear time,
        slower captures); both need the ``re2`` extra. ``"re"``: Python's
        backtracking ``re``, which a hostile line can keep busy for hours with
        some patterns: choose it knowingly.
    """

    @staticmethod
    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        """What building this cog with ``params`` would miss here (for ``deadbeat check``): RE2 for its engine."""
        return missing_engine(str(params.get("engine", "guarded")))

    def __init__(
        self,
        pattern: str | Sequence[str],
        patterns: Mapping[str, str] | None = None,
        pattern_files: conf.PathList = (),
        source: movement.FieldGetter = "line",
        target: movement.FieldSetter | None = None,
        search: bool = False,
        keep: Sequence[str] = (),
        engine: CaptureEngine = "guarded",
    ) -> None:
        if isinstance(pattern_files, str):
            raise TypeError("pattern_files must be a list of paths, not one string")
        self.pattern = pattern
        self.patterns = dict(patterns or {})
        self.pattern_files = list(pattern_files)
        self.source = source
        self.target = target
        self.search = search
        self.engine = engine
        self._setup(keep)
        library = _library(self.patterns, self.pattern_files)
        sources = [pattern] if isinstance(pattern, str) else list(pattern)
        if not sources:
            raise ValueError("pattern must be a grok pattern or a non-empty list of them")
        self._groks = [Grok(p, library, engine, search) for p in sources]
        for grok in self._groks:
            if not grok.fields:
                raise ValueError(f"grok pattern {grok.pattern!r} captures no field (use %{{NAME:field}})")
            self._refuse_kept(grok.fields, "a field the pattern captures")
        #: With ``"guarded"``, what bounds Python's ``re`` (see :mod:`._guard`).
        self.guard: Guarded[dict[str, Any] | None] | None = None
        parse = _first_of([g.parse for g in self._groks])
        self._parse_all: Callable[[list[str]], list[dict[str, Any] | None]] = lambda texts: list(map(parse, texts))
        if engine == "guarded":
            on_re = [g.parse_re for g in self._groks]
            fast = _first_of(on_re) if None not in on_re else None  # type: ignore[arg-type]
            shown = sources[0] if len(sources) == 1 else f"{sources[0]} (and {len(sources) - 1} more)"
            guard = self.guard = Guarded(fast, parse, f"text.grok {shown!r}")
            parse, self._parse_all = guard.one, guard.many
        self._parse = parse

    def __call__(self, data: Any) -> tuple[Any, ...]:
        fields = self._parse(self._text(data))
        if fields is None:
            raise ValueError("line does not match the grok pattern")
        return self._deliver(data, fields)

    def _fields_of_all(self, texts: list[str]) -> list[dict[str, Any]] | None:
        try:
            found = self._parse_all(texts)
        except ValueError:
            return None
        if None in found:
            return None
        return found  # type: ignore[return-value]
