"""Tailing through every rotation pattern and through SIGKILL, on real files and processes.

A writer thread appends numbered lines at full speed, in pieces that cut lines in
the middle, and rotates the file while ``deadbeat run`` tails it into an output
file. Every line carries the number of the file it was written to (its
*generation*) and a global sequence number, so the check is exact: every line
appears once, and in order within its file.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat.testing import wait_for_handler

PAD = "x" * 60


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Pipeline:
    """`deadbeat run` tailing in/app.log into out.log, sharing one state file."""

    def __init__(self, root: Path, pattern: str = "app.log", level: str = "info") -> None:
        self.root = root
        self.input_dir = root / "in"
        self.input_dir.mkdir(exist_ok=True)
        self.output = root / "out.log"
        self.config = root / "pipeline.toml"
        self.stderr = root / "stderr.log"
        self.config.write_text(
            textwrap.dedent(
                f"""
                [log]
                level = "{level}"
                [[cog]]
                use = "fs.tail"
                filenames = ["{self.input_dir / pattern}"]
                state_file = "{root / "state.json"}"
                rotate_wait = 0.3
                state_interval = 0.05
                read_size = 4096
                [[cog]]
                use = "fs.write"
                filename = "{self.output}"
                state_file = "{root / "state.json"}"
                """
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.stderr, "ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "deadbeat.command", "run", str(self.config), "--quiet"], stderr=err
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        assert self.process is not None
        # A process still importing Python has no handler yet: SIGTERM would kill it outright.
        wait_for_handler(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.stderr.read_text()[-3000:]

    def lines(self) -> list[str]:
        if not self.output.exists():
            return []
        return self.output.read_text().splitlines()

    def count(self) -> int:
        if not self.output.exists():
            return 0
        with open(self.output, "rb") as handle:
            return handle.read().count(b"\n")


class Writer(threading.Thread):
    """Appends numbered lines in random-sized pieces and rotates every `per_file` lines."""

    def __init__(
        self,
        path: Path,
        total: int,
        per_file: int,
        rotate: Callable[[Writer], None],
        before_rotate: Callable[[Writer], None],
    ) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.per_file = per_file
        self.rotate_hook = rotate
        self.before_rotate = before_rotate
        self.generation = 0
        self.written = 0
        self.written_before_file = 0
        self.error: BaseException | None = None
        self.rng = random.Random(7)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def reopen(self) -> None:
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def run(self) -> None:
        try:
            pending = b""
            for seq in range(self.total):
                pending += f"g{self.generation} {seq:08d} {PAD}\n".encode()
                # Write in pieces that end anywhere, often inside a line.
                while len(pending) > 512:
                    size = self.rng.randint(1, 512)
                    os.write(self.fd, pending[:size])
                    pending = pending[size:]
                if (seq + 1) % self.per_file == 0 and seq + 1 < self.total:
                    os.write(self.fd, pending)
                    pending = b""
                    self.written = seq + 1
                    self.before_rotate(self)
                    self.rotate_hook(self)
                    self.generation += 1
                    self.written_before_file = seq + 1
            os.write(self.fd, pending)
            self.written = self.total
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def check_exactly_once(lines: list[str], total: int) -> None:
    """Every sequence number once; within each generation, in order."""
    by_generation: dict[str, list[int]] = {}
    for line in lines:
        generation, seq, pad = line.split(" ")
        assert pad == PAD, line
        by_generation.setdefault(generation, []).append(int(seq))
    for generation, seqs in by_generation.items():
        assert seqs == sorted(seqs), f"{generation} out of order"
    every = sorted(s for seqs in by_generation.values() for s in seqs)
    missing = sorted(set(range(total)) - set(every))
    assert not missing, f"{len(missing)} lines lost, first {missing[:5]}"
    assert len(every) == total, f"{len(every) - total} lines repeated"


def append_lines(path: Path, numbers: range, generation: str = "g0") -> None:
    """Append the numbered lines ``numbers`` of ``generation`` to ``path``, as a writer would."""
    with open(path, "a") as handle:
        handle.write("".join(f"{generation} {i:08d} {PAD}\n" for i in numbers))


def rename_create(writer: Writer) -> None:
    os.rename(writer.path, f"{writer.path}.{writer.generation}")
    writer.reopen()


def copytruncate(writer: Writer) -> None:
    shutil.copyfile(writer.path, f"{writer.path}.{writer.generation}")
    os.truncate(writer.path, 0)


def truncate_in_place(writer: Writer) -> None:
    os.truncate(writer.path, 0)


def delete_create(writer: Writer) -> None:
    os.unlink(writer.path)
    writer.reopen()


ROTATIONS = {
    "rename+create": rename_create,
    "copytruncate": copytruncate,
    "truncate": truncate_in_place,
    "delete": delete_create,
}


@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
@pytest.mark.parametrize("name", list(ROTATIONS))
def test_rotation_under_full_speed_writes(tmp_path: Path, name: str, pattern: str) -> None:
    """Each rotation pattern, with a full-speed writer: every line exactly once, in order per file.

    With the pattern ``app.log*`` the rotated files (and copytruncate's copies)
    match too: they must be recognised, not read a second time.
    """
    pipeline = Pipeline(tmp_path, pattern=pattern)
    total, per_file = 30_000, 6_000

    def before_rotate(writer: Writer) -> None:
        if name == "truncate":
            # Truncating in place destroys what was not read yet, for any reader:
            # wait until everything written so far is out.
            wait_for(lambda: pipeline.count() >= writer.written, what="tailer to catch up")
        else:
            # The tailer must have opened this file; it need not have read it all.
            wait_for(lambda: pipeline.count() > writer.written_before_file, what="tailer to open the file")

    writer = Writer(pipeline.input_dir / "app.log", total, per_file, ROTATIONS[name], before_rotate)
    pipeline.start()
    try:
        writer.start()
        writer.join(timeout=120)
        assert writer.error is None, writer.error
        wait_for(lambda: pipeline.count() >= total, what="all lines in the output")
        time.sleep(0.5)
    finally:
        pipeline.stop()
    check_exactly_once(pipeline.lines(), total)
    if name == "copytruncate":
        assert "truncated; finishing its copy" in pipeline.stderr.read_text()


@pytest.mark.parametrize("pattern", ["app.log*", "app.log"])
def test_sigkill_at_random_moments_then_restart(tmp_path: Path, pattern: str) -> None:
    """Killed with SIGKILL several times while a writer rotates: the output is still exact, whether the pattern
    matches the rotated names or not (files made and rotated away while it was down are found beside the known)."""
    pipeline = Pipeline(tmp_path, pattern=pattern)
    total, per_file = 60_000, 6_000
    rng = random.Random(11)
    writer = Writer(pipeline.input_dir / "app.log", total, per_file, rename_create, lambda w: time.sleep(0.4))
    pipeline.start()
    # Started before the first rotation: a first start reads what the pattern matches, and a
    # file rotated to app.log.0 before it ever ran is history to a tailer of app.log.
    time.sleep(1.5)
    writer.start()
    try:
        for _ in range(4):
            time.sleep(rng.uniform(0.6, 1.5))
            pipeline.kill()
            time.sleep(rng.uniform(0.0, 0.3))
            pipeline.start()
        writer.join(timeout=120)
        assert writer.error is None, writer.error
        wait_for(lambda: pipeline.count() >= total, what="all lines in the output")
        time.sleep(0.5)
    finally:
        pipeline.stop()
    check_exactly_once(pipeline.lines(), total)


def test_restart_after_sigterm_continues_where_it_stopped(tmp_path: Path) -> None:
    """Lines appended while stopped are read after the restart; none is read twice."""
    pipeline = Pipeline(tmp_path)
    path = pipeline.input_dir / "app.log"
    path.write_text("".join(f"g0 {i:08d} {PAD}\n" for i in range(100)))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100)
    pipeline.stop()
    with open(path, "a") as handle:
        handle.write("".join(f"g0 {i:08d} {PAD}\n" for i in range(100, 150)))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 150)
    time.sleep(0.3)
    pipeline.stop()
    check_exactly_once(pipeline.lines(), 150)


def test_inode_reuse_after_delete_is_a_new_file(tmp_path: Path) -> None:
    """A file deleted while stopped and replaced by one with the same inode is read from its start."""
    pipeline = Pipeline(tmp_path)
    path = pipeline.input_dir / "app.log"
    path.write_text("".join(f"g0 {i:08d} {PAD}\n" for i in range(50)))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 50)
    pipeline.stop()
    old_inode = path.stat().st_ino
    path.unlink()
    # Ask the file system for the freed inode: create files until one gets it.
    spare = []
    for attempt in range(2000):
        candidate = pipeline.input_dir / f".new{attempt}"
        candidate.write_text("".join(f"g1 {i:08d} {PAD}\n" for i in range(50, 60)))
        if candidate.stat().st_ino == old_inode:
            candidate.rename(path)
            break
        spare.append(candidate)
    for extra in spare:
        extra.unlink()
    assert path.stat().st_ino == old_inode, "the file system did not reuse the inode"
    pipeline.start()
    wait_for(lambda: pipeline.count() == 60)
    time.sleep(0.3)
    pipeline.stop()
    check_exactly_once(pipeline.lines(), 60)


def _take_inode(directory: Path, inode: int, tries: int = 2000) -> Path | None:
    """Create files in ``directory`` until one is given ``inode`` (freed a moment ago): that file, or ``None``."""
    made = []
    try:
        for attempt in range(tries):
            candidate = directory / f".new{attempt}"
            candidate.touch()
            if candidate.stat().st_ino == inode:
                return candidate
            made.append(candidate)
        return None
    finally:
        for extra in made:
            extra.unlink()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_an_inode_reused_while_stopped_by_a_file_starting_alike_is_a_new_file(tmp_path: Path, signum: int) -> None:
    """A log starting with a banner longer than the fingerprint (256 bytes) is deleted while stopped, and a new
    one starting with the same banner gets its inode number. Same inode, same first bytes: it was taken for
    ours and read from our offset on, its banner and first 100 lines lost. Its inode was born after ours:
    it is a new file, read from its start. Every line once."""
    from deadbeat.fs._identity import birth_time_at

    pipeline = Pipeline(tmp_path)
    path = pipeline.input_dir / "app.log"
    banner = "#" * 300
    path.write_text(banner + "\n" + "".join(f"old {i:08d} {PAD}\n" for i in range(100)))
    if birth_time_at(str(path)) is None:
        pytest.skip("the file system keeps no creation time (statx): the first bytes alone tell files apart")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 101, what="the first file")
    time.sleep(0.3)
    if signum == signal.SIGKILL:
        pipeline.kill()
    else:
        pipeline.stop()
    old_inode = path.stat().st_ino
    for _ in range(5):
        path.unlink()
        # Deleted and created at once in the same directory: ext4 and overlayfs hand the number out again.
        taken = _take_inode(pipeline.input_dir, old_inode)
        if taken is not None:
            break
        path.write_text(banner + "\n")  # another inode: free it again, and try once more
        old_inode = path.stat().st_ino
    else:
        pytest.skip("the file system never gave a deleted file's inode number to the next files made")
    with open(taken, "a") as handle:
        handle.write(banner + "\n" + "".join(f"new {i:08d} {PAD}\n" for i in range(500)))
    taken.rename(path)
    assert path.stat().st_ino == old_inode
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 602, timeout=20, what="every line")
    time.sleep(0.5)
    pipeline.stop()
    expected = [banner] + [f"old {i:08d} {PAD}" for i in range(100)]
    expected += [banner] + [f"new {i:08d} {PAD}" for i in range(500)]
    assert pipeline.lines() == expected


def test_a_compressed_file_resumed_after_a_restart_is_not_taken_for_a_new_one_at_the_next(tmp_path: Path) -> None:
    """A known file is rotated and compressed while stopped; the restart finds its copy, ``app.log.1.gz``, by
    its content and reads on in it, and is killed halfway. The copy's entry keeps the creation time of the
    file it was made of (its place in the lineage), not its own: told apart by that, it would be taken for a
    new file given a known inode number at the next restart, and read again. Every line once."""
    pipeline = Pipeline(tmp_path, pattern="app.log*")
    logs = pipeline.input_dir
    total = 200_000
    append_lines(logs / "app.log", range(0, 100), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100, what="the first lines")
    time.sleep(0.3)
    pipeline.stop()
    append_lines(logs / "app.log", range(100, total), "w")
    os.rename(logs / "app.log", logs / "app.log.1")
    _gzip_away(logs / "app.log.1", logs / "app.log.1.gz")
    append_lines(logs / "app.log", range(total, total + 10), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 20_000, what="a part of the compressed file")
    pipeline.kill()
    assert pipeline.count() < total, "read to its end before the kill: nothing left to resume"
    pipeline.start()
    wait_for(lambda: pipeline.count() >= total + 10, what="every line", timeout=60)
    time.sleep(0.3)
    pipeline.stop()
    seqs = [int(line.split(" ")[1]) for line in pipeline.lines()]
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} lines repeated"
    assert seqs == list(range(total + 10))


def test_a_copy_found_after_a_restart_is_not_taken_for_a_new_file_at_the_next(tmp_path: Path) -> None:
    """Pattern ``app.log*`` and copytruncate while stopped: the restart reads on in the copy (``app.log.1``),
    whose entry keeps the creation time of the file it was copied from, and stays in the state (the pattern
    matches it). At the next restart, that time told apart from the copy's own was taken for an inode
    number given to a new file, and the copy read again. Every line once."""
    pipeline = Pipeline(tmp_path, pattern="app.log*")
    logs = pipeline.input_dir
    append_lines(logs / "app.log", range(0, 100), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100, what="the first lines")
    time.sleep(0.3)
    pipeline.stop()
    append_lines(logs / "app.log", range(100, 110), "w")
    shutil.copyfile(logs / "app.log", logs / "app.log.1")
    os.truncate(logs / "app.log", 0)
    append_lines(logs / "app.log", range(110, 120), "w")
    for more in (range(120, 130), range(130, 140)):
        pipeline.start()
        wait_for(lambda before=more.start: pipeline.count() >= before, what="every line")
        time.sleep(0.5)
        pipeline.stop()
        append_lines(logs / "app.log", more, "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 140, what="every line")
    time.sleep(0.5)
    pipeline.stop()
    assert [int(line.split(" ")[1]) for line in pipeline.lines()] == list(range(140))


class FastWriter(threading.Thread):
    """One writer at full speed, no pacing, that reopens its file when the name points elsewhere.

    It looks every ``check_every`` lines, as a logging handler that watches its
    file does, so it goes on writing to a rotated file for a while: the lines of
    one writer are in order across the files only if the rotated file is read
    before the one that replaced it.
    """

    def __init__(self, path: Path, total: int, check_every: int = 64, rate: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.check_every = check_every
        #: Lines per second (0: no pacing).
        self.rate = rate
        self.written = 0
        self.error: BaseException | None = None
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # The first line goes now, so that a test can see the tailer has started.
        os.write(self.fd, f"w {0:08d} {PAD}\n".encode())

    def _reopen_if_rotated(self) -> None:
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return  # between logrotate's rename and its create: keep the old file
        mine = os.fstat(self.fd)
        if (named.st_dev, named.st_ino) != (mine.st_dev, mine.st_ino):
            os.close(self.fd)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def run(self) -> None:
        try:
            buffer = []
            started = time.monotonic()
            for seq in range(1, self.total):
                buffer.append(f"w {seq:08d} {PAD}\n")
                if len(buffer) == self.check_every:
                    os.write(self.fd, "".join(buffer).encode())
                    buffer.clear()
                    self.written = seq + 1
                    self._reopen_if_rotated()
                    if self.rate:
                        time.sleep(max(0.0, started + seq / self.rate - time.monotonic()))
            os.write(self.fd, "".join(buffer).encode())
            self.written = self.total
            os.close(self.fd)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def logrotate_config(root: Path, log_file: Path, directives: str = "nocompress") -> Path:
    config = root / "logrotate.conf"
    config.write_text(f"{log_file} {{\n    rotate 1000\n    create\n    {directives}\n    missingok\n}}\n")
    return config


def run_logrotate(root: Path, config: Path) -> None:
    result = subprocess.run(
        [shutil.which("logrotate") or "/usr/sbin/logrotate", "-f", "-s", str(root / "logrotate.state"), str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
@pytest.mark.parametrize(("rotations", "interval"), [(5, 0.0), (50, 0.01)], ids=["5-at-once", "50-every-10ms"])
def test_logrotate_faster_than_a_rescan(tmp_path: Path, pattern: str, rotations: int, interval: float) -> None:
    """Real logrotate renames the file again and again under a full-speed writer: nothing lost, in order.

    Files are created and renamed away before the tailer could look at the
    directory; their events name them, and they are read under their new names
    (``app.log.3`` matches no pattern ``app.log``), each before its successor.
    """
    pipeline = Pipeline(tmp_path, pattern=pattern)
    log_file = pipeline.input_dir / "app.log"
    config = logrotate_config(tmp_path, log_file)
    total = 200_000
    writer = FastWriter(log_file, total)
    pipeline.start()
    try:
        wait_for(lambda: pipeline.count() > 0, what="the pipeline to start")
        writer.start()
        wait_for(lambda: writer.written >= total // 10, what="the writer to get going")
        for _ in range(rotations):
            run_logrotate(tmp_path, config)
            time.sleep(interval)
        writer.join(timeout=120)
        assert writer.error is None, writer.error
        try:
            wait_for(lambda: pipeline.count() >= total, timeout=120, what="all lines in the output")
        except AssertionError:
            pass  # the assertions below say which lines are missing
        time.sleep(0.5)
    finally:
        pipeline.stop()
    rotated = sorted(p.name for p in pipeline.input_dir.iterdir())
    assert len(rotated) == rotations + 1, rotated
    seqs = [int(line.split(" ")[1]) for line in pipeline.lines()]
    missing = sorted(set(range(total)) - set(seqs))
    assert not missing, f"{len(missing)} lines lost, first {missing[:5]}"
    assert len(seqs) == total, f"{len(seqs) - total} lines repeated"
    out_of_order = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
    assert out_of_order == 0, f"{out_of_order} lines out of order"


def burst_of_renames(path: Path, fd: int, seq: int, renamed: int, renames: int, shift: bool) -> tuple[int, int]:
    """Rename ``path`` away ``renames`` times within a millisecond or so, one writer going on in each new file.

    Each time, the writer appends to its file after the rename, then reopens
    the name and writes to the file it creates there. With ``shift``, the
    rotated files move up one number first, as logrotate does
    (``app.log.1`` -> ``app.log.2`` ...), so every name changes its file.

    :returns: the writer's descriptor and the next sequence number.
    """

    def write(count: int) -> None:
        nonlocal seq
        os.write(fd, "".join(f"w {s:08d} {PAD}\n" for s in range(seq, seq + count)).encode())
        seq += count

    for number in range(renamed + 1, renamed + renames + 1):
        if shift:
            for older in range(number - 1, 0, -1):
                os.rename(f"{path}.{older}", f"{path}.{older + 1}")
            os.rename(path, f"{path}.1")
        else:
            os.rename(path, f"{path}.{number}")
        write(64)
        os.close(fd)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        write(64)
    return fd, seq


@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
@pytest.mark.parametrize("shift", [False, True], ids=["renamed-once", "shifted"])
def test_renames_in_a_burst_keep_one_writers_order(tmp_path: Path, pattern: str, shift: bool) -> None:
    """Five renames within about a millisecond, three times, while the tailer catches up on a big file.

    The events are read long after: the file found under a name may be one
    made after the event that named it, a file first seen under a rotated
    name waits to be told from a copy, and a followed file renamed again and
    again is under none of the names its events give. Each file is still
    read in its place: every line once, and in the writer's order.
    """
    pipeline = Pipeline(tmp_path, pattern=pattern)
    path = pipeline.input_dir / "app.log"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"w {0:08d} {PAD}\n".encode())
    pipeline.start()
    seq, renamed = 1, 0
    try:
        wait_for(lambda: pipeline.count() > 0, what="the pipeline to start")
        for _ in range(3):
            for _ in range(20_000 // 64):
                os.write(fd, "".join(f"w {s:08d} {PAD}\n" for s in range(seq, seq + 64)).encode())
                seq += 64
            fd, seq = burst_of_renames(path, fd, seq, renamed, 5, shift)
            renamed += 5
        os.close(fd)
        try:
            wait_for(lambda: pipeline.count() >= seq, what="all lines in the output")
        except AssertionError:
            pass  # the assertions below say which lines are missing
        time.sleep(0.5)
    finally:
        pipeline.stop()
    seqs = [int(line.split(" ")[1]) for line in pipeline.lines()]
    missing = sorted(set(range(seq)) - set(seqs))
    assert not missing, f"{len(missing)} lines lost, first {missing[:5]}"
    assert len(seqs) == seq, f"{len(seqs) - seq} lines repeated"
    inverted = [(a, b) for a, b in zip(seqs, seqs[1:], strict=False) if b < a]
    assert not inverted, f"{len(inverted)} times out of order, first {inverted[:3]}"


def test_a_file_opened_empty_and_renamed_before_its_first_byte_is_not_read_twice(tmp_path: Path) -> None:
    """A new app.log opened while still empty, rotated away before its first byte, then written and read:
    its position was saved with a fingerprint of no bytes, and after SIGKILL the restart could not tell it
    and read it again from its start. It is known by its first bytes once they are read."""
    pipeline = Pipeline(tmp_path)
    path = pipeline.input_dir / "app.log"
    append_lines(path, range(0, 10), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="the first lines")
    os.rename(path, f"{path}.1")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # opened by the tailer while empty
    try:
        time.sleep(0.5)
        os.rename(path, f"{path}.2")
        os.write(fd, "".join(f"w {i:08d} {PAD}\n" for i in range(10, 1034)).encode())
    finally:
        os.close(fd)
    wait_for(lambda: pipeline.count() == 1034, what="the rotated file's lines")
    time.sleep(0.2)  # saved (state_interval = 0.05), and not let go yet (rotate_wait = 0.3)
    pipeline.kill()
    pipeline.start()
    time.sleep(1.0)
    pipeline.stop()
    seqs = [int(line.split(" ")[1]) for line in pipeline.lines()]
    assert len(seqs) - len(set(seqs)) == 0, f"{len(seqs) - len(set(seqs))} lines repeated"
    assert sorted(seqs) == list(range(1034))


def test_a_compressed_file_killed_while_read_is_finished_after_the_restart(tmp_path: Path) -> None:
    """Pattern ``app.log*`` and a rotated ``app.log.1.gz`` at the first start: it is read, and SIGKILL comes
    halfway. The restart found it compressed, "appeared while following", and left the rest of it unread;
    it goes on from its position, and every line comes once."""
    pipeline = Pipeline(tmp_path, pattern="app.log*")
    total = 200_000
    archive = pipeline.input_dir / "app.log.1.gz"
    with gzip.open(archive, "wb") as handle:
        handle.write("".join(f"w {i:08d} {PAD}\n" for i in range(total)).encode())
    append_lines(pipeline.input_dir / "app.log", range(total, total + 10), "w")
    an_hour_ago = time.time() - 3600
    os.utime(archive, (an_hour_ago, an_hour_ago))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 20_000, what="a part of the compressed file")
    pipeline.kill()
    pipeline.start()
    wait_for(lambda: pipeline.count() >= total + 10, what="every line", timeout=60)
    time.sleep(0.3)
    pipeline.stop()
    seqs = [int(line.split(" ")[1]) for line in pipeline.lines()]
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} lines repeated"
    assert sorted(seqs) == list(range(total + 10))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_the_known_file_deleted_while_stopped_its_successor_is_still_read(tmp_path: Path, signum: int) -> None:
    """Stopped; logrotate with ``rotate 1`` runs twice: the known app.log is rotated and then deleted, and the
    file made in between is app.log.1. With every known file of the series gone, nothing bounded what was
    new, and app.log.1 was never read; it is, being born after the file deleted, before the new app.log."""
    pipeline = Pipeline(tmp_path)
    logs = pipeline.input_dir
    append_lines(logs / "app.log", range(0, 10), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="the first lines")
    time.sleep(0.3)
    if signum == signal.SIGKILL:
        pipeline.kill()
    else:
        pipeline.stop()
    os.rename(logs / "app.log", logs / "app.log.1")
    append_lines(logs / "app.log", range(10, 20), "w")
    os.rename(logs / "app.log.1", logs / "app.log.2")
    os.rename(logs / "app.log", logs / "app.log.1")
    append_lines(logs / "app.log", range(20, 30), "w")
    os.unlink(logs / "app.log.2")
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 30, what="every line", timeout=20)
    time.sleep(0.3)
    pipeline.stop()
    assert [int(line.split(" ")[1]) for line in pipeline.lines()] == list(range(30))


def test_killed_faster_than_the_state_interval_a_restart_still_moves_on(tmp_path: Path) -> None:
    """SIGKILL within the state interval: the first save, at the end of the first turn, already holds many batches."""
    source = tmp_path / "in.log"
    source.write_text("".join(f"g0 {i:08d} {PAD}\n" for i in range(50_000)))
    config = tmp_path / "pipeline.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [[cog]]
            use = "fs.tail"
            filenames = ["{source}"]
            state_file = "{tmp_path / "state.json"}"
            state_interval = 30
            read_size = 4096
            [[cog]]
            use = "fs.write"
            filename = "{tmp_path / "out.log"}"
            state_file = "{tmp_path / "state.json"}"
            """
        )
    )

    def saved() -> int:
        try:
            sections = json.loads((tmp_path / "state.json").read_text())["sections"]
        except (OSError, ValueError):
            return 0
        files = sections.get(f"fs.tail {source}", {}).get("files")
        if not files:
            return 0  # only the output's size at start (and the tailer's marks), saved before its first line
        return int(next(iter(files.values()))["offset"])

    offsets = [0]
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-m", "deadbeat.command", "run", str(config), "--quiet"], stderr=subprocess.DEVNULL
        )
        wait_for(lambda: saved() > offsets[-1], what="a save after the restart")  # noqa: B023 - read at once
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        offsets.append(saved())
    # Each restart saved a whole first turn (16 chunks of 4096 bytes, cut at line ends), not one chunk.
    steps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert all(step >= 15 * 4096 for step in steps), steps
    lines = (tmp_path / "out.log").read_text().splitlines()
    assert len(lines) == len(set(lines))


