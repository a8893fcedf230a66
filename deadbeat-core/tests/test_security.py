"""Attacks by another local account on what the core writes, imports and shows (issue 19), performed for real.

The attacker is uid 65534 (nobody): a forked child that drops to it and plants
links and files where such an account can write. The places live in an arena
under /tmp that the attacker can reach (pytest's own directories are private).
"""

from __future__ import annotations

import importlib
import logging
import os
import pwd
import re
import shutil
import stat
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deadbeat import daemon, movement
from deadbeat import log as dblog
from deadbeat import pipeline as pipeline_mod
from deadbeat.conf._shown import masked, shown
from deadbeat.plugins import CogRegistry

NOBODY = 65534
#: A group that is not our own private group (nogroup: 65534 on Debian); group write for it is shared.
SHARED_GROUP = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attacker is another user: needs root to become one")


def as_attacker(action: Callable[[], None]) -> None:
    """Run ``action`` in a forked child as uid/gid 65534; fail the test if it raises there."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the attacker's action failed"


@pytest.fixture(autouse=True)
def _forget_modules() -> Iterator[None]:
    """App modules the tests import (appcogs, mycogs, pkg) are forgotten: another test has its own of that name."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def arena() -> Iterator[Path]:
    """A directory of ours under /tmp (sticky, world-writable), which the attacker can reach."""
    place = Path(tempfile.mkdtemp(prefix="deadbeat-attack-"))
    place.chmod(0o755)
    try:
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)


@pytest.fixture
def victim(arena: Path) -> Path:
    """Root's private directory with files the attacker would like overwritten."""
    directory = arena / "victimdir"
    directory.mkdir(mode=0o700)
    for name in ("state.json", "d.pid", "d.log"):
        (directory / name).write_text("precious\n")
    return directory


@pytest.fixture
def shared(arena: Path) -> Path:
    """A directory everyone may write to, as /tmp is (mode 1777)."""
    directory = arena / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    return directory


def untouched(victim: Path) -> None:
    assert sorted(p.name for p in victim.iterdir()) == ["d.log", "d.pid", "state.json"]
    for path in victim.iterdir():
        assert path.read_text() == "precious\n", path


