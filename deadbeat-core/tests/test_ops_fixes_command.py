"""Operability fixes of the ``deadbeat`` command line: standard output that cannot be written, ``--stats``."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat.command._common import write_all


def deadbeat(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deadbeat.command", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")


class TestStandardOutputFull:
    """``> /dev/full``: a traceback ending in ``OSError: [Errno 28]`` before; now one line and exit 1."""

    @needs_dev_full
    @pytest.mark.parametrize(
        "command",
        [["--version"], ["cogs", "--json"], ["cogs"], ["cogs", "--check"], ["cogs", "show", "fs.write"]],
        ids=" ".join,
    )
    def test_one_line_and_exit_1(self, command: list[str]) -> None:
        with open("/dev/full", "w") as full:
            result = subprocess.run(
                [sys.executable, "-m", "deadbeat.command", *command],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
        assert result.returncode == 1
        assert result.stderr == "deadbeat: cannot write to standard output: No space left on device\n"

    @needs_dev_full
    def test_the_explanation_of_a_run(self, tmp_path: Path) -> None:
        (tmp_path / "p.toml").write_text('[[cog]]\nuse = "fs.read"\nfilenames = ["in.txt"]\n')
        with open("/dev/full", "w") as full:
            result = subprocess.run(
                [sys.executable, "-m", "deadbeat.command", "run", "--explain", "p.toml"],
                cwd=tmp_path,
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
        assert result.returncode == 1
        assert result.stderr == "deadbeat: cannot write to standard output: No space left on device\n"

    def test_write_all_ends_the_command_on_any_write_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        class Full(io.StringIO):
            def write(self, text: str) -> int:
                raise OSError(errno.EIO, os.strerror(errno.EIO))

        with pytest.raises(SystemExit) as ended:
            write_all(Full(), "text\n")
        assert ended.value.code == 1
        assert capsys.readouterr().err == "deadbeat: cannot write to the output: Input/output error\n"

    def test_a_reader_gone_is_still_no_error(self) -> None:
        """``| head -1`` keeps exit 0 and a quiet standard error."""
        command = f"{sys.executable} -m deadbeat.command --version | head -c1"
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60)
        assert result.stdout == "d"
        assert result.returncode == 0 and result.stderr == ""


TAIL = """
[[cog]]
use = "fs.tail"
filenames = ["in.txt"]

