"""``${VAR}`` in pipeline files: environment variables and secrets from files, in values only.

When. Substitution happens after the TOML is parsed, in the parsed string
values, never in the raw text. A value is text wherever it came from, so an
environment variable holding ``"]\\n[[cog]]\\nuse = ..."`` stays one string: it
cannot add a table, a key or a cog, nor end the string it stands in. Keys and
table names are never substituted (a pipeline's shape is what its file says).

Syntax, in any string value (also inside lists and inline tables):

* ``${NAME}``: the environment variable ``NAME``; unset is an error naming it.
* ``${NAME:-default}``: ``default`` when ``NAME`` is unset or empty (as in the shell).
* ``${file:/path}``: the content of a file, without one trailing newline: for
  secrets. A relative path is relative to the pipeline file's directory. The
  value is a *secret*: :mod:`deadbeat.pipeline` never prints it (``--explain``,
  error messages) and shows ``***`` in its place. A secret shorter than 8
  characters is hidden where no letter or digit touches it, not inside longer
  words (a 2-letter secret would otherwise garble every file name and count).
* ``$${``: a literal ``${``. A ``$`` not followed by ``{`` is left as it is.
* References do not nest: ``${A:-${B}}`` is an error, not a default of ``${B``.

Names are ``[A-Za-z_][A-Za-z0-9_]*``. Substituted text is not substituted again,
so a variable's value may hold ``${`` safely.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..log import escape_controls

__all__ = ["Substitution", "VariableError", "substitute"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: What may follow ``$``: ``${`` opens a reference, ``$${`` is a literal ``${``.
_TOKEN = re.compile(r"\$\$\{|\$\{")


class VariableError(ValueError):
    """A reference cannot be substituted: unset without default, bad syntax, unreadable file."""


class Substitution:
    """The references of one pipeline file, and the secrets their values brought in.

    :param environ: where ``${NAME}`` is looked up (``os.environ`` by default).
    :param base: the directory relative ``${file:...}`` paths start from.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, base: str = ".") -> None:
        self.environ = os.environ if environ is None else environ
        self.base = base
        #: The texts read by ``${file:...}``: never to be shown.
        self.secrets: set[str] = set()
        # What redact() looks for, made for the secrets it was made for.
        self._pattern: tuple[frozenset[str], re.Pattern[str], list[tuple[str, bool]]] | None = None

    def text(self, value: str) -> str:
        """:returns: ``value`` with every reference replaced.

        :raises VariableError: naming the variable (or file) and what is wrong.
        """
        if "$" not in value:
            return value
        out: list[str] = []
        position = 0
        for match in _TOKEN.finditer(value):
            if match.start() < position:
                continue  # inside a reference already taken
            out.append(value[position : match.start()])
            if match.group() == "$${":
                out.append("${")
                position = match.end()
                continue
            end = value.find("}", match.end())
            if end < 0:
                raise VariableError(f"unclosed ${{ in {_shown(value)}: write $${{ for a literal ${{")
            inside = value[match.end() : end]
            if "${" in inside:
                # The shell's ${A:-${B}/x} would end here at B's "}" and leave
                # "${B/x" as the default: a path that silently goes nowhere.
                raise VariableError(
                    f"${{{inside}}}: a reference inside a reference is not substituted; give the default"
                    " as plain text, or set the variable"
                )
            out.append(self._reference(inside))
            position = end + 1
        out.append(value[position:])
        return "".join(out)

    def _reference(self, inside: str) -> str:
        if inside.startswith("file:"):
            return self._file(inside[5:])
        name, sep, default = inside.partition(":-")
        if not _NAME.match(name):
            raise VariableError(
                f"${{{inside}}}: not a variable name (letters, digits and _, not first a digit);"
                " write $${ for a literal ${"
            )
        found = self.environ.get(name)
        if found is None or (sep and found == ""):
            if sep:
                return default
            raise VariableError(f"${{{name}}}: environment variable {name} is not set and has no default")
        return found

    def _file(self, path: str) -> str:
        if not path:
            raise VariableError("${file:}: no path")
        full = os.path.join(self.base, os.path.expanduser(path))
        try:
            with open(full, encoding="utf-8") as handle:
                content = handle.read()
        except OSError as exc:
            raise VariableError(f"${{file:{path}}}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise VariableError(f"${{file:{path}}}: not UTF-8 text") from None
        if content.endswith("\n"):
            content = content[:-2] if content.endswith("\r\n") else content[:-1]
        if content:
            self.secrets.add(content)
        return content

    def redact(self, text: str) -> str:
        """:returns: ``text`` with every secret read so far shown as ``***``.

        Also as messages quote it: escaped by ``repr`` (``str(cog)``, "got
        '...'"; a backslash, a quote or a tab in the secret is then written
        otherwise), by JSON, or with the control characters a log line escapes.
        """
        if not self.secrets:
            return text
        key = frozenset(self.secrets)
        if self._pattern is None or self._pattern[0] != key:
            self._pattern = (key, _secrets_pattern(key), _cut_forms(key))
        text = self._pattern[1].sub("***", text)
        if "..." in text:
            text = _hide_cut_starts(text, self._pattern[2])
        return text


#: What urllib.parse drops from a URL before anything else (as the WHATWG URL standard says).
_URL_DROPS = {ord("\t"): None, ord("\n"): None, ord("\r"): None}
#: Shortest start of a secret hidden where a message cut it short ("T0PSEC...").
_SHORTEST_START = 4
#: A secret shorter than this is hidden only where it stands alone (see _secrets_pattern).
_SHORT_SECRET = 8
#: Not after, and not before, a letter or a digit.
_ALONE = (r"(?<![^\W_])", r"(?![^\W_])")


def _secrets_pattern(secrets: frozenset[str]) -> re.Pattern[str]:
    """Every form of every secret, whole (see :func:`_hide_cut_starts` for a secret cut short)."""
    short = {form for secret in secrets if len(secret) < _SHORT_SECRET for form in _forms(secret)}
    forms = sorted({form for secret in secrets for form in _forms(secret)}, key=len, reverse=True)
    # Longest first: a secret that contains another is hidden whole.
    parts = []
    for form in forms:
        # A short secret ("in", "db") is everywhere inside ordinary words, file
        # names and counters: it is hidden where no letter or digit touches it.
        alone = _ALONE if form in short else ("", "")
        parts.append(alone[0] + re.escape(form) + alone[1])
    return re.compile("|".join(parts))


def _cut_forms(secrets: frozenset[str]) -> list[tuple[str, bool]]:
    """The forms of the secrets whose start may be shown before a ``...``, each with whether it is short."""
    return [
        (form, len(secret) < _SHORT_SECRET)
        for secret in secrets
        for form in _forms(secret)
        if len(form) > _SHORTEST_START
    ]


def _hide_cut_starts(text: str, forms: list[tuple[str, bool]]) -> str:
    """``text`` with what is shown of a secret cut short (``str(cog)`` cuts a long value) as ``***``.

    A value shown in part may end in the middle of a secret, just before the
    ``...``: from :data:`_SHORTEST_START` characters of its start on, that is
    hidden too. Found by looking back from each ``...`` (a regular expression
    would nest a group per character of the secret, which Python's parser
    refuses for a long one: a JWT, a PEM key).
    """
    pieces = []
    done = 0
    at = text.find("...")
    while at >= 0:
        start = at
        for form, short in forms:
            window = max(done, at - len(form) + 1)
            head = form[:_SHORTEST_START]
            found = text.find(head, window, at)
            while found >= 0 and found < start:
                if form.startswith(text[found:at]) and not (short and found > 0 and text[found - 1].isalnum()):
                    start = found  # the earliest start is the longest part shown
                    break
                found = text.find(head, found + 1, at)
        if start < at:
            pieces.append(text[done:start])
            pieces.append("***")
            done = at
        at = text.find("...", at + 3)
    pieces.append(text[done:])
    return "".join(pieces)


def _forms(secret: str) -> set[str]:
    """The ways a message may write ``secret``.

    As it is; without tabs and line breaks (a URL parser drops them); and each
    of those escaped by JSON, by ``repr`` and as log lines escape control
    characters.
    """
    forms: set[str] = set()
    for text in {secret, secret.translate(_URL_DROPS)}:
        forms |= {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], escape_controls(text)}
        # repr quotes with ' (escaping any ' inside) unless the text holds a ' and no ", when it
        # quotes with " and leaves ' alone: both ways, as a longer text may quote it the other way.
        escaped = repr(text)[1:-1]
        forms |= {escaped, escaped.replace("\\'", "'"), escaped.replace("'", "\\'").replace("\\\\'", "\\'")}
    forms.discard("")
    return forms


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