@pytest.mark.parametrize("when", ["while running", "before the start"])
def test_two_logs_that_start_alike_are_both_read(tmp_path: Path, when: str) -> None:
    """a.log and b.log get the same lines (two services logging the same banner, or the same events): b.log
    looked like a copytruncate copy of a.log and was never read. Neither is truncated, so both are read, once."""
    pipeline = Pipeline(tmp_path, "*.log")
    lines = [json.dumps({"n": i, "pad": PAD}) + "\n" for i in range(20)]
    if when == "while running":
        pipeline.start()
        time.sleep(1.5)  # started and watching, before the files exist
    for line in lines:
        for name in ("a.log", "b.log"):
            with open(pipeline.input_dir / name, "a") as handle:
                handle.write(line)
    if when == "before the start":
        pipeline.start()
    wait_for(lambda: pipeline.count() >= 40, what="both files' lines")
    time.sleep(0.5)
    pipeline.stop()
    out = pipeline.lines()
    assert sorted(out) == sorted(line.rstrip("\n") for line in lines * 2)
    assert "a file of its own, read from its start" in pipeline.stderr.read_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_file_made_and_rotated_away_while_stopped_is_read(tmp_path: Path, signum: int) -> None:
    """Pattern app.log; while stopped, app.log is rotated twice: the file between (never seen, now app.log.1,
    a name the pattern does not match) used to be lost without a word. It is read after the known file, in order."""
    pipeline = Pipeline(tmp_path, "app.log")
    log_file = pipeline.input_dir / "app.log"

    def write(numbers: range) -> None:
        append_lines(log_file, numbers)

    write(range(0, 10))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="the first lines")
    time.sleep(0.5)
    if signum == signal.SIGKILL:
        pipeline.kill()
    else:
        pipeline.stop()
    write(range(10, 20))
    log_file.rename(pipeline.input_dir / "app.log.1")
    write(range(20, 30))  # a new app.log, never seen by the tailer
    (pipeline.input_dir / "app.log.1").rename(pipeline.input_dir / "app.log.2")
    log_file.rename(pipeline.input_dir / "app.log.1")
    write(range(30, 40))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 40, what="every line")
    time.sleep(0.5)
    pipeline.stop()
    check_exactly_once(pipeline.lines(), 40)
    assert [int(line.split()[1]) for line in pipeline.lines()] == list(range(40))


