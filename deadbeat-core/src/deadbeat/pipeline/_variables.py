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
  error messages) and shows ``***`` in its place.
* ``$${``: a literal ``${``. A ``$`` not followed by ``{`` is left as it is.

Names are ``[A-Za-z_][A-Za-z0-9_]*``. Substituted text is not substituted again,
so a variable's value may hold ``${`` safely.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

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
            out.append(self._reference(value[match.end() : end]))
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
        """:returns: ``text`` with every secret read so far shown as ``***``."""
        # Longest first: a secret that contains another is hidden whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


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
                return value
        if isinstance(value, Mapping):
            return {key: walk(item, f"{place}: {key}" if place else str(key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, f"{place}[{index}]") for index, item in enumerate(value)]
        return value

    return walk(data, where)
