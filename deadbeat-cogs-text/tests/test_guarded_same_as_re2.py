"""The guarded engine gives RE2's fields for every pattern RE2 compiles, where Python's re reads it otherwise too.

Python's ``re`` (compiled with ``re.ASCII``) finds the fields of a guarded
pattern, but reads some patterns otherwise than RE2: those run on RE2 alone
(``compile_for_guard`` gives ``None``), and lines ``re`` could read otherwise
(not ASCII, a newline, a vertical tab) go to RE2. Checked on the real
google-re2, against patterns built from a small grammar and one test per
difference found.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadbeat import text
from deadbeat.text import _guard
from deadbeat.text._grok_patterns import STANDARD_PATTERNS
from deadbeat.text._regex import compile_for_guard, compile_pattern

pytest.importorskip("re2")

# -- the grammar ------------------------------------------------------------

_LITERALS = ["a", "b", "k", "s", "S", "é", "É", "ß", "ſ", "\u212a", "{", ",", "}", "1", "0", " ", r"\{", r"\.", "-"]
_ESCAPES = [".", r"\s", r"\S", r"\w", r"\W", r"\d", r"\D", r"\b", r"\B", "^", "$", r"\v", r"\t"]
_CLASS_MEMBERS = ["a", "k", "s", "é", "ſ", "\u212a", "a-z", "é-ſ", r"\s", r"\w", r"\d", "{", ",", " ", "-"]
_QUANTIFIERS = ["", "*", "+", "?", "{,3}", "{2,}", "{1,2}", "{2}", "{0}", "{01}", "{,}", "{0,1}"]
_GROUPS = ["(?P<@>", "(?P<@>", "(", "(?:", "(?i:", "(?s:", "(?m:", "(?-i:"]
_FLAGS = ["", "", "", "(?i)", "(?s)", "(?m)", "(?is)", "(?im)"]


def _named(pattern: str) -> str:
    """Each ``(?P<@>`` given a name of its own: g0, g1..."""
    numbers = iter(range(1000))
    return re.sub("@", lambda _: f"g{next(numbers)}", pattern)


def _patterns(atoms: st.SearchStrategy[str], groups: list[str], flags: list[str]) -> st.SearchStrategy[str]:
    """Sequences, groups, alternations and repetitions (greedy or lazy) of ``atoms``, after inline ``flags``."""

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        sequence = st.lists(children, max_size=3).map("".join)
        group = st.builds(lambda opening, body: f"{opening}{body})", st.sampled_from(groups), sequence)
        alternation = st.lists(sequence, min_size=2, max_size=3).map("|".join)
        quantified = st.builds(
            lambda atom, quantifier, lazy: atom + quantifier + ("?" if lazy and quantifier else ""),
            st.one_of(group, group, atoms),
            st.sampled_from(_QUANTIFIERS),
            st.booleans(),
        )
        return st.one_of(sequence, group, alternation, quantified)

    body = st.recursive(atoms, extend, max_leaves=10)
    return st.builds(lambda flag, body: _named(flag + body), st.sampled_from(flags), body)


_classes = st.builds(
    lambda negated, members: "[" + ("^" if negated else "") + "".join(members) + "]",
    st.booleans(),
    st.lists(st.sampled_from(_CLASS_MEMBERS), min_size=1, max_size=3),
)
#: Every piece of the grammar.
PATTERNS = _patterns(st.one_of(st.sampled_from(_LITERALS + _ESCAPES), _classes), _GROUPS, _FLAGS)
#: Mostly ASCII lines (the ones re answers), and lines with what re and RE2 read otherwise.
LINES = st.one_of(
    st.text("abksS{},10 -.\t\r", max_size=10),
    st.text("abksS{},10 -.\n\x0béÉßſ\u212a", max_size=10),
)
#: Groups in repetitions, where engines differ in what a group keeps: two letters, short lines.
_IN_REPETITIONS = st.sampled_from(["a", "b", "a?", "b*", "[ab]", r"\b", "(?P<@>a?)", "(?P<@>a|b)", "(?:a|)", "(?P<@>)"])


def _repeated(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    alternatives = st.lists(st.lists(children, min_size=1, max_size=3).map("".join), min_size=1, max_size=2)
    return st.builds(
        lambda opening, body, quantifier, lazy: f"{opening}{'|'.join(body)}){quantifier}{'?' if lazy else ''}",
        st.sampled_from(["(?P<@>", "(?:"]),
        alternatives,
        st.sampled_from(["*", "+", "?", "{2}", "{1,2}", "{2,}"]),
        st.booleans(),
    )


REPEATED_GROUPS = st.recursive(
    _IN_REPETITIONS, lambda c: st.one_of(_repeated(c), st.lists(c, min_size=2, max_size=3).map("".join)), max_leaves=5
).map(_named)
SHORT_LINES = st.text("ab", max_size=4)


def _both(pattern: str, search: bool) -> tuple[Any, Any]:
    """(guarded, RE2 alone) for a pattern RE2 compiles; ``(None, None)`` otherwise."""
    try:
        on_re2 = compile_pattern(pattern, "re2", search)
    except ValueError:
        return None, None
    return compile_pattern(pattern, "guarded", search), on_re2


def _check(pattern: str, lines: list[str]) -> None:
    """For a pattern RE2 compiles, the guarded fields are RE2's, whole line or searched."""
    for search in (False, True):
        guarded, on_re2 = _both(pattern, search)
        if guarded is None:
            return
        fast = guarded.guard.fast
        for line in lines:
            expected = on_re2.fields(line)
            assert guarded.fields(line) == expected, (pattern, line, search)
            # The re side itself, where it answers (whether or not this thread can arm the timer).
            if fast is not None and _guard._plain(line):
                assert fast(line) == expected, (pattern, line, search)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PATTERNS, st.lists(LINES, min_size=1, max_size=6))
