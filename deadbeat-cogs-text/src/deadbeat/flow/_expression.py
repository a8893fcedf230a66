"""Filter expressions, compiled to closures from Python's syntax tree; nothing is ``eval``-ed.

The grammar is a small, safe subset of Python expressions::

    severity >= 3 and src.ip not in ["10.0.0.1", "10.0.0.2"]
    not exists(user) or matches(user, "^adm")

Names are field paths (``src.ip`` reads ``data["src"]["ip"]``); literals are
strings, numbers, booleans, ``None`` and lists of them; operators are ``and``,
``or``, ``not``, comparisons (``== != < <= > >= in not in``) and ``+ - * /``; the
functions are ``exists``, ``matches``, ``lower``, ``upper``, ``len``,
``startswith``, ``endswith``. Anything else (attribute calls, comprehensions,
lambdas, subscripts) is refused when the expression is compiled. A missing field
is ``None``; comparing ``None`` by order is false rather than an error. ``and``
and ``or`` give the value of the part that decides, as in Python.

Arithmetic is on numbers only (integers and floats, not booleans): ``n * 1000`` on
a text, or on a missing field, is an error for that datum rather than a text a
thousand times longer, and so are a division by zero and an integer result beyond
1024 bits. ``matches(FIELD, "PATTERN")`` searches with RE2 (see
:mod:`deadbeat.text._regex`), in time linear in the text, unless the engine is
``"re"``.
"""

from __future__ import annotations

import ast
import io
import math
import operator
import tokenize
from collections.abc import Callable
from typing import Any

from deadbeat import movement
from deadbeat.text._regex import compile_pattern

__all__ = ["ExpressionError", "compile_expression"]

Evaluator = Callable[[Any], Any]

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: _not_in(a, b),
}


def _not_in(a: Any, b: Any) -> bool:
    """``a not in b``, the negation of ``in`` always: where ``in`` is false for want of a container (``None``, a
    number: ``"x" in 5``) or of a text to look for (``1 in "abc"``), ``not in`` is true."""
    try:
        return b is None or a not in b
    except TypeError:
        return True


_ARITHMETIC: dict[type, tuple[Callable[[Any, Any], Any], str]] = {
    ast.Add: (operator.add, "+"),
    ast.Sub: (operator.sub, "-"),
    ast.Mult: (operator.mul, "*"),
    ast.Div: (operator.truediv, "/"),
}
_MISSING = object()
#: What arithmetic takes: numbers, not booleans (whose type is not one of these).
_NUMBERS = frozenset({int, float})
#: The largest integer result, in bits: far beyond any count, size or time, far
#: below what costs time to compute.
MAX_INT_BITS = 1024


class ExpressionError(ValueError):
    """An expression uses something outside the allowed subset, or does not parse."""


def _path(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_path(node.value)}.{node.attr}"
    raise ExpressionError(f"not a field name: {ast.unparse(node)}")


def _field(node: ast.AST) -> Evaluator:
    get = movement.getter(_path(node)) if "." in _path(node) else None
    key = _path(node)
    if get is None:

        def read_key(data: Any) -> Any:
            try:
                return data[key]
            except (KeyError, TypeError, IndexError):
                return None

        return read_key

    def read_path(data: Any) -> Any:
        try:
            return get(data)
        except LookupError:
            return None

    return read_path


def _safe_compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return bool(op(a, b))
        except TypeError:
            return False

    return compare


