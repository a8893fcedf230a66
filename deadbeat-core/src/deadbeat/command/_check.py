"""``deadbeat check PIPELINE.toml``: find what would go wrong, without running anything.

First what :func:`deadbeat.pipeline.load` checks (every cog found, every
parameter known and of the right kind), then what only the machine can tell:
input files readable, output and state files writable or creatable (the
``[log]`` file and the ``[daemon]`` pid file too), listening ports free. Then
shapes that run but are almost certainly mistakes: no output cog, cogs before
the first supply that nothing reaches, a state file shared by cogs that cannot
share it, an ``fs.write`` given parsed mappings with no formatter before it, an
output writing a file a supply of the same pipeline reads (an error: the run
reads its own output back without end, and ``deadbeat run`` refuses it too),
standard output among them: an output writing to ``"-"`` while standard output
is a file a supply reads (``deadbeat check p.toml > out.txt``, run with the
redirections the run will have).
Last, the cogs in between (neither supplies nor outputs, nor cogs that name a
file, directory, host or port of their own) are built as the run builds them, on
an event loop of their own that never runs, and let go of at once (a
``module:attribute`` only when it is a class whose instances take a datum: ``use
= "subprocess:run"`` would run a command): what their own code refuses (a
regular expression RE2 cannot compile, an unknown grok pattern) is said as the
run says it, ``cannot start: ...``; a method of theirs named like a broadcast
that the run would leave out of it (it cannot take the broadcast's arguments, or
it has a name of Deadbeat's own and is not marked ``@movement.hook``) is a
warning, as the run logs it. Supplies and outputs are not built: nothing is read
from the inputs, written, created or bound.
``--strict`` concerns the cogs the pipeline uses, as for ``deadbeat run``. What
a cog module prints as it is imported goes to standard error. With ``--once``,
the pipeline is checked as ``deadbeat run --once`` runs it
(a cron job): a supply that would follow files reads what is there and stops,
so a file that is not there yet is an error, not a warning.
Every problem is one line naming the file,
the cog and the key; all of them are printed at once. Exit status 1 when there
is any error, 0 otherwise (warnings alone do not fail). With standard output
closed (``>&-``) the lines are not shown; the exit status and the count on
standard error say the same.

What is looked at is read from the parameters by their names, the names the
cogs of this project use (``filenames``, ``filename``, ``directory``,
``state_file``, ``host``/``port``/``path``, and the files a cog reads when it
starts: ``database``, ``table``, ``lists``, ``pattern_files``, ``key_file``,
``headers_file``, ``ca_file``, ``cert_file``, ``tls_*``, each only where the
cog declares it as a path, ``conf.Path``); a third-party cog that names them
otherwise is checked by :func:`~deadbeat.pipeline.load` (and, one in between, by being built) only.

What a cog needs installed that is not (a client library, RE2) it says itself,
without being built: a cog class may have ``missing_requirements(params)``, a
static or class method returning one line per thing missing for those
parameters (empty when nothing is), which ``check`` reports as errors.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import fnmatch
import glob
import inspect
import os
import pwd
import socket
import stat
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO

from .. import movement
from .. import pipeline as pipeline_mod
from ..conf import cast_path, cast_path_list, declared_parameters
from ..conf._shown import may_be_pasted_key, source_kind
from ..daemon import (
    DaemonError,
    UnsafePath,
    account_of,
    check_log_file,
    check_pid_file,
    check_private_directory,
    read_private,
)
from ..movement._errors import _described
from ..movement._hooks import Participant
from ._common import EXIT_ERROR, EXIT_OK, plugin_output_to_stderr, registry_of, write_all

#: Last parts of entry-point names, and class name endings, that make a cog an output.
_OUTPUT_VERBS = ("write", "send", "post", "publish", "spool_write", "redis_write", "nats_write")
_OUTPUT_SUFFIXES = ("Drain", "Output", "Sink", "Writer")
#: Cogs that, without a ``target``, replace a datum by the fields parsed from its text.
_PARSERS = (
    "text.json_parse",
    "text.kv_parse",
    "text.csv_parse",
    "text.regex_parse",
    "text.grok",
    "text.syslog_parse",
    "text.cef_parse",
)
#: Cogs that make one text of a datum's fields, what a line output writes.
_FORMATTERS = ("text.json_format", "text.csv_format", "text.syslog_format", "text.template")
#: Cogs of these names keep a state file together with the supplies of the same train (see fs.write).
_SHARES_STATE = ("fs.write",)
#: Parameters naming files a cog reads when it starts, and refuses to start without: a path, a list
#: of paths or a mapping of names to paths (ip.cidr's ``lists``).
_STARTUP_FILES = (
    "database",
    "table",
    "lists",
    "pattern_files",
    "key_file",
    "headers_file",
    "ca_file",
    "cert_file",
    "tls_ca",
    "tls_cert",
    "tls_key",
)
#: Parameters of a cog that writes, binds or connects somewhere as it is built: check does not build such a cog.
_TOUCHES_THE_MACHINE = ("filename", "state_file", "directory", "done_dir", "host", "port", "path", "url", "servers")


def handle(args: argparse.Namespace, out: TextIO | None) -> int:
    """Run ``deadbeat check``.

    :param out: where the lines go: standard output, ``None`` when it was
        closed as the command started (they are not shown then).
    :returns: the exit status.
    """
    errors, warnings = check(args.pipeline, registry_of(args), once=getattr(args, "once", False))
    lines = [f"{line}\n" for line in errors] + [f"{line} (warning)\n" for line in warnings]
    if not errors:
        lines.append(f"{args.pipeline}: ok" + (f", {_count(warnings, 'warning')}\n" if warnings else "\n"))
    # Standard output closed (>&-): not shown; the exit status, and the count below, still say it.
    # A full disk or an I/O error writing it: one line and status 1, not a traceback.
    write_all(out, "".join(lines))
    if errors:
        sys.stderr.write(f"deadbeat: {args.pipeline}: {_count(errors, 'error')}, {_count(warnings, 'warning')}\n")
        return EXIT_ERROR
    return EXIT_OK


def _count(lines: list[str], noun: str) -> str:
    return f"{len(lines)} {noun}" + ("" if len(lines) == 1 else "s")


def check(
    path: str, registry: Any = None, once: bool = False, probe_ports: bool = True, logs: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """Check a pipeline file.

    :param once: as ``deadbeat run --once`` would run it: supplies read what is
        there to its end instead of following files.
    :param probe_ports: bind each listening port to see that it is free; not
        for a reload, whose running pipeline holds the ports until it stops.
    :param logs: where the run logs besides its ``[log]`` file (see :func:`feeding_itself`).
        Standard output is this process's own, as :func:`feeding_itself` finds it.
    :returns: ``(errors, warnings)``, one line each.
    """
    errors: list[str] = []
    warnings: list[str] = []
    try:
        # With problems in the file, the machine is looked at for what could be read all the same:
        # every problem at once, not the file's first and the machine's after they are mended.
        with plugin_output_to_stderr():
            spec = pipeline_mod.load(path, registry, problems_found=errors)
    except pipeline_mod.PipelineError as exc:
        return list(exc.problems), []
    errors, warnings = _machine_problems(path, spec, errors, warnings, once, probe_ports)
    errors += feeding_itself(spec, logs)
    with plugin_output_to_stderr():
        _build_problems(path, spec, errors, warnings)
    # A secret from ${file:...} in a value the lines quote (a path, a URL) is shown as ***.
    return [spec.redact(line) for line in errors], [spec.redact(line) for line in warnings]


def _machine_problems(
    path: str,
    spec: pipeline_mod.PipelineFile,
    errors: list[str],
    warnings: list[str],
    once: bool = False,
    probe_ports: bool = True,
) -> tuple[list[str], list[str]]:
    """What only the machine can tell, and shapes that are mistakes; added to ``errors`` and ``warnings``."""
    # The run opens its files after it became [daemon] user: checked as that account.
    reset = _account.set(_run_account(spec.daemon))
    try:
        return _machine_problems_as(path, spec, errors, warnings, once, probe_ports)
    finally:
        _account.reset(reset)


def _machine_problems_as(
    path: str,
    spec: pipeline_mod.PipelineFile,
    errors: list[str],
    warnings: list[str],
    once: bool,
    probe_ports: bool,
) -> tuple[list[str], list[str]]:
    groups = [("cog", spec.cogs), ("errors", spec.errors)]
    groups += [(f"route {route.name!r} cog", route.cogs) for route in getattr(spec, "routes", [])]
    states: dict[str, list[tuple[str, str]]] = {}
    owners = _owners(spec)
    for _, specs in groups:
        for cog in specs:
            where = f"{path}: {cog.where} ({cog.use})"
            _files(where, cog, errors, warnings, once)
            _startup_files(where, cog, errors)
            _key_sources(where, cog, errors, warnings, owners)
            if probe_ports:
                _ports(where, cog, errors)
            _requirements(where, cog, errors, warnings)
            state = cog.params.get("state_file")
            if isinstance(state, str) and state:
                states.setdefault(os.path.abspath(state), []).append((where, cog.use))
    log_file = spec.log.get("file")
    if isinstance(log_file, str) and log_file:
        _writable(f"{path}: [log]", "file", log_file, errors, creates_directories=False)
        _safe_place(f"{path}: [log]", "file", log_file, errors, check_log_file)
        _owned(f"{path}: [log]", "file", log_file, errors, owners, "the run would not append to it")
    if spec.log.get("syslog"):
        _syslog_socket(path, spec.log.get("syslog_address", "/dev/log"), errors)
    pid_file = spec.daemon.get("pid_file")
    if isinstance(pid_file, str) and pid_file:
        # Missing directories are made (mode 0700) when the pid file is taken, as for state files;
        # taken before the run becomes [daemon] user.
        reset = _account.set(None)
        try:
            _writable(f"{path}: [daemon]", "pid_file", pid_file, errors)
        finally:
            _account.reset(reset)
        _safe_place(f"{path}: [daemon]", "pid_file", pid_file, errors, check_pid_file)
    _account_problems(f"{path}: [daemon]", spec.daemon, errors)
    _files_in_two_roles(path, groups, spec, errors)
    _shapes(path, spec, warnings)
    _unwritable_mappings(path, spec, warnings)
    for state, users in states.items():
        sharing = [use for _, use in users if use not in _SHARES_STATE]
        if len(sharing) > 1:
            first = users[0][0]
            others = ", ".join(where.split(": ", 1)[1] for where, _ in users[1:])
            errors.append(f"{first}: state_file: {state} is also the state file of {others}; each supply needs its own")
    _unshared_positions(path, spec, states, warnings)
    return errors, warnings


def _files_in_two_roles(
    path: str, groups: list[tuple[str, list[pipeline_mod.CogSpec]]], spec: pipeline_mod.PipelineFile, errors: list[str]
) -> None:
    """One file named as two kinds of file the run writes: a state file that is also an output, a log or pid file.

    Each kind rewrites or appends to it in its own way: an output's lines were
    replaced by the state, a state file read as corrupt (everything read
    again), log lines mixed into the data.
    """
    roles: dict[str, list[tuple[str, str]]] = {}

    def note(name: Any, role: str, where: str) -> None:
        if isinstance(name, str) and name and name != "-":
            taken = roles.setdefault(os.path.realpath(name), [])
            if (role, where) not in taken:
                taken.append((role, where))

    for _, specs in groups:
        for cog in specs:
            where = f"{cog.where} ({cog.use})"
            note(cog.params.get("state_file"), "state_file", where)
            if not _is_supply(cog):
                note(cog.params.get("filename"), "filename", where)
    note(spec.log.get("file"), "file", "[log]")
    note(spec.daemon.get("pid_file"), "pid_file", "[daemon]")
    for name, taken in roles.items():
        if len({role for role, _ in taken}) > 1:
            first_role, first = taken[0]
            others = "; ".join(f"{role} of {where}" for role, where in taken[1:] if role != first_role)
            errors.append(f"{path}: {first}: {first_role}: {name} is also the {others}: each needs a file of its own")


def _unwritable_mappings(path: str, spec: pipeline_mod.PipelineFile, warnings: list[str]) -> None:
    """An ``fs.write`` given mappings with no ``line``: every datum would fail, and check said "ok".

    A parser without a ``target`` (and not keeping ``line``) makes each datum
    the mapping of its fields; a formatter makes a text of it again. An
    ``fs.write`` reached by mappings with its default ``line_getter`` has no line
    to write: every datum goes to the error output. The ``[[errors]]`` train
    is given mappings (the error records) from its start, and its failures
    fail the run.
    """

    def walk(cogs: list[pipeline_mod.CogSpec], made_by: str | None, why: str) -> str | None:
        for cog in cogs:
            params = cog.params
            keep = params.get("keep")
            if cog.use in _PARSERS and not params.get("target") and not (isinstance(keep, list) and "line" in keep):
                made_by = f"{cog.where} ({cog.use}) makes each datum the mapping of its fields"
            elif cog.use in _FORMATTERS:
                made_by = None
            elif cog.use == "fs.write" and made_by is not None and params.get("line_getter", "line") == "line":
                warnings.append(
                    f"{path}: {cog.where} ({cog.use}): given mappings with no 'line' to write ({made_by}):"
                    f" {why}; put text.json_format (or another formatter) before it"
                )
        return made_by

    at_router = walk(spec.cogs, None, "every datum would go to the error output")
    for route in getattr(spec, "routes", []):
        walk(route.cogs, at_router, "every datum would go to the error output")
    walk(
        spec.errors,
        "the error train is given error records, mappings",
        "every record would reach only the dead-letter log, and the run would fail",
    )


def _unshared_positions(
    path: str, spec: pipeline_mod.PipelineFile, states: dict[str, list[tuple[str, str]]], warnings: list[str]
) -> None:
    """A supply keeps positions that an ``fs.write`` does not share: not exact across a crash.

    The outputs and the ``[[errors]]`` train alike: records of lines read again
    after a crash are written twice by an ``fs.write`` without the state file.
    """
    kept = {state for state, users in states.items() if any(use not in _SHARES_STATE for _, use in users)}
    if not kept:
        return
    for cog in [*spec.cogs, *spec.errors]:
        if cog.use in _SHARES_STATE and not cog.params.get("state_file"):
            state = sorted(kept)[0]
            warnings.append(
                f"{path}: {cog.where} ({cog.use}): no state_file, while the input keeps its positions in {state}:"
                f" after a crash, lines written since the last checkpoint are written again;"
                f' add state_file = "{state}" here to make it exact'
            )


def _pattern_matches(pattern: str, path: str) -> bool:
    """Whether the file pattern ``pattern`` (absolute) names ``path`` (absolute), as a file supply's scan finds it.

    Part by part, as ``glob`` matches (a ``*`` does not cross a ``/``), but a
    name starting with a dot is matched too: a file supply that follows files
    takes one made while it runs.
    """
    if not glob.has_magic(pattern):
        return os.path.normpath(pattern) == path
    parts = os.path.normpath(pattern).split("/")
    names = path.split("/")
    return len(parts) == len(names) and all(fnmatch.fnmatchcase(n, p) for n, p in zip(names, parts, strict=True))


def _excluded(excludes: Any, path: str) -> bool:
    """Whether a supply's ``exclude`` patterns take ``path`` back, as ``fs.tail`` applies them."""
    if not isinstance(excludes, (list, tuple)):
        return False
    name = os.path.basename(path)
    for pattern in excludes:
        if not isinstance(pattern, str):
            continue
        if "/" in pattern:
            if fnmatch.fnmatchcase(path, os.path.abspath(os.path.expanduser(pattern))):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _reader_of(supplies: list[pipeline_mod.CogSpec], written: str) -> tuple[pipeline_mod.CogSpec, str, str] | None:
    """The file supply whose ``filenames`` match the absolute path ``written`` (and do not exclude it), if any.

    A directory reached through a symbolic link on one side and not on the
    other (``/var/log`` a link to ``/srv/log``; standard output's name, read
    from ``/proc``, has every link resolved) is the same directory: the
    pattern and the path are compared as given and with their links resolved.

    :returns: the supply, the pattern, and how to take the file back (its ``exclude``), or ``None``.
    """
    names = {written, os.path.realpath(written)}
    try:
        identity: tuple[int, int] | None = (os.stat(written).st_dev, os.stat(written).st_ino)
    except OSError:
        identity = None  # not there yet: only its name can match
    for supply in supplies:
        patterns = supply.params.get("filenames")
        if not isinstance(patterns, (list, tuple)):
            continue
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern:
                continue
            absolute = os.path.abspath(os.path.expanduser(pattern))
            # realpath resolves the parts that exist; a part with a wildcard is left as it is.
            matched = [n for n in names for p in {absolute, os.path.realpath(absolute)} if _pattern_matches(p, n)]
            if not matched and identity is not None:
                # Another name of the same file (a hard link): the files the pattern finds now, by inode.
                matched = _same_file_among(absolute, identity)
            if not matched or any(_excluded(supply.params.get("exclude"), n) for n in matched):
                continue
            takes_back = (
                f", or add it to the exclude of {supply.where}"
                if "exclude" in {d.name for d in declared_parameters(supply.factory)[1]}
                else ""
            )
            return supply, pattern, takes_back
    return None