def test_at_the_first_start_rotated_files_are_read_oldest_first(tmp_path: Path) -> None:
    """Pattern app.log*, no state: app.log.2.gz, app.log.1 and app.log (one writer's, oldest to newest) come out
    in the writer's order; they came out by name (app.log's lines first)."""
    import gzip

    pipeline = Pipeline(tmp_path, "app.log*")
    directory = pipeline.input_dir

    def lines(numbers: range) -> str:
        return "".join(f"g0 {i:08d} {PAD}\n" for i in numbers)

    with gzip.open(directory / "app.log.2.gz", "wt") as handle:
        handle.write(lines(range(0, 10)))
    (directory / "app.log.1").write_text(lines(range(10, 20)))
    (directory / "app.log").write_text(lines(range(20, 30)))
    now = time.time()
    for age, name in ((300, "app.log.2.gz"), (200, "app.log.1"), (100, "app.log")):
        os.utime(directory / name, (now - age, now - age))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 30, what="every line")
    time.sleep(0.3)
    pipeline.stop()
    assert [int(line.split()[1]) for line in pipeline.lines()] == list(range(30))


def test_files_made_while_stopped_after_every_file_was_forgotten_are_read(tmp_path: Path) -> None:
    """Pattern *.log; app.log is rotated (no new app.log), read to its end and forgotten, then other.log is
    written (a checkpoint saves the state without app.log's file), and the tailer is killed. While it is down, a
    new app.log is written and rotated, and another made: the one between was lost (no file of its lineage was
    left in the state, so nothing was looked for). The lineage's mark says it is new: read, in order."""
    pipeline = Pipeline(tmp_path, "*.log")
    directory = pipeline.input_dir
    log_file = directory / "app.log"
    state = tmp_path / "state.json"

    def write(numbers: range, path: Path = log_file, generation: str = "g0") -> None:
        append_lines(path, numbers, generation)

    def section() -> dict[str, dict[str, object]]:
        try:
            sections = json.loads(state.read_text())["sections"]
        except (OSError, ValueError):
            return {}
        return next((value for name, value in sections.items() if name.startswith("fs.tail")), {})

    write(range(0, 10))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="the first lines")
    log_file.rename(directory / "app.log.1")
    time.sleep(1.0)  # drained, quiet for rotate_wait (0.3 s), acknowledged: forgotten
    write(range(5), directory / "other.log", "g1")
    wait_for(lambda: pipeline.count() == 15, what="other.log's lines")
    wait_for(lambda: len(section().get("files", {})) == 1, what="a checkpoint without app.log's file")
    pipeline.kill()
    write(range(10, 20))
    (directory / "app.log.1").rename(directory / "app.log.2")
    log_file.rename(directory / "app.log.1")
    write(range(20, 30))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 35, what="every line")
    time.sleep(0.5)
    pipeline.stop()
    lines = pipeline.lines()
    assert [int(line.split()[1]) for line in lines if line.startswith("g0 ")] == list(range(30))
    assert len(lines) == 35


