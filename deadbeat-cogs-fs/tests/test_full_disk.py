"""A real full file system (a small tmpfs the test mounts): failed writes are held, retried, never acknowledged."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deadbeat import fs, movement

LINES = 20_000


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, mounted for the test (the tests run as root, in CI too)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int) -> Path:
    """Fill ``mount`` but for about ``leave`` bytes."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    os.close(fd)
    return filler


def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("".join(f"line {i:06d} {'x' * 20}\n" for i in range(LINES)))
    return path


def saved_offsets(state: Path) -> tuple[int, int]:
    """(input offset acknowledged, output offset recorded) in the state file."""
    sections = json.loads(state.read_text())["sections"]
    inputs = [f["offset"] for name, s in sections.items() if name.startswith("fs.tail") for f in s["files"].values()]
    outputs = [s["offset"] for name, s in sections.items() if name.startswith("fs.write")]
    return (inputs[0] if inputs else 0), (outputs[0] if outputs else 0)


def pipeline(tmp_path: Path, out: Path, retry_for: float) -> tuple[movement.Escapement, movement.Train]:
    esc = movement.Escapement()
    state = str(tmp_path / "state.json")
    supply = fs.FileWatcherSupply(
        esc, [str(tmp_path / "in.txt")], tail=False, state_file=state, state_interval=0.01, read_size=16384
    )
    drain = fs.LineFileDrain(esc, str(out), state_file=state, retry_for=retry_for)
    return esc, movement.Train(esc, [supply, drain])