def _arithmetic(op: Callable[[Any, Any], Any], symbol: str, a: Evaluator, b: Evaluator) -> Evaluator:
    """``a SYMBOL b`` on numbers; anything else, or a result out of bounds, is an error naming it."""

    def apply(data: Any) -> Any:
        left, right = a(data), b(data)
        if type(left) not in _NUMBERS or type(right) not in _NUMBERS:
            raise ValueError(
                f"filter: {symbol} is for numbers, not {type(left).__name__} {symbol} {type(right).__name__}"
            )
        try:
            result = op(left, right)
        except (ZeroDivisionError, OverflowError) as exc:
            raise ValueError(f"filter: {left!r:.40} {symbol} {right!r:.40}: {exc}") from None
        if type(result) is int:
            if result.bit_length() > MAX_INT_BITS:
                raise ValueError(f"filter: {symbol} gives an integer beyond {MAX_INT_BITS} bits")
        elif not math.isfinite(result):
            # 1e308 * 10 is inf, and inf == inf: two different overflows would compare equal.
            if not (math.isfinite(left) and math.isfinite(right)):
                raise ValueError(f"filter: {left!r:.40} {symbol} {right!r:.40}: arithmetic takes finite numbers")
            raise ValueError(f"filter: {left!r:.40} {symbol} {right!r:.40} gives {result}, beyond a number's range")
        return result

    return apply


def _negative(operand: Evaluator) -> Evaluator:
    def negate(data: Any) -> Any:
        value = operand(data)
        if type(value) not in _NUMBERS:
            raise ValueError(f"filter: - is for numbers, not {type(value).__name__}")
        return -value

    return negate


def _boolean(is_and: bool, parts: list[Evaluator]) -> Evaluator:
    """``and`` / ``or`` as in Python: the value of the part that decides, not ``True``/``False``.

    ``(port or alt) > 1000`` compares the first port that is set; ``a and b`` is
    ``a`` when ``a`` is false (``None`` for a missing field), else ``b``.
    """
    first, rest = parts[0], parts[1:]
    if is_and:

        def both(data: Any) -> Any:
            value = first(data)
            for part in rest:
                if not value:
                    return value
                value = part(data)
            return value

        return both

    def either(data: Any) -> Any:
        value = first(data)
        for part in rest:
            if value:
                return value
            value = part(data)
        return value

    return either


def _compile(node: ast.AST, regex_engine: str) -> Evaluator:
    if isinstance(node, ast.Constant):
        value = node.value
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise ExpressionError(f"literal not allowed: {ast.unparse(node)}")
        return lambda data: value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_compile(e, regex_engine) for e in node.elts]
        return lambda data: [item(data) for item in items]
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _field(node)
    if isinstance(node, ast.BoolOp):
        return _boolean(isinstance(node.op, ast.And), [_compile(v, regex_engine) for v in node.values])
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, regex_engine)
        if isinstance(node.op, ast.Not):
            return lambda data: not operand(data)
        if isinstance(node.op, ast.USub):
            return _negative(operand)
        raise ExpressionError(f"operator not allowed: {ast.unparse(node)}")
    if isinstance(node, ast.Compare):
        left = _compile(node.left, regex_engine)
        steps = []
        for op, right in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise ExpressionError(f"comparison not allowed: {ast.unparse(node)}")
            steps.append((_safe_compare(_COMPARE[type(op)]), _compile(right, regex_engine)))

        def compare(data: Any) -> bool:
            current = left(data)
            for op_function, right_value in steps:
                nxt = right_value(data)
                if not op_function(current, nxt):
                    return False
                current = nxt
            return True

        return compare
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        op_function, symbol = _ARITHMETIC[type(node.op)]
        return _arithmetic(op_function, symbol, _compile(node.left, regex_engine), _compile(node.right, regex_engine))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return _call(node.func.id, node.args, node, regex_engine)
    raise ExpressionError(f"not allowed in a filter: {ast.unparse(node)}")