class TestLinksOnTheWayToStateAndPidFiles:
    """A link planted anywhere on the way to a state or pid file's directory is not followed."""

    def test_a_state_file_below_a_planted_link_is_not_written(self, shared: Path, victim: Path) -> None:
        """shared/deadbeat -> victimdir (planted by uid 65534): no write, read or rename reaches root's files."""
        as_attacker(lambda: os.symlink(victim, shared / "deadbeat"))
        state = str(shared / "deadbeat" / "state.json")
        with pytest.raises(daemon.UnsafePath, match="a symbolic link in a directory writable by others"):
            daemon.write_atomically(state, b'{"sections": {}}')
        with pytest.raises(daemon.UnsafePath, match="symbolic link"):
            daemon.read_private(state)
        with pytest.raises(daemon.UnsafePath, match="symbolic link"):
            daemon.set_aside(state, "state.json.corrupt-1")
        with pytest.raises(daemon.UnsafePath, match="owned by another user"):
            daemon.check_private_directory(state, create=True)
        untouched(victim)

    def test_a_pid_file_below_a_planted_link_is_not_written_nor_removed(self, shared: Path, victim: Path) -> None:
        """[daemon] pid_file = shared/rundir/d.pid with rundir -> victimdir: refused; d.pid is not truncated."""
        as_attacker(lambda: os.symlink(victim, shared / "rundir"))
        with pytest.raises(daemon.DaemonError, match="a symbolic link in a directory writable by others"):
            daemon.PidFile(str(shared / "rundir" / "d.pid"))
        with pytest.raises(daemon.DaemonError, match="symbolic link"):
            daemon.detach(detach=False, pid_file=str(shared / "rundir" / "d.pid"))
        untouched(victim)

    def test_a_link_deeper_down_is_refused_too(self, shared: Path, victim: Path) -> None:
        """The attacker's own directory in a shared one, with the link inside it: refused, as it is theirs."""

        def plant() -> None:
            (shared / "mine").mkdir(mode=0o755)
            os.symlink(victim, shared / "mine" / "deadbeat")

        as_attacker(plant)
        with pytest.raises(daemon.UnsafePath, match="owned by another user"):
            daemon.write_atomically(str(shared / "mine" / "deadbeat" / "state.json"), b"{}")
        untouched(victim)

    def test_a_directory_above_that_others_can_rename_in_is_refused(self, arena: Path, victim: Path) -> None:
        """A private directory in a world-writable, not sticky, one: the attacker could swap it for a link."""
        open_dir = arena / "open"
        open_dir.mkdir()
        open_dir.chmod(0o777)
        private = open_dir / "private"
        private.mkdir(mode=0o700)
        with pytest.raises(daemon.UnsafePath, match="writable by others and not sticky"):
            daemon.write_atomically(str(private / "state.json"), b"{}")
        # The swap itself, done by the attacker: still nothing reaches the victim.
        as_attacker(lambda: (os.rename(private, open_dir / "gone"), os.symlink(victim, private)))
        with pytest.raises(daemon.UnsafePath):
            daemon.write_atomically(str(private / "state.json"), b"{}")
        untouched(victim)

    def test_a_directory_above_owned_by_another_user_is_refused(self, arena: Path) -> None:
        """Below another account's directory: it could rename what we keep there."""
        theirs = arena / "theirs"
        theirs.mkdir()
        os.chown(theirs, NOBODY, NOBODY)
        (theirs / "state").mkdir(mode=0o700)
        with pytest.raises(daemon.UnsafePath, match="owned by another user"):
            daemon.write_atomically(str(theirs / "state" / "state.json"), b"{}")
        assert not (theirs / "state" / "state.json").exists()

    def test_shared_dirs_allowed_knowingly_still_refuses_links_planted_there(
        self, shared: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """DEADBEAT_SHARED_DIRS=1 allows a shared directory, never a link planted in one."""
        monkeypatch.setenv("DEADBEAT_SHARED_DIRS", "1")
        daemon.write_atomically(str(shared / "state.json"), b"{}")  # allowed, knowingly
        as_attacker(lambda: os.symlink(victim, shared / "deadbeat"))
        with pytest.raises(daemon.UnsafePath, match="symbolic link"):
            daemon.write_atomically(str(shared / "deadbeat" / "state.json"), b"{}")
        untouched(victim)

    def test_a_state_file_another_user_wrote_is_never_read(self, shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Even with DEADBEAT_SHARED_DIRS=1: a state file the attacker made in the shared directory is refused, not
        acted on (one that named our output with offset 0 made fs.write cut the output back to nothing)."""
        monkeypatch.setenv("DEADBEAT_SHARED_DIRS", "1")
        as_attacker(lambda: (shared / "state.json").write_text('{"sections": {}, "version": 1}'))
        with pytest.raises(daemon.UnsafePath, match=r"owned by another user \(uid 65534\); not read"):
            daemon.read_private(str(shared / "state.json"))
        daemon.write_atomically(str(shared / "mine.json"), b"{}")
        assert daemon.read_private(str(shared / "mine.json")) == b"{}"

    def test_our_own_links_in_private_directories_are_followed(self, arena: Path) -> None:
        """/var/run -> /run, or any link of ours where only we can write, is fine; sticky /tmp above too."""
        real = arena / "real"
        real.mkdir(mode=0o700)
        os.symlink(real, arena / "run")
        os.symlink("../real", real / "again")  # relative, through '..'
        daemon.write_atomically(str(arena / "run" / "again" / "state.json"), b"{}")
        assert (real / "state.json").read_bytes() == b"{}"
        held = daemon.PidFile(str(arena / "run" / "d.pid"))
        try:
            assert (real / "d.pid").read_text() == f"{os.getpid()}\n"
        finally:
            held.release()
        assert not (real / "d.pid").exists()

    def test_missing_directories_are_made_private_on_the_way(self, arena: Path) -> None:
        """create=True makes each missing directory, mode 0700, relative to the one checked before it."""
        made = daemon.check_private_directory(str(arena / "a" / "b" / "state.json"), create=True)
        assert made == [str(arena / "a"), str(arena / "a" / "b")]
        assert all(os.stat(p).st_mode & 0o777 == 0o700 for p in made)

    def test_the_pid_file_is_removed_only_if_the_name_still_holds_it(self, arena: Path) -> None:
        """At exit the name is unlinked through the directory held, and only if it is still our file."""
        run = arena / "run"
        run.mkdir(mode=0o700)
        held = daemon.PidFile(str(run / "d.pid"))
        os.rename(run / "d.pid", run / "moved.pid")
        (run / "d.pid").write_text("someone else's\n")
        held.release()
        assert (run / "d.pid").read_text() == "someone else's\n"


class TestLogFile:
    """The [log] file is never appended to through a link, nor when it is another account's file."""

    def teardown_method(self) -> None:
        dblog.configure(level="warning")  # back to standard error only

    def test_a_link_planted_at_the_log_file_is_refused(self, shared: Path, victim: Path) -> None:
        """[log] file = shared/d.log, a link to root's file planted there: refused, nothing appended."""
        as_attacker(lambda: os.symlink(victim / "d.log", shared / "d.log"))
        with pytest.raises(daemon.UnsafePath, match="symbolic link"):
            dblog.configure(file=str(shared / "d.log"))
        with pytest.raises(daemon.UnsafePath, match="symbolic link"):
            daemon.check_log_file(str(shared / "d.log"))
        logging.getLogger("deadbeat").error("this must not reach the victim")
        untouched(victim)

    def test_a_link_on_the_way_to_the_log_file_is_refused(self, shared: Path, victim: Path) -> None:
        as_attacker(lambda: os.symlink(victim, shared / "logs"))
        with pytest.raises(daemon.UnsafePath, match="a symbolic link in a directory writable by others"):
            dblog.configure(file=str(shared / "logs" / "d.log"))
        untouched(victim)

    def test_a_new_log_file_is_not_readable_by_others(self, arena: Path) -> None:
        """Dead letters in the log hold raw input: a log file made by the daemon is 0640 (less the umask)."""
        old = os.umask(0o022)
        try:
            dblog.configure(file=str(arena / "d.log"))
        finally:
            os.umask(old)
        assert (arena / "d.log").stat().st_mode & 0o777 == 0o640

    def test_a_log_file_another_account_made_is_refused(self, shared: Path) -> None:
        """Made in advance by the attacker (to read what is logged, or to swap it): not used."""
        as_attacker(lambda: (shared / "d.log").write_text(""))
        with pytest.raises(daemon.UnsafePath, match=r"owned by another user \(uid 65534\)"):
            dblog.configure(file=str(shared / "d.log"))
        assert (shared / "d.log").read_text() == ""

    def test_a_hard_link_to_another_file_is_refused(self, arena: Path, victim: Path) -> None:
        logs = arena / "logs"
        logs.mkdir()
        os.link(victim / "d.log", logs / "d.log")
        with pytest.raises(daemon.UnsafePath, match="2 hard links"):
            dblog.configure(file=str(logs / "d.log"))
        assert (victim / "d.log").read_text() == "precious\n"

    def test_after_logrotate_a_link_in_the_files_place_is_not_written_through(
        self, shared: Path, victim: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The log in a shared directory, moved away (logrotate), a link planted at its name: the reopen refuses."""
        log_file = shared / "d.log"
        dblog.configure(file=str(log_file), stderr=False)
        logger = logging.getLogger("deadbeat.test")
        logger.error("first")
        os.rename(log_file, shared / "d.log.1")
        as_attacker(lambda: os.symlink(victim / "d.log", log_file))
        logger.error("second")
        assert "first" in (shared / "d.log.1").read_text()
        logger.error("third")
        assert capsys.readouterr().err.count("is a symbolic link; never written through") == 1  # said once
        untouched(victim)

    def test_a_log_file_in_a_private_directory_is_reopened_after_logrotate(self, arena: Path) -> None:
        logs = arena / "logs"
        logs.mkdir()
        dblog.configure(file=str(logs / "d.log"), stderr=False)
        logger = logging.getLogger("deadbeat.test")
        logger.error("first")
        os.rename(logs / "d.log", logs / "d.log.1")
        logger.error("second")
        assert "first" in (logs / "d.log.1").read_text() and "second" in (logs / "d.log").read_text()


def load(path: Path, allow: list[str] | None = None) -> pipeline_mod.PipelineFile:
    return pipeline_mod.load(str(path), CogRegistry(allow=allow))


class TestPlantedModulesBelowThePipeline:
    """Every file an app cog's import would use is checked before anything of it is imported."""

    def app(self, arena: Path, name: str) -> Path:
        base = arena / name
        base.mkdir()
        return base

    def test_a_package_others_can_write_to_runs_nothing_of_theirs(self, arena: Path) -> None:
        """pkg/ (mode 1777) with cogs.py; the attacker adds pkg/cogs/__init__.py, which Python prefers: nothing runs."""
        base = self.app(arena, "app")
        marker = arena / "planted-code-ran"
        (base / "pkg").mkdir()
        (base / "pkg" / "__init__.py").write_text("")
        (base / "pkg" / "cogs.py").write_text("def tag(data):\n    return (data,)\n")
        (base / "pkg").chmod(0o1777)

        def plant() -> None:
            (base / "pkg" / "cogs").mkdir()
            (base / "pkg" / "cogs" / "__init__.py").write_text(
                f"open({str(marker)!r}, 'w').write('ran')\ndef tag(data):\n    return (data,)\n"
            )

        as_attacker(plant)
        (base / "p.toml").write_text('[[cog]]\nuse = "pkg.cogs:tag"\n')
        with pytest.raises(
            pipeline_mod.PipelineError,
            match=r"cog\[0\] \(pkg.cogs:tag\): cannot import: .*/pkg: a directory writable by others",
        ):
            load(base / "p.toml")
        assert not marker.exists()
        assert "pkg" not in sys.modules and "pkg.cogs" not in sys.modules

    def test_a_shared_directory_beside_the_module_is_refused_before_the_attacker_uses_it(self, arena: Path) -> None:
        """pkg/ private, pkg/cogs/ (empty, 1777) beside pkg/cogs.py: a planted __init__.py would win; refused now."""
        base = self.app(arena, "app")
        marker = arena / "planted-code-ran"
        (base / "pkg").mkdir()
        (base / "pkg" / "__init__.py").write_text("")
        (base / "pkg" / "cogs.py").write_text("def tag(data):\n    return (data,)\n")
        (base / "pkg" / "cogs").mkdir()
        (base / "pkg" / "cogs").chmod(0o1777)
        (base / "p.toml").write_text('[[cog]]\nuse = "pkg.cogs:tag"\n')
        with pytest.raises(pipeline_mod.PipelineError, match="pkg/cogs: a directory writable by others"):
            load(base / "p.toml")
        as_attacker(lambda: (base / "pkg" / "cogs" / "__init__.py").write_text(f"open({str(marker)!r}, 'w')\n"))
        with pytest.raises(pipeline_mod.PipelineError, match="writable by others"):
            load(base / "p.toml")
        assert not marker.exists()

    @pytest.mark.parametrize(
        ("place", "mode", "why"),
        [
            ("mycogs.py", 0o666, "a file writable by others"),
            ("mycogs.py", 0o664, "a file writable by its group"),
            ("__pycache__", 0o777, "a directory writable by others"),
        ],
    )
    def test_a_module_file_or_its_cache_others_can_write_to_is_refused(
        self, arena: Path, place: str, mode: int, why: str
    ) -> None:
        """A world-writable mycogs.py in a private directory, or a __pycache__ others could plant a .pyc in."""
        base = self.app(arena, "app")
        (base / "mycogs.py").write_text("def tag(data):\n    return (data,)\n")
        (base / "__pycache__").mkdir()
        (base / place).chmod(mode)
        # A group others are in (not our own private group, which is as good as private: see below).
        os.chown(base / place, -1, SHARED_GROUP)
        (base / "p.toml").write_text('[[cog]]\nuse = "mycogs:tag"\n')
        with pytest.raises(pipeline_mod.PipelineError, match=f"cannot import: .*{place}: {why}"):
            load(base / "p.toml")
        assert "mycogs" not in sys.modules

    @pytest.mark.parametrize("when", ["at import", "later"])
    def test_what_the_module_imports_from_beside_it_is_checked_too(self, arena: Path, when: str) -> None:
        """mycogs.py is private, but imports helper.py, which others can write: the attacker's helper never runs,
        whether it is imported with mycogs or later, from a call."""
        base = self.app(arena, "app")
        marker = arena / "planted-code-ran"
        importing = "import helper\n" if when == "at import" else ""
        calling = "    import helper\n" if when == "later" else ""
        (base / "mycogs.py").write_text(f"{importing}def tag(data):\n{calling}    return (data,)\n")
        (base / "helper.py").write_text("")
        (base / "helper.py").chmod(0o666)
        as_attacker(lambda: (base / "helper.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"))
        (base / "p.toml").write_text('[[cog]]\nuse = "mycogs:tag"\n')
        try:
            if when == "at import":
                with pytest.raises(pipeline_mod.PipelineError, match=r"helper.py: a file writable by others"):
                    load(base / "p.toml")
            else:
                tag = load(base / "p.toml").cogs[0].factory
                with pytest.raises(ImportError, match=r"helper.py: a file writable by others"):
                    tag({})
            assert not marker.exists()
            assert "helper" not in sys.modules
        finally:
            sys.modules.pop("mycogs", None)

    def test_only_the_apps_own_modules_import_from_beside_the_pipeline_file(self, arena: Path) -> None:
        """After a pipeline is loaded, mycogs imports its private helper (at once and later), and the rest of the
        process does not find modules beside the pipeline file: no hidden change to what `import` means."""
        base = self.app(arena, "app")
        (base / "mycogs.py").write_text("def tag(data):\n    import helper\n    return (helper.VALUE,)\n")
        (base / "helper.py").write_text("VALUE = 7\n")
        (base / "stray_beside_pipeline.py").write_text("VALUE = 1\n")
        (base / "p.toml").write_text('[[cog]]\nuse = "mycogs:tag"\n')
        try:
            tag = load(base / "p.toml").cogs[0].factory
            with pytest.raises(ModuleNotFoundError):
                importlib.import_module("stray_beside_pipeline")
            assert tag({}) == (7,)
            with pytest.raises(ModuleNotFoundError):
                __import__("stray_beside_pipeline")
        finally:
            for name in ("mycogs", "helper", "stray_beside_pipeline"):
                sys.modules.pop(name, None)

    def test_group_write_for_our_own_private_group_is_private(self, arena: Path) -> None:
        """umask 002 (Debian's users each have a group of their own): a clone of the app is group-writable, yet
        no other account can write to it; it is used (the README's quick start under that umask)."""
        base = self.app(arena, "app")
        (base / "mycogs.py").write_text("def tag(data):\n    return (data,)\n")
        own_group = pwd.getpwuid(os.geteuid()).pw_gid
        for place in (base, base / "mycogs.py"):
            os.chown(place, -1, own_group)
            place.chmod(place.stat().st_mode | stat.S_IWGRP)
        (base / "p.toml").write_text('[[cog]]\nuse = "mycogs:tag"\n')
        assert load(base / "p.toml").cogs
        sys.modules.pop("mycogs", None)

    def test_a_module_file_another_user_owns_is_refused(self, arena: Path) -> None:
        base = self.app(arena, "app")
        (base / "mycogs.py").write_text("def tag(data):\n    return (data,)\n")
        os.chown(base / "mycogs.py", NOBODY, NOBODY)
        (base / "p.toml").write_text('[[cog]]\nuse = "mycogs:tag"\n')
        with pytest.raises(pipeline_mod.PipelineError, match=r"owned by another user \(uid 65534\)"):
            load(base / "p.toml")

    def test_private_packages_and_modules_load(self, arena: Path) -> None:
        """The legitimate case: nested packages, a module beside an empty private directory of the same name."""
        base = self.app(arena, "app")
        (base / "myapp" / "cogs").mkdir(parents=True)
        (base / "myapp" / "__init__.py").write_text("")
        (base / "myapp" / "cogs" / "__init__.py").write_text("")
        (base / "myapp" / "cogs" / "tags.py").write_text("def tag(data):\n    return (data,)\n")
        (base / "mycogs.py").write_text("def tag(data):\n    return (data,)\n")
        (base / "mycogs").mkdir()  # private: nobody else can make it a package
        os.symlink(base / "nowhere", base / "myapp.py")  # dangling: nothing to load, nothing to refuse
        (base / "p.toml").write_text('[[cog]]\nuse = "myapp.cogs.tags:tag"\n[[cog]]\nuse = "mycogs:tag"\n')
        spec = load(base / "p.toml")
        assert [c.factory.__module__ for c in spec.cogs] == ["myapp.cogs.tags", "mycogs"]


class TestAttributePath:
    """module:attribute names what the module itself defines, checked before anything is called."""

    @pytest.fixture
    def base(self, arena: Path) -> Path:
        base = arena / "app"
        base.mkdir()
        (base / "mycogs.py").write_text(
            textwrap.dedent(
                """
                import os
                from subprocess import call as helper
                from deadbeat import movement

                SETTINGS = {"a": 1}

                class Tag(movement.Cog):
                    def __init__(self, value="x"):
                        self.value = value

                    def __call__(self, data):
                        return (data,)

                    @classmethod
                    def make(cls, value="y"):
                        return cls(value)

                def factory(value="z"):
                    return Tag(value)
                """
            )
        )
        return base

    @pytest.mark.parametrize(
        ("use", "message"),
        [
            ("mycogs:os.system", r"use: 'os.system': os is the module os, not something mycogs defines"),
            ("mycogs:helper", r"use: 'helper': helper is defined by subprocess, not by mycogs"),
            ("mycogs:factory.__globals__", r"use: 'factory.__globals__': '__globals__' is not a name mycogs defines"),
            ("mycogs:SETTINGS", r"use: 'SETTINGS': SETTINGS is a dict, not defined by mycogs"),
            ("mycogs:movement.Cog", r"use: 'movement.Cog': movement is the module deadbeat.movement"),
        ],
    )
    def test_what_the_module_did_not_define_is_refused_before_any_call(
        self, base: Path, arena: Path, use: str, message: str
    ) -> None:
        """--allow 'mycogs:*' allowed mycogs:os.system, which ran a command as root: now refused, naming the key."""
        marker = arena / "command-ran"
        (base / "p.toml").write_text(f'[[cog]]\nuse = "{use}"\ncommand = "touch {marker}"\n')
        with pytest.raises(pipeline_mod.PipelineError) as caught:
            load(base / "p.toml", allow=["mycogs:*"])
        (problem,) = caught.value.problems
        assert re.search(re.escape(f"p.toml: cog[0] ({use}): ") + message, problem), problem
        assert not marker.exists()

    def test_classes_functions_and_classmethods_of_the_module_are_factories(self, base: Path) -> None:
        (base / "p.toml").write_text(
            '[[cog]]\nuse = "mycogs:Tag"\nvalue = "1"\n'
            '[[cog]]\nuse = "mycogs:Tag.make"\n[[cog]]\nuse = "mycogs:factory"\n'
        )
        spec = load(base / "p.toml", allow=["mycogs:*"])
        built = pipeline_mod.assemble(spec, movement.Escapement())
        assert [str(c) for c in built.train.cogs] == ["Tag(value='1')", "Tag(value='y')", "Tag(value='z')"]

    @pytest.mark.parametrize("made", ["None", "42", "'a text'", "{'a': 1}"])
    def test_a_factory_that_returns_no_cog_is_refused_before_the_train_calls_it(self, arena: Path, made: str) -> None:
        """What a factory returns is checked before it joins the train: not a failure on the first datum, and not
        a run that starts with a cog that cannot be called; the error names the cog and what it returned."""
        base = arena / "app"
        base.mkdir()
        (base / "mycogs.py").write_text(f"def make(value='x'):\n    return {made}\n")
        (base / "p.toml").write_text('[[cog]]\nuse = "mycogs:make"\nvalue = "y"\n')
        spec = load(base / "p.toml", allow=["mycogs:*"])
        esc = movement.Escapement()
        try:
            with pytest.raises(pipeline_mod.PipelineError) as caught:
                pipeline_mod.assemble(spec, esc)
        finally:
            esc.close()
            sys.modules.pop("mycogs", None)
        assert str(caught.value).endswith(
            f"p.toml: cog[0] (mycogs:make): built {made}, which is not a cog (not callable)"
        )


class TestShownValues:
    """--explain and deadbeat check show parameters as str(cog) does: secrets masked."""

    def test_masking(self, tmp_path: Path) -> None:
        existing = tmp_path / "anon.key"
        existing.write_text("k")
        assert shown("password", "hunter2") == "'***'"
        assert shown("password", 12345) == "'***'"
        assert shown("key_env", "0123456789abcdef0123456789abcdef") == "'***'"
        assert shown("key_env", "ANON_KEY") == "'ANON_KEY'"
        assert shown("key_file", str(tmp_path / "00112233445566778899aabbccddeeff")) == "'***'"
        assert shown("key_file", str(existing)) == repr(str(existing))
        assert masked("url", "http://admin:S3cretPassw0rd@example.com/x?token=abc&b") == (
            "http://admin:***@example.com/x?token=***&b"
        )
        assert masked("headers", {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "text/plain"}) == {
            "Authorization": "***",
            "X-Api-Key": "***",
            "Accept": "text/plain",
        }
        assert masked("servers", ["nats://u:pw@host:4222"]) == ["nats://u:***@host:4222"]
        assert masked("filenames", ["/var/log/a.log"]) == ["/var/log/a.log"]

    def test_explain_and_a_refused_value_show_no_secret(self, tmp_path: Path) -> None:
        """--explain showed key_env in full, a key pasted into key_file, an Authorization header, a URL's password."""
        (tmp_path / "appcogs.py").write_text(
            "def make(url: str, headers: dict, key_env: str, key_file: str, password: str = '', limit: int = 1):\n"
            "    return lambda d: (d,)\n"
        )
        secrets = ["S3cretPassw0rd", "sekr1tt0ken", "0123456789abcdef0123", "00112233445566778899", "hunter2", "31337"]
        body = textwrap.dedent(
            """
            [[cog]]
            use = "appcogs:make"
            url = "http://admin:S3cretPassw0rd@example.com/x"
            headers = {Authorization = "Bearer sekr1tt0ken", Accept = "text/plain"}
            key_env = "0123456789abcdef0123456789abcdef"
            key_file = "00112233445566778899aabbccddeeff"
            password = "hunter2"
            """
        )
        (tmp_path / "p.toml").write_text(body)
        spec = load(tmp_path / "p.toml")
        assert spec.cogs[0].label() == (
            "appcogs:make(url='http://admin:***@example.com/x', headers={'Authorization': '***', 'Accept':"
            " 'text/plain'}, key_env='***', key_file='***', password='***')"
        )
        text = pipeline_mod.explain(spec)
        assert "appcogs:make(url='http://admin:***@example.com/x'" in text
        assert not [s for s in secrets if s in text], text
        # A secret of the wrong type is refused without being shown.
        (tmp_path / "p.toml").write_text(body.replace('password = "hunter2"', "password = 31337"))
        with pytest.raises(pipeline_mod.PipelineError) as caught:
            load(tmp_path / "p.toml")
        assert "password: expected a string, got '***'" in str(caught.value)
        assert not [s for s in secrets if s in str(caught.value)], str(caught.value)


class TestAnErrorOutputThatGivesUp:
    """Records an error output gives up on after the call returned still reach the log, and are counted."""

    def test_records_an_error_output_never_wrote_are_dead_letters(self, caplog: pytest.LogCaptureFixture) -> None:
        esc = movement.Escapement()

        class FullDisk(movement.Cog):
            """Like fs.write on a full disk: keeps what it takes, blocks the train, and gives up at finish."""

            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.kept: list[Any] = []

            def __call__(self, data: Any) -> Any:
                self.kept.append(data)
                self.train.block(self)
                return (data,)

            def finish(self) -> None:
                self.train.esc.fail(self, f"{len(self.kept)} records not written")

        def parse(data: Any) -> Any:
            if data.startswith("bad"):
                raise ValueError("not a number")
            return (int(data),)

        errors = movement.Train(esc, name="errors")
        errors.cogs = [FullDisk(errors)]
        out: list[Any] = []
        train = movement.Train(esc, [parse, lambda d: out.append(d)], error_output=errors, name="main")
        with caplog.at_level(logging.ERROR, logger="deadbeat.deadletter"):
            train.send(None, ["1", "bad 2", "3", "bad 4"])
            esc.shutdown()
            esc.run()
        letters = [r.getMessage() for r in caplog.records if r.name == "deadbeat.deadletter"]
        assert len(letters) == 2
        assert letters[0].startswith("-: dead letter from ") and letters[0].endswith(
            'ValueError: not a number | "bad 2"'
        )
        assert errors.undelivered == 2 and train.errors == 2
        assert any("2 error records were not written by the error output" in f for f in esc.failures)

    def test_records_written_in_the_end_are_not_dead_letters(self, caplog: pytest.LogCaptureFixture) -> None:
        """Blocked for a while (a full disk freed), then written: nothing in the log, nothing failed."""
        esc = movement.Escapement()
        written: list[Any] = []

        class SlowDisk(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.kept: list[Any] = []

            def __call__(self, data: Any) -> Any:
                self.kept.append(data)
                self.train.block(self)
                esc.after(0.05, self.freed)
                return (data,)

            def freed(self) -> None:
                written.extend(self.kept)
                self.kept.clear()
                self.train.unblock(self)

        def parse(data: Any) -> Any:
            raise ValueError("no")

        errors = movement.Train(esc, name="errors")
        errors.cogs = [SlowDisk(errors)]
        train = movement.Train(esc, [parse], error_output=errors, name="main")
        with caplog.at_level(logging.ERROR, logger="deadbeat.deadletter"):
            train.send(None, ["a"])
            esc.after(0.2, esc.shutdown)
            esc.run()
        assert len(written) == 1 and not [r for r in caplog.records if r.name == "deadbeat.deadletter"]
        assert errors.undelivered == 0 and not esc.failures

    def test_an_output_that_rejects_what_it_gave_up_on_is_logged_once(self, caplog: pytest.LogCaptureFixture) -> None:
        """The precise way for an output (what fs.write could do): esc.reject each record it gives up on, unblock.

        The record's line is written at once, by the error train's own fallback,
        counted in its errors; the train's finish adds no second line.
        """
        esc = movement.Escapement()

        class GivesUp(movement.Cog):
            def __init__(self, esc: movement.Escapement) -> None:
                self.esc = esc
                self.kept: list[Any] = []

            def __call__(self, data: Any) -> Any:
                self.kept.append(data)
                self.esc.block(self)
                self.esc.after(0.05, self.give_up)
                return (data,)

            def give_up(self) -> None:
                for record in self.kept:
                    self.esc.reject(self, record, OSError(28, "No space left on device"))
                self.kept.clear()
                self.esc.unblock(self)
                self.esc.fail(self, "gave up")

        def parse(data: Any) -> Any:
            raise ValueError("not a number")

        errors = movement.Train(esc, name="errors")
        errors.cogs = [GivesUp(esc)]
        train = movement.Train(esc, [parse], error_output=errors, name="main")
        with caplog.at_level(logging.ERROR, logger="deadbeat.deadletter"):
            train.send(None, ["bad 1"])
            esc.after(0.2, esc.shutdown)
            esc.run()
        (letter,) = [r.getMessage() for r in caplog.records if r.name == "deadbeat.deadletter"]
        assert "dead letter from GivesUp" in letter and "No space left on device" in letter and "bad 1" in letter
        assert errors.errors == 1 and errors.undelivered == 0
