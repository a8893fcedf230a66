"""What a cog says about itself: summary, description and parameters.

Derived from the cog's one declaration, its signature and docstring (see
:mod:`deadbeat.conf._declared`), so ``deadbeat cogs show``, the reference pages
in ``docs/cogs/`` and the validation of pipeline files cannot disagree.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from ..conf import Declared, declared_parameters, split_params

__all__ = ["CogDescription", "Parameter", "describe", "is_plain_cog"]


@dataclass
class Parameter:
    """One ``__init__`` parameter of a cog, as readers see it."""

    name: str
    #: What it takes, in words ("path or none", "list of strings").
    annotation: str
    required: bool
    default: Any
    doc: str
    #: Only a Python function can be given (a ``clock``): no pipeline file value but none.
    python_only: bool = False

    @classmethod
    def from_declared(cls, declared: Declared) -> Parameter:
        """:returns: the reader's view of a declared parameter."""
        default = None if declared.required else declared.default
        python_only = _functions_only(getattr(declared, "annotation", None))
        return cls(declared.name, declared.type_name, declared.required, default, declared.doc, python_only)

    @property
    def default_text(self) -> str:
        """The default as a reader should see it (a callable by its name, none as ``false``)."""
        if self.required:
            return "required"
        if self.default is None:
            return "none (false)"
        if callable(self.default):
            return getattr(self.default, "__qualname__", repr(self.default))
        return json.dumps(self.default) if isinstance(self.default, (str, bool, list, tuple)) else repr(self.default)

    def toml_line(self) -> str:
        """A line for a pipeline insert, each commented out so that what is pasted is valid TOML: a required
        one says so and what it takes (to fill in), the others show their default."""
        if self.required:
            what = f" ({self.annotation})" if self.annotation else ""
            return f"# {self.name} =   # required{what}: fill in and uncomment"
        if self.default is None:
            return f"# {self.name} = false  # none"
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
        # A parameter that takes only a Python function has nothing to say in a pipeline file.
        lines.extend(p.toml_line() for p in self.parameters if not (p.python_only and not p.required))
        return "\n".join(lines)


def _functions_only(annotation: Any) -> bool:
    """Whether ``annotation`` takes only callables (and ``None``): ``Callable[[], float] | None``."""
    if annotation is None or isinstance(annotation, str):
        return False
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return bool(args) and all(_functions_only(a) for a in args)
    return typing.get_origin(annotation) is collections.abc.Callable or annotation is collections.abc.Callable


def is_plain_cog(obj: Any) -> bool:
    """Whether ``obj`` is the manual's plain function cog, used as it is: ``def cog(datum): return (datum,)``.

    A function whose one required positional parameter takes no Train or
    Escapement is the cog itself, called with each datum; any other callable
    (a class, a function taking the Train or keyword settings) is a factory
    that builds the cog.
    """
    if not inspect.isfunction(obj):
        return False
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [
        p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(required) == 1 and declared_parameters(obj)[0] is None


def describe(obj: Any) -> CogDescription:
    """Describe a cog class or factory from its docstring and signature."""
    own = getattr(obj, "__doc__", None)
    text = split_params(inspect.cleandoc(own))[0] if isinstance(own, str) else ""
    summary, _, rest = text.partition("\n")
    if is_plain_cog(obj):
        # Called with each datum: its one parameter is the datum, nothing a pipeline sets.
        return CogDescription(summary.strip(), rest.strip(), None, [], False)
    injected, declared = declared_parameters(obj)
    parameters = [Parameter.from_declared(d) for d in declared]
    takes_lists = callable(getattr(obj, "call_batch", None))
    return CogDescription(summary.strip(), rest.strip(), injected, parameters, takes_lists)