def test_rotated_files_made_while_stopped_keep_their_order_where_the_pattern_matches_them(tmp_path: Path) -> None:
    """Pattern app.log*; three rotations while the tailer is down make app.log.1 to app.log.3, unknown to it. They
    were each taken as a lineage of its own, read by turns: lines came out of order. One writer's, oldest first."""
    pipeline = Pipeline(tmp_path, "app.log*")
    directory = pipeline.input_dir
    log_file = directory / "app.log"
    per_file = 3_000  # more than a turn's reading (16 chunks of 4096 bytes)

    def write(numbers: range) -> None:
        append_lines(log_file, numbers)

    write(range(0, 10))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="the first lines")
    time.sleep(0.3)
    pipeline.kill()
    written = 10
    for _ in range(3):
        for n in (2, 1):
            if (directory / f"app.log.{n}").exists():
                (directory / f"app.log.{n}").rename(directory / f"app.log.{n + 1}")
        log_file.rename(directory / "app.log.1")
        write(range(written, written + per_file))
        written += per_file
    pipeline.start()
    wait_for(lambda: pipeline.count() >= written, what="every line")
    time.sleep(0.5)
    pipeline.stop()
    assert [int(line.split()[1]) for line in pipeline.lines()] == list(range(written))


@pytest.mark.parametrize(
    ("pattern", "directives"),
    [
        ("app.log", "nocompress"),
        ("app.log*", "nocompress"),
        ("app.log", "compress"),
        ("app.log", "compress\n    delaycompress"),
        ("app.log*", "compress\n    delaycompress"),
    ],
    ids=["app.log", "app.log*", "compress", "delaycompress", "app.log*-delaycompress"],
)
def test_sigkill_storm_while_logrotate_shifts_a_long_series(tmp_path: Path, pattern: str, directives: str) -> None:
    """SIGKILL every 0.3-1.5 s while real logrotate rotates every 100 ms, keeping 1,000 files (each rotation renames
    them all). Whole files were read again at restarts: a known file renamed between listing and looking was
    dropped as gone, and files read and forgotten looked never seen; the run failed on a file renamed between
    stat and open. With compress, a .gz (born when compressed, often under an inode number just freed) was read
    again whole, and a file compressed before it could be opened was lost. No line lost or repeated; without
    compression, in the writer's order (a file read from its .gz after a restart may come after its successor)."""
    pipeline = Pipeline(tmp_path, pattern=pattern, level="debug")  # what each restart opened, should it fail
    log_file = pipeline.input_dir / "app.log"
    config = logrotate_config(tmp_path, log_file, directives)
    total = 50_000
    writer = FastWriter(log_file, total, rate=5_000)
    rotating = threading.Event()
    rotations: list[BaseException] = []

    def rotate() -> None:
        while not rotating.is_set():
            try:
                run_logrotate(tmp_path, config)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                rotations.append(exc)
                return
            time.sleep(0.1)

    rotator = threading.Thread(target=rotate, daemon=True)
    rng = random.Random(5)
    pipeline.start()
    try:
        wait_for(lambda: pipeline.count() > 0, what="the pipeline to start")
        writer.start()
        rotator.start()
        while writer.is_alive():
            time.sleep(rng.uniform(0.3, 1.5))
            pipeline.kill()
            pipeline.start()
        rotating.set()
        rotator.join(timeout=60)
        assert writer.error is None, writer.error
        assert not rotations, rotations
        compressing = "compress" in directives.replace("nocompress", "")
        if compressing:
            wait_settled(pipeline, total)
        else:
            wait_for(lambda: pipeline.count() >= total, timeout=120, what="all lines in the output")
        time.sleep(1.0)
    finally:
        rotating.set()
        pipeline.stop()
    said = pipeline.stderr.read_text()
    assert "Traceback" not in said and " ERROR " not in said, said[-3000:]
    seqs = [int(line.split(" ")[1]) for line in pipeline.lines()]
    # Without delaycompress, what the writer appends to the rotated file after
    # gzip read it, before it reopens, is on no disk: only what is can be asked for.
    expected = lines_on_disk(pipeline.input_dir) if compressing else set(range(total))
    missing = sorted(expected - set(seqs))
    assert not missing, f"{len(missing)} lines lost, first {missing[:5]}"
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} lines repeated"
    if not compressing:
        assert seqs == sorted(seqs), "lines out of order"
        assert len(seqs) == total


