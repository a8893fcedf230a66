"""What the ``deadbeat`` subcommands share: exit statuses, the cog registry the command line asks for."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from ..plugins import CogRegistry

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

#: Subcommands for which ``--strict`` concerns only the cogs they use: those that work on a pipeline.
#: ``check`` and ``test`` judge a pipeline as ``run`` would run it, so they are strict about the same cogs.
_STRICT_ABOUT_USED = ("run", "check", "test")
#: The standard descriptors (0, 1, 2) :func:`standard_streams` found closed, and gave ``/dev/null``.
_found_closed: set[int] = set()


def standard_streams() -> frozenset[int]:
    """Standard input, output and error closed when the command started get ``/dev/null`` in their place.

    ``deadbeat run p.toml >&-`` (or ``2>&-``, or a parent that closed them):
    Python has ``None`` for ``sys.stdout`` (``sys.stderr``) then, and the first
    ``sys.stdout.flush()`` ended the run with an ``AttributeError`` before
    anything was read. Worse, the descriptor is free: the next file opened
    takes it (an output file, a state file, the log), and what writes to
    descriptor 1 (``fs.write`` to ``"-"``, a library in C, a child process)
    would write into that file. ``/dev/null`` holds the place instead, and
    Python's stream is made on it: what goes to a closed standard output is
    not shown, as ``>&-`` asks, and the command works as it would otherwise.
    A descriptor that is open is left as it is. Called as each command starts
    (:func:`registry_of`, :func:`plugin_output_to_stderr`); again, it does
    nothing more.

    :returns: the descriptors found closed, by this call or an earlier one.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            continue  # no /dev/null (a bare chroot): left closed; the streams below are left alone too
        if null != fd:
            os.dup2(null, fd)  # inheritable, as a standard descriptor is
            os.close(null)
        else:
            os.set_inheritable(fd, True)  # a child process gets it as its own standard descriptor
        _found_closed.add(fd)
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        if getattr(sys, name) is None and fd in _found_closed:
            # Not closed by the stream (closefd=False): the descriptor stays /dev/null for good.
            setattr(sys, name, open(fd, mode, encoding="utf-8", errors="backslashreplace", closefd=False))  # noqa: SIM115
    return frozenset(_found_closed)


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    """The options every subcommand that loads cogs takes: ``--allow`` and ``--strict``."""
    parser.add_argument(
        "--allow",
        action="append",
        metavar="PATTERN",
        help="only load cogs whose name, distribution/name, distribution or module:attribute matches (repeatable)",
    )
    parser.add_argument("--strict", action="store_true", help="a cog that cannot be used is an error")


def registry_of(args: argparse.Namespace) -> CogRegistry:
    """The registry ``--allow``/``--strict`` and ``DEADBEAT_ALLOW``/``DEADBEAT_STRICT`` ask for.

    Strictness concerns what the subcommand works on: ``deadbeat run``,
    ``check`` and ``test`` get a registry strict about the cogs the pipeline
    uses (a broken plugin it does not use is no reason to refuse to run, so
    none to fail the check of it either), ``deadbeat cogs`` one strict about
    every installed cog.

    The first thing each of these commands does: standard streams closed when
    it started are made ``/dev/null`` here (:func:`standard_streams`), before
    anything is opened or written.
    """
    standard_streams()
    allow = list(args.allow or [])
    env_allow = os.environ.get("DEADBEAT_ALLOW", "")
    allow.extend(p.strip() for p in env_allow.split(",") if p.strip())
    strict = args.strict or os.environ.get("DEADBEAT_STRICT", "") not in ("", "0", "false", "no")
    scope = "used" if getattr(args, "command", None) in _STRICT_ABOUT_USED else "all"
    return CogRegistry(allow=allow or None, strict=strict, scope=scope)


# Characters a terminal acts on rather than shows: C0 and C1 controls (escape
# sequences can move the cursor, retitle the window, rewrite what was printed
# before) and the bidirectional overrides that make text read other than it is.
_ACTIVE = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ACTIVE.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_ACTIVE_LINES = {c: text for c, text in _ACTIVE.items() if c not in (0x0A, 0x09)}