def test_any_pattern_of_the_grammar(pattern: str, lines: list[str]) -> None:
    _check(pattern, lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REPEATED_GROUPS, st.lists(SHORT_LINES, min_size=1, max_size=6))
def test_groups_in_repetitions(pattern: str, lines: list[str]) -> None:
    _check(pattern, lines)


# -- each difference found: re's answer, RE2's, and the guarded one --------


def _re_ascii(pattern: str, line: str) -> dict[str, str | None] | None:
    found = re.compile(pattern, re.ASCII).fullmatch(line)
    return None if found is None else found.groupdict()


def _assert_same(pattern: str, lines: list[str], on_re_alone: bool) -> None:
    """Guarded gives RE2's fields for ``lines``, searched or whole; ``on_re_alone``: RE2 alone, no re side."""
    for search in (False, True):
        guarded, on_re2 = _both(pattern, search)
        assert guarded is not None, pattern
        assert (guarded.guard.fast is None) is on_re_alone, pattern
        assert (compile_for_guard(pattern, search) is None) is on_re_alone, pattern
        for line in lines:
            assert guarded.fields(line) == on_re2.fields(line), (pattern, line, search)


@pytest.mark.parametrize("pattern", [r"(?P<x>a{,3})", r"(?P<x>a{,})", r"(?P<x>a{01})", r"(?P<x>a{0,01})"])
def test_a_repetition_re2_reads_as_text(pattern: str) -> None:
    """No lower bound, or a leading zero: a repetition to re (3.11), the text itself to RE2."""
    literal = pattern[6:-1]
    assert compile_pattern(pattern, "re2").fields(literal) == {"x": literal}
    assert compile_pattern(pattern, "re2").fields("a") is None
    assert _re_ascii(pattern, "a") == {"x": "a"}
    _assert_same(pattern, ["", "a", "aa", literal], on_re_alone=True)


