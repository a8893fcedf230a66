"""`deadbeat check` finds what `deadbeat run` would refuse, and no more: strictness about the cogs used, a
pipeline reading its own output, values a cog's own code refuses as it is built.

Every test runs the real commands, each in a process of its own, on real files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest


def deadbeat(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def pipeline(tmp_path: Path, body: str, name: str = "pipeline.toml") -> str:
    (tmp_path / name).write_text(textwrap.dedent(body))
    return name


READ_TO_FILE = """
[[cog]]
use = "fs.read"
filenames = ["in.txt"]

[[cog]]
use = "fs.write"
filename = "out.txt"
"""


class TestStrictAboutTheCogsUsed:
    """The broken fixture (broken.explode, tests/plugins/broken-cog) is installed beside the project's cogs."""

    @pytest.mark.parametrize("how", ["option", "environment"])
    def test_an_unrelated_broken_plugin_fails_neither(self, tmp_path: Path, how: str) -> None:
        """check --strict failed ("strict plugin check: cog 'broken.explode' ... is broken") where run --strict
        ran; both judge only the cogs the pipeline uses now."""
        (tmp_path / "in.txt").write_text("a\n")
        name = pipeline(tmp_path, READ_TO_FILE)
        strict = ["--strict"] if how == "option" else []
        env = {"DEADBEAT_STRICT": "1"} if how == "environment" else None
        checked = deadbeat(tmp_path, "check", *strict, "--once", name, env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout == "pipeline.toml: ok\n"
        assert "broken.explode" not in checked.stdout + checked.stderr
        ran = deadbeat(tmp_path, "run", *strict, "--once", "--quiet", name, env=env)
        assert ran.returncode == 0, ran.stderr
        assert (tmp_path / "out.txt").read_text() == "a\n"

    def test_a_broken_plugin_the_pipeline_uses_fails_both(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_text("a\n")
        name = pipeline(tmp_path, READ_TO_FILE + '\n[[cog]]\nuse = "broken.explode"\n')
        checked = deadbeat(tmp_path, "check", "--strict", "--once", name)
        assert checked.returncode == 1
        assert "cog[2] (broken.explode)" in checked.stdout and "is broken" in checked.stdout
        ran = deadbeat(tmp_path, "run", "--strict", "--once", "--quiet", name)
        assert ran.returncode == 1
        assert "broken.explode" in ran.stderr

    def test_the_listing_stays_strict_about_every_cog(self, tmp_path: Path) -> None:
        result = deadbeat(tmp_path, "cogs", "--strict")
        assert result.returncode == 1
        assert "broken.explode" in result.stderr


SELF_FEEDING = """
[[cog]]
use = "fs.tail"
filenames = ["logs/*.log"]
state_file = "state/pos"
{exclude}

[[cog]]
use = "fs.write"
filename = "logs/all.log"
state_file = "state/pos"
"""


class TestReadingItsOwnOutput:
    def test_tail_of_a_pattern_matching_the_output(self, tmp_path: Path) -> None:
        """check said ok, and a run turned 1 line into 190,000 in ten seconds: check says it is an error, naming
        both cogs, and run refuses to start (nothing created)."""
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / "app.log").write_text("hello\n")
        name = pipeline(tmp_path, SELF_FEEDING.format(exclude=""))
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1
        written = tmp_path / "logs" / "all.log"
        lines = [line for line in checked.stdout.splitlines() if "its own output" in line]
        assert len(lines) == 1, checked.stdout
        assert lines[0].startswith(f"pipeline.toml: cog[1] (fs.write): filename: {written} is read by cog[0] (fs.tail)")
        assert "'" + str(tmp_path / "logs" / "*.log") + "'" in lines[0]
        assert "add it to the exclude of cog[0]" in lines[0]
        ran = deadbeat(tmp_path, "run", "--quiet", name)
        assert ran.returncode == 1
        assert lines[0] in ran.stderr
        assert not written.exists()
        assert not (tmp_path / "state").exists()

    def test_excluded_it_is_fine(self, tmp_path: Path) -> None:
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / "app.log").write_text("hello\n")
        name = pipeline(tmp_path, SELF_FEEDING.format(exclude='exclude = ["all.log"]'))
        checked = deadbeat(tmp_path, "check", "--once", name)
        assert checked.returncode == 0, checked.stdout
        ran = deadbeat(tmp_path, "run", "--once", "--quiet", name)
        assert ran.returncode == 0, ran.stderr
        assert (tmp_path / "logs" / "all.log").read_text() == "hello\n"

    def test_elsewhere_it_is_fine(self, tmp_path: Path) -> None:
        """A pattern part does not cross a directory: logs/*.log does not read logs/out/all.log."""
        (tmp_path / "logs" / "out").mkdir(parents=True)
        (tmp_path / "logs" / "app.log").write_text("hello\n")
        name = pipeline(tmp_path, SELF_FEEDING.format(exclude="").replace("logs/all.log", "logs/out/all.log"))
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 0, checked.stdout

    def test_fs_read_of_its_output_and_an_absolute_path(self, tmp_path: Path) -> None:
        """fs.read of a file fs.write appends to (one absolute, one relative): read back as it grows."""
        (tmp_path / "data.txt").write_text("a\n")
        name = pipeline(
            tmp_path,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["{tmp_path / "data.txt"}"]

            [[cog]]
            use = "fs.write"
            filename = "data.txt"
            """,
        )
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1
        assert "cog[1] (fs.write): filename:" in checked.stdout and "cog[0] (fs.read)" in checked.stdout
        assert "write it elsewhere\n" in checked.stdout  # fs.read has no exclude to offer
        ran = deadbeat(tmp_path, "run", "--once", "--quiet", name)
        assert ran.returncode == 1
        assert (tmp_path / "data.txt").read_text() == "a\n"

    def test_a_hard_link_of_the_input(self, tmp_path: Path) -> None:
        """The output another name of a tailed file (a hard link): check said ok, a run grew it without end."""
        (tmp_path / "a.log").write_text("a\n")
        os.link(tmp_path / "a.log", tmp_path / "out.log")
        name = pipeline(
            tmp_path,
            """
            [[cog]]
            use = "fs.tail"
            filenames = ["a.log"]

            [[cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1
        assert f"cog[1] (fs.write): filename: {tmp_path / 'out.log'} is read by cog[0] (fs.tail)" in checked.stdout
        ran = deadbeat(tmp_path, "run", "--once", "--quiet", name)
        assert ran.returncode == 1
        assert (tmp_path / "a.log").read_text() == "a\n"

    def test_error_output_into_the_input(self, tmp_path: Path) -> None:
        """An [[errors]] fs.write is an output too."""
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / "app.log").write_text("hello\n")
        name = pipeline(
            tmp_path,
            """
            [[cog]]
            use = "fs.tail"
            filenames = ["logs/*.log"]

            [[cog]]
            use = "fs.write"
            filename = "out.txt"

            [[errors]]
            use = "text.json_format"

            [[errors]]
            use = "fs.write"
            filename = "logs/errors.log"
            """,
        )
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1
        assert "errors[1] (fs.write): filename:" in checked.stdout


def mk(tmp_path: Path, middle: str) -> str:
    (tmp_path / "in.log").write_text('{"a":1}\n')
    return pipeline(
        tmp_path,
        f"""
        [[cog]]
        use = "fs.read"
        filenames = ["in.log"]

        [[cog]]
        {middle}

        [[cog]]
        use = "text.json_format"

        [[cog]]
        use = "fs.write"
        filename = "out.log"
        """,
    )


class TestValuesTheCogRefuses:
    @pytest.mark.parametrize(
        ("middle", "said"),
        [
            (
                "use = \"text.regex_parse\"\npattern = '(?P<a>x(?=y))'",
                "cog[1] (text.regex_parse): cannot start: ValueError: bad regular expression",
            ),
            (
                'use = "text.grok"\npattern = "%{NOSUCHPATTERN:x}"',
                "cog[1] (text.grok): cannot start: ValueError: unknown grok pattern %{NOSUCHPATTERN}",
            ),
            (
                'use = "text.json_parse"\nmax_depth = 1000',
                "cog[1] (text.json_parse): cannot start: ValueError: max_depth must be a whole number from 1 to 500",
            ),
        ],
        ids=["regex-lookahead", "grok-unknown", "json-depth"],
    )
    def test_check_says_what_run_refuses(self, tmp_path: Path, middle: str, said: str) -> None:
        """check said ok and run exited 1 at start; check now builds the cogs in between and says the same."""
        name = mk(tmp_path, textwrap.indent(middle, " " * 8).strip())
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1, checked.stdout
        assert f"pipeline.toml: {said}" in checked.stdout
        ran = deadbeat(tmp_path, "run", "--once", name)
        assert ran.returncode == 1
        assert said in ran.stderr
        # Neither the check nor the refused run wrote anything.
        assert not (tmp_path / "out.log").exists()

    def test_a_good_pipeline_is_ok_and_check_creates_nothing(self, tmp_path: Path) -> None:
        """Supplies and outputs are not built: the output file is not created by check."""
        name = mk(tmp_path, 'use = "text.json_parse"\n        max_depth = 10')
        checked = deadbeat(tmp_path, "check", name)
        assert checked.stdout == "pipeline.toml: ok\n", checked.stdout + checked.stderr
        assert checked.returncode == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.log", "pipeline.toml"]

    def test_cogs_of_routes_and_errors_are_built_too(self, tmp_path: Path) -> None:
        (tmp_path / "in.log").write_text('{"a":1}\n')
        name = pipeline(
            tmp_path,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]

            [[cog]]
            use = "text.json_parse"

            [[errors]]
            use = "text.json_parse"
            source = "datum"
            max_depth = 600

            [[errors]]
            use = "fs.write"
            filename = "errors.log"

            [[route]]
            name = "all"

            [[route.cog]]
            use = "text.grok"
            pattern = "%{NOSUCHPATTERN:x}"

            [[route.cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1
        assert "errors[0] (text.json_parse): cannot start: ValueError: max_depth" in checked.stdout
        assert "(text.grok): cannot start: ValueError: unknown grok pattern" in checked.stdout

    def test_a_problem_found_already_is_said_once(self, tmp_path: Path) -> None:
        """A value the loader refuses already (out of its declared range) is not said again by building."""
        name = mk(tmp_path, 'use = "text.json_parse"\n        max_depth = "deep"')
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1
        assert checked.stdout.count("cog[1] (text.json_parse)") == 1, checked.stdout
        assert "cannot start" not in checked.stdout


@pytest.mark.parametrize("cog", ["text.decode", "text.encode"])
def test_an_unknown_encoding_is_refused_by_check_and_run(tmp_path: Path, cog: str) -> None:
    """``encoding = "no-such-codec"`` passed check and run, and every datum then went to the error output:
    encoding nothing, the test the cogs made, does not look the codec up."""
    (tmp_path / "in.log").write_text("one\n")
    name = pipeline(
        tmp_path,
        f"""
        [[cog]]
        use = "fs.read"
        filenames = ["in.log"]
        [[cog]]
        use = "{cog}"
        encoding = "no-such-codec"
        [[cog]]
        use = "fs.write"
        filename = "out.log"
        encoding = "nope"
        """,
    )
    for command in ("check", "run"):
        result = deadbeat(tmp_path, command, name, "--once")
        assert result.returncode == 1, result.stdout + result.stderr
        said = result.stdout + result.stderr
        assert f"cog[1] ({cog}): encoding: expected the name of a text encoding" in said
        assert "cog[2] (fs.write): encoding: expected the name of a text encoding" in said
    assert not (tmp_path / "out.log").exists()


def test_an_unknown_encoding_is_refused_when_built_in_python() -> None:
    from deadbeat import fs, movement, text

    esc = movement.Escapement()
    try:
        for make in (
            lambda: fs.LineFileDrain(esc, os.devnull, encoding="nope"),
            lambda: text.Decode(encoding="nope"),
            lambda: text.Encode(encoding="nope"),
        ):
            with pytest.raises(ValueError, match="unknown encoding 'nope'"):
                make()
    finally:
        esc.close()


class TestUnsafeOutputs:
    """An output file the run would not write (a planted link, another account's file in a shared directory):
    check says so and exits 1, as the run then fails; nothing is created or written."""

    @pytest.mark.parametrize(
        ("target", "said"),
        [
            ("shared/link.txt", "a symbolic link; not written through"),
            ("shared/dirlink/out.txt", "a symbolic link in a directory writable by others"),
            ("shared/foreign.txt", "owned by another user (uid 65534)"),
        ],
    )
    @pytest.mark.parametrize("where", ["output", "errors"])
    def test_check_says_what_run_refuses(self, tmp_path: Path, target: str, said: str, where: str) -> None:
        if os.geteuid() != 0:
            pytest.skip("making a file of another user needs root")
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        (tmp_path / "real.txt").write_text("kept\n")
        (shared / "link.txt").symlink_to("../real.txt")
        (shared / "dirlink").symlink_to("..")
        (shared / "foreign.txt").write_text("")
        os.chown(shared / "foreign.txt", 65534, 65534)
        (tmp_path / "in.txt").write_text('{"a": 1}\n')
        output = target if where == "output" else "out.txt"
        body = f'[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n[[cog]]\nuse = "fs.write"\nfilename = "{output}"\n'
        if where == "errors":
            body += f'[[errors]]\nuse = "text.json_format"\n[[errors]]\nuse = "fs.write"\nfilename = "{target}"\n'
        name = pipeline(tmp_path, body)
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert said in checked.stdout + checked.stderr
        ran = deadbeat(tmp_path, "run", name, "--once")
        assert ran.returncode == 1, ran.stderr
        assert (tmp_path / "real.txt").read_text() == "kept\n"

    def test_our_own_file_in_our_directory_is_fine(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_text("x\n")
        (tmp_path / "out.txt").write_text("")
        checked = deadbeat(tmp_path, "check", pipeline(tmp_path, READ_TO_FILE))
        assert checked.returncode == 0, checked.stdout + checked.stderr


class TestBroadcastMethodsLeftOut:
    """A cog whose method is named like a broadcast but cannot take it: the run logs it and leaves the method
    out of that broadcast; check says the same before the run, as a warning (the pipeline still runs)."""

    def test_check_warns_as_the_run_logs(self, tmp_path: Path) -> None:
        (tmp_path / "my_cogs.py").write_text(
            textwrap.dedent(
                """
                class Odd:
                    def __call__(self, data):
                        return (data,)

                    def event_done(self, a, b, c):
                        pass

                    def flush(self, force):
                        pass
                """
            )
        )
        name = mk(tmp_path, 'use = "my_cogs:Odd"')
        env = {"PYTHONPATH": str(tmp_path)}
        checked = deadbeat(tmp_path, "check", name, env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        lines = checked.stdout.splitlines()
        assert any(
            "cog[1] (my_cogs:Odd): its method event_done() cannot take the arguments" in line and "(warning)" in line
            for line in lines
        ), lines
        # flush(self, force) is a name Deadbeat reserves, but not the manual: unmarked, so left out.
        assert any("its method flush() is not marked @movement.hook" in line for line in lines), lines
        assert "ok, 2 warnings" in checked.stdout
        ran = deadbeat(tmp_path, "run", "--once", name, env=env)
        assert ran.returncode == 0, ran.stderr
        assert "event_done() cannot take the arguments" in ran.stderr
        assert len((tmp_path / "out.log").read_text().splitlines()) == 1


class TestDaemonAccount:
    def test_an_unknown_user_or_group_is_an_error_as_the_run_says(self, tmp_path: Path) -> None:
        """check said ok for [daemon] user = "nosuchuser", and the run then exited 1 ("unknown user")."""
        (tmp_path / "in.txt").write_text("a\n")
        name = pipeline(tmp_path, '[daemon]\nuser = "nosuchuser"\ngroup = "nosuchgroup"\n' + READ_TO_FILE)
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 1
        assert "pipeline.toml: [daemon]: user: nosuchuser: no such user on this machine" in checked.stdout
        assert "pipeline.toml: [daemon]: group: nosuchgroup: no such group on this machine" in checked.stdout
        ran = deadbeat(tmp_path, "run", "--once", name)
        assert ran.returncode == 1 and "unknown user or group" in ran.stderr

    def test_an_account_of_this_machine_is_ok(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_text("a\n")
        import pwd

        me = pwd.getpwuid(os.geteuid()).pw_name
        name = pipeline(tmp_path, f'[daemon]\nuser = "{me}"\n' + READ_TO_FILE)
        checked = deadbeat(tmp_path, "check", name)
        assert checked.returncode == 0, checked.stdout


def test_a_state_directory_the_daemon_user_owns_is_fine_for_check_as_for_run() -> None:
    """Run as root with [daemon] user: check took a state directory that user owns for another account's and
    failed a pipeline that run starts (check looked at it as root, run looks after it became the user)."""
    import pwd
    import shutil
    import uuid

    if os.geteuid() != 0:
        return  # only root drops to a [daemon] user (CI runs as root)
    nobody = pwd.getpwnam("nobody")
    # Not under pytest's tmp_path: root's private directories there are no way through for nobody.
    work = Path("/tmp") / f"deadbeat-check-account-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        (work / "in.txt").write_text("a\nb\n")
        (work / "st").mkdir(mode=0o700)
        for path in (work, work / "st", work / "in.txt"):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        name = pipeline(
            work,
            f"""
            [daemon]
            user = "nobody"

            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]

            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            state_file = "{work / "st" / "state.json"}"
            """,
        )
        checked = deadbeat(work, "check", name)
        assert checked.returncode == 0, checked.stdout
        ran = deadbeat(work, "run", "--once", name)
        assert ran.returncode == 0, ran.stderr
        assert (work / "out.txt").read_text() == "a\nb\n"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_check_runs_no_function_a_pipeline_names(tmp_path: Path) -> None:
    """use = "subprocess:run" with args: check built it as a cog in between, which ran the command (and then said
    the result was no cog). A module:attribute that is no Cog class is not built by check."""
    (tmp_path / "in.txt").write_text("a\n")
    marker = tmp_path / "ran"
    body = READ_TO_FILE.replace(
        '[[cog]]\nuse = "fs.write"',
        f'[[cog]]\nuse = "subprocess:run"\nargs = ["touch", "{marker}"]\n\n[[cog]]\nuse = "fs.write"',
    )
    name = pipeline(tmp_path, body)
    checked = deadbeat(tmp_path, "check", name)
    assert not marker.exists(), checked.stdout


def test_ctrl_c_while_a_cog_module_imports_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C during a slow import (deadbeat check, deadbeat cogs --check): a 30-line traceback through the
    importer's frames, with an exit status of death by SIGINT; now one line and status 130, as a shell shows."""
    import signal
    import time

    (tmp_path / "in.txt").write_text("a\n")
    (tmp_path / "slow_cogs.py").write_text(
        "import time\ntime.sleep(30)\n\nclass Cog:\n    def __call__(self, d):\n        return (d,)\n"
    )
    body = READ_TO_FILE.replace(
        '[[cog]]\nuse = "fs.write"', '[[cog]]\nuse = "slow_cogs:Cog"\n\n[[cog]]\nuse = "fs.write"'
    )
    name = pipeline(tmp_path, body)
    process = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "check", name],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert stderr == "deadbeat: check: interrupted\n"


class TestFilesTheRunCannotUse:
    def test_a_file_named_in_two_roles_is_an_error(self, tmp_path: Path) -> None:
        """An output that is also the state file lost its lines to the state (check said ok, the run exit 0)."""
        (tmp_path / "in.txt").write_text("1\n2\n")
        name = pipeline(
            tmp_path,
            """
            [log]
            file = "run.log"

            [[cog]]
            use = "fs.tail"
            filenames = ["in.txt"]
            state_file = "out.txt"

            [[cog]]
            use = "fs.write"
            filename = "out.txt"

            [[cog]]
            use = "fs.write"
            filename = "run.log"
            """,
        )
        checked = deadbeat(tmp_path, "check", "--once", name)
        assert checked.returncode == 1
        assert (
            f"pipeline.toml: cog[0] (fs.tail): state_file: {tmp_path}/out.txt is also the filename of cog[1]"
            " (fs.write): each needs a file of its own"
        ) in checked.stdout
        assert f"cog[2] (fs.write): filename: {tmp_path}/run.log is also the file of [log]" in checked.stdout

    @pytest.mark.skipif(os.geteuid() != 0, reason="runs as root to check for another account")
    def test_files_are_checked_for_the_daemon_user_the_run_becomes(self) -> None:
        """As root, check said ok for an input only root could read; the run, as nobody, could not open it."""
        # Not under pytest's own directory, which only root may enter: nobody must reach the files.
        tmp_path = Path(tempfile.mkdtemp(prefix="deadbeat-check-user-"))
        os.chmod(tmp_path, 0o755)
        (tmp_path / "in.txt").write_text("1\n")
        (tmp_path / "in.txt").chmod(0o600)
        (tmp_path / "out").mkdir(mode=0o755)
        name = pipeline(tmp_path, '[daemon]\nuser = "nobody"\n' + READ_TO_FILE.replace("out.txt", "out/out.txt"))
        checked = deadbeat(tmp_path, "check", "--once", name)
        assert checked.returncode == 1
        assert f"filenames: {tmp_path}/in.txt is not readable by nobody, the [daemon] user" in checked.stdout
        assert f"{tmp_path}/out is not writable by nobody, the [daemon] user" in checked.stdout
        ran = deadbeat(tmp_path, "run", "--once", name)
        assert ran.returncode == 1 and "Permission denied" in ran.stderr
        (tmp_path / "in.txt").chmod(0o644)
        (tmp_path / "out").chmod(0o777)
        try:
            assert deadbeat(tmp_path, "check", "--once", name).stdout == "pipeline.toml: ok\n"
        finally:
            shutil.rmtree(tmp_path, ignore_errors=True)


class TestShapesThatDoNothing:
    def test_a_filter_on_lines_of_text_is_said(self, tmp_path: Path) -> None:
        """Without a parser the filter's fields are always missing: every datum dropped, exit 0, check said ok."""
        (tmp_path / "in.txt").write_text('{"action": "login"}\n')
        body = READ_TO_FILE.replace(
            '[[cog]]\nuse = "fs.write"',
            '[[cog]]\nuse = "flow.filter"\nexpression = \'action == "login"\'\n\n[[cog]]\nuse = "fs.write"',
        )
        checked = deadbeat(tmp_path, "check", "--once", pipeline(tmp_path, body))
        assert checked.returncode == 0
        assert "cog[1] (flow.filter): given lines of text from cog[0] (fs.read), with no parser before it" in (
            checked.stdout
        )
        parsed = body.replace(
            '[[cog]]\nuse = "flow.filter"', '[[cog]]\nuse = "text.json_parse"\n\n[[cog]]\nuse = "flow.filter"'
        )
        checked = deadbeat(tmp_path, "check", "--once", pipeline(tmp_path, parsed, "parsed.toml"))
        assert "no parser before it" not in checked.stdout

    def test_a_pipeline_without_a_supply_is_said(self, tmp_path: Path) -> None:
        """It ends at once with status 0: under systemd, a service that stops by itself."""
        body = '[[cog]]\nuse = "text.json_parse"\n\n[[cog]]\nuse = "fs.write"\nfilename = "out.txt"\n'
        checked = deadbeat(tmp_path, "check", pipeline(tmp_path, body))
        assert checked.returncode == 0
        assert "pipeline.toml: no supply (fs.tail, fs.read, socket.listen, ...): nothing comes in" in checked.stdout


def test_check_says_no_syslog_listens_as_run_does(tmp_path: Path) -> None:
    """[log] syslog with a socket no syslog daemon listens on: run refused to start, check said ok."""
    (tmp_path / "in.log").write_text("a\n")
    name = pipeline(
        tmp_path,
        f"""
        [log]
        syslog = true
        syslog_address = "{tmp_path / "no-syslog.sock"}"

        [[cog]]
        use = "fs.read"
        filenames = ["in.log"]

        [[cog]]
        use = "fs.write"
        filename = "out.log"
        """,
    )
    checked = deadbeat(tmp_path, "check", name)
    assert checked.returncode == 1
    said = f"[log]: syslog_address: {tmp_path / 'no-syslog.sock'}: cannot send to syslog there"
    assert said in checked.stdout
    ran = deadbeat(tmp_path, "run", "--once", name)
    assert ran.returncode == 1 and said in ran.stderr
