"""Regular expressions from pipeline files: RE2's answers, no line costing more than a bound, unless told otherwise.

A user's pattern runs on every line, and Python's :mod:`re` backtracks:
``^(a+)+$`` against 28 ``a`` and a ``!`` takes seconds, and each more ``a``
doubles that, while the whole train waits. RE2 (the ``google-re2`` package, the
``re2`` extra: ``pip install 'deadbeat-cogs-text[re2]'``) matches in time linear
in the text whatever the pattern, so every pattern is compiled by RE2 unless
the engine is ``"re"``: ``matches()`` in ``flow.filter`` runs on it, and the
parsers (``text.regex_parse``, ``text.grok``) take its answers, found faster
by ``re`` under a bound (``"guarded"``).

* ``"re2"`` (the default of ``matches()``): the pattern is compiled by RE2.
  Without the extra, or for a pattern RE2 cannot compile (backreferences such
  as ``\\1`` and ``(?P=name)``, lookaround such as ``(?=...)``, ``\\Z``,
  ``(?x)``), the cog is refused when it is built, saying why; there is no
  silent fallback.
* ``"guarded"`` (the default of ``text.regex_parse`` and ``text.grok``): the
  fields RE2 gives, and the same refusals, but found by Python's ``re`` under a
  CPU-time bound per run of lines (see :mod:`._guard`): a line that exceeds it
  is matched by RE2, which then matches every line for a while. Patterns
  ``re`` reads otherwise (see below) run on RE2 alone, and lines it could read
  otherwise (not ASCII, with a newline or a vertical tab) go to RE2 (see
  :func:`compile_for_guard`). Captures on ``re`` cost a fraction of RE2's; no
  line costs more than the bound.
* ``"re"``: Python's :mod:`re`, chosen knowingly: all of its syntax, and a
  hostile line can keep the train busy for as long as the pattern lets it. Use it
  for patterns written with care (no repetition of a repetition), or for
  trusted input.

Otherwise RE2 reads Python's syntax, named groups ``(?P<name>...)`` included,
but for these differences (``"guarded"`` gives RE2's reading of each):

* ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII only (in Python's ``re`` they
  are Unicode), and ``\\s`` is no vertical tab; ``\\pL`` (letters) and ``\\pN``
  (digits and other numbers) are RE2's Unicode classes.
* ``$`` (without ``(?m)``) matches at the end of the text only, not also
  before a final newline.
* ``a{,3}``, ``a{,}`` and ``a{01}`` are that text, not repetitions.
* ``(?i)`` folds Unicode letters: ``ſ`` is an ``s``, ``K`` (the Kelvin sign) a ``k``.
* ``\\B`` matches the empty text (in ``re`` since Python 3.14 only).
* ``\\14`` is an octal escape (a form feed), never a backreference.
* A group repeated where it can be empty (``(?:(?P<x>a?))+`` on ``aa``) keeps
  what it matched last (``a``), where ``re`` takes one more, empty, turn
  (``x`` is empty).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any, Literal

from ._guard import Guarded

__all__ = [
    "CAPTURE_ENGINES",
    "REGEX_ENGINES",
    "CaptureEngine",
    "RegexEngine",
    "UserPattern",
    "check_regex_engine",
    "compile_pattern",
]

try:  # re's parser, which tells what a pattern means to re (sre_parse before Python 3.11)
    from re import _parser  # type: ignore[attr-defined, unused-ignore]
except ImportError:  # pragma: no cover - Python 3.10
    try:
        import sre_parse as _parser
    except ImportError:
        _parser = None

try:
    import re2  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - exercised where the extra is missing
    re2 = None

#: The name of a regular expression engine: ``"re2"`` (linear time) or ``"re"`` (Python's, backtracking).
RegexEngine = Literal["re2", "re"]
#: The engines of parsers, which capture: also ``"guarded"`` (Python's re under a CPU bound, RE2 beyond it).
CaptureEngine = Literal["guarded", "re2", "re"]
#: A POSIX class as RE2 reads it inside brackets (``[[:alpha:]]``, ``[[:^digit:]]``).
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")
#: A repetition ``re`` reads where RE2 reads text: no lower bound (``{,3}``, ``{,}``), or a leading zero (``{01}``).
_RE_ONLY_REPEAT = re.compile(r"\{(?:,\d*|0\d+(?:,\d*)?|\d+,0\d+)\}")
#: RE2's span of a group that took no part in the match.
_NO_SPAN = (-1, -1)

#: Every engine name.
REGEX_ENGINES: tuple[str, ...] = ("re2", "re")
#: Every engine a parser takes.
CAPTURE_ENGINES: tuple[str, ...] = ("guarded", "re2", "re")

#: What a text gives: the named groups of the match (``None`` for a group that
#: took no part), or ``None`` when the pattern does not match.
Fields = Callable[[str], "dict[str, str | None] | None"]


def check_regex_engine(engine: str, name: str = "engine") -> None:
    """Refuse an unknown engine, and RE2 where it is not installed, saying what to do.

    :param name: the parameter's name, for the message.
    :raises ValueError: naming the engines, or how to get RE2.
    """
    if engine not in CAPTURE_ENGINES:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, CAPTURE_ENGINES))}, not {engine!r}")
    missing = missing_engine(engine, name)
    if missing:
        raise ValueError(missing[0])


def missing_engine(engine: str, name: str = "engine") -> list[str]:
    """:returns: why ``engine`` cannot run here (RE2 not installed), as one line; empty when it can.

    For ``deadbeat check`` (a cog's ``missing_requirements``), which builds nothing.
    """
    if engine in ("re2", "guarded") and re2 is None:
        return [
            f"{name} {engine!r}: google-re2 is not installed (pip install 'deadbeat-cogs-text[re2]'); "
            f"{name} 're' is Python's backtracking re, which a hostile line can keep busy for hours "
            "with some patterns: choose it only knowingly"
        ]
    return []


class UserPattern:
    """A pattern compiled by the chosen engine.

    :ivar pattern: the pattern as given.
    :ivar engine: ``"re2"``, ``"guarded"`` or ``"re"``.
    :ivar compiled: the engine's compiled pattern (``re2`` or ``re`` module
        object; RE2's for ``"guarded"``).
    :ivar names: the named groups, in the order of the pattern.
    :ivar fields: ``fields(text)``, the named groups of a match (whole text or
        anywhere, as compiled), or ``None`` when there is none.
    :ivar fields_all: ``fields_all(texts)``, ``fields`` of each text, in order.
    :ivar found: ``found(text)``, whether the pattern occurs anywhere in the text.
    :ivar guard: with ``"guarded"``, the :class:`~._guard.Guarded` that bounds ``re``.
    """

    __slots__ = ("pattern", "engine", "compiled", "names", "fields", "fields_all", "found", "guard")

    def __init__(
        self,
        pattern: str,
        engine: str,
        compiled: Any,
        fields: Fields,
        found: Callable[[str], bool],
        fields_all: Callable[[list[str]], list[dict[str, str | None] | None]] | None = None,
    ) -> None:
        self.pattern = pattern
        self.engine = engine
        self.compiled = compiled
        index: dict[str, int] = dict(compiled.groupindex)
        self.names = tuple(sorted(index, key=index.__getitem__))
        self.fields = fields
        self.fields_all = fields_all if fields_all is not None else (lambda texts: list(map(fields, texts)))
        self.found = found
        self.guard: Guarded[Any] | None = None

    def __repr__(self) -> str:
        return f"UserPattern({self.pattern!r}, engine={self.engine!r})"


def compile_pattern(pattern: str, engine: str, search: bool = False, name: str = "engine") -> UserPattern:
    """Compile a user's pattern with ``engine`` (see the module).

    :param search: ``fields`` finds the pattern anywhere; by default it must
        match the whole text.
    :param name: the engine parameter's name, for messages.
    :raises ValueError: for an engine not to be had, or a pattern it cannot compile, saying why.
    """
    check_regex_engine(engine, name)
    if not isinstance(pattern, str):
        raise TypeError(f"a regular expression must be text, not {type(pattern).__name__}")
    if engine == "re":
        return _compile_re(pattern, search)
    safe = _compile_re2(pattern, search, name)
    if engine == "re2":
        return safe
    fast = compile_for_guard(pattern, search)
    guard = Guarded(fast.fields if fast is not None else None, safe.fields, f"pattern {pattern!r}")
    guarded = UserPattern(pattern, "guarded", safe.compiled, guard.one, safe.found, guard.many)
    guarded.guard = guard
    return guarded


def compile_for_guard(pattern: str, search: bool) -> UserPattern | None:
    """The ``re`` side of a guarded pattern, RE2's ``\\d \\w \\s \\b`` kept ASCII; ``None`` where ``re`` would differ.

    Compiled with ``re.ASCII``, and given only lines that are ASCII, without a
    newline or a vertical tab (:func:`._guard._plain`), for which ``re`` then
    answers as RE2 does, except for the patterns ``re`` reads otherwise, which
    give ``None`` (RE2 alone): what ``re`` cannot compile (RE2 syntax such as
    ``\\pL``, ``\\Q...\\E``, ``(?U)``, flags in the middle); POSIX classes
    (``[[:alpha:]]``), a set of characters to ``re``; repetitions RE2 reads as
    text (``{,3}``, ``{,}``, ``{01}``); ``\\B``, which matches the empty text in
    RE2 but not in ``re`` (before Python 3.14); case folding with ``ſ`` or ``K``
    (the Kelvin sign) in the pattern, the same letters as ``s`` and ``k`` to RE2;
    a backreference to ``re`` (``\\14``), an octal escape to RE2; a group in a
    repetition of something that can be empty (``(?:(?P<x>a?))*``), where
    ``re`` takes one more, empty, turn and keeps its empty capture; and what
    ``re`` warns it may read otherwise some day (``[[``, ``[a--b]``).
    """
    if _POSIX_CLASS.search(pattern) or _RE_ONLY_REPEAT.search(pattern) or "\\B" in pattern:
        return None
    try:
        with warnings.catch_warnings():
            # "Possible nested set", "possible set difference" ([[, [a--b]): re says it may read
            # this otherwise some day; RE2 alone, and no warning about a syntax the user did not choose.
            warnings.simplefilter("error", FutureWarning)
            fast = _compile_re(pattern, search, re.ASCII)
    except (ValueError, FutureWarning):
        return None
    if _read_otherwise(pattern, fast.compiled.flags):
        return None
    return fast


def _read_otherwise(pattern: str, flags: int) -> bool:
    """Whether ``re`` reads ``pattern``, which it compiled with ``flags``, otherwise than RE2, as its parse shows.

    A backreference (``\\14``), an octal escape to RE2. Case folding with
    ``ſ`` (U+017F) or ``K`` (U+212A) in the pattern (written, or beyond the end
    of a range): the only letters outside ASCII that RE2 folds to ASCII ones.
    A group in a repetition whose body can match the empty text. Only what
    RE2 compiled comes here: no lookaround, no atomic group, no conditional.
    """
    if _parser is None:  # pragma: no cover - a Python without re's parser where it is looked for
        return True
    folds = not pattern.isascii() and max(pattern) >= "\u017f"
    try:
        tree = _parser.parse(pattern, flags)
    except Exception:  # noqa: BLE001 - re compiled it: should its parser fail here, do not guess
        return True
    nodes = list(_walk(tree))
    if any(op.startswith("GROUPREF") for op, _ in nodes):
        return True  # \14 after 14 groups: a backreference to re, an octal escape (a form feed) to RE2
    if folds and (flags & re.IGNORECASE or any(op == "SUBPATTERN" and av[1] & re.IGNORECASE for op, av in nodes)):
        return True
    return any(
        op in ("MAX_REPEAT", "MIN_REPEAT")
        and av[1] > 1
        and av[2].getwidth()[0] == 0
        and any(inner == "SUBPATTERN" and group[0] is not None for inner, group in _walk(av[2]))
        for op, av in nodes
    )


def _walk(items: Any) -> Iterator[tuple[str, Any]]:
    """Every node of a parse by ``re``, as (name of the operation, its arguments), depth first."""
    for op, av in items:
        name: str = op.name
        yield name, av
        if name == "SUBPATTERN":
            yield from _walk(av[3])
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            yield from _walk(av[2])
        elif name == "BRANCH":
            for branch in av[1]:
                yield from _walk(branch)


def _compile_re(pattern: str, search: bool, flags: int = 0) -> UserPattern:
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    find = compiled.search if search else compiled.fullmatch
    anywhere = compiled.search

    def fields(text: str) -> dict[str, str | None] | None:
        found = find(text)
        return None if found is None else found.groupdict()

    def found(text: str) -> bool:
        return anywhere(text) is not None

    return UserPattern(pattern, "re", compiled, fields, found)


def _compile_re2(pattern: str, search: bool, name: str) -> UserPattern:
    options = re2.Options()
    options.log_errors = False  # the reason is in the exception; RE2 would also print it
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "unknown error"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(
            f"bad regular expression {pattern!r} for RE2: {reason} (RE2 has no backreferences or lookaround; "
            f"{name} 're' has them, with Python's backtracking, which a hostile line can keep busy for hours)"
        ) from None
    raw = getattr(compiled, "_regexp", None)
    anchors = getattr(re2, "_Anchor", None)
    if raw is None or anchors is None or not callable(getattr(raw, "Match", None)):  # pragma: no cover
        # A google-re2 without the layer below its re-like API: that API, slower.
        return _re2_public(pattern, compiled, search)
    match = raw.Match
    anchor = anchors.UNANCHORED if search else anchors.ANCHOR_BOTH
    unanchored = anchors.UNANCHORED
    index: dict[str, int] = dict(compiled.groupindex)
    names = tuple(sorted(index, key=index.__getitem__))
    positions = tuple(index[n] for n in names)

    # Pick the named groups' spans out of all groups' spans: a tuple either way.
    pick: Callable[[list[tuple[int, int]]], tuple[tuple[int, int], ...]]
    if len(positions) > 1:
        pick = itemgetter(*positions)
    else:
        chosen_positions = positions  # none or one: itemgetter would give a bare item

        def pick(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
            return tuple(spans[i] for i in chosen_positions)

    # RE2 matches UTF-8 and answers byte offsets. In ASCII text (str.isascii()
    # reads a flag) those are the character offsets; otherwise the groups are
    # cut from the bytes and decoded. A group that took no part is (-1, -1).
    def fields(text: str) -> dict[str, str | None] | None:
        data = text.encode("utf-8", "surrogatepass")
        spans = match(anchor, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        chosen = pick(spans)
        if text.isascii() and _NO_SPAN not in chosen:
            return dict(zip(names, [text[s:e] for s, e in chosen], strict=True))
        return {
            n: (data[s:e].decode("utf-8", "surrogatepass") if s >= 0 else None)
            for n, (s, e) in zip(names, chosen, strict=True)
        }

    def found(text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        return bool(match(unanchored, data, 0, len(data))[0][0] >= 0)

    return UserPattern(pattern, "re2", compiled, fields, found)


def _re2_public(pattern: str, compiled: Any, search: bool) -> UserPattern:  # pragma: no cover - older bindings
    find = compiled.search if search else compiled.fullmatch
    anywhere = compiled.search

    def fields(text: str) -> dict[str, str | None] | None:
        found = find(text)
        return None if found is None else dict(found.groupdict())

    def found(text: str) -> bool:
        return anywhere(text) is not None

    return UserPattern(pattern, "re2", compiled, fields, found)