def _call(name: str, args: list[ast.expr], node: ast.AST, regex_engine: str) -> Evaluator:
    if name == "exists" and len(args) == 1:
        path = _path(args[0])
        get = movement.getter(path)

        def exists(data: Any) -> bool:
            try:
                get(data)
            except (LookupError, TypeError):
                return False
            return True

        return exists
    if name == "matches" and len(args) == 2 and isinstance(args[1], ast.Constant) and isinstance(args[1].value, str):
        value = _compile(args[0], regex_engine)
        try:
            found = compile_pattern(args[1].value, regex_engine, search=True, name="regex_engine").found
        except ValueError as exc:
            raise ExpressionError(f"{ast.unparse(node)}: {exc}") from None
        return lambda data: isinstance(v := value(data), str) and found(v)
    one_argument = {"lower": str.lower, "upper": str.upper, "len": len}
    if name in one_argument and len(args) == 1:
        function, value = one_argument[name], _compile(args[0], regex_engine)

        def apply(data: Any) -> Any:
            v = value(data)
            try:
                return function(v)
            except TypeError:
                return None

        return apply
    if name in ("startswith", "endswith") and len(args) == 2:
        value, affix = _compile(args[0], regex_engine), _compile(args[1], regex_engine)
        method = str.startswith if name == "startswith" else str.endswith

        def test_affix(data: Any) -> bool:
            # Both must be texts: a missing field, null, a number or a list is
            # false, never an error (str.startswith would raise on the second).
            v = value(data)
            return isinstance(v, str) and isinstance(a := affix(data), str) and method(v, a)

        return test_affix
    raise ExpressionError(f"function not allowed (or wrong arguments): {ast.unparse(node)}")


def compile_expression(text: str, regex_engine: str = "re2") -> Evaluator:
    """Compile a filter expression into a function of the datum.

    :param regex_engine: the engine of ``matches()``: ``"re2"`` or ``"re"`` (see
        :mod:`deadbeat.text._regex`).
    :raises ExpressionError: naming what is not allowed or where it does not parse,
        or a pattern the engine cannot compile (or RE2 not installed).
    """
    try:
        tree = ast.parse(_raw_strings(text), mode="eval")
    except SyntaxError as exc:
        # Python gives no column (0) for what ends too soon ("a =="): said as the end it is.
        where = f"at column {exc.offset}" if exc.offset and exc.offset > 0 else "at its end"
        raise ExpressionError(f"filter {_shown(text)} does not parse {where}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        # The parser's own stack: thousands of nested operators or "not"s.
        raise ExpressionError(f"filter {_shown(text)} is nested too deeply to parse") from None
    depth = _depth(tree.body)
    if depth > MAX_DEPTH:
        # The compiled filter calls itself once per level for every datum: a
        # limit here rather than a RecursionError per datum at run time.
        raise ExpressionError(
            f"filter {_shown(text)} nests {depth} levels deep, more than {MAX_DEPTH}: write a long chain"
            " with and/or, or split it"
        )
    return _compile(tree.body, regex_engine)


#: How deep a filter's syntax tree may be (``a + b + c == 1`` is 5 deep, counting
#: names; ``a and b and c`` 3, whatever the length of the chain).
MAX_DEPTH = 100


def _depth(node: ast.AST) -> int:
    """How many operations deep ``node`` nests, counted without recursion (the tree may be very deep)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(current))
    return deepest


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short when long (an expression of thousands of terms)."""
    return repr(text if len(text) <= 200 else text[:197] + "...")


def _raw_strings(text: str) -> str:
    """``text`` with every string literal made raw: a backslash in a text is a backslash.

    The docs tell operators to write expressions in TOML literal strings so
    that backslashes need no escaping; read as Python literals, ``"\\bbad\\b"``
    would hold backspaces (a pattern that never matches) and ``"(b)\\1"`` a
    control character instead of a backreference RE2 refuses.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text  # ast.parse says what is wrong
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    pieces = []
    done = 0
    for token in tokens:
        if token.type != tokenize.STRING:
            continue
        prefix = token.string[: len(token.string) - len(token.string.lstrip("rRbBuUfF"))]
        if "r" in prefix.lower():
            continue
        at = starts[token.start[0] - 1] + token.start[1]
        pieces += [text[done:at], "r"]
        # u"..." is a plain text in Python 3, but "ru" does not parse: drop the u.
        done = at + 1 if prefix.lower() == "u" else at
    return "".join(pieces) + text[done:]