[[cog]]
use = "fs.write"
filename = "out.txt"
"""


class TestStatsInterval:
    @pytest.mark.parametrize("seconds", ["0", "-5", "0.0", "nan", "inf"])
    def test_refused_like_workers_0(self, tmp_path: Path, seconds: str) -> None:
        """``--stats 0`` logged a stats line at every turn of the loop, at full CPU; it is a usage error now."""
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "p.toml").write_text(TAIL)
        result = deadbeat("run", "p.toml", "--stats", seconds, cwd=tmp_path)
        assert result.returncode == 2
        assert f"argument --stats: a number of seconds more than 0, not {seconds}" in result.stderr
        assert not (tmp_path / "out.txt").exists()

    def test_workers_0_is_refused_the_same_way(self, tmp_path: Path) -> None:
        (tmp_path / "p.toml").write_text(TAIL)
        result = deadbeat("run", "p.toml", "--workers", "0", cwd=tmp_path)
        assert result.returncode == 2 and "argument --workers: at least 1 worker, not 0" in result.stderr

    def test_a_short_interval_still_works(self, tmp_path: Path) -> None:
        (tmp_path / "in.txt").write_text("one\n")
        (tmp_path / "p.toml").write_text(TAIL.replace("fs.tail", "fs.read"))
        result = deadbeat("run", "--once", "p.toml", "--stats", "0.05", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "out.txt").read_text() == "one\n"


COG = '''
from deadbeat import movement

class Shout(movement.Cog):
    """Append an exclamation mark."""

    def __call__(self, data):
        return (data + "!",)
'''
NEEDY = COG + (
    "\n    @staticmethod\n"
    "    def missing_requirements(params):\n"
    "        return ['needy.call needs pyfoo, which is not installed; install it with:"
    " pip install \\'deadbeat-needy[foo]\\'']\n"
)

# Only its default setting needs the library (as text.grok's engine "guarded" needs RE2, and "re" does not):
# missing_library() then names the cog with the setting. It stays usable; the note says what the default lacks.
PICKY = COG + (
    "\n    @staticmethod\n"
    "    def missing_requirements(params):\n"
    "        if params.get('engine', 'fast') != 'fast':\n"
    "            return []\n"
    "        return ['picky.call engine \\'fast\\' needs pyfast, which is not installed; install it with: pip install"
    " \\'deadbeat-picky[fast]\\'']\n"
)


class TestCogsCheckCountsCogsThatLackALibrary:
    """A cog that loads but lacks its library (dns.* without pycares, stream.redis without redis) was listed
    "loaded" with a needs-note, left out of "N cog(s) cannot be used", and ``--strict`` exited 0 for it."""

    @pytest.fixture
    def site(self, make_dist: Callable[..., Path]) -> Path:
        make_dist("deadbeat-needy", {"needy.call": "needy_mod:Shout"}, "needy_mod", NEEDY)
        make_dist("deadbeat-fine", {"fine.call": "fine_mod:Shout"}, "fine_mod", COG)
        make_dist("deadbeat-picky", {"picky.call": "picky_mod:Shout"}, "picky_mod", PICKY)
        return make_dist(
            "deadbeat-fancy",
            {"fancy.call": "fancy_mod:Shout [fancy]"},
            "fancy_mod",
            COG,
            requires=("deadbeat-core", 'fancylib-not-here>=1; extra == "fancy"'),
        )

    def cogs(self, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, "PYTHONPATH": str(site)}
        environ.pop("DEADBEAT_STRICT", None)
        environ.pop("DEADBEAT_ALLOW", None)
        return deadbeat("cogs", *args, env=environ)

    def test_counted_by_check(self, site: Path) -> None:
        before = deadbeat("cogs", "--check")
        result = self.cogs(site, "--check")
        assert result.returncode == 0, result.stderr
        rows = {
            line.split()[0]: line
            for line in result.stdout.splitlines()
            if line.startswith(("needy", "fine", "fancy", "picky"))
        }
        assert " loaded " in rows["needy.call"] and "needs pyfoo" in rows["needy.call"]
        assert " loaded " in rows["fancy.call"] and "pip install 'deadbeat-fancy[fancy]'" in rows["fancy.call"]
        assert " loaded " in rows["fine.call"]
        assert " loaded " in rows["picky.call"] and "engine 'fast' needs pyfast" in rows["picky.call"]
        counted = re.compile(r"^(\d+) cog\(s\) cannot be used; the others work\.$", re.MULTILINE)
        found_before = counted.search(before.stdout)
        baseline = int(found_before.group(1)) if found_before else 0
        assert int(counted.search(result.stdout).group(1)) == baseline + 2  # type: ignore[union-attr]

    def test_strict_fails_naming_each(self, site: Path) -> None:
        result = self.cogs(
            site, "--strict", "--allow", "needy.*", "--allow", "fine.*", "--allow", "fancy.*", "--allow", "picky.*"
        )
        assert result.returncode == 1
        assert (
            "deadbeat: cog 'needy.call' from deadbeat-needy 1.0 cannot be used here: needy.call needs pyfoo, which is"
            " not installed; install it with: pip install 'deadbeat-needy[foo]'\n" in result.stderr
        )
        assert (
            "deadbeat: cog 'fancy.call' from deadbeat-fancy 1.0 cannot be used here: the extra its entry point names"
            " is not installed: pip install 'deadbeat-fancy[fancy]'\n" in result.stderr
        )
        assert "fine.call" not in result.stderr and "picky.call" not in result.stderr
        assert "Traceback" not in result.stderr

    def test_json_says_why(self, site: Path) -> None:
        result = self.cogs(site, "--check", "--json", "--allow", "needy.*", "--allow", "fine.*")
        listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
        assert listed["needy.call"]["status"] == "loaded"
        assert listed["needy.call"]["error"].startswith("needy.call needs pyfoo")
        assert listed["fine.call"]["error"] is None

    def test_a_cog_that_has_what_it_needs_is_no_failure(self, site: Path) -> None:
        """(Cogs outside the allow-list are no failure, whatever the table counts.)"""
        result = self.cogs(site, "--strict", "--allow", "fine.*", "--allow", "picky.*")
        assert result.returncode == 0, result.stderr
        assert self.cogs(site, "--strict", "--allow", "needy.*").returncode == 1
