"""The attacks of the issue 19 audit, performed for real against the deadbeat command with every cog installed.

The attacker is uid 65534 (nobody), a forked child that plants links, files
and modules where such an account can write: a directory of mode 1777 in an
arena under /tmp that it can reach (pytest's own directories are private).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attacker is another user: needs root to become one")


def deadbeat(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def as_attacker(action: Callable[[], None]) -> None:
    """Run ``action`` in a forked child as uid/gid 65534."""
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


@pytest.fixture
def arena() -> Iterator[Path]:
    place = Path(tempfile.mkdtemp(prefix="deadbeat-attack-"))
    place.chmod(0o755)
    (place / "shared").mkdir()
    (place / "shared").chmod(0o1777)
    victim = place / "victimdir"
    victim.mkdir(mode=0o700)
    for name in ("state.json", "d.pid", "d.log"):
        (victim / name).write_text("precious\n")
    (place / "in.log").write_text("hello\n")
    try:
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)


def untouched(arena: Path) -> None:
    victim = arena / "victimdir"
    assert sorted(p.name for p in victim.iterdir()) == ["d.log", "d.pid", "state.json"]
    for path in victim.iterdir():
        assert path.read_text() == "precious\n", path


def pipeline(arena: Path, body: str) -> Path:
    path = arena / "p.toml"
    path.write_text(textwrap.dedent(body))
    return path


class TestFilesThroughPlantedLinks:
    def test_the_tailers_state_file_below_a_planted_link(self, arena: Path) -> None:
        """state_file = "shared/deadbeat/state.json", shared/deadbeat -> victimdir: root's state.json was replaced."""
        as_attacker(lambda: os.symlink(arena / "victimdir", arena / "shared" / "deadbeat"))
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.tail"
            filenames = ["in.log"]
            state_file = "shared/deadbeat/state.json"
            [[cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1
        assert "shared/deadbeat: a symbolic link in a directory writable by others" in result.stderr
        untouched(arena)  # not replaced, nothing renamed to state.json.corrupt-...
        check = deadbeat("check", "p.toml", cwd=arena)
        assert check.returncode == 1 and "state_file: " in check.stdout and "a symbolic link" in check.stdout

    def test_a_state_file_that_is_itself_a_link(self, arena: Path) -> None:
        """A state file in a private directory that is itself a link: run refuses it, and check says so too."""
        (arena / "st").mkdir(mode=0o700)
        os.symlink(arena / "victimdir" / "state.json", arena / "st" / "state.json")
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.tail"
            filenames = ["in.log"]
            state_file = "st/state.json"
            [[cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        check = deadbeat("check", "p.toml", cwd=arena)
        assert check.returncode == 1, check.stdout
        assert "cog[0] (fs.tail): state_file: " in check.stdout and "is a symbolic link; not followed" in check.stdout
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1 and "is a symbolic link; not followed" in result.stderr
        untouched(arena)

    def test_the_pid_file_below_a_planted_link(self, arena: Path) -> None:
        """[daemon] pid_file = "shared/rundir/d.pid", rundir -> victimdir: d.pid was truncated, rewritten, deleted."""
        as_attacker(lambda: os.symlink(arena / "victimdir", arena / "shared" / "rundir"))
        pipeline(
            arena,
            """
            [daemon]
            pid_file = "shared/rundir/d.pid"
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]
            [[cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1
        assert "daemon: " in result.stderr and "shared/rundir: a symbolic link" in result.stderr
        assert not (arena / "out.log").exists()
        untouched(arena)

    def test_the_log_file_through_a_planted_link(self, arena: Path) -> None:
        """[log] file = "shared/d.log", a link to root's file planted there: lines were appended to it."""
        as_attacker(lambda: os.symlink(arena / "victimdir" / "d.log", arena / "shared" / "d.log"))
        pipeline(
            arena,
            """
            [log]
            file = "shared/d.log"
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]
            [[cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1
        assert "p.toml: [log]: file: " in result.stderr and "shared/d.log: is a symbolic link" in result.stderr
        untouched(arena)

    def test_a_log_file_the_attacker_made_beforehand(self, arena: Path) -> None:
        """A d.log of uid 65534's in the shared directory: not used (it could read or swap what is logged)."""
        as_attacker(lambda: (arena / "shared" / "d.log").write_text(""))
        pipeline(
            arena,
            """
            [log]
            file = "shared/d.log"
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]
            [[cog]]
            use = "fs.write"
            filename = "out.log"
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1 and "owned by another user (uid 65534)" in result.stderr
        assert (arena / "shared" / "d.log").read_text() == ""


class TestDroppingPrivileges:
    @pytest.mark.parametrize("detach", [True, False], ids=["detached", "foreground"])
    def test_the_run_goes_on_as_the_user_it_was_told(self, arena: Path, detach: bool) -> None:
        """[daemon] user = "nobody": the pid file is taken as root, then every id of the process is nobody's (no
        supplementary group of root's kept), what it writes is nobody's, and it still reads, writes and stops on
        SIGTERM. Detached, the command returns once the daemon holds its pid file."""
        (arena / "run").mkdir()
        out = arena / "out"
        out.mkdir()
        os.chown(out, NOBODY, NOBODY)
        (arena / "in.log").chmod(0o644)
        pipeline(
            arena,
            f"""
            [daemon]
            detach = {"true" if detach else "false"}
            pid_file = "run/d.pid"
            user = "nobody"

            [log]
            file = "out/d.log"

            [[cog]]
            use = "fs.tail"
            filenames = ["in.log"]

            [[cog]]
            use = "fs.write"
            filename = "out/out.log"
            """,
        )
        command = [sys.executable, "-m", "deadbeat.command", "run", "p.toml"]
        process = subprocess.Popen(command, cwd=arena, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if detach:
                _, stderr = process.communicate(timeout=60)
                assert process.returncode == 0, stderr
            pid_file = arena / "run" / "d.pid"
            assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
            pid = int(pid_file.read_text())
            assert pid_file.stat().st_uid == 0  # taken before the change
            status = dict(
                line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
            )
            assert status["Uid"].split() == [str(NOBODY)] * 4
            assert status["Gid"].split() == [str(NOBODY)] * 4
            assert status["Groups"].split() == [str(NOBODY)]
            with open(arena / "in.log", "a") as handle:
                handle.write("after the change\n")
            assert wait_until(
                lambda: (out / "out.log").exists() and "after the change" in (out / "out.log").read_text()
            )
            assert (out / "out.log").read_text() == "hello\nafter the change\n"
            assert (out / "out.log").stat().st_uid == NOBODY
            os.kill(pid, signal.SIGTERM)
            if detach:  # not our child: gone from /proc once it has ended
                assert wait_until(lambda: not Path(f"/proc/{pid}").exists())
            else:
                assert process.wait(timeout=30) == 0
            assert "finished: in 2, out 2, errors 0" in (out / "d.log").read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class TestSpoolDirectoryThroughAPlantedLink:
    def test_check_and_run_refuse_it(self, arena: Path) -> None:
        """shared/out -> root's private directory, planted by the attacker: check fails, as the run does."""
        as_attacker(lambda: os.symlink(arena / "victimdir", arena / "shared" / "out"))
        pipeline(
            arena,
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]
            [[cog]]
            use = "fs.spool_write"
            directory = "{arena / "shared" / "out"}"
            """,
        )
        checked = deadbeat("check", "p.toml", cwd=arena)
        assert checked.returncode == 1
        assert "cog[1] (fs.spool_write): directory: " in checked.stdout
        assert "a symbolic link in a directory writable by others" in checked.stdout
        ran = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert ran.returncode == 1
        untouched(arena)


class TestCodeFromBesideThePipeline:
    def test_a_module_planted_in_a_shared_package_directory_never_runs(self, arena: Path) -> None:
        """pkg/cogs.py, and pkg/cogs/__init__.py planted by uid 65534 in a 1777 pkg/: it ran as root before."""
        app = arena / "app"
        (app / "pkg").mkdir(parents=True)
        (app / "pkg" / "__init__.py").write_text("")
        (app / "pkg" / "cogs.py").write_text("def tag(data):\n    return (data,)\n")
        (app / "pkg").chmod(0o1777)
        marker = arena / "planted-code-ran"

        def plant() -> None:
            (app / "pkg" / "cogs").mkdir()
            (app / "pkg" / "cogs" / "__init__.py").write_text(
                f"open({str(marker)!r}, 'w').write('ran as root')\ndef tag(data):\n    return (data,)\n"
            )

        as_attacker(plant)
        (app / "p.toml").write_text(f'[[cog]]\nuse = "fs.read"\nfilenames = ["{arena / "in.log"}"]\n'
                                    '[[cog]]\nuse = "pkg.cogs:tag"\n')  # fmt: skip
        result = deadbeat("run", "p.toml", "--once", cwd=app)
        assert result.returncode == 1
        assert "cog[1] (pkg.cogs:tag): cannot import: " in result.stderr and "writable by others" in result.stderr
        assert not marker.exists()

    def test_the_allow_list_does_not_reach_what_the_module_imported(self, arena: Path) -> None:
        """--allow 'mycogs:*' and use = "mycogs:os.system": os.system ran the pipeline's command as root."""
        app = arena / "app"
        app.mkdir()
        (app / "mycogs.py").write_text("import os\n\ndef tag(data):\n    return (data,)\n")
        marker = arena / "command-ran"
        (app / "p.toml").write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{arena / "in.log"}"]\n'
            f'[[cog]]\nuse = "mycogs:os.system"\ncommand = "touch {marker}"\n'
        )
        result = deadbeat("run", "p.toml", "--once", "--allow", "mycogs:*", "--allow", "fs.*", cwd=app)
        assert result.returncode == 1
        assert "p.toml: cog[1] (mycogs:os.system): use: 'os.system': os is the module os" in result.stderr
        assert not marker.exists()

    def test_a_pattern_for_installed_cogs_does_not_allow_a_library_function(self, arena: Path) -> None:
        """--allow 'http.*' (for the http cogs) and use = "http.server:test": it opened a web server while the
        pipeline was built, and the daemon ignored SIGTERM."""
        app = arena / "app"
        app.mkdir()
        (app / "p.toml").write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{arena / "in.log"}"]\n'
            '[[cog]]\nuse = "http.server:test"\nport = 18765\nbind = "127.0.0.1"\n'
        )
        result = deadbeat("run", "p.toml", "--once", "--allow", "http.*", "--allow", "fs.*", cwd=app)
        assert result.returncode != 0
        assert "cog[1] (http.server:test): not in the allow-list" in result.stderr
        assert "allows installed cogs only" in result.stderr and "--allow 'http.server:*'" in result.stderr
        assert "Serving HTTP" not in result.stdout + result.stderr


SECRETS = ("S3cretPassw0rd", "sekr1tt0ken", "0123456789abcdef0123", "00112233445566778899", "c2VjcmV0LWtl")


class TestSecretsInWhatIsShown:
    def test_explain_and_check_mask_what_logs_mask(self, arena: Path) -> None:
        """--explain printed key_env in full, a key pasted into key_file, an Authorization header, a URL's password."""
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]
            [[cog]]
            use = "ip.anonymise"
            key_env = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            fields = ["ip"]
            [[cog]]
            use = "ip.anonymise"
            key_file = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
            fields = ["ip"]
            [[cog]]
            use = "http.post"
            url = "http://admin:S3cretPassw0rd@example.com/x?token=abc"
            headers = {Authorization = "Bearer sekr1tt0ken"}
            [[cog]]
            use = "ip.anonymise"
            mode = "hash"
            key_env = "c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzIQ"
            fields = ["ip"]
            """,
        )
        explained = deadbeat("run", "p.toml", "--explain", cwd=arena)
        assert explained.returncode == 0, explained.stderr
        assert "ip.anonymise(key_env='***', fields=['ip'])" in explained.stdout
        assert "ip.anonymise(key_file='***', fields=['ip'])" in explained.stdout
        assert "http.post(url='http://admin:***@example.com/x?token=***', headers={'A" in explained.stdout
        checked = deadbeat("check", "p.toml", cwd=arena)
        output = explained.stdout + explained.stderr + checked.stdout + checked.stderr
        assert not [s for s in SECRETS if s in output], output
        assert "cog[1] (ip.anonymise): key_env: not the name of an environment variable; it looks like a key" in (
            checked.stdout
        )
        assert "cog[2] (ip.anonymise): key_file: names no file; it may be a key pasted in place of a path" in (
            checked.stdout
        )
        # An unpadded base64 key of letters and digits reads as a variable's name; the run does not show it either.
        assert "ip.anonymise(mode='hash', key_env='***', fields=['ip'])" in explained.stdout

    def test_a_secret_from_a_file_stays_out_of_error_records(self, arena: Path) -> None:
        """Error records leave the process through [[errors]]: the failing cog's name in them showed a ${file:}
        secret in clear (the log lines were masked, the record was not)."""
        (arena / "tok").write_text("S3CR3TTOKEN\n")
        (arena / "tok").chmod(0o600)
        (arena / "in.jsonl").write_text('{"user":"x"}\n')
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.jsonl"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "text.template"
            template = "${file:tok} $user $missing"
            [[cog]]
            use = "fs.write"
            filename = "out.txt"
            [[errors]]
            use = "text.json_format"
            [[errors]]
            use = "fs.write"
            filename = "errors.jsonl"
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 0, result.stderr
        written = (arena / "errors.jsonl").read_text()
        assert "TemplateFormat(template='*** $user $missing')" in written, written
        assert "S3CR3T" not in written + result.stderr

    def test_a_secret_from_a_file_is_masked_however_it_is_quoted(self, arena: Path) -> None:
        """${file:...} secrets with a backslash, a quote and a tab (a webhook's token in a URL path): shown by repr
        in --explain and in messages, they used to appear escaped, unmasked; check printed a path holding one."""
        (arena / "s0").write_text("T0PSECRET\\z'z\tq\n")
        (arena / "in.log").write_text("")
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.log", "/nonexistent/${file:s0}"]
            [[cog]]
            use = "http.post"
            url = "http://127.0.0.1:1/services/${file:s0}"
            """,
        )
        explained = deadbeat("run", "p.toml", "--explain", cwd=arena)
        checked = deadbeat("check", "p.toml", cwd=arena)
        ran = deadbeat("run", "p.toml", "--once", cwd=arena)
        output = "".join(r.stdout + r.stderr for r in (explained, checked, ran))
        assert "T0PSECRET" not in output, output
        assert "/nonexistent/***" in checked.stdout
        assert "services/***" in explained.stdout

    def test_check_warns_of_a_key_file_others_can_read(self, arena: Path) -> None:
        key = arena / "anon.key"
        key.write_text("0" * 64)
        key.chmod(0o644)
        pipeline(arena, f'[[cog]]\nuse = "ip.anonymise"\nkey_file = "{key}"\nfields = ["ip"]\n')
        checked = deadbeat("check", "p.toml", cwd=arena)
        assert f"key_file: {key} can be read or written by its group or others (mode 644); chmod 600 it" in (
            checked.stdout
        )
        key.chmod(0o600)
        assert "key_file" not in deadbeat("check", "p.toml", cwd=arena).stdout

    def test_check_says_what_run_refuses_about_keys_and_the_log_file(self, arena: Path) -> None:
        """A key file or [log] file another user owns, a key pasted into key_env: check exited 0 ("ok, 1 warning")
        where the run refused to start; now both fail, naming the key."""
        key = arena / "anon.key"
        key.write_text("0" * 64)
        key.chmod(0o600)
        os.chown(key, 65534, 65534)
        (arena / "d.log").write_text("")
        os.chown(arena / "d.log", 65534, 65534)
        (arena / "in.log").write_text('{"ip": "192.0.2.1"}\n')
        pipeline(
            arena,
            f"""
            [log]
            file = "d.log"
            [[cog]]
            use = "fs.read"
            filenames = ["in.log"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "ip.anonymise"
            mode = "cryptopan"
            key_file = "{key}"
            fields = ["ip"]
            [[cog]]
            use = "ip.anonymise"
            mode = "hash"
            key_env = "0123456789abcdef0123456789abcdef"
            fields = ["ip"]
            """,
        )
        checked = deadbeat("check", "p.toml", cwd=arena)
        assert checked.returncode == 1
        assert f"[log]: file: {arena / 'd.log'} is owned by another user (uid 65534)" in checked.stdout
        assert f"cog[2] (ip.anonymise): key_file: {key} is owned by another user (uid 65534)" in checked.stdout
        assert "cog[3] (ip.anonymise): key_env: not the name of an environment variable" in checked.stdout
        assert "0123456789abcdef" not in checked.stdout + checked.stderr
        ran = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert ran.returncode == 1
        os.chown(arena / "d.log", 0, 0)
        ran = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert ran.returncode == 1
        assert "owned by another user (uid 65534), who could change the key; not used" in ran.stderr

    def test_an_unset_variable_that_may_be_a_key_is_not_named(self, arena: Path) -> None:
        """key_env = a hash key of letters only (it reads as a variable's name): 'not set' without the name."""
        (arena / "in.log").write_text("")
        pipeline(
            arena,
            '[[cog]]\nuse = "fs.read"\nfilenames = ["in.log"]\n'
            '[[cog]]\nuse = "ip.anonymise"\nmode = "hash"\nkey_env = "QWERTYUIOPASDFGHJKLZXCVBNM"\nfields = ["ip"]\n',
        )
        ran = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert ran.returncode == 1
        assert "the environment variable key_env names (26 characters, not shown here" in ran.stderr
        assert "QWERTYUIOP" not in ran.stdout + ran.stderr


class TestAnErrorOutputThatFailsItself:
    def test_records_it_gave_up_on_are_in_the_log_and_the_summary_says_so(self, arena: Path) -> None:
        """[[errors]] fs.write to /dev/full: the failed records were nowhere, and the summary said they went there."""
        (arena / "in.jsonl").write_text('{"a": 1}\nnot json\n{"a": 2}\nbad too\n{"a": 3}\n')
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.jsonl"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            [[errors]]
            use = "text.json_format"
            [[errors]]
            use = "fs.write"
            filename = "/dev/full"
            retry_for = 1
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1
        assert [json.loads(line) for line in (arena / "out.jsonl").read_text().splitlines()] == [
            {"a": 1},
            {"a": 2},
            {"a": 3},
        ]
        letters = [line for line in result.stderr.splitlines() if "deadbeat.deadletter" in line]
        assert len(letters) == 2, result.stderr
        assert letters[0].endswith('in.jsonl:9: dead letter from JSONParse(): ValueError: invalid JSON: Expecting'
                                   ' value: line 1 column 1 (char 0) | "not json"')  # fmt: skip
        assert letters[1].endswith('| "bad too"')
        assert "went to the error output" not in result.stderr
        assert "2 failed data were not delivered: the error output failed on them" in result.stderr

    def test_an_output_refusing_every_record_fails_the_run_and_says_why(self, arena: Path) -> None:
        """[[errors]] straight into fs.write (records are mappings): each record in the log, the run fails, and why."""
        (arena / "in.jsonl").write_text('{"a": 1}\nnot json\nbad too\n')
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.jsonl"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            [[errors]]
            use = "fs.write"
            filename = "errors.jsonl"
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1, result.stderr
        assert (arena / "out.jsonl").read_text() == '{"a":1}\n'
        assert (arena / "errors.jsonl").read_text() == ""
        letters = [line for line in result.stderr.splitlines() if "deadbeat.deadletter" in line]
        assert len(letters) == 2, result.stderr
        assert all("no line to write: the dict has no 'line'" in line for line in letters)
        assert all("put text.json_format before fs.write" in line for line in letters)
        assert "2 failed data were not delivered" in result.stderr
        assert "p.toml failed: p.toml [[errors]]: " in result.stderr
        assert "failed on an error record (ValueError: no line to write" in result.stderr

    def test_an_output_that_rejects_what_it_gave_up_on_is_counted_in_the_summary(self, arena: Path) -> None:
        """An [[errors]] output handing back what it gave up on (esc.reject): in the log once, and not delivered."""
        (arena / "in.jsonl").write_text('{"a": 1}\nnot json\n')
        (arena / "givesup.py").write_text(
            textwrap.dedent(
                """
                from deadbeat import movement

                class GivesUp(movement.Cog):
                    def __init__(self, esc):
                        self.esc = movement.escapement_of(esc)
                        self.kept = []

                    def __call__(self, data):
                        self.kept.append(data)
                        self.esc.block(self)
                        self.esc.after(0.05, self.give_up)
                        return (data,)

                    def give_up(self):
                        for record in self.kept:
                            self.esc.reject(self, record, OSError(28, "No space left on device"))
                        self.kept.clear()
                        self.esc.unblock(self)
                        self.esc.fail(self, "gave up")
                """
            )
        )
        pipeline(
            arena,
            """
            [[cog]]
            use = "fs.read"
            filenames = ["in.jsonl"]
            [[cog]]
            use = "text.json_parse"
            [[cog]]
            use = "text.json_format"
            [[cog]]
            use = "fs.write"
            filename = "out.jsonl"
            [[errors]]
            use = "givesup:GivesUp"
            """,
        )
        result = deadbeat("run", "p.toml", "--once", cwd=arena)
        assert result.returncode == 1
        letters = [line for line in result.stderr.splitlines() if "deadbeat.deadletter" in line]
        assert len(letters) == 1 and "No space left on device" in letters[0] and "not json" in letters[0]
        assert "1 failed data were not delivered" in result.stderr