def wait_settled(pipeline: Pipeline, total: int, quiet: float = 3.0) -> None:
    """Wait until every line is out, or none more has come for ``quiet`` seconds."""
    deadline = time.monotonic() + 120
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = pipeline.count()
        if count >= total:
            return
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.1)


def lines_on_disk(directory: Path) -> set[int]:
    """The sequence numbers of the lines in the files of ``directory``, compressed or not."""
    import gzip

    found = set()
    for path in directory.iterdir():
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as handle:
            found.update(int(line.split(b" ")[1]) for line in handle if line.count(b" ") >= 2)
    return found


def _gzip_away(path: Path, to: Path) -> None:
    """What logrotate's ``compress`` does: the compressed copy made, the file deleted."""
    import gzip

    with open(path, "rb") as source, gzip.open(to, "wb") as target:
        target.write(source.read())
    path.unlink()


def test_a_compressed_copy_of_a_file_read_and_forgotten_is_not_read_again(tmp_path: Path) -> None:
    """delaycompress, as Debian rotates: a file is rotated, read, forgotten; while the tailer is stopped it is
    compressed to app.log.2.gz (a new file, born now) as the next rotation happens. That copy was read again
    from its start, whole (it changed after the known file did); its content says it was read."""
    pipeline = Pipeline(tmp_path, "app.log")
    directory = pipeline.input_dir
    log_file = directory / "app.log"

    def write(numbers: range) -> None:
        append_lines(log_file, numbers)

    write(range(0, 10))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="the first lines")
    log_file.rename(directory / "app.log.1")
    time.sleep(1.0)  # read to its end, quiet for rotate_wait: forgotten
    write(range(10, 20))
    wait_for(lambda: pipeline.count() == 20, what="the lines of the new app.log")
    time.sleep(0.5)
    pipeline.kill()
    _gzip_away(directory / "app.log.1", directory / "app.log.2.gz")
    log_file.rename(directory / "app.log.1")
    write(range(20, 30))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 30, what="every line")
    time.sleep(1.0)
    pipeline.stop()
    assert [int(line.split()[1]) for line in pipeline.lines()] == list(range(30))