class TestFullDisk:
    def test_writes_wait_for_space_and_nothing_is_acknowledged_meanwhile(
        self, tmp_path: Path, small_fs: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The disk fills up: the train holds and the state stays with the output; space comes back, all is written."""
        source = source_file(tmp_path)
        out = small_fs / "out.txt"
        filler = fill(small_fs, 100_000)
        esc, train = pipeline(tmp_path, out, retry_for=30)
        seen: list[tuple[int, int, int, bool]] = []

        def look() -> None:
            read, written = saved_offsets(tmp_path / "state.json")
            seen.append((read, written, out.stat().st_size, train.paused))

        esc.after(0.4, look)
        esc.after(0.5, filler.unlink)
        caplog.set_level(logging.INFO)
        esc.run()
        esc.close()
        read, written, size, paused = seen[0]
        assert paused, "the supply is paused while the disk is full"
        assert 0 < written <= size < source.stat().st_size
        assert read == written, "acknowledged input and written output describe the same moment"
        assert out.read_text() == source.read_text()
        assert saved_offsets(tmp_path / "state.json") == (source.stat().st_size, source.stat().st_size)
        assert "cannot write (No space left on device); holding the data and trying again" in caplog.text
        assert esc.failures == []

    def test_a_disk_that_stays_full_stops_the_run_and_a_restart_loses_nothing(
        self, tmp_path: Path, small_fs: Path
    ) -> None:
        """No space for long: the run stops, failed, acknowledged only as far as written; later, all is there once."""
        source = source_file(tmp_path)
        out = small_fs / "out.txt"
        filler = fill(small_fs, 100_000)
        esc, train = pipeline(tmp_path, out, retry_for=0.5)
        esc.run()
        esc.close()
        assert esc.failures and "cannot write (No space left on device) for 0.5 s; stopping" in esc.failures[0]
        read, written = saved_offsets(tmp_path / "state.json")
        assert 0 < read < source.stat().st_size
        assert out.read_bytes()[:written] == source.read_bytes()[:read]
        filler.unlink()
        esc, train = pipeline(tmp_path, out, retry_for=30)
        esc.run()
        esc.close()
        assert esc.failures == []
        assert out.read_text() == source.read_text()

    def test_without_a_state_file_no_line_is_left_torn(self, tmp_path: Path, small_fs: Path) -> None:
        """The disk fills in the middle of a line and stays full: that line is cut off, and the next run's
        lines are whole (before, its first line was glued onto the torn one)."""
        source = source_file(tmp_path)
        out = small_fs / "out.txt"
        filler = fill(small_fs, 100_003)  # not a multiple of a line's length: the cut falls inside a line

        def run() -> movement.Escapement:
            esc = movement.Escapement()
            supply = fs.FileWatcherSupply(esc, [str(source)], tail=False, read_size=16384)
            movement.Train(esc, [supply, fs.LineFileDrain(esc, str(out), retry_for=0.3)])
            esc.run()
            esc.close()
            return esc

        esc = run()
        assert any("could not be written" in failure for failure in esc.failures)
        first = out.read_bytes()
        assert first and first.endswith(b"\n")
        lines = first.decode().splitlines()
        assert lines == source.read_text().splitlines()[: len(lines)]
        filler.unlink()
        esc = run()
        assert esc.failures == []
        assert out.read_text().splitlines() == lines + source.read_text().splitlines()

    def test_a_file_that_ends_inside_a_line_gets_a_newline_first(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Someone else's text (or a crash) left the file without a final newline: our lines stay whole."""
        out = tmp_path / "out.txt"
        out.write_bytes(b"whole\ntorn")
        esc = movement.Escapement()
        train = movement.Train(esc, [fs.LineFileDrain(esc, str(out))])
        train.send(None, ["one", "two"])
        esc.shutdown()
        esc.run()
        esc.close()
        assert out.read_bytes() == b"whole\ntorn\none\ntwo\n"
        assert "does not end with a newline" in caplog.text

    def test_another_writer_in_the_middle_of_a_line_is_let_finish(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Workers appending to one file: a line another process is writing at our start is not taken as torn.

        Sixteen workers starting at once gave a false warning and a blank line.
        """
        out = tmp_path / "out.txt"
        out.write_bytes(b"whole\nhalf of ano")

        def finish_the_line() -> None:
            with out.open("ab") as stream:
                stream.write(b"ther line\n")

        finisher = threading.Timer(0.01, finish_the_line)
        finisher.start()
        try:
            esc = movement.Escapement()
            train = movement.Train(esc, [fs.LineFileDrain(esc, str(out))])
            train.send(None, ["one"])
            esc.shutdown()
            esc.run()
            esc.close()
        finally:
            finisher.join()
        assert out.read_bytes() == b"whole\nhalf of another line\none\n"
        assert "does not end with a newline" not in caplog.text


class TestReopenWhileFull:
    def test_a_sighup_while_the_disk_is_full_reopens_once_the_held_data_are_written(
        self, tmp_path: Path, small_fs: Path
    ) -> None:
        """logrotate's SIGHUP while writing is held: no checkpoint of bytes not acknowledged, nothing twice.

        Reopened at once, the file's size (a line written in part among it) was
        saved with older positions: a restart wrote those lines again.
        """
        source = source_file(tmp_path)
        out = small_fs / "out.txt"
        fill(small_fs, 100_000)
        esc, train = pipeline(tmp_path, out, retry_for=0.6)
        esc.after(0.3, os.kill, os.getpid(), signal.SIGHUP)
        esc.run()
        esc.close()
        assert esc.failures, "the disk stayed full: the run failed"
        read, written = saved_offsets(tmp_path / "state.json")
        assert out.read_bytes()[:written] == source.read_bytes()[:read]
        (small_fs / "filler").unlink()
        esc, train = pipeline(tmp_path, out, retry_for=30)
        esc.run()
        esc.close()
        assert esc.failures == []
        assert out.read_text() == source.read_text()

    def test_a_file_renamed_and_moved_away_while_held_loses_no_line(self, tmp_path: Path, small_fs: Path) -> None:
        """Renamed, SIGHUP, then moved to another disk (deleted here) while the disk is full: the rest goes to a
        new file, the line written in part whole again; the rotated copy ends with that part only."""
        source = source_file(tmp_path)
        out = small_fs / "out.txt"
        filler = fill(small_fs, 100_000)
        esc, train = pipeline(tmp_path, out, retry_for=30)
        rotated = tmp_path / "out.txt.1"

        def rotate() -> None:
            os.rename(out, small_fs / "out.txt.1")
            os.kill(os.getpid(), signal.SIGHUP)

        def move_away() -> None:
            subprocess.run(["mv", str(small_fs / "out.txt.1"), str(rotated)], check=True)
            filler.unlink()

        esc.after(0.3, rotate)
        esc.after(0.6, move_away)
        esc.run()
        esc.close()
        assert esc.failures == []
        copied = rotated.read_bytes()
        whole = copied[: copied.rfind(b"\n") + 1]
        assert source.read_bytes().startswith(whole)
        assert whole + out.read_bytes() == source.read_bytes()


class TestOutputDeleted:
    def test_a_deleted_output_is_made_again_and_a_deleted_directory_holds_the_data(self, tmp_path: Path) -> None:
        """rm of the output, then of its directory: never written to a deleted file and acknowledged; exit 1."""
        source = tmp_path / "in.txt"
        source.write_text("".join(f"first {i}\n" for i in range(100)))
        outdir = tmp_path / "out"
        outdir.mkdir()
        out = outdir / "out.txt"
        esc = movement.Escapement()
        state = str(tmp_path / "state.json")
        supply = fs.FileWatcherSupply(esc, [str(source)], tail=True, state_file=state, state_interval=0.01)
        drain = fs.LineFileDrain(esc, str(out), state_file=state, retry_for=0.5)
        train = movement.Train(esc, [supply, drain])
        seen: dict[str, str] = {}

        def delete_file() -> None:
            seen["before"] = out.read_text()
            out.unlink()
            with source.open("a") as handle:
                handle.write("".join(f"second {i}\n" for i in range(100)))

        def delete_directory() -> None:
            seen["remade"] = out.read_text()
            out.unlink()
            outdir.rmdir()
            with source.open("a") as handle:
                handle.write("".join(f"third {i}\n" for i in range(100)))

        esc.after(0.3, delete_file)
        esc.after(0.6, delete_directory)
        assert train.run() == 1
        esc.close()
        assert seen["before"] == "".join(f"first {i}\n" for i in range(100))
        assert seen["remade"] == "".join(f"second {i}\n" for i in range(100))
        assert any("cannot write" in failure and "does not exist" in failure for failure in esc.failures)
        read, _ = saved_offsets(tmp_path / "state.json")
        assert read == len("".join(f"first {i}\n" for i in range(100)) + "".join(f"second {i}\n" for i in range(100)))
