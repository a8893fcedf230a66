"""fs.tail's own figures for /metrics and --stats: files open, what is not read yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deadbeat import fs, metrics, movement
from deadbeat.testing import Collector


def test_files_open_and_bytes_not_read_yet(tmp_path: Path) -> None:
    """Two followed files; bytes appended and not read yet are the lag; the metrics snapshot carries them."""
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text("one\ntwo\n")
    second.write_text("three\n")
    esc = movement.Escapement()
    collector = Collector()
    supply = fs.FileWatcherSupply(esc, [str(tmp_path / "*.log")])
    train = movement.Train(esc, [supply, collector])
    seen: dict[str, Any] = {}

    def look() -> None:
        seen["read"] = supply.metrics()
        with first.open("a") as file:
            file.write("four\n")  # the loop has not run since: not read yet
        seen["behind"] = supply.metrics()
        seen["snapshot"] = metrics.snapshot([train])
        esc.shutdown()

    def when_read() -> None:
        if len(collector.data) == 3 and "read" not in seen:
            esc.after(0.05, look)

    esc.every(0.01, when_read, keeps_alive=False)
    esc.after(30, esc.shutdown, keeps_alive=False)
    try:
        esc.run()
    finally:
        esc.close()
    assert seen["read"]["files_open"] == 2 and seen["read"]["lag_bytes"] == 0
    assert seen["behind"]["lag_bytes"] == len("four\n")
    assert seen["behind"]["files_known"] == 2 and seen["behind"]["deleted_files_held"] == 0
    (tail,) = [cog for cog in seen["snapshot"].trains[0].cogs if cog.position == 0]
    assert tail.gauges["files_open"] == 2 and tail.gauges["lag_bytes"] == len("four\n")