def test_rotated_files_there_before_the_first_start_stay_unread_once_compressed(tmp_path: Path) -> None:
    """At the first start app.log.1 and app.log.2.gz are history (pattern app.log). Compressed and renamed by a
    rotation while the tailer is stopped, they are new inodes or newer than what it knew: they were read."""
    pipeline = Pipeline(tmp_path, "app.log")
    directory = pipeline.input_dir
    log_file = directory / "app.log"
    import gzip

    with gzip.open(directory / "app.log.2.gz", "wt") as handle:
        handle.write("".join(f"old {i:08d} {PAD}\n" for i in range(0, 10)))
    (directory / "app.log.1").write_text("".join(f"old {i:08d} {PAD}\n" for i in range(10, 20)))
    log_file.write_text("".join(f"g0 {i:08d} {PAD}\n" for i in range(0, 10)))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="app.log's lines")
    time.sleep(0.5)
    pipeline.kill()
    (directory / "app.log.2.gz").rename(directory / "app.log.3.gz")
    _gzip_away(directory / "app.log.1", directory / "app.log.2.gz")
    log_file.rename(directory / "app.log.1")
    log_file.write_text("".join(f"g0 {i:08d} {PAD}\n" for i in range(10, 20)))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 20, what="the new app.log's lines")
    time.sleep(1.0)
    pipeline.stop()
    assert [line.split()[:2] for line in pipeline.lines()] == [["g0", f"{i:08d}"] for i in range(20)]


def test_a_file_rotated_and_compressed_before_it_could_be_opened_is_read_from_its_copy(tmp_path: Path) -> None:
    """The tailer is held (SIGSTOP) while app.log is rotated, a new app.log written, rotated and compressed, and
    another made: the file between was created and deleted before it could be opened, and was lost ("not read").
    Its compressed copy holds its lines: read, before the file that followed it."""
    pipeline = Pipeline(tmp_path, "app.log")
    directory = pipeline.input_dir
    log_file = directory / "app.log"

    def write(numbers: range) -> None:
        append_lines(log_file, numbers)

    write(range(0, 10))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 10, what="the first lines")
    time.sleep(0.5)
    assert pipeline.process is not None
    pipeline.process.send_signal(signal.SIGSTOP)
    try:
        log_file.rename(directory / "app.log.1")
        write(range(10, 20))
        log_file.rename(directory / "app.log.2")
        _gzip_away(directory / "app.log.2", directory / "app.log.2.gz")
        write(range(20, 30))
    finally:
        pipeline.process.send_signal(signal.SIGCONT)
    wait_for(lambda: pipeline.count() >= 30, what="every line")
    time.sleep(1.0)
    pipeline.stop()
    assert [int(line.split()[1]) for line in pipeline.lines()] == list(range(30))
    said = pipeline.stderr.read_text()
    assert "holds the lines of a file created and removed before it could be opened" in said


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_two_debian_rotations_while_stopped(tmp_path: Path, signum: int) -> None:
    """Debian's way (compress, delaycompress, create), twice while stopped: the file followed at the stop is
    compressed and deleted, and the app.log that logrotate creates next often gets its inode number back.
    That file was taken for ours, "other content", and ours (now app.log.2.gz) was never looked for: 50
    lines lost in every try, and the app.log.1 made meanwhile was skipped too. Every line once."""
    pipeline = Pipeline(tmp_path, "app.log")
    log_file = pipeline.input_dir / "app.log"
    config = logrotate_config(tmp_path, log_file, "compress\n    delaycompress")

    def write(numbers: range) -> None:
        append_lines(log_file, numbers)

    write(range(0, 100))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100, what="the first lines")
    time.sleep(0.5)
    if signum == signal.SIGKILL:
        pipeline.kill()
    else:
        pipeline.stop()
    write(range(100, 150))
    run_logrotate(tmp_path, config)
    write(range(150, 160))
    run_logrotate(tmp_path, config)
    write(range(160, 170))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 170, timeout=20, what="every line")
    time.sleep(1.0)
    pipeline.stop()
    assert [int(line.split()[1]) for line in pipeline.lines()] == list(range(170))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("while_stopped", [1, 2])
def test_copytruncate_while_running_then_while_stopped(tmp_path: Path, signum: int, while_stopped: int) -> None:
    """Real logrotate ``copytruncate``: once while running (that copy is read and forgotten), then while stopped.

    At the restart the file we knew is still under its name, truncated: its
    first bytes are other ones, as those of a file given a deleted file's
    inode number would be. It was taken for that, and its copy (``app.log.1``,
    made after the lineage's mark) read from its start: every line of the
    second part twice. The copy is found by its first bytes and read on from
    the saved position (the lines written while stopped, before the copy, are
    read from it), then a later copy, then the truncated file from its start:
    every line once, in order.
    """
    pipeline = Pipeline(tmp_path, "app.log")
    log_file = pipeline.input_dir / "app.log"
    config = tmp_path / "logrotate.conf"
    config.write_text(f"{log_file} {{\n    rotate 5\n    copytruncate\n}}\n")

    def write(numbers: range) -> None:
        append_lines(log_file, numbers)

    write(range(0, 100))
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100, what="the first lines")
    run_logrotate(tmp_path, config)
    time.sleep(0.3)
    write(range(100, 200))
    wait_for(lambda: pipeline.count() >= 200, what="the lines after the first rotation")
    time.sleep(1.0)  # the first copy let go (rotate_wait = 0.3) and forgotten: the lineage has a mark
    if signum == signal.SIGKILL:
        pipeline.kill()
    else:
        pipeline.stop()
    write(range(200, 210))  # not read yet: they are in the copy only
    run_logrotate(tmp_path, config)
    if while_stopped == 2:
        write(range(210, 260))
        run_logrotate(tmp_path, config)
        write(range(260, 310))
    else:
        write(range(210, 310))
    pipeline.start()
    wait_for(lambda: pipeline.count() >= 310, timeout=20, what="every line")
    time.sleep(1.0)
    pipeline.stop()
    assert [int(line.split()[1]) for line in pipeline.lines()] == list(range(310))


def read_to_the_end(pipeline: Pipeline, last: int) -> bool:
    """Whether line ``last`` is out, the state saved since, and every file it names read to its end.

    Written, a line is acknowledged, and the next save holds the output's size:
    the state is then as of the output now. A file being read has an entry
    there, at the offset it reads on from (a new file, once told from a copy).
    """
    if not pipeline.output.exists() or f" {last:08d} " not in pipeline.output.read_text():
        return False
    try:
        sections = json.loads((pipeline.root / "state.json").read_text())["sections"]
    except (OSError, ValueError):
        return False
    if sections.get(f"fs.write {pipeline.output}", {}).get("offset") != pipeline.output.stat().st_size:
        return False
    tail = next((value for name, value in sections.items() if name.startswith("fs.tail ")), None)
    if tail is None:
        return False  # saved by fs.write at its start, before the tailer's first checkpoint
    sizes = {f"{st.st_dev}:{st.st_ino}": st.st_size for st in (p.stat() for p in pipeline.input_dir.iterdir())}
    return all(entry["offset"] >= sizes.get(key, 0) for key, entry in tail["files"].items())


