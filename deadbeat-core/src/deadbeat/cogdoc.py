"""What a cog says about itself: summary, description and parameters.

Read from the cog's own docstring (Sphinx ``:param name:`` fields) and its
signature, so ``deadbeat cogs show`` and the reference pages in ``docs/cogs/`` are
generated from the code and cannot drift from it.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["CogDescription", "Parameter", "describe", "split_params"]

_INJECTED = ("train", "esc")


@dataclass
class Parameter:
    """One ``__init__`` parameter of a cog."""

    name: str
    annotation: str
    required: bool
    default: Any
    doc: str

    @property
    def default_text(self) -> str:
        """The default as a reader should see it (a callable by its name)."""
        if self.required:
            return "required"
        if callable(self.default):
            return getattr(self.default, "__qualname__", repr(self.default))
        return repr(self.default)

    def toml_line(self) -> str:
        """A line for a pipeline insert: required ones to fill in, others commented."""
        if self.required:
            return f"{self.name} = ...  # required"
        if isinstance(self.default, (str, int, float, bool, list, tuple)):
            return f"# {self.name} = {json.dumps(self.default)}"
        return f"# {self.name} ="


@dataclass
class CogDescription:
    """A cog's summary line, the rest of its docstring, its injected argument and parameters."""

    summary: str
    text: str
    injected: str | None
    parameters: list[Parameter]
    #: Whether the cog offers ``call_batch``, so the Train hands it whole lists.
    takes_lists: bool = False

    def pipeline_insert(self, name: str) -> str:
        """:returns: a ``[[cog]]`` table to paste into a pipeline file."""
        lines = ["[[cog]]", f'use = "{name}"']
        lines.extend(p.toml_line() for p in self.parameters)
        return "\n".join(lines)


def split_params(doc: str) -> tuple[str, dict[str, str]]:
    """Separate Sphinx ``:param name:`` fields from the rest of a docstring.

    :returns: the text without field lists, and each parameter's description.
    """
    text: list[str] = []
    params: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(":param "):
            name, _, description = stripped[len(":param ") :].partition(":")
            current = name.split()[-1]
            params[current] = description.strip()
        elif current is not None and line.startswith((" ", "\t")) and stripped:
            params[current] += " " + stripped
        elif stripped.startswith(":"):
            current = None
        else:
            current = None
            text.append(line)
    return "\n".join(text).strip(), params


def describe(obj: Any) -> CogDescription:
    """Describe a cog class or factory from its docstring and signature."""
    own = getattr(obj, "__doc__", None)
    doc = inspect.cleandoc(own) if isinstance(own, str) else ""
    text, param_docs = split_params(doc)
    summary, _, rest = text.partition("\n")
    try:
        signature = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        signature = []
    injected = None
    if signature and signature[0].name in _INJECTED:
        injected = signature[0].name
        signature = signature[1:]
    parameters = []
    for p in signature:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.annotation is p.empty:
            annotation = ""
        elif isinstance(p.annotation, str):
            annotation = p.annotation
        else:
            annotation = inspect.formatannotation(p.annotation)
        parameters.append(Parameter(p.name, annotation, p.default is p.empty, p.default, param_docs.get(p.name, "")))
    takes_lists = callable(getattr(obj, "call_batch", None))
    return CogDescription(summary.strip(), rest.strip(), injected, parameters, takes_lists)
