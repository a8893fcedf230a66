"""Installed metadata that is malformed, undecodable or hostile costs its own cogs, never every command.

One distribution's ``entry_points.txt`` with a malformed line in
``[deadbeat.cogs]``, or a non-UTF-8 ``entry_points.txt`` in any installed
package, stopped every deadbeat command (a run of ``fs.read`` to ``fs.write``
included) with a bare traceback. A plugin raising an exception whose
``__str__`` raises crashed ``cogs show``, ``check`` and ``run``. ``cogs
--check`` waited without limit for a plugin whose import hangs, and for any
process a plugin forked as it was imported. Two distributions without a name
were one "?", and only the first one's cogs were listed; a name a distribution
registers twice gave advice that could not choose; a manifest summary that is
not text was shown as ``None``.

Each test builds real throw-away distributions and runs ``python -m
deadbeat.command`` on them, as people do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deadbeat.plugins import CogLoadError, CogRegistry

GOOD = '''
from deadbeat import movement


class Good(movement.Cog):
    """A cog that imports fine."""

    def __call__(self, d):
        return (d,)
'''

# An exception whose __str__ itself raises: showing it runs the plugin's code.
BAD_STR = """
class E(Exception):
    def __str__(self):
        raise ValueError("no str")


raise E()
"""


class Site:
    """A directory for PYTHONPATH holding hand-written distributions, bytes exactly as given."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(exist_ok=True)

    def add(
        self,
        directory: str,
        entry_points: bytes,
        metadata: bytes | None = None,
        module: str | None = None,
        code: str = GOOD,
        manifest: object = None,
    ) -> None:
        """Write ``directory`` (a ``.dist-info``) with these files, and ``module`` beside it.

        :param directory: the ``.dist-info`` directory's name.
        :param entry_points: the whole entry_points.txt.
        :param metadata: the whole METADATA; by default one naming the directory's distribution (``dbx_b`` is dbx-b).
        :param module: the module to write, when one is wanted.
        :param code: its source.
        :param manifest: the ``deadbeat-cogs.json`` to write as JSON, when given.
        """
        info = self.path / directory
        info.mkdir()
        if metadata is None:
            name, _, version = directory.removesuffix(".dist-info").partition("-")
            metadata = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n".encode()
        (info / "METADATA").write_bytes(metadata)
        (info / "entry_points.txt").write_bytes(entry_points)
        if manifest is not None:
            (info / "deadbeat-cogs.json").write_text(json.dumps(manifest))
        if module:
            (self.path / f"{module}.py").write_text(code)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site")


def _deadbeat(
    site: Site, *args: str, prelude: str = "", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run deadbeat on ``site``; ``prelude`` is Python run first (to shorten a time limit)."""
    command = [sys.executable, "-m", "deadbeat.command", *args]
    if prelude:
        command = [
            sys.executable,
            "-c",
            f"import sys\n{prelude}\nfrom deadbeat.command import main\nsys.exit(main(sys.argv[1:]))",
            *args,
        ]
    full_env = {**os.environ, "PYTHONPATH": str(site.path), **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=timeout)


def _listed(site: Site, *args: str, **kwargs: object) -> dict[str, list[dict[str, object]]]:
    done = _deadbeat(site, "cogs", "--json", *args, **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    found: dict[str, list[dict[str, object]]] = {}
    for entry in json.loads(done.stdout):
        found.setdefault(entry["name"], []).append(entry)
    return found


def _first_party_pipeline(tmp_path: Path) -> tuple[Path, Path]:
    """:returns: a pipeline of first-party cogs only (fs.read to fs.write), and the file it writes."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.txt").write_text("a\n")
    out = work / "out.txt"
    pipeline = work / "p.toml"
    pipeline.write_text(
        f'[[cog]]\nuse = "fs.read"\nfilenames = [{str(work / "in.txt")!r}]\n\n'
        f'[[cog]]\nuse = "fs.write"\nfilename = {str(out)!r}\n'
    )
    return pipeline, out