def copy_file(logs: Path) -> None:
    """The first half of logrotate's ``copytruncate``: the copies shifted (app.log.1 -> app.log.2 ...), and the
    content copied to ``app.log.1``."""
    rotated = sorted((int(p.name.rsplit(".", 1)[1]) for p in logs.glob("app.log.*")), reverse=True)
    for number in rotated:
        os.rename(logs / f"app.log.{number}", logs / f"app.log.{number + 1}")
    shutil.copyfile(logs / "app.log", logs / "app.log.1")


def copytruncate_read_and_let_go(pipeline: Pipeline) -> None:
    """Lines 0-99, started, then a whole copytruncate once they are read: the copy holds nothing unread, and is
    let go (with the pattern ``app.log``, forgotten: the lineage has a mark, which tells the files read)."""
    logs = pipeline.input_dir
    append_lines(logs / "app.log", range(0, 100), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100, what="the first lines")
    copy_file(logs)
    os.truncate(logs / "app.log", 0)
    wait_for(lambda: "let go of rotated file" in pipeline.stderr.read_text(), what="the first copy let go")


def stop_or_kill(pipeline: Pipeline, signum: int, last: int) -> None:
    """SIGTERM (the positions saved at the end), or SIGKILL once they are saved up to line ``last``."""
    if signum == signal.SIGKILL:
        wait_for(lambda: read_to_the_end(pipeline, last), what=f"line {last} out and saved")
        pipeline.kill()
    else:
        pipeline.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
def test_a_copy_shorter_than_the_saved_position_is_not_read_again_after_a_restart(
    tmp_path: Path, pattern: str, signum: int
) -> None:
    """copytruncate copies app.log to app.log.1 while the tailer runs; the writer goes on, and the tailer reads
    those lines too before it is stopped, so the position saved is beyond the copy's end. app.log is truncated
    while it is stopped. The copy, shorter than the position, was not taken for the copy of the file truncated
    (only one at least as long was), and was read again whole from its start. Every line once, in order."""
    pipeline = Pipeline(tmp_path, pattern=pattern)
    logs = pipeline.input_dir
    append_lines(logs / "app.log", range(0, 100), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100, what="the first lines")
    copy_file(logs)
    append_lines(logs / "app.log", range(100, 150), "w")  # in no copy: read before the truncation, or lost
    wait_for(lambda: pipeline.count() == 150, what="the lines after the copy")
    stop_or_kill(pipeline, signum, 149)
    os.truncate(logs / "app.log", 0)
    append_lines(logs / "app.log", range(150, 160), "w")
    pipeline.start()
    wait_for(lambda: read_to_the_end(pipeline, 159), what="every line, read and saved")
    pipeline.stop()
    assert [int(line.split(" ")[1]) for line in pipeline.lines()] == list(range(160))
    assert "was truncated while stopped; finishing its copy" in pipeline.stderr.read_text()


@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
def test_a_copy_shorter_than_what_was_read_at_the_truncation_is_not_read_at_the_next_start(
    tmp_path: Path, pattern: str
) -> None:
    """copytruncate while the tailer runs, which has read beyond the copy's end when app.log is truncated (the
    lines written between the copy and the truncation): the copy holds nothing unread, and was not taken for
    the copy (only one at least as long was). Nothing remembered it: the next start took it for a file made
    while stopped (newer than the lineage's mark) or, with ``app.log*``, for a new file, and read it whole.
    Every line once, in order."""
    pipeline = Pipeline(tmp_path, pattern=pattern)
    logs = pipeline.input_dir
    copytruncate_read_and_let_go(pipeline)
    append_lines(logs / "app.log", range(100, 200), "w")
    wait_for(lambda: pipeline.count() == 200, what="the lines before the copy")
    copy_file(logs)
    append_lines(logs / "app.log", range(200, 250), "w")  # in no copy: read before the truncation, or lost
    wait_for(lambda: pipeline.count() == 250, what="the lines after the copy")
    truncate_then_restart(pipeline)
    assert [int(line.split(" ")[1]) for line in pipeline.lines()] == list(range(270))


def truncate_then_restart(pipeline: Pipeline) -> None:
    """Truncate app.log (copytruncate's second step), write lines 250-259, stop, write 260-269, start and stop.

    Each step waits for its lines to be read and saved.
    """
    log_file = pipeline.input_dir / "app.log"
    os.truncate(log_file, 0)
    append_lines(log_file, range(250, 260), "w")
    wait_for(lambda: read_to_the_end(pipeline, 259), what="the lines after the truncation, read and saved")
    pipeline.stop()
    append_lines(log_file, range(260, 270), "w")
    pipeline.start()
    wait_for(lambda: read_to_the_end(pipeline, 269), what="every line, read and saved")
    pipeline.stop()


@pytest.mark.parametrize("copied", ["before the stop", "while stopped"])
@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
def test_a_copy_made_before_a_start_and_truncated_after_it_is_not_read(
    tmp_path: Path, pattern: str, copied: str
) -> None:
    """The tailer is restarted between copytruncate's copy and its truncation (a restart, or a reload, while
    logrotate runs). At the start the copy, app.log.2, was taken for a file made and rotated while stopped
    (``app.log``: newer than the lineage's mark) and read whole; with ``app.log*`` it was rightly left unread as
    a copy, but, shorter than what was read when app.log was truncated, it was not taken for the copy then, and
    the next start read it whole. It waits to be told from a copy, as one seen while running does. Every line
    once, in order, across a second restart."""
    pipeline = Pipeline(tmp_path, pattern=pattern)
    logs = pipeline.input_dir
    copytruncate_read_and_let_go(pipeline)
    append_lines(logs / "app.log", range(100, 200), "w")
    wait_for(lambda: pipeline.count() == 200, what="the lines before the copy")
    if copied == "before the stop":
        copy_file(logs)
    append_lines(logs / "app.log", range(200, 210), "w")
    pipeline.stop()
    if copied == "while stopped":
        copy_file(logs)
    append_lines(logs / "app.log", range(210, 250), "w")  # in no copy
    pipeline.start()
    # Truncated as soon as these are read: logrotate truncates right after its copy.
    wait_for(lambda: pipeline.count() >= 250, what="the lines after the copy")
    truncate_then_restart(pipeline)
    assert [int(line.split(" ")[1]) for line in pipeline.lines()] == list(range(270))


def test_killed_while_a_copy_is_not_told_yet_it_is_not_read_whole_after_the_restart(tmp_path: Path) -> None:
    """Pattern ``app.log*``: copytruncate's copy, app.log.1, is created empty (as ``cp`` does) and opened new; a
    batch of app.log saves the positions, then the copy is filled, judged a copy, and left unread; nothing
    more is read, so nothing saves again. Killed then, the state file held the new file's entry at offset 0
    (it was saved when opened): after the restart the copy was a known file and read whole. A new file's
    entry is saved once it is judged. Every line once, in order."""
    pipeline = Pipeline(tmp_path, pattern="app.log*", level="debug")  # its "opened" line is waited for
    logs = pipeline.input_dir
    append_lines(logs / "app.log", range(0, 100), "w")
    pipeline.start()
    wait_for(lambda: pipeline.count() == 100, what="the first lines")
    (logs / "app.log.1").touch()
    wait_for(lambda: f"opened {logs / 'app.log.1'} " in pipeline.stderr.read_text(), what="the copy opened")
    append_lines(logs / "app.log", range(100, 110), "w")
    wait_for(lambda: read_to_the_end(pipeline, 109), what="a batch of app.log saved")
    with open(logs / "app.log.1", "ab") as copy:
        copy.write((logs / "app.log").read_bytes())
    wait_for(lambda: "app.log.1: starts as" in pipeline.stderr.read_text(), what="the copy told")
    pipeline.kill()
    os.truncate(logs / "app.log", 0)
    append_lines(logs / "app.log", range(110, 120), "w")
    pipeline.start()
    wait_for(lambda: read_to_the_end(pipeline, 119), what="every line, read and saved")
    pipeline.stop()
    assert [int(line.split(" ")[1]) for line in pipeline.lines()] == list(range(120))