def _syslog_socket(path: str, address: Any, errors: list[str]) -> None:
    """``[log] syslog``: a socket path no syslog daemon listens on is an error, as the run says at its start."""
    from ..log import _check_syslog_socket, syslog_address_of

    try:
        where = syslog_address_of(address) if isinstance(address, str) else None
        if isinstance(where, str):
            _check_syslog_socket(where)
    except (OSError, ValueError) as exc:
        errors.append(f"{path}: [log]: {exc}")


def _same_file_among(pattern: str, identity: tuple[int, int]) -> list[str]:
    """The names ``pattern`` matches now that are the file ``identity`` (device, inode), at most a few looked at."""
    import itertools

    found = []
    # A bound: a pattern matching a huge directory is looked through for its first files only.
    for name in itertools.islice(glob.iglob(pattern), 10_000):
        try:
            held = os.stat(name)
        except OSError:
            continue
        if (held.st_dev, held.st_ino) == identity:
            found.append(name)
    return found


def _file_of(fd: int) -> str | None:
    """The name of the regular file descriptor ``fd`` is open on, if it is one, and still has that name."""
    try:
        held = os.fstat(fd)
        if not stat.S_ISREG(held.st_mode):
            return None
        name = os.readlink(f"/proc/self/fd/{fd}")
        named = os.stat(name)
    except OSError:
        return None
    # Deleted since ("NAME (deleted)"), or another file at that name now: no supply finds this one by a name.
    if (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
        return None
    return name


def stderr_file() -> str | None:
    """The regular file standard error goes to (``2>> /var/log/deadbeat.log``), if it is one."""
    return _file_of(2)


def stdout_file() -> str | None:
    """The regular file standard output goes to (``deadbeat run p.toml > out.txt``), if it is one."""
    return _file_of(1)


def feeding_itself(spec: pipeline_mod.PipelineFile, logs: Iterable[str] = ()) -> list[str]:
    """Outputs that write where a supply of the same pipeline reads: the run would read its own output back.

    An output's ``filename`` (``fs.write``) that a file supply's ``filenames``
    (``fs.tail``, ``fs.read``) match, relative paths taken from the pipeline
    file's directory as the run takes them, and its ``exclude`` does not take
    back; an ``fs.spool_write`` into the directory an ``fs.spool`` takes files
    from. Each line read is written again, and read again: without end (one
    line became 190,000 in ten seconds). ``deadbeat check`` reports each as an
    error, and ``deadbeat run`` refuses to start such a pipeline.

    The run's own log is looked at the same way: the ``[log]`` file, and
    ``logs`` (standard error, when ``deadbeat run`` finds it is a file). A
    line the supply reads there fails to parse, or is logged, and is read
    again: a test harness filled 60 GB of disk in minutes.

    And standard output: an output writing to ``"-"`` (``fs.write``'s
    ``filename``, given or by default) while this process's standard output
    is a file a supply reads (``deadbeat run p.toml > out.txt`` beside
    ``filenames = ["*.txt"]``). Looked at here, not given by the caller:
    ``deadbeat run`` (and its reload) finds the run's own, ``deadbeat check``
    its own, which is the run's when it is run with the same redirections.
    A run that detaches (``[daemon] detach = true``) puts ``/dev/null`` on its
    standard output and error first: neither is looked at then.

    :param spec: the loaded pipeline file.
    :param logs: the files the run's log goes to besides its ``[log]`` file.
    :returns: one line per output and supply, naming both.
    """
    path = spec.path
    every = [*spec.cogs, *spec.errors, *(cog for route in getattr(spec, "routes", []) for cog in route.cogs)]
    supplies = [cog for cog in every if _is_supply(cog)]
    problems: list[str] = []
    if not supplies:
        return problems
    detaches = bool(spec.daemon.get("detach"))
    stdout = None if detaches else stdout_file()
    log_file = spec.log.get("file")
    standard_error = [] if detaches else [("standard error", log) for log in logs]
    for shown, logged in [("[log] file", log_file), *standard_error]:
        if not isinstance(logged, str) or not logged:
            continue
        found = _reader_of(supplies, os.path.abspath(os.path.expanduser(logged)))
        if found is not None:
            supply, pattern, takes_back = found
            problems.append(
                f"{path}: the run's log ({shown}) {logged} is read by {supply.where} ({supply.use}), whose"
                f" filenames entry {pattern!r} matches it: each line logged would be read and logged again,"
                f" without end; log elsewhere{takes_back}"
            )
    for cog in every:
        if _is_supply(cog):
            continue
        where = f"{path}: {cog.where} ({cog.use})"
        name = cog.params.get("filename")
        if stdout is not None and _writes_to_stdout(cog):
            found = _reader_of(supplies, stdout)
            if found is not None:
                supply, pattern, takes_back = found
                given = "standard output" if name == "-" else "standard output, by default"
                problems.append(
                    f"{where}: filename: - ({given}) is {stdout}, read by {supply.where} ({supply.use}) too,"
                    f" whose filenames entry {pattern!r} matches it: the run would read its own output back and"
                    f" write it again, without end; redirect standard output elsewhere{takes_back}"
                )
        if isinstance(name, str) and name and name != "-":
            found = _reader_of(supplies, os.path.abspath(os.path.expanduser(name)))
            if found is not None:
                supply, pattern, takes_back = found
                problems.append(
                    f"{where}: filename: {name} is read by {supply.where} ({supply.use}) too, whose filenames"
                    f" entry {pattern!r} matches it: the run would read its own output back and write it"
                    f" again, without end; write it elsewhere{takes_back}"
                )
        directory = cog.params.get("directory")
        if cog.use.rsplit(".", 1)[-1] == "spool_write" and isinstance(directory, str) and directory:
            for supply in supplies:
                taken = supply.params.get("directory")
                if isinstance(taken, str) and os.path.abspath(taken) == os.path.abspath(directory):
                    problems.append(
                        f"{where}: directory: {directory} is where {supply.where} ({supply.use}) takes its files"
                        " from: the run would take its own output back and write it again, without end;"
                        " write it elsewhere"
                    )
    return problems


def _writes_to_stdout(cog: pipeline_mod.CogSpec) -> bool:
    """Whether an output writes to standard output: its ``filename`` is ``"-"``, given or by default (fs.write)."""
    if _is_supply(cog) or not _is_output(cog):
        return False
    return bool(cog.params.get("filename", _default_of(cog.factory, "filename", None)) == "-")


def _buildable(cog: pipeline_mod.CogSpec) -> bool:
    """Whether ``check`` builds the cog: one in between, that neither reads from outside nor writes, binds or
    connects anywhere as it is built (supplies and outputs are not built: they would open, create or bind;
    nor is a ``module:attribute`` that is not a class whose instances take a datum, which could be any
    function at all)."""
    if cog.is_cog or _is_supply(cog) or _is_output(cog):
        return False
    if ":" in cog.use and not _cog_class(cog.factory):
        # A module:attribute that is no cog class may be anything (use = "subprocess:run" with args = [...]):
        # building it would run it, and check runs nothing. A cog distribution's cogs, and cog classes, are built.
        return False
    names = {d.name for d in declared_parameters(cog.factory)[1]} | set(cog.params)
    return not names & set(_TOUCHES_THE_MACHINE)


def _cog_class(factory: Any) -> bool:
    """Whether ``factory`` is a class whose instances take a datum (the manual's cogs, :class:`movement.Cog`)."""
    return inspect.isclass(factory) and any("__call__" in vars(k) for k in factory.__mro__ if k is not object)


def _build_problems(path: str, spec: pipeline_mod.PipelineFile, errors: list[str], warnings: list[str]) -> None:
    """What ``deadbeat run`` would refuse as it builds the cogs: a value a cog's own code refuses (a regular
    expression RE2 cannot compile, an unknown grok pattern, a number beyond what the cog takes).

    The cogs in between (parsers, formatters, filters, lookups) are built as
    ``run`` builds them, with the parameters the run would give them, on an
    event loop of their own that never runs, and let go of at once (as a run
    lets go of the cogs of a pipeline that cannot start): nothing is read from
    the inputs, written, created or bound. Supplies and outputs are not built.
    A cog with an error found already is not built again to say it twice.
    """
    every = [*spec.cogs, *spec.errors, *(cog for route in getattr(spec, "routes", []) for cog in route.cogs)]

    def reported(cog: pipeline_mod.CogSpec) -> bool:
        prefix = f"{path}: {cog.where} ({cog.use}):"
        return any(line.startswith(prefix) for line in errors)

    chosen = [cog for cog in every if _buildable(cog) and not reported(cog)]
    settings = dict(spec.train)
    settings.pop("shutdown_timeout", None)
    try:
        esc = movement.Escapement()
    except OSError as exc:
        warnings.append(f"{path}: the cogs could not be built to check them: {exc}")
        return
    built: list[Any] = []
    try:
        try:
            train = movement.Train(esc, name=path, **settings)
        except (TypeError, ValueError) as exc:
            errors.append(f"{path}: train: {exc}")
            train = movement.Train(esc, name=path)
        for cog in chosen:
            where = f"{path}: {cog.where} ({cog.use})"
            args: list[Any] = []
            if cog.inject == "train":
                args.append(train)
            elif cog.inject == "esc":
                args.append(esc)
            try:
                made = cog.factory(*args, **cog.params)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - whatever the cog raises (sys.exit() too), the run says
                errors.append(f"{where}: cannot start: {_described(exc)}")
                continue
            built.append(made)
            if not callable(made):
                errors.append(f"{where}: built {made!r}, which is not a cog (not callable)")
                continue
            _broadcast_problems(where, made, warnings)
    finally:
        # As a run lets go of the cogs of a pipeline that cannot start: nothing they would save is theirs to save.
        pipeline_mod._abandon(esc, built)


def _broadcast_problems(where: str, made: Any, warnings: list[str]) -> None:
    """What the run would log as it sets the train: a method named like a broadcast that is left out of it
    (its signature cannot take the broadcast's arguments, or a name of Deadbeat's own not marked as a hook)."""
    Participant(
        made,
        lambda _cog, name: warnings.append(
            f"{where}: its method {name}() cannot take the arguments of the {name!r} broadcast; the run leaves"
            " it out of that broadcast"
        ),
        lambda _cog, name: warnings.append(
            f"{where}: its method {name}() is not marked @movement.hook, so the run does not send it"
            f" Deadbeat's {name!r} broadcast"
        ),
    )


def _requirements(where: str, cog: pipeline_mod.CogSpec, errors: list[str], warnings: list[str]) -> None:
    """What the cog says it would miss here when built (``missing_requirements``), and what it would do but
    say (``check_warnings``), asked without building it."""
    try:
        problems = cog.missing_requirements()
    except Exception as exc:  # noqa: BLE001 - a third-party cog's own check must not stop ours
        warnings.append(f"{where}: its missing_requirements() failed: {type(exc).__name__}: {exc}")
        return
    errors.extend(f"{where}: {problem}" for problem in problems)
    ask = getattr(cog.factory, "check_warnings", None)
    if not callable(ask):
        return
    try:
        doubts = [str(doubt) for doubt in ask(dict(cog.params))]
    except Exception as exc:  # noqa: BLE001 - as above
        warnings.append(f"{where}: its check_warnings() failed: {type(exc).__name__}: {exc}")
        return
    warnings.extend(f"{where}: {doubt}" for doubt in doubts)


def _is_supply(cog: pipeline_mod.CogSpec) -> bool:
    return bool(getattr(cog.factory, "supply", False))


def _is_output(cog: pipeline_mod.CogSpec) -> bool:
    verb = cog.use.rsplit(".", 1)[-1].rsplit(":", 1)[-1]
    name = getattr(cog.factory, "__name__", "")
    return verb.startswith(_OUTPUT_VERBS) or name.endswith(_OUTPUT_SUFFIXES)


def _nearest_existing(path: str) -> str:
    """The directory that holds ``path``, or the nearest existing ancestor, where it would be created."""
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    while not os.path.exists(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory


def _default_of(factory: Any, name: str, fallback: Any) -> Any:
    """The default of the parameter ``name`` of ``factory``; ``fallback`` when it has none (or no such one)."""
    try:
        parameter = inspect.signature(factory).parameters.get(name)
    except (TypeError, ValueError):
        return fallback
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return fallback
    return parameter.default


#: The account the run opens its files as, when not this process's: root checking a pipeline whose
#: ``[daemon] user`` the run drops to before it opens them. ``(name, uid, gids)``; ``None``: this process's.
_account: contextvars.ContextVar[tuple[str, int, frozenset[int]] | None] = contextvars.ContextVar(
    "deadbeat_check_account", default=None
)


def _access(path: str, mode: int) -> bool:
    """``os.access`` as the run's account: the mode bits of ``path`` and the search bit of each directory on the way.

    For another account than this process's the permission bits are read as the
    kernel would for that user and its groups (access control lists are not).
    """
    account = _account.get()
    if account is None:
        return os.access(path, mode)
    _, uid, gids = account

    def allows(st: os.stat_result, wanted: int) -> bool:
        if st.st_uid == uid:
            bits = (st.st_mode >> 6) & 7
        elif st.st_gid in gids:
            bits = (st.st_mode >> 3) & 7
        else:
            bits = st.st_mode & 7
        return bits & wanted == wanted

    full = os.path.abspath(path)
    try:
        parent = os.path.dirname(full)
        while True:
            if not allows(os.stat(parent), os.X_OK):
                return False
            if parent == os.path.dirname(parent):
                break
            parent = os.path.dirname(parent)
        return allows(os.stat(full), mode)
    except OSError:
        return False


def _by() -> str:
    """How a refusal names the account it was checked for, when not this process's."""
    account = _account.get()
    return f" by {account[0]}, the [daemon] user" if account is not None else ""


def _run_account(daemon: Mapping[str, Any]) -> tuple[str, int, frozenset[int]] | None:
    """The account of ``[daemon] user`` when this process is root and would drop to it; else ``None``."""
    user = daemon.get("user")
    if os.geteuid() != 0 or user in (None, ""):
        return None
    group = daemon.get("group")
    try:
        entry, gid = account_of(str(user), str(group) if group not in (None, "") else None)
    except DaemonError:
        return None  # said by _account_problems
    if entry is None or entry.pw_uid == 0:
        return None
    return entry.pw_name, entry.pw_uid, frozenset(os.getgrouplist(entry.pw_name, gid)) | {gid}


def _writable(where: str, key: str, path: str, errors: list[str], creates_directories: bool = True) -> None:
    """A file to be written: writable if there; else its directory (or, if missing directories are made, the
    nearest existing one) must allow creating it."""
    if path == "-":
        return
    if os.path.isdir(path):
        errors.append(f"{where}: {key}: {path} is a directory")
        return
    if os.path.exists(path):
        if not _access(path, os.W_OK):
            errors.append(f"{where}: {key}: {path} is not writable{_by()}")
        return
    if not creates_directories and not os.path.lexists(os.path.dirname(os.path.abspath(path))):
        errors.append(f"{where}: {key}: cannot create {path}: its directory does not exist (it is not made)")
        return
    directory = _nearest_existing(path)
    if not os.path.isdir(directory):
        errors.append(f"{where}: {key}: cannot create {path}: {directory} is not a directory")
    elif not _access(directory, os.W_OK | os.X_OK):
        errors.append(f"{where}: {key}: cannot create {path}: {directory} is not writable{_by()}")


def _files(where: str, cog: pipeline_mod.CogSpec, errors: list[str], warnings: list[str], once: bool) -> None:
    params = cog.params
    supply = _is_supply(cog)
    missing_ok = bool(params.get("missing_ok", False))
    names = params.get("filenames")
    # fs.tail follows files (tail = true by default), unless run --once; fs.read reads what is there, once.
    tails = params.get("tail", _default_of(cog.factory, "tail", False))
    follows = tails and not once
    if supply and isinstance(names, (list, tuple)):
        for name in names:
            if not isinstance(name, str):
                continue
            matched = glob.glob(name) if glob.has_magic(name) else ([name] if os.path.exists(name) else [])
            if not matched:
                line = f"{where}: filenames: {name} matches no file now"
                if missing_ok:
                    warnings.append(line)
                elif follows:
                    warnings.append(line + "; read when it appears")
                else:
                    run = "run --once" if tails else "the run"
                    errors.append(
                        line + f"; {run} reads what is there and fails without it (missing_ok = true allows it)"
                    )
            for found in matched:
                if os.path.isfile(found) and not _access(found, os.R_OK):
                    errors.append(f"{where}: filenames: {found} is not readable{_by()}")
    directory = params.get("directory")
    if isinstance(directory, str):
        if not os.path.isdir(directory):
            (errors if supply else warnings).append(f"{where}: directory: {directory} does not exist")
        elif not _access(directory, os.R_OK | os.W_OK | os.X_OK):
            errors.append(f"{where}: directory: {directory} is not readable and writable{_by()}")
        else:
            # A spool directory is reached as the daemon's own files are: no link another account planted.
            _safe_place(where, "directory", os.path.join(directory, "-"), errors, check_log_file)
    name = params.get("filename")
    if isinstance(name, str) and not supply:
        # An output file is created, not the directories on the way to it.
        _writable(where, "filename", name, errors, creates_directories=False)
    state = params.get("state_file")
    if isinstance(state, str) and state:
        _writable(where, "state_file", state, errors)
        # The file itself as the cogs read it: never through a link, nor one another account owns.
        _safe_place(where, "state_file", state, errors, read_private)


def _mentions_path(annotation: Any) -> bool:
    """Whether ``annotation`` is :data:`deadbeat.conf.Path` or ``PathList``, alone or inside a union or container."""
    if annotation is cast_path or annotation is cast_path_list:
        return True
    return any(_mentions_path(inner) for inner in typing.get_args(annotation))


def _startup_files(where: str, cog: pipeline_mod.CogSpec, errors: list[str]) -> None:
    """Files the cog reads as it starts (a GeoIP database, a lookup table, a key): there and readable.

    Only parameters declared as paths (``conf.Path``, ``conf.PathList``, or
    containers of them) are looked at: a third-party cog's ``table`` may be a
    mapping of values, not of files.
    """
    declared = {d.name: d.annotation for d in declared_parameters(cog.factory)[1]}
    for key in _STARTUP_FILES:
        if key not in declared or not _mentions_path(declared[key]):
            continue
        value = cog.params.get(key)
        if isinstance(value, Mapping):
            paths = list(value.values())
        elif isinstance(value, (list, tuple)):
            paths = list(value)
        else:
            paths = [value]
        for path in paths:
            if not isinstance(path, str) or not path:
                continue
            if source_kind(key) is not None and may_be_pasted_key(key, path):
                continue  # _key_sources says so, without showing the value
            if not os.path.exists(path):
                errors.append(f"{where}: {key}: {path} does not exist")
            elif os.path.isdir(path):
                errors.append(f"{where}: {key}: {path} is a directory, not a file")
            elif not _access(path, os.R_OK):
                errors.append(f"{where}: {key}: {path} is not readable{_by()}")


def _safe_place(
    where: str,
    key: str,
    path: str,
    errors: list[str],
    check_place: Callable[[str], object] = check_private_directory,
) -> None:
    """A state, pid or log file where another account could redirect it (a link on the way, a shared directory).

    :param check_place: the daemon's own check for that kind of file (state:
        :func:`read_private`; pid: :func:`check_pid_file`; log, or
        a directory shared with others: :func:`check_log_file`).
    """
    if path == "-":
        return
    try:
        with _as_run_account():
            check_place(path)
    except UnsafePath as exc:
        errors.append(f"{where}: {key}: {exc}")
    except OSError:
        pass  # missing: made at the start (state files), or reported by _writable


@contextlib.contextmanager
def _as_run_account() -> Iterator[None]:
    """While it lasts, this process is the ``[daemon] user`` (effective ids), as the run is when it checks places.

    The run looks at its state, pid and log files after it dropped to that
    user: a directory that user owns is its own, which root, checking as
    itself, took for another account's (check refused what run accepts).
    """
    account = _account.get()
    if account is None or os.geteuid() != 0:
        yield
        return
    name, uid, gids = account
    groups = os.getgroups()
    gid = pwd.getpwnam(name).pw_gid
    os.setgroups(sorted(gids))
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)


def _account_problems(where: str, section: Mapping[str, Any], errors: list[str]) -> None:
    """``[daemon] user`` and ``group`` exist on this machine (asked as the run asks:
    :func:`deadbeat.daemon.account_of`), and this process may take them on."""
    wanted = {key: str(section[key]) for key in ("user", "group") if section.get(key) not in (None, "")}
    for key, text in wanted.items():
        try:
            entry, gid = account_of(text if key == "user" else None, text if key == "group" else None)
        except DaemonError:
            errors.append(f"{where}: {key}: {text}: no such {key} on this machine")
            continue
        taken, own = (entry.pw_uid, os.geteuid()) if key == "user" else (gid, os.getegid())
        if os.geteuid() != 0 and taken != own:
            errors.append(f"{where}: {key}: running as {text} needs the run to start as root")


def _owners(spec: pipeline_mod.PipelineFile) -> set[int]:
    """The uids whose files the run trusts as its own: root, this process's, and ``[daemon] user``'s."""
    owners = {0, os.geteuid()}
    user = spec.daemon.get("user")
    if isinstance(user, int) and not isinstance(user, bool):
        owners.add(user)
    elif isinstance(user, str) and user:
        try:
            owners.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            pass  # not this machine's user: the run says so
    return owners


def _owned(where: str, key: str, path: str, errors: list[str], owners: set[int], consequence: str) -> None:
    """A file (log, key) that exists and belongs to another user: the run refuses it, so check says so."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return
    if uid not in owners:
        errors.append(f"{where}: {key}: {path} is owned by another user (uid {uid}); {consequence}")


def _key_sources(
    where: str, cog: pipeline_mod.CogSpec, errors: list[str], warnings: list[str], owners: set[int]
) -> None:
    """Where a key comes from (``key_file``, ``key_env``, ``password_file``...): a key pasted in its place is an
    error (the cog refuses to start), a key file another user owns is an error, a key file others can read is
    warned about; the value is never shown."""
    for name, value in cog.params.items():
        source = source_kind(name)
        if source is None or not isinstance(value, str) or not value:
            continue
        if may_be_pasted_key(name, value):
            if source == "env":
                errors.append(
                    f"{where}: {name}: not the name of an environment variable; it looks like a key (not shown"
                    f" here): put the key in a variable, and the variable's name in {name}"
                )
            elif not os.path.exists(value):
                errors.append(
                    f"{where}: {name}: names no file; it may be a key pasted in place of a path (not shown here):"
                    f" put the key in a file, and the file's path in {name}"
                )
        elif source != "env":
            try:
                mode = os.stat(value).st_mode
            except OSError:
                continue
            _owned(where, name, value, errors, owners, "that user could change the key; the cog would not start")
            if mode & 0o077:
                warnings.append(
                    f"{where}: {name}: {value} can be read or written by its group or others (mode {mode & 0o777:o});"
                    " chmod 600 it"
                )


def _ports(where: str, cog: pipeline_mod.CogSpec, errors: list[str]) -> None:
    """Listening cogs: is the port free? Found by binding it, and letting it go at once."""
    params = cog.params
    port = params.get("port")
    if not _is_supply(cog) or not isinstance(port, int) or isinstance(port, bool) or port == 0:
        return
    host = params.get("host", "127.0.0.1")
    kind = socket.SOCK_DGRAM if params.get("transport") in ("udp",) else socket.SOCK_STREAM
    try:
        infos = socket.getaddrinfo(host, port, type=kind)
    except OSError as exc:
        errors.append(f"{where}: host: {host}: {exc}")
        return
    family, _, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            errors.append(f"{where}: port: cannot listen on {host}:{port}: {exc.strerror}")


def _shapes(path: str, spec: pipeline_mod.PipelineFile, warnings: list[str]) -> None:
    cogs = spec.cogs
    supplies = [i for i, cog in enumerate(cogs) if _is_supply(cog)]
    if supplies and supplies[0] > 0:
        first = cogs[supplies[0]]
        for cog in cogs[: supplies[0]]:
            warnings.append(
                f"{path}: {cog.where} ({cog.use}): comes before the first supply, {first.where} ({first.use}):"
                " nothing reaches it; move it after"
            )
    route_cogs = [cog for route in getattr(spec, "routes", []) for cog in route.cogs]
    # No cogs at all is an error of its own: a second line on it would say nothing more.
    if cogs and not any(_is_output(cog) for cog in [*cogs, *route_cogs]):
        warnings.append(f"{path}: no output cog (fs.write, socket.send, http.post, ...): the data go nowhere")
    if cogs and not supplies and not any(_is_supply(cog) for cog in route_cogs):
        # `deadbeat run` without --once then ends at once, with status 0: under systemd a service that stops.
        warnings.append(
            f"{path}: no supply (fs.tail, fs.read, socket.listen, ...): nothing comes in, and the run ends at once"
        )
    _filters_on_text(path, cogs, warnings)


def _filters_on_text(path: str, cogs: list[pipeline_mod.CogSpec], warnings: list[str]) -> None:
    """A ``flow.filter`` reached by lines of text (no parser before it): every field it names is missing.

    ``fs.read`` and ``fs.tail`` give each line as text unless ``line_setter``
    makes mappings; a filter on ``action == "login"`` then drops every datum,
    with exit status 0.
    """
    text_from = None
    for cog in cogs:
        params = cog.params
        if cog.use in ("fs.read", "fs.tail"):
            text_from = None if params.get("line_setter") else f"{cog.where} ({cog.use})"
        elif cog.use in _PARSERS and not params.get("target"):
            text_from = None
        elif cog.use == "flow.filter" and text_from is not None:
            warnings.append(
                f"{path}: {cog.where} ({cog.use}): given lines of text from {text_from}, with no parser before it:"
                " the fields its expression names are always missing, so it drops every datum; put"
                " text.json_parse (or another parser) before it"
            )
