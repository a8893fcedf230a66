"""``Escapement.inotify_rm(path)`` removes the watch however the path is spelled.

A watch added as ``"wdir"`` stayed after ``inotify_rm("/abs/wdir")`` or
``inotify_rm("wdir/")``, without a word, and kept a ``--once`` application alive.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deadbeat import movement


class Watcher(movement.Cog):
    def changed(self, event: object) -> None:
        pass

    def __call__(self, datum: object) -> tuple[object, ...]:
        return (datum,)


@pytest.mark.parametrize("poll", [False, True])
@pytest.mark.parametrize("spelling", ["absolute", "slash", "dotted", "link", "same"])
def test_the_watch_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str, poll: bool) -> None:
    (tmp_path / "wdir").mkdir()
    os.symlink(tmp_path / "wdir", tmp_path / "alias")
    monkeypatch.chdir(tmp_path)
    other = {
        "absolute": str(tmp_path / "wdir"),
        "slash": "wdir/",
        "dotted": "./wdir",
        "link": "alias",
        "same": "wdir",
    }[spelling]
    esc = movement.Escapement()
    try:
        watcher = Watcher()
        if poll:
            esc._inotify = None  # the polling fallback, as where inotify is missing
            esc.inotify_add("wdir", movement.IN_CREATE, watcher.changed, poll_interval=0.5)
        else:
            esc.inotify_add("wdir", movement.IN_CREATE, watcher.changed)
        assert esc.bindings_of(watcher)
        esc.inotify_rm(other)
        assert esc.bindings_of(watcher) == []
    finally:
        esc.close()


def test_another_directory_keeps_its_watch(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    esc = movement.Escapement()
    try:
        watcher = Watcher()
        esc.inotify_add(str(tmp_path / "a"), movement.IN_CREATE, watcher.changed)
        esc.inotify_rm(str(tmp_path / "b"))
        esc.inotify_rm(str(tmp_path / "missing"))
        assert len(esc.bindings_of(watcher)) == 1
    finally:
        esc.close()