def test_reloads_while_the_file_is_rotated_keep_every_line_once_and_in_order(tmp_path: Path) -> None:
    """SIGHUP with a changed pipeline file, and the followed file renamed away (rename + create) as the new
    pipeline starts: every line once, in the writer's order.

    The new tailer starts the moment the old one finished. A known file still
    under its name when the start looked for the files rotated while stopped,
    and renamed before the look at the names, was not opened: the writer's new
    file was read first and the rest of the old one only at the next reload
    (out of order), or, after the last one, not until a restart.
    """
    pipeline = Pipeline(tmp_path)
    base = pipeline.config.read_text()
    log_file = pipeline.input_dir / "app.log"
    rng = random.Random(11)
    stop = threading.Event()
    written = 0
    failure: list[BaseException] = []

    def write() -> None:
        nonlocal written
        try:
            fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            while not stop.is_set():
                os.write(fd, "".join(f"g0 {seq:08d} {PAD}\n" for seq in range(written, written + 20)).encode())
                written += 20
                try:
                    rotated = os.stat(log_file).st_ino != os.fstat(fd).st_ino
                except FileNotFoundError:
                    rotated = True
                if rotated:  # the writer reopens its file, at a line boundary
                    os.close(fd)
                    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                time.sleep(0.002)
            os.close(fd)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failure.append(exc)

    pipeline.start()
    assert pipeline.process is not None
    wait_for_handler(pipeline.process.pid, signal.SIGHUP)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        wait_for(lambda: pipeline.count() > 0, 60, "the first lines")
        for reload in range(1, 41):
            reloads = pipeline.stderr.read_text().count("reloading;")
            pipeline.config.write_text(base + f"# reload {reload}\n")
            pipeline.process.send_signal(signal.SIGHUP)
            # Renamed as the new pipeline starts (within a few ms of the old one's end), as logrotate may:
            # the log line is watched closely, the rename lands at a random moment of the start.
            deadline = time.monotonic() + 60
            while pipeline.stderr.read_text().count("reloading;") == reloads:
                assert time.monotonic() < deadline, "timed out waiting for the reload"
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.003))
            log_file.rename(pipeline.input_dir / f"app.log.{reload}")
            time.sleep(rng.uniform(0.08, 0.2))
    finally:
        stop.set()
        writer.join(timeout=10)
    assert not failure, failure
    wait_settled(pipeline, written, quiet=5.0)
    pipeline.stop()
    seqs = [int(line.split(" ")[1]) for line in pipeline.lines()]
    late = [(a, b) for a, b in zip(seqs, seqs[1:], strict=False) if b < a]
    assert not late, f"{len(late)} lines out of the writer's order, first {late[:3]}"
    missing = sorted(set(range(written)) - set(seqs))
    assert not missing, f"{len(missing)} lines lost (or left unread until a restart), first {missing[:5]}"
    assert len(seqs) == written, f"{len(seqs) - written} lines repeated"


@pytest.mark.parametrize("output", ["out.log", "app-copy.log"])
@pytest.mark.parametrize("restart", [False, True], ids=["while-running", "while-stopped"])
def test_an_output_beside_a_file_truncated_in_place_is_not_taken_for_its_copy(
    tmp_path: Path, output: str, restart: bool
) -> None:
    """app.log is truncated in place (no copy) and its output, written from it in the same directory,
    starts as it did: it is not its copytruncate copy.

    Taken for the copy, the output was read back into itself without end
    (150,000 lines from one within 3 s) and the lines written to app.log after
    the truncation never came out. ``out.log`` is not named as a copy of
    ``app.log`` would be; ``app-copy.log`` is, and is told apart as a file this
    process writes.
    """
    log_file, out, state = tmp_path / "app.log", tmp_path / output, tmp_path / "state.json"
    config = tmp_path / "pipeline.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [log]
            level = "info"
            [[cog]]
            use = "fs.tail"
            filenames = ["{log_file}"]
            state_file = "{state}"
            state_interval = 0.05
            [[cog]]
            use = "fs.write"
            filename = "{out}"
            state_file = "{state}"
            """
        )
    )
    stderr = tmp_path / "stderr.log"

    def start() -> subprocess.Popen[bytes]:
        with open(stderr, "ab") as err:
            process = subprocess.Popen([sys.executable, "-m", "deadbeat.command", "run", str(config)], stderr=err)
        wait_for_handler(process.pid)
        return process

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, stderr.read_text()[-3000:]

    def written() -> list[str]:
        return out.read_text().splitlines() if out.exists() else []

    append_lines(log_file, range(0, 5), "first")
    process = start()
    wait_for(lambda: len(written()) == 5, what="the first lines")
    if restart:
        stop(process)
    os.truncate(log_file, 0)
    if not restart:
        wait_for(lambda: "truncated below offset" in stderr.read_text(), what="the truncation seen")
    append_lines(log_file, range(5, 8), "second")
    if restart:
        process = start()
    wait_for(lambda: len(written()) >= 8, what="the lines written after the truncation")
    time.sleep(0.5)  # time enough to read an output back into itself many times over
    stop(process)
    assert [int(line.split(" ")[1]) for line in written()] == list(range(8)), stderr.read_text()[-3000:]


def run_once(pipeline: Pipeline) -> None:
    """``deadbeat run --once`` on the pipeline: reads what is there from where the state says, and ends well."""
    result = subprocess.run(
        [sys.executable, "-m", "deadbeat.command", "run", str(pipeline.config), "--once", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("directives", ["compress", "compress\n    delaycompress"])
def test_run_once_after_following_reads_no_compressed_rotation_again(tmp_path: Path, directives: str) -> None:
    """Followed while logrotate compressed its rotations (``app.log*``), then ``run --once`` from the state: every
    ``.gz`` beside the file was read again from its start (7,000 lines out for 4,000). Found by the rotation
    harness; the state's mark knows their content as read."""
    pipeline = Pipeline(tmp_path, pattern="app.log*")
    log_file = pipeline.input_dir / "app.log"
    config = logrotate_config(tmp_path, log_file, directives)
    append_lines(log_file, range(0, 1000))
    pipeline.start()
    for k in range(1, 4):
        wait_for(lambda k=k: pipeline.count() == 1000 * k, what=f"{1000 * k} lines")
        run_logrotate(tmp_path, config)
        append_lines(log_file, range(1000 * k, 1000 * k + 1000))
    wait_for(lambda: pipeline.count() == 4000, what="every line")
    time.sleep(0.5)  # rotate_wait: the rotated files drained and let go
    pipeline.stop()
    run_once(pipeline)
    check_exactly_once(pipeline.lines(), 4000)


def test_cron_style_runs_once_with_compressed_rotations_between_read_each_line_once(tmp_path: Path) -> None:
    """Only ``run --once`` runs (cron), logrotate ``compress``/``delaycompress`` between them, ``app.log*``."""
    pipeline = Pipeline(tmp_path, pattern="app.log*")
    log_file = pipeline.input_dir / "app.log"
    config = logrotate_config(tmp_path, log_file, "compress\n    delaycompress")
    for k in range(5):
        append_lines(log_file, range(1000 * k, 1000 * k + 1000))
        run_once(pipeline)
        check_exactly_once(pipeline.lines(), 1000 * k + 1000)
        run_logrotate(tmp_path, config)
    run_once(pipeline)
    check_exactly_once(pipeline.lines(), 5000)