class Unresolved(str):
    """A value whose ``${...}`` could not be substituted: its problem is reported, and it is checked no further.

    Checked as it stands (``/etc/${APP}.log`` as a path, ``sev >= ${MIN}`` as
    an expression), it would add problems that are not there.
    """

    __slots__ = ()


def holds_unresolved(value: Any) -> bool:
    """Whether ``value`` is or holds (in its lists and tables) an :class:`Unresolved` text."""
    if isinstance(value, Unresolved):
        return True
    if isinstance(value, Mapping):
        return any(holds_unresolved(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_unresolved(item) for item in value)
    return False


def substitute(
    data: Any, substitution: Substitution, where: str, problems: list[str], label: Callable[[str], str] | None = None
) -> Any:
    """:returns: ``data`` (parsed TOML) with references replaced in every string value; keys untouched.

    :param where: how a problem names the value's place (``cog[2]``); keys are
        appended (``cog[2]: filename``, ``cog[2]: hosts[1]``).
    :param problems: where each problem is added, one line each.
    :param label: makes the start of a problem line from the place of a value.
    """
    label = label or (lambda place: place)

    def walk(value: Any, place: str) -> Any:
        if isinstance(value, str):
            try:
                return substitution.text(value)
            except VariableError as exc:
                problems.append(f"{label(place)}: {exc}")
                return Unresolved(value)
        if isinstance(value, Mapping):
            return {key: walk(item, f"{place}: {key}" if place else str(key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, f"{place}[{index}]") for index, item in enumerate(value)]
        return value

    return walk(data, where)