def test_ordinary_repetitions_keep_the_re_side() -> None:
    for pattern in (
        r"(?P<x>a{2,})",
        r"(?P<x>a{1,2}?)",
        r"(?P<x>a{0})b",
        r"(?P<x>a{10})",
        r"(?P<x>[{}]+)",
        r"(?P<x>a{)",
    ):
        _assert_same(pattern, ["", "a", "aa", "a" * 10, "{,}", "a{"], on_re_alone=False)


def test_not_a_boundary_matches_the_empty_text_in_re2() -> None:
    """``\\B``: RE2 matches the empty text, re before Python 3.14 does not."""
    assert compile_pattern(r"(?P<x>\B)", "re2").fields("") == {"x": ""}
    assert _re_ascii(r"(?P<x>\B)", "") in (None, {"x": ""})  # None before Python 3.14
    _assert_same(r"(?P<x>\B)", ["", "a"], on_re_alone=True)
    _assert_same(r"(?P<x>a*)\B", ["", "a", "aa"], on_re_alone=True)


@pytest.mark.parametrize(
    ("pattern", "line"),
    [
        (r"(?i)(?P<x>ſ)", "s"),  # LATIN SMALL LETTER LONG S: s and S to RE2
        (r"(?i)(?P<x>\u212a)", "k"),  # KELVIN SIGN: k and K to RE2
        (r"(?P<x>(?i:ſ))", "S"),
        (r"(?i)(?P<x>[^ſ])", "s"),  # not s either, to RE2
        (r"(?i)(?P<x>[ā-ǿ])", "s"),  # a range that holds ſ
    ],
)
def test_case_folding_to_ascii_letters(pattern: str, line: str) -> None:
    """RE2 folds ſ and K (Kelvin) to ASCII letters; re.ASCII folds only ASCII ones."""
    pattern = pattern.replace(r"\u212a", "\u212a")
    assert (compile_pattern(pattern, "re2").fields(line) is None) != (_re_ascii(pattern, line) is None)
    _assert_same(pattern, [line, "s", "S", "k", "K", "ſ", "\u212a", "a"], on_re_alone=True)


def test_case_folding_that_stays_outside_ascii_keeps_the_re_side() -> None:
    # é, É, ß fold to no ASCII letter; ſ without case folding is only itself.
    for pattern in (r"(?i)(?P<x>é|ß|s)", r"(?P<x>ſ|s)", r"(?P<x>(?-i:[a-z]))", r"(?i)(?P<x>k+)"):
        _assert_same(pattern, ["é", "É", "ß", "s", "S", "ſ", "k", "K", "\u212a", "kK"], on_re_alone=False)


@pytest.mark.parametrize(
    ("pattern", "line", "on_re", "on_re2"),
    [
        (r"(?:(?P<x>a?))+", "aa", "", "a"),
        (r"(?P<all>(?P<x>a?)*)", "aa", "", "a"),
        (r"(?:(?P<x>a*))*", "aa", "", "aa"),
        (r"(?:(?P<x>a|)b?)*", "ab", "", "a"),
    ],
)
def test_a_group_repeated_where_it_can_be_empty(pattern: str, line: str, on_re: str, on_re2: str) -> None:
    """re takes one more turn, matching the empty text, and keeps the group's empty capture; RE2 does not."""
    assert (_re_ascii(pattern, line) or {})["x"] == on_re
    assert (compile_pattern(pattern, "re2").fields(line) or {})["x"] == on_re2
    _assert_same(pattern, [line, "", "a", "b", "aab"], on_re_alone=True)


def test_repetitions_that_cannot_be_empty_keep_the_re_side() -> None:
    for pattern in (r"(?:(?P<x>a)|b)+", r"(?P<x>a?)?b*", r"(?:(?P<x>a*)b)*", r"(?P<x>(?:a?)*)"):
        _assert_same(pattern, ["", "a", "ab", "aab", "ba", "bb"], on_re_alone=False)