def inert(text: str, *, lines: bool = False) -> str:
    """``text`` from a plugin's metadata or docstring, safe to print on a terminal.

    A distribution's manifest, version or docstring is written by whoever
    published it: an escape sequence there would act on the operator's
    terminal, a newline would forge rows of a table. Such characters are shown
    as escapes (``\\x1b``), never passed through.

    :param lines: keep newlines and tabs (a description of several lines).
    """
    return text.translate(_ACTIVE_LINES if lines else _ACTIVE)


def write_all(out: TextIO | None, text: str) -> bool:
    """Write ``text`` to ``out``; a reader that went away (``| head -1``) is no error.

    Any other failure to write (``> /dev/full``: no space left; an I/O error)
    is: one line on standard error, and the command exits 1 (``SystemExit``),
    for what it was to show was not shown.

    :param out: where to write; ``None`` (standard output closed when the
        command started: ``>&-``) writes nothing.
    :returns: ``False`` when nothing could be written: the reader closed the
        pipe (standard output is then pointed at ``/dev/null``, so that the
        interpreter's final flush does not print a traceback either), or there
        is no ``out``.
    :raises SystemExit: with status 1, when writing failed otherwise.
    """
    if out is None:
        return False
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        _to_devnull(out)
        return False
    except OSError as exc:
        # What is left in the stream's buffer would fail again as the interpreter flushes it at exit.
        _to_devnull(out)
        sys.stderr.write(f"deadbeat: cannot write to {_name_of(out)}: {exc.strerror or exc}\n")
        raise SystemExit(EXIT_ERROR) from None
    return True


def _to_devnull(out: TextIO) -> None:
    """Point ``out``'s descriptor at ``/dev/null``: what is still buffered goes nowhere, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # not a file descriptor (a StringIO): nothing will flush it at exit


def _name_of(out: TextIO) -> str:
    try:
        return "standard output" if out.fileno() == 1 else str(getattr(out, "name", "the output"))
    except (OSError, ValueError):
        return "the output"


@contextlib.contextmanager
def plugin_output_to_stderr() -> Iterator[None]:
    """While cogs are imported: what they print goes to standard error, not standard output.

    Standard output is the command's own: the JSON of ``deadbeat cogs --json``,
    the lines of ``check``, the data of an ``fs.write`` to ``"-"``. A plugin
    module that prints as it is imported (a greeting, a debug line) must not
    corrupt it. Both Python's ``sys.stdout`` and descriptor 1 (what a library in
    C or a child process would write to) point at standard error meanwhile.
    Standard streams that were closed are ``/dev/null`` first (see
    :func:`standard_streams`).
    """
    standard_streams()
    _flush(sys.stdout)
    saved = -1
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:
        # No descriptor 1 or 2 (closed by whoever started us): Python's level only.
        if saved >= 0:
            os.close(saved)
            saved = -1
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _flush(sys.stderr)
        if saved >= 0:
            os.dup2(saved, 1)
            os.close(saved)


def _flush(stream: TextIO | None) -> None:
    """Flush a standard stream that may be closed, gone or ``None`` (no ``/dev/null`` to put in its place)."""
    try:
        if stream is not None:
            stream.flush()
    except (OSError, ValueError):
        pass  # closed or gone: nothing of ours is waiting in it


@contextlib.contextmanager
def plugin_logging_undone() -> Iterator[None]:
    """While cog modules are imported: what they do to the root logger is undone afterwards, and said.

    A library habit at import (``logging.basicConfig(force=True)``, or
    ``logging.disable(...)``) would otherwise double every line of the run's
    log, or hide it, dead letters included: failed data would leave no trace.
    The run's log is set up by the pipeline file's ``[log]``, after the imports.
    """
    root = logging.getLogger()
    handlers = list(root.handlers)
    level = root.level
    disabled = logging.root.manager.disable
    try:
        yield
    finally:
        changed = []
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                changed.append(f"added a {type(handler).__name__}")
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
                changed.append(f"removed a {type(handler).__name__}")
        if logging.root.manager.disable != disabled:
            changed.append("disabled logging")
            logging.disable(disabled)
        if root.level != level:
            changed.append("changed the root level")
            root.setLevel(level)
        if changed:
            logging.getLogger("deadbeat").warning(
                "a cog module changed the logging set-up as it was imported (%s): undone, so that the run's log"
                " (failed data included) goes where the pipeline file says",
                ", ".join(changed),
            )
