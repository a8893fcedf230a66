"""The manual's plain function cog is a cog to the kit and to ``cogs show``, as it is to ``deadbeat run``.

``def pinion(data): return (data,)`` registered as a cog runs in a pipeline as
it is. The cog author's kit tried to build it by calling it with no datum
(``TypeError``, seven of its ten checks failed) and asked for a ``:param:`` line
for ``data``; ``deadbeat cogs show`` listed ``data`` as a required setting and
its pipeline insert said to fill it in, which a pipeline then refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from deadbeat import movement, testing

MakeDist = Callable[..., Path]

PLAIN = '''
def pinion(data):
    """Pass data on, marked: the manual's function cog."""
    data["seen"] = True
    return (data,)
'''

KIT = textwrap.dedent(
    """
    from deadbeat.testing import CogConformance


    class TestPinion(CogConformance):
        cog_name = "mc.pinion"
        samples = [{"id": "a"}, {"id": "b"}]
    """
)


def _plain(make_dist: MakeDist) -> Path:
    return make_dist("deadbeat-manualcogs", {"mc.pinion": "deadbeat_manualcogs:pinion"}, "deadbeat_manualcogs", PLAIN)


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site)}


def test_build_cog_gives_the_function_itself() -> None:
    def pinion(data: dict[str, object]) -> tuple[dict[str, object]]:
        return (data,)

    esc = movement.Escapement()
    try:
        assert testing.build_cog(pinion, movement.Train(esc), {}) is pinion
    finally:
        esc.close()


def test_the_kit_passes_it(make_dist: MakeDist, tmp_path: Path) -> None:
    site = _plain(make_dist)
    (tmp_path / "test_kit.py").write_text(KIT)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test_kit.py"],
        capture_output=True,
        text=True,
        env=_env(site),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_cogs_show_offers_no_setting_for_the_datum(make_dist: MakeDist, tmp_path: Path) -> None:
    site = _plain(make_dist)
    done = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "cogs", "show", "mc.pinion"],
        capture_output=True,
        text=True,
        env=_env(site),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "data" not in done.stdout.replace("Pass data on", "")
    insert = done.stdout.split("Pipeline insert:\n", 1)[1].strip()
    assert insert == '[[cog]]\nuse = "mc.pinion"'
    # And the insert, as it is, is a pipeline that runs.
    (tmp_path / "in.jsonl").write_text('{"id": 1}\n')
    (tmp_path / "p.toml").write_text(
        f'[[cog]]\nuse = "fs.read"\nfilenames = "{tmp_path}/in.jsonl"\n[[cog]]\nuse = "text.json_parse"\n'
        f'{insert}\n[[cog]]\nuse = "text.json_format"\n[[cog]]\nuse = "fs.write"\nfilename = "{tmp_path}/out.jsonl"\n'
    )
    ran = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", "--once", str(tmp_path / "p.toml")],
        capture_output=True,
        text=True,
        env=_env(site),
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    assert '"seen":true' in (tmp_path / "out.jsonl").read_text().replace(" ", "")