def test_a_backreference_to_re_is_an_octal_escape_to_re2() -> None:
    """``\\14`` after 14 groups: group 14 again to re, a form feed to RE2."""
    pattern = "(a)" * 14 + r"(?P<x>\14)"
    assert compile_pattern(pattern, "re2").fields("a" * 14 + "\x0c") == {"x": "\x0c"}
    assert _re_ascii(pattern, "a" * 15) == {"x": "a"}
    _assert_same(pattern, ["a" * 14 + "\x0c", "a" * 15], on_re_alone=True)


@pytest.mark.parametrize(
    ("pattern", "line"),
    [
        (r"(?P<x>a)$", "a\n"),  # re's $ also matches before a final newline; RE2's only at the end
        (r"(?P<x>a)$", "a\n\n"),
        (r"(?m)(?P<x>a)$", "a\nb"),
        (r"(?P<x>.+)", "a\nb"),
        (r"(?s)(?P<x>.+)", "a\nb"),
        (r"(?P<x>\s)", "\x0b"),  # a space to re.ASCII, not to RE2
        (r"(?P<x>[^\S])", "\x0b"),
        (r"(?P<x>\S+)", "a\x0bb"),
        (r"(?i)(?P<x>k)", "\u212a"),  # the text's letters fold to k in RE2
        (r"(?i)(?P<x>ss)", "ß"),
        (r"(?P<x>\w+)\b", "abé"),  # ASCII \w and \b in both: é is not a letter
        (r"(?P<x>\b.+)", "éa"),
    ],
)
def test_lines_re_would_read_otherwise_go_to_re2(pattern: str, line: str) -> None:
    """Not ASCII, a newline or a vertical tab: the line goes to RE2, the pattern keeps its re side."""
    assert not _guard._plain(line)
    _assert_same(pattern, [line, line.replace("\n", ""), "a"], on_re_alone=False)


@pytest.mark.parametrize(
    "pattern",
    [r"(?P<x>a*+)", r"(?P<x>(?>a))", r"(?P<x>a{2}+)", r"(?P<x>a)\Z", r"(?P<x>a{1001})", r"(a)(?P<x>\1)", r"(?P<x>\8)"],
)
def test_what_re2_refuses_is_refused(pattern: str) -> None:
    """Possessive and atomic syntax (re 3.11), \\Z, more than 1000 turns, backreferences: RE2 compiles none."""
    for engine in ("guarded", "re2"):
        with pytest.raises(ValueError, match="for RE2"):
            compile_pattern(pattern, engine)


@pytest.mark.parametrize(
    "pattern",
    [r"(?P<x>\x{41})", r"(?P<x>\Qa.b\E)", r"(?P<x>\pL)", r"(?P<x>(?U)a+)", r"(?P<x>\C)", r"(?P<x>[[:alpha:]])"],
)
def test_re2_syntax_runs_on_re2_alone(pattern: str) -> None:
    _assert_same(pattern, ["A", "a", "aa", "a.b", ":"], on_re_alone=True)


def test_escapes_read_alike_keep_the_re_side() -> None:
    for pattern in (r"(?P<x>\v\a\t\f\r)", r"(?P<x>\0\101\177)", r"(?P<x>\x41\-\.\ \,)", r"(?P<x>a|)", r"(?P<x>|a)"):
        _assert_same(pattern, ["\x0b\x07\t\x0c\r", "\x00A\x7f", "A-. ,", "", "a"], on_re_alone=False)


@pytest.mark.parametrize("search", [False, True])
def test_every_standard_grok_pattern_keeps_the_re_side(search: bool) -> None:
    for name in STANDARD_PATTERNS:
        grok = text.GrokParse("%{" + name + ":field}", search=search)
        assert grok.guard is not None and grok.guard.fast is not None, name
        assert compile_for_guard(grok._groks[0].regex, search) is not None, name