def _assert_unaffected(site: Site, tmp_path: Path) -> None:
    """Every command still works for what does not use the bad distribution."""
    pipeline, out = _first_party_pipeline(tmp_path)
    for args in (("check", str(pipeline)), ("run", "--once", str(pipeline)), ("--version",)):
        done = _deadbeat(site, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
    assert out.read_text() == "a\n"


# Bug 1: a malformed [deadbeat.cogs] line.


@pytest.mark.parametrize(
    ("line", "name", "reason"),
    [
        ("noequalsline", "noequalsline", "line 3 of its entry_points.txt has no '='"),
        ("xb.bad = dbx_b:Good[", "xb.bad", "is not 'module:attribute [extras]'"),
        ("xb.bad = a:b:c", "xb.bad", "'a:b:c' (line 3 of entry_points.txt) is not 'module:attribute [extras]'"),
        ("xb.bad =", "xb.bad", "(line 3 of entry_points.txt) names no module:attribute"),
        ("= dbx_b:Good", "= dbx_b:Good", "line 3 of its entry_points.txt names no cog before its '='"),
    ],
)
def test_a_malformed_line_breaks_its_own_cog_only(
    site: Site, tmp_path: Path, line: str, name: str, reason: str
) -> None:
    site.add("dbx_b-1.0.dist-info", f"[deadbeat.cogs]\nxb.ok = dbx_b:Good\n{line}\n".encode(), module="dbx_b")
    listed = _listed(site)
    (bad,) = listed[name]
    assert bad["distribution"] == "dbx-b"
    assert bad["status"] == "broken"
    assert reason in str(bad["error"])
    # The other line of the same distribution, and everyone else's cogs, are as they were.
    assert [e["status"] for e in listed["xb.ok"]] == ["available"]
    assert [e["status"] for e in listed["fs.read"]] == ["available"]
    checked = _listed(site, "--check")
    assert [e["status"] for e in checked["xb.ok"]] == ["loaded"]
    assert [e["status"] for e in checked[name]] == ["broken"]
    _assert_unaffected(site, tmp_path)


def test_using_the_malformed_cog_names_its_distribution_and_line(site: Site, tmp_path: Path) -> None:
    site.add("dbx_b-1.0.dist-info", b"[deadbeat.cogs]\nxb.bad = a:b:c\n")
    done = _deadbeat(site, "cogs", "show", "xb.bad")
    assert done.returncode != 0
    assert "dbx-b" in done.stderr and "line 2 of entry_points.txt" in done.stderr
    assert "Traceback" not in done.stderr


# Bug 2: metadata that is not UTF-8.


def test_an_undecodable_entry_points_of_a_package_offering_no_cog_is_ignored(site: Site, tmp_path: Path) -> None:
    site.add("oldpkg-1.0.dist-info", b"[console_scripts]\n# auteur: Andr\xe9\noldpkg = oldpkg:main\n")
    # And a package built on the core whose METADATA is Latin-1 (deadbeat --version reads it).
    site.add(
        "oldtool-1.0.dist-info",
        b"[console_scripts]\noldtool = oldtool:main\n",
        metadata=b"Metadata-Version: 2.1\nName: oldtool\nVersion: 1.0\nAuthor: Andr\xe9\n"
        b"Requires-Dist: deadbeat-core\n",
    )
    listed = _listed(site)
    assert [e["status"] for e in listed["fs.read"]] == ["available"]
    assert not any(e["distribution"] in ("oldpkg", "oldtool") for es in listed.values() for e in es)
    _assert_unaffected(site, tmp_path)


def test_a_plugin_with_undecodable_metadata_is_broken_saying_why(site: Site, tmp_path: Path) -> None:
    site.add(
        "dbx_latin_ep-1.0.dist-info",
        b"[deadbeat.cogs]\n# auteur: Andr\xe9\nxl.ep = dbx_latin_ep:Good\n",
        module="dbx_latin_ep",
    )
    site.add(
        "dbx_latin_meta-1.0.dist-info",
        b"[deadbeat.cogs]\nxl.meta = dbx_latin_meta:Good\n",
        metadata=b"Metadata-Version: 2.1\nName: dbx-latin-meta\nVersion: 1.0\nAuthor: Andr\xe9\n",
        module="dbx_latin_meta",
    )
    listed = _listed(site)
    (ep,) = listed["xl.ep"]
    assert ep["status"] == "broken" and ep["distribution"] == "dbx-latin-ep"
    assert ep["error"] == "its entry_points.txt is not UTF-8 (byte 0xe9 at offset 30)"
    (meta,) = listed["xl.meta"]
    assert meta["status"] == "broken"
    # Its name is in the file that cannot be read: its directory tells it apart.
    assert meta["distribution"] == "dbx_latin_meta-1.0.dist-info"
    assert str(meta["error"]).startswith("its METADATA is not UTF-8 (byte 0xe9 at offset")
    checked = _listed(site, "--check")
    assert [e["status"] for e in checked["xl.ep"] + checked["xl.meta"]] == ["broken", "broken"]
    _assert_unaffected(site, tmp_path)


# Bug 3: an exception whose __str__ raises.


def test_an_exception_that_cannot_be_shown_breaks_only_its_cog(site: Site, tmp_path: Path) -> None:
    site.add("dbx_bs-1.0.dist-info", b"[deadbeat.cogs]\nbs.cog = dbx_bs:Good\n", module="dbx_bs", code=BAD_STR)
    done = _deadbeat(site, "cogs", "show", "bs.cog")
    assert done.returncode == 1
    assert "E (its message could not be shown)" in done.stderr
    # Its traceback follows (the "details"), but no second one of deadbeat's own failing to show it.
    assert "During handling" not in done.stderr and "ValueError: no str" not in done.stderr
    (entry,) = _listed(site, "--check")["bs.cog"]
    assert entry["status"] == "broken"
    assert entry["error"] == "E (its message could not be shown)"
    pipeline, _ = _first_party_pipeline(tmp_path)
    text = pipeline.read_text().replace('use = "fs.write"', 'use = "bs.cog"\n\n[[cog]]\nuse = "fs.write"')
    pipeline.write_text(text)
    for args in (("check", str(pipeline)), ("run", "--once", str(pipeline))):
        done = _deadbeat(site, *args)
        assert done.returncode == 1, (args, done.stderr)
        said = done.stdout + done.stderr
        assert "could not be shown" in said, (args, said)
        assert "During handling" not in said, (args, said)


def test_even_an_exception_that_defeats_traceback_is_described(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    # A __str__ raising SystemExit, and __notes__ raising it too: the traceback module copes with the first
    # (it prints "<exception str() failed>"), not with the second.
    code = """
class E(Exception):
    def __str__(self):
        raise SystemExit(3)

    @property
    def __notes__(self):
        raise SystemExit(4)


raise E()
"""
    site.add("dbx_bsx-1.0.dist-info", b"[deadbeat.cogs]\nbsx.cog = dbx_bsx_mod:Good\n", module="dbx_bsx_mod", code=code)
    monkeypatch.syspath_prepend(str(site.path))
    registry = CogRegistry(allow=["bsx.*"])
    try:
        with pytest.raises(CogLoadError) as caught:
            registry.load("bsx.cog")
    except SystemExit:
        pytest.fail("showing the plugin's exception ended the process")
    entry = caught.value.entry
    assert entry is not None
    assert entry.status == "broken"
    assert entry.problem == "E (its message could not be shown)"
    assert entry.details == "E (its message could not be shown) (its traceback could not be shown)\n"
    assert "could not be shown" in str(caught.value)


# Bug 4: a check that waits without limit.

HANGS = """
import os, time

with open(os.environ["DBX_PID_FILE"], "w") as handle:
    handle.write(str(os.getpid()))
time.sleep(90)
"""

FORKS = (
    """
import os, time

pid = os.fork()
if pid == 0:
    # A helper leaves the command's output alone (else whoever reads it waits too), not the report pipe.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    time.sleep(30)
    os._exit(0)
with open(os.environ["DBX_PID_FILE"], "w") as handle:
    handle.write(str(pid))
"""
    + GOOD
)


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """Where a test plugin writes the id of the process it leaves behind, ended after the test."""
    path = tmp_path / "plugin.pid"
    yield path
    if path.exists() and path.read_text():
        try:
            os.kill(int(path.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the check imports apart only where fork exists")
def test_a_cog_whose_import_hangs_is_broken_after_the_time_limit(site: Site, pid_file: Path) -> None:
    site.add(
        "dbx_aa_hang-1.0.dist-info", b"[deadbeat.cogs]\naa.hang = dbx_aa_hang:Good\n", module="dbx_aa_hang", code=HANGS
    )
    site.add("dbx_ab_fine-1.0.dist-info", b"[deadbeat.cogs]\nab.fine = dbx_ab_fine:Good\n", module="dbx_ab_fine")
    started = time.monotonic()
    listed = _listed(
        site,
        "--check",
        prelude="from deadbeat.plugins import _registry\n_registry.IMPORT_TIMEOUT = 2",
        env={"DBX_PID_FILE": str(pid_file)},
        timeout=100,
    )
    assert time.monotonic() - started < 60
    (hang,) = listed["aa.hang"]
    assert hang["status"] == "broken"
    assert hang["error"] == "its import did not end within 2 s"
    # A new child went on with the cogs after it.
    assert [e["status"] for e in listed["ab.fine"]] == ["loaded"]
    assert [e["status"] for e in listed["fs.read"]] == ["loaded"]
    assert not _alive(int(pid_file.read_text())), "the child stuck in the import was not killed"


def test_the_time_limit_is_a_minute_by_default() -> None:
    from deadbeat.plugins import _registry

    assert _registry.IMPORT_TIMEOUT == 60
    assert "60 s" in (CogRegistry.load_all.__doc__ or "")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the check imports apart only where fork exists")
def test_a_process_forked_at_import_does_not_hold_up_the_check(site: Site, pid_file: Path, tmp_path: Path) -> None:
    site.add("dbx_fork-1.0.dist-info", b"[deadbeat.cogs]\nxfork.cog = dbx_fork:Good\n", module="dbx_fork", code=FORKS)
    env = {**os.environ, "PYTHONPATH": str(site.path), "DBX_PID_FILE": str(pid_file)}
    # Into files, not pipes: this test asks when the check ends, not when every copy of its output is closed.
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "cogs", "--check", "--json"],
            stdout=out,
            stderr=err,
            env=env,
            timeout=100,
        )
        took = time.monotonic() - started
    assert done.returncode == 0, (tmp_path / "err").read_text()
    # The helper sleeps 30 s holding the report pipe; the check no longer waits for it.
    assert took < 20
    assert _alive(int(pid_file.read_text())), "the helper should still be running: the test proves nothing"
    listed = {e["name"]: e for e in json.loads((tmp_path / "out").read_text())}
    assert listed["xfork.cog"]["status"] == "loaded"
    assert listed["fs.read"]["status"] == "loaded"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the check imports apart only where fork exists")
def test_ctrl_c_interrupts_the_check_and_kills_its_child(site: Site, pid_file: Path) -> None:
    site.add(
        "dbx_aa_hang-1.0.dist-info", b"[deadbeat.cogs]\naa.hang = dbx_aa_hang:Good\n", module="dbx_aa_hang", code=HANGS
    )
    env = {**os.environ, "PYTHONPATH": str(site.path), "DBX_PID_FILE": str(pid_file)}
    check = subprocess.Popen(
        [sys.executable, "-m", "deadbeat.command", "cogs", "--check"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.read_text(), "the plugin's import never started"
        # Ctrl-C reaches the check (the child may be left out, as when it changed its own handling).
        check.send_signal(signal.SIGINT)
        _, err = check.communicate(timeout=30)
    finally:
        if check.poll() is None:
            check.kill()
            check.wait()
    assert check.returncode == 130, err
    assert not _alive(int(pid_file.read_text())), "the child importing the plugin outlived the interrupted check"


# Bug 5: listing.


def test_distributions_without_a_name_are_told_apart_and_all_listed(site: Site) -> None:
    for n in ("1", "2"):
        site.add(
            f"dbx_noname{n}-1.0.dist-info",
            f"[deadbeat.cogs]\nxnoname{n}.cog = dbx_noname{n}:Good\n".encode(),
            metadata=b"Metadata-Version: 2.1\nVersion: 1.0\n",
            module=f"dbx_noname{n}",
        )
    listed = _listed(site)
    for n in ("1", "2"):
        (entry,) = listed[f"xnoname{n}.cog"]
        assert entry["distribution"] == f"dbx_noname{n}-1.0.dist-info"
        assert entry["status"] == "broken"
        assert entry["error"] == "no Name in its metadata"
    done = _deadbeat(site, "--version")
    assert done.returncode == 0, done.stderr


def test_a_name_registered_twice_by_one_distribution_is_broken(site: Site) -> None:
    site.add(
        "dbx_two-1.0.dist-info",
        b"[deadbeat.cogs]\nxtwo.dup = dbx_two:Good\nxtwo.dup = dbx_two:Other\nxtwo.one = dbx_two:Good\n",
        module="dbx_two",
    )
    listed = _listed(site)
    assert len(listed["xtwo.dup"]) == 2
    for entry in listed["xtwo.dup"]:
        assert entry["status"] == "broken"
        assert entry["error"] == (
            "dbx-two registers 'xtwo.dup' twice ('dbx_two:Good', 'dbx_two:Other'): which one is meant cannot be"
            " told, even by its qualified name"
        )
        assert "write" not in str(entry["error"])
    assert [e["status"] for e in listed["xtwo.one"]] == ["available"]
    done = _deadbeat(site, "cogs", "show", "dbx-two/xtwo.dup")
    assert done.returncode != 0 and "registers 'xtwo.dup' twice" in done.stderr


@pytest.mark.parametrize("summary", [None, {"a": [1]}, 3, ["x"]])
def test_a_summary_that_is_not_text_is_no_summary(site: Site, summary: object) -> None:
    site.add(
        "dbx_sum-1.0.dist-info",
        b"[deadbeat.cogs]\nxsum.cog = dbx_sum:Good\n",
        module="dbx_sum",
        manifest={"format": 1, "cogs": {"xsum.cog": {"value": "dbx_sum:Good", "summary": summary}}},
    )
    (entry,) = _listed(site)["xsum.cog"]
    assert entry["summary"] == ""
    assert entry["status"] == "available"
    done = _deadbeat(site, "cogs")
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("xsum.cog")]
    assert "(no summary in the distribution's manifest" in row
    assert "None" not in row and "{" not in row
    # Once imported, the summary is the cog's own.
    (checked,) = _listed(site, "--check")["xsum.cog"]
    assert checked["summary"] == "A cog that imports fine."
