"""The Escapement on real descriptors, files, inotify, timers and signals."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import select
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from deadbeat import movement
from deadbeat.movement import _inotify


@pytest.fixture
def esc() -> Any:
    escapement = movement.Escapement()
    yield escapement
    escapement.close()


def run_briefly(esc: movement.Escapement, seconds: float = 0.3) -> None:
    """Run until shutdown, with a guard that does not itself keep the loop alive."""
    esc.after(seconds, esc.shutdown, keeps_alive=False)
    esc.run()


class TestImmediateEvents:
    def test_enqueue_calls_soon_with_arguments(self, esc: movement.Escapement) -> None:
        """An enqueued call runs from the loop with its arguments."""
        calls = []
        esc.enqueue(calls.append, "a")
        esc.enqueue(calls.append, "b")
        run_briefly(esc)
        assert calls == ["a", "b"]

    def test_dequeue_by_handle_and_by_callable(self, esc: movement.Escapement) -> None:
        """Dequeued calls never run, whether named by handle or by callable."""
        calls: list[str] = []
        handle = esc.enqueue(calls.append, "by-handle")
        esc.enqueue(calls.append, "by-callable")
        other = []
        esc.enqueue(other.append, "kept")
        assert esc.dequeue(handle) == 1
        assert esc.dequeue(calls.append) == 1
        run_briefly(esc)
        assert calls == [] and other == ["kept"]


class TestTimers:
    def test_after_fires_once_after_the_delay(self, esc: movement.Escapement) -> None:
        """A timer fires once, not before its delay."""
        fired: list[float] = []
        start = time.monotonic()
        esc.after(0.05, lambda: fired.append(time.monotonic() - start))
        run_briefly(esc)
        assert len(fired) == 1 and fired[0] >= 0.045

    def test_at_takes_wall_clock_time(self, esc: movement.Escapement) -> None:
        """A timer set for an absolute time fires."""
        fired = []
        esc.at(time.time() + 0.02, fired.append, True)
        run_briefly(esc)
        assert fired == [True]

    def test_every_repeats_until_dequeued(self, esc: movement.Escapement) -> None:
        """A repeating timer fires until dequeued, then never again."""
        ticks: list[int] = []
        handle = esc.every(0.01, lambda: ticks.append(1))

        def stop() -> None:
            esc.dequeue(handle)

        esc.after(0.1, stop)
        run_briefly(esc, 0.3)
        assert 3 <= len(ticks) <= 11


class TestDescriptors:
    def test_readable_socket_wakes_the_callback(self, esc: movement.Escapement) -> None:
        """EPOLLIN on a real socket pair calls back when the peer writes."""
        left, right = socket.socketpair()
        received = []

        def readable() -> None:
            received.append(left.recv(100))
            esc.fd_unregister(left)

        esc.fd_register(left, select.EPOLLIN, readable)
        esc.after(0.02, right.send, b"ping")
        run_briefly(esc)
        left.close()
        right.close()
        assert received == [b"ping"]

    def test_busy_descriptors_let_a_signal_through_between_them(self, esc: movement.Escapement) -> None:
        """Twenty slow, ever-readable descriptors: a signal is heard after one turn's worth of them, not all.

        A syslog relay's twenty flooding clients made one pass over them last
        seconds, and SIGTERM was heard 11 s late; each descriptor still gets
        its turn, in order.
        """
        pairs = [socket.socketpair() for _ in range(20)]
        order: list[str] = []

        def busy(n: int) -> None:
            order.append(f"fd{n}")
            time.sleep(0.02)  # a callback with much to read; the data stay, so it is ready again

        for n, (left, right) in enumerate(pairs):
            right.send(b"x")
            esc.fd_register(left, select.EPOLLIN, busy, n)

        def heard() -> None:
            order.append("signal")
            esc.shutdown()

        esc.signal_register(signal.SIGUSR1, heard)
        esc.enqueue(os.kill, os.getpid(), signal.SIGUSR1)
        esc.after(5, esc.shutdown, keeps_alive=False)
        esc.run()
        for left, right in pairs:
            left.close()
            right.close()
        assert "signal" in order
        assert order.index("signal") <= 6, order  # 50 ms of 20 ms callbacks, then the signal's turn
        # Every descriptor was called before any was called twice: the turn goes on where it stopped.
        calls = [o for o in order if o != "signal"]
        assert len(set(calls[:20])) == 20, order

    def test_unregister_takes_the_handle_register_gave(self, esc: movement.Escapement) -> None:
        """fd_unregister(handle) ends that registration alone: the reader on the same descriptor goes on."""
        left, right = socket.socketpair()
        writable_calls = []
        received = []

        def writable() -> None:
            writable_calls.append(1)
            esc.fd_unregister(writer)

        def readable() -> None:
            received.append(left.recv(100))

        writer = esc.fd_register(left, select.EPOLLOUT, writable)
        esc.fd_register(left, select.EPOLLIN, readable)
        esc.after(0.05, right.send, b"ping")
        run_briefly(esc)
        left.close()
        right.close()
        assert writable_calls == [1]
        assert received == [b"ping"]

    def test_writable_and_unregister(self, esc: movement.Escapement) -> None:
        """EPOLLOUT fires for a writable socket; unregistering stops it."""
        left, right = socket.socketpair()
        count = []

        def writable() -> None:
            count.append(1)
            esc.fd_unregister(left.fileno(), select.EPOLLOUT)

        esc.fd_register(left.fileno(), select.EPOLLOUT, writable)
        run_briefly(esc)
        left.close()
        right.close()
        assert count == [1]

    def test_masks_epoll_does_not_take_are_refused(self, esc: movement.Escapement) -> None:
        """A mask with no event at all, or with bits epoll does not know, is an error, not a silent no-op."""
        left, right = socket.socketpair()
        with pytest.raises(ValueError, match="asks for no event"):
            esc.fd_register(left, select.EPOLLET, lambda: None)
        with pytest.raises(ValueError, match="bits epoll does not take"):
            esc.fd_register(left, select.EPOLLIN | select.EPOLLMSG, lambda: None)
        left.close()
        right.close()

    def test_hang_up_alone_is_honoured(self, esc: movement.Escapement) -> None:
        """EPOLLHUP alone fires when the peer of a pipe goes away, and the callback learns the mask."""
        read_end, write_end = os.pipe()
        fired: list[movement.FdEvent] = []

        def hung_up(event: movement.FdEvent) -> None:
            fired.append(event)
            esc.fd_unregister(event.fd)

        esc.fd_register(read_end, select.EPOLLHUP, hung_up, pass_event=True)
        esc.after(0.02, os.close, write_end)
        run_briefly(esc)
        os.close(read_end)
        assert len(fired) == 1
        assert fired[0].fd == read_end and fired[0].mask & select.EPOLLHUP

    def test_callback_learns_descriptor_and_mask(self, esc: movement.Escapement) -> None:
        """With pass_event the callback gets the descriptor and what fired after its own arguments."""
        left, right = socket.socketpair()
        seen: list[tuple[str, int, int]] = []

        def ready(tag: str, event: movement.FdEvent) -> None:
            seen.append((tag, event.fd, event.mask))
            esc.fd_unregister(event.fd)

        esc.fd_register(left, select.EPOLLIN | select.EPOLLOUT, ready, "both", pass_event=True)
        fd = left.fileno()
        run_briefly(esc)
        left.close()
        right.close()
        assert seen == [("both", fd, select.EPOLLOUT)]

    def test_edge_triggered_fires_once_per_edge(self, esc: movement.Escapement) -> None:
        """EPOLLET: unread data do not wake the callback again; new data do."""
        left, right = socket.socketpair()
        wakes: list[int] = []
        esc.fd_register(left, select.EPOLLIN | select.EPOLLET, lambda: wakes.append(1))
        right.send(b"first")
        esc.after(0.1, lambda: wakes.append(0))  # marker: the first edge gave one wake-up, unread data none more
        esc.after(0.12, right.send, b"second")
        esc.after(0.25, esc.fd_unregister, left)
        run_briefly(esc)
        left.close()
        right.close()
        assert wakes == [1, 0, 1]

    def test_one_shot_fires_once_and_ends(self, esc: movement.Escapement) -> None:
        """EPOLLONESHOT: one call, then the binding is gone (and nothing is left over at shutdown)."""
        left, right = socket.socketpair()
        wakes: list[int] = []
        binding = esc.fd_register(left, select.EPOLLIN | select.EPOLLONESHOT, lambda: wakes.append(1))
        right.send(b"data")
        run_briefly(esc, 0.2)
        left.close()
        right.close()
        assert wakes == [1]
        assert not binding.active and esc.leftovers == []

    def test_reader_and_writer_share_a_descriptor(self, esc: movement.Escapement) -> None:
        """Registering EPOLLOUT keeps an EPOLLIN binding of the same descriptor; EPOLLIN again replaces it."""
        left, right = socket.socketpair()
        first = esc.fd_register(left, select.EPOLLIN, lambda: None)
        writer = esc.fd_register(left, select.EPOLLOUT, lambda: None)
        assert first.active and writer.active
        second = esc.fd_register(left, select.EPOLLIN, lambda: None)
        assert not first.active and second.active and writer.active
        esc.fd_unregister(left)
        assert not second.active and not writer.active
        left.close()
        right.close()

    def test_builtin_callbacks_just_run(self, esc: movement.Escapement, caplog: pytest.LogCaptureFixture) -> None:
        """esc.enqueue(os.write, fd, b"x") writes; its return value (a count) is not taken for data."""
        read_end, write_end = os.pipe()
        esc.enqueue(os.write, write_end, b"x")
        run_briefly(esc, 0.1)
        assert os.read(read_end, 10) == b"x"
        os.close(read_end)
        os.close(write_end)
        assert "callback" not in caplog.text and "train" not in caplog.text

    def test_a_partial_of_a_supplys_method_sends_its_data_down_the_train(self, esc: movement.Escapement) -> None:
        """The manual binds "a callable (usually some cog's method)": a partial of one is that cog's."""

        class Supply(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train
                train.esc.enqueue(functools.partial(self.read, "first"))

            def read(self, tag: str) -> list[str]:
                return [tag]

            def __call__(self, data: Any) -> tuple[Any, ...]:
                return (data,)

        got: list[Any] = []
        train = movement.Train(esc)
        train.cogs = [Supply(train), got.append]
        esc.run()
        assert got == ["first"]
        assert esc.failures == []

    @pytest.mark.parametrize("kind", ["lambda", "closure", "callable object", "helper's method"])
    def test_data_from_a_callback_no_cog_owns_fail_the_run_loudly(
        self, esc: movement.Escapement, caplog: pytest.LogCaptureFixture, kind: str
    ) -> None:
        """Data returned where no train can take them are never dropped in silence: said once, and a failure."""

        class Helper:
            def __call__(self) -> list[str]:
                return ["lost"]

        def closure() -> list[str]:
            return ["lost"]

        class Reader:  # a plain helper object, no cog: its bound method has an owner but no train
            def read(self) -> list[str]:
                return ["lost"]

        callback: Any = {
            "lambda": lambda: ["lost"],
            "closure": closure,
            "callable object": Helper(),
            "helper's method": Reader().read,
        }[kind]
        got: list[Any] = []
        train = movement.Train(esc)
        train.cogs = [got.append]
        esc.enqueue(callback)
        esc.enqueue(callback)
        esc.run()
        assert got == []
        assert len(esc.failures) == 1
        assert "returned data" in esc.failures[0] and "'lost'" in esc.failures[0]
        assert "functools.partial" in esc.failures[0] and "send_from" in esc.failures[0]
        assert caplog.text.count("returned data") == 1

    def test_data_from_a_cog_in_no_train_fail_the_run(self, esc: movement.Escapement) -> None:
        """A supply left out of train.cogs: its data are dropped, said, and the run's result is failure."""

        class Supply(movement.Cog):
            def __init__(self) -> None:
                esc.enqueue(self.give)
                esc.enqueue(self.give)

            def give(self) -> list[dict[str, int]]:
                return [{"id": 1}]

        supply = Supply()
        train = movement.Train(esc)
        train.cogs = [lambda d: (d,)]
        assert esc.run() == 1
        assert len(esc.failures) == 1 and "the cog is in no train" in esc.failures[0], (supply, esc.failures)

    @pytest.mark.parametrize("how", ["descriptor", "task"])
    def test_a_callback_that_raises_fails_the_run(self, esc: movement.Escapement, how: str) -> None:
        """What it had read before it raised is gone: the run goes on, and exits 1, said once per callback."""
        reader, writer = os.pipe()
        os.write(writer, b"a\nbad\nc\n")

        class Supply(movement.Supply):
            def __init__(self) -> None:
                if how == "descriptor":
                    esc.fd_register(reader, select.EPOLLIN, self.readable)
                else:
                    esc.spawn(self.task())
                esc.after(0.2, esc.stop)

            def readable(self) -> None:
                os.read(reader, 100)
                raise UnicodeError("cannot decode the chunk")

            async def task(self) -> None:
                raise UnicodeError("cannot decode the chunk")

        train = movement.Train(esc, [Supply(), lambda d: (d,)])
        try:
            assert train.run() == 1
        finally:
            os.close(reader)
            os.close(writer)
        assert len(esc.failures) == 1 and "UnicodeError: cannot decode the chunk" in esc.failures[0]

    def test_a_callback_returning_nothing_to_send_is_no_failure(self, esc: movement.Escapement) -> None:
        """An empty list, a string, a number or a mapping from an unowned callback is only a value."""
        for value in ([], (), "text", 3, {"a": 1}):
            esc.enqueue(lambda value=value: value)
        esc.run()
        assert esc.failures == []

    def test_pause_holds_back_a_readable_descriptor(self, esc: movement.Escapement) -> None:
        """A paused owner's descriptor is not served until resume, then it is."""

        class Reader:
            def __init__(self, sock: socket.socket) -> None:
                self.sock = sock
                self.got: list[bytes] = []

            def readable(self) -> None:
                self.got.append(self.sock.recv(100))

        left, right = socket.socketpair()
        reader = Reader(left)
        esc.fd_register(left, select.EPOLLIN, reader.readable)
        esc.pause(reader)
        right.send(b"data")
        snapshot: list[list[bytes]] = []
        esc.after(0.1, lambda: snapshot.append(list(reader.got)))
        esc.after(0.15, esc.resume, reader)
        run_briefly(esc, 0.3)
        left.close()
        right.close()
        assert snapshot == [[]]
        assert reader.got == [b"data"]


class TestInotify:
    def test_inotify_is_available_here(self, esc: movement.Escapement) -> None:
        """This Linux machine has inotify; the boolean says so."""
        assert esc.inotify is True

    def test_append_to_a_watched_file_is_reported(self, esc: movement.Escapement, tmp_path: Path) -> None:
        """Writing to a watched file delivers IN_MODIFY with the event."""
        path = tmp_path / "log"
        path.write_text("")
        events: list[movement.InotifyEvent] = []
        watch = esc.inotify_add(path, _inotify.IN_MODIFY, events.append)

        def append() -> None:
            with open(path, "a") as handle:
                handle.write("line\n")

        esc.after(0.02, append)
        esc.after(0.1, esc.inotify_rm, watch)
        run_briefly(esc)
        assert events and events[0].mask & _inotify.IN_MODIFY

    def test_directory_reports_created_names(self, esc: movement.Escapement, tmp_path: Path) -> None:
        """A watched directory names the entries created in it."""
        names: list[str] = []
        esc.inotify_add(tmp_path, _inotify.IN_CREATE, lambda ev: names.append(ev.name))
        esc.after(0.02, (tmp_path / "new.txt").write_text, "x")
        esc.after(0.1, esc.inotify_rm, str(tmp_path))
        run_briefly(esc)
        assert names == ["new.txt"]

    def test_an_unpausable_watch_takes_every_event_in_order_while_its_owner_is_paused(
        self, esc: movement.Escapement, tmp_path: Path
    ) -> None:
        """``pausable=False``: events reach the owner while it is paused, each once, in the order they came;
        its ordinary watch gets them after resume."""

        class Noter:
            def __init__(self) -> None:
                self.seen: list[tuple[str, str, bool]] = []

            def directory(self, kind: str, event: movement.InotifyEvent) -> None:
                self.seen.append((kind, event.name, esc.is_paused(self)))

        noter = Noter()
        mask = _inotify.IN_CREATE | _inotify.IN_MOVED_FROM | _inotify.IN_MOVED_TO
        esc.inotify_add(tmp_path, mask, noter.directory, "unpausable", pausable=False)
        esc.inotify_add(tmp_path, mask, noter.directory, "pausable")
        esc.pause(noter)

        def rotate_twice() -> None:
            for n in (1, 2):
                (tmp_path / "app.log").write_text("x")
                os.rename(tmp_path / "app.log", tmp_path / f"app.log.{n}")

        esc.after(0.02, rotate_twice)
        esc.after(0.15, esc.resume, noter)
        esc.after(0.25, esc.inotify_rm, str(tmp_path))
        run_briefly(esc)
        unpausable = [(name, paused) for kind, name, paused in noter.seen if kind == "unpausable"]
        expected = ["app.log", "app.log", "app.log.1", "app.log", "app.log", "app.log.2"]
        assert unpausable == [(name, True) for name in expected]
        pausable = [(name, paused) for kind, name, paused in noter.seen if kind == "pausable"]
        assert pausable and all(not paused for _, paused in pausable)

    def test_inotify_read_delivers_what_the_kernel_queued_at_once(
        self, esc: movement.Escapement, tmp_path: Path
    ) -> None:
        """A callback that renames a file and calls ``inotify_read`` has been told of the rename when it returns."""
        names: list[str] = []
        told: list[list[str]] = []
        esc.inotify_add(tmp_path, _inotify.IN_MOVED_TO, lambda ev: names.append(ev.name))

        def rename_and_read() -> None:
            (tmp_path / "a").write_text("x")
            os.rename(tmp_path / "a", tmp_path / "b")
            esc.inotify_read()
            told.append(list(names))

        esc.after(0.02, rename_and_read)
        esc.after(0.1, esc.inotify_rm, str(tmp_path))
        run_briefly(esc)
        assert told == [["b"]]
        assert names == ["b"]

    def test_inotify_read_from_a_callback_keeps_the_order(self, esc: movement.Escapement, tmp_path: Path) -> None:
        """A callback that makes a file and calls ``inotify_read`` gets, and lets the other watches get, the
        events read before its own first: every watch sees the names in the order they were made."""
        seen: dict[str, list[str]] = {"first": [], "second": []}

        def first(event: movement.InotifyEvent) -> None:
            seen["first"].append(event.name)
            if event.name == "a":
                (tmp_path / "c").write_text("x")
                esc.inotify_read()

        esc.inotify_add(tmp_path, _inotify.IN_CREATE, first)
        esc.inotify_add(tmp_path, _inotify.IN_CREATE, lambda event: seen["second"].append(event.name))

        def make_two() -> None:
            (tmp_path / "a").write_text("x")
            (tmp_path / "b").write_text("x")

        esc.after(0.02, make_two)
        esc.after(0.15, esc.inotify_rm, str(tmp_path))
        run_briefly(esc)
        assert seen == {"first": ["a", "b", "c"], "second": ["a", "b", "c"]}

    def test_deleting_the_file_ends_the_watch(self, esc: movement.Escapement, tmp_path: Path) -> None:
        """Deleting a watched file delivers IN_DELETE_SELF then IN_IGNORED and drops the watch."""
        path = tmp_path / "gone"
        path.write_text("")
        masks: list[int] = []
        esc.inotify_add(path, _inotify.IN_DELETE_SELF, lambda ev: masks.append(ev.mask))
        esc.after(0.02, path.unlink)
        run_briefly(esc)
        assert any(m & _inotify.IN_DELETE_SELF for m in masks)
        assert any(m & _inotify.IN_IGNORED for m in masks)
        assert not [b for _, b in esc.leftovers if isinstance(b, movement.InotifyBinding)]

    def test_missing_path_raises(self, esc: movement.Escapement, tmp_path: Path) -> None:
        """Watching a path that does not exist raises an OSError naming it."""
        with pytest.raises(OSError, match="nothing-here"):
            esc.inotify_add(tmp_path / "nothing-here", _inotify.IN_MODIFY, lambda ev: None)


class TestPollingFallback:
    def test_without_inotify_the_flag_is_false_and_asking_raises(self, tmp_path: Path) -> None:
        """Without inotify, inotify_add raises unless the cog asked for polling."""
        esc = movement.Escapement(use_inotify=False)
        try:
            assert esc.inotify is False
            with pytest.raises(OSError, match="poll_interval"):
                esc.inotify_add(tmp_path, _inotify.IN_CREATE, lambda ev: None)
        finally:
            esc.close()

    def test_polling_reports_appends_and_new_files(self, tmp_path: Path) -> None:
        """The polling fallback delivers IN_MODIFY and IN_CREATE like inotify would."""
        esc = movement.Escapement(use_inotify=False)
        path = tmp_path / "log"
        path.write_text("")
        file_events: list[int] = []
        dir_events: list[tuple[int, str]] = []
        file_watch = esc.inotify_add(
            path, _inotify.IN_MODIFY, lambda ev: file_events.append(ev.mask), poll_interval=0.02
        )
        dir_watch = esc.inotify_add(
            tmp_path, _inotify.IN_CREATE, lambda ev: dir_events.append((ev.mask, ev.name)), poll_interval=0.02
        )

        def change() -> None:
            with open(path, "a") as handle:
                handle.write("more\n")
            (tmp_path / "other").write_text("x")

        esc.after(0.05, change)
        esc.after(0.2, esc.inotify_rm, file_watch)
        esc.after(0.2, esc.inotify_rm, dir_watch)
        try:
            run_briefly(esc, 0.4)
        finally:
            esc.close()
        assert _inotify.IN_MODIFY in file_events
        assert (_inotify.IN_CREATE, "other") in dir_events

    def test_a_file_that_stopped_changing_is_reported_written_and_closed(self, tmp_path: Path) -> None:
        """IN_CLOSE_WRITE, which table cogs reload on, comes one look after the last change, in a file and a
        directory watch alike; a file that keeps changing is not reported closed."""
        esc = movement.Escapement(use_inotify=False)
        path = tmp_path / "table.json"
        path.write_text("{}")
        mask = _inotify.IN_CLOSE_WRITE | _inotify.IN_MOVED_TO | _inotify.IN_CREATE
        file_events: list[int] = []
        dir_events: list[tuple[int, str]] = []
        watches = [
            esc.inotify_add(path, mask, lambda ev: file_events.append(ev.mask), poll_interval=0.02),
            esc.inotify_add(tmp_path, mask, lambda ev: dir_events.append((ev.mask, ev.name)), poll_interval=0.02),
        ]
        esc.after(0.05, path.write_text, '{"a": 1}')
        for watch in watches:
            esc.after(0.3, esc.inotify_rm, watch)
        try:
            run_briefly(esc, 0.4)
        finally:
            esc.close()
        assert file_events == [_inotify.IN_CLOSE_WRITE]
        assert dir_events == [(_inotify.IN_CLOSE_WRITE, "table.json")]


class TestSignals:
    @pytest.mark.parametrize("keeps_alive", [False, True])
    def test_a_supply_bound_to_a_signal_alone(
        self, esc: movement.Escapement, caplog: pytest.LogCaptureFixture, keeps_alive: bool
    ) -> None:
        """With keeps_alive the application waits for the signal; without, it ends at once and says why."""

        class OnSignal(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                train.esc.signal_register(signal.SIGUSR1, self.fired, keeps_alive=keeps_alive)

            def fired(self) -> list[str]:
                return ["fired"]

            def __call__(self, data: Any) -> tuple[Any, ...]:
                return (data,)

        got: list[Any] = []
        train = movement.Train(esc)
        train.cogs = [OnSignal(train), got.append]
        if keeps_alive:
            esc.after(0.1, os.kill, os.getpid(), signal.SIGUSR1)
            esc.after(0.4, esc.shutdown, keeps_alive=False)
        esc.run()
        said = [r.getMessage() for r in caplog.records if "SIGUSR1 handler does not keep it running" in r.getMessage()]
        if keeps_alive:
            assert got == ["fired"] and said == []
        else:
            assert got == [] and len(said) == 1 and "keeps_alive=True" in said[0]

    def test_signal_calls_every_registered_callback(self, esc: movement.Escapement) -> None:
        """Two callbacks on SIGUSR1 both run when the process gets the signal."""
        got: list[str] = []
        esc.signal_register(signal.SIGUSR1, got.append, "first")
        esc.signal_register(signal.SIGUSR1, got.append, "second")
        esc.after(0.02, os.kill, os.getpid(), signal.SIGUSR1)
        run_briefly(esc)
        assert got == ["first", "second"]

    def test_unregistered_callback_is_not_called(self, esc: movement.Escapement) -> None:
        """After signal_unregister the callback stays silent."""
        got: list[str] = []
        keep: list[str] = []
        esc.signal_register(signal.SIGUSR2, got.append, "x")
        esc.signal_register(signal.SIGUSR2, keep.append, "y")
        esc.signal_unregister(signal.SIGUSR2, got.append)
        esc.after(0.02, os.kill, os.getpid(), signal.SIGUSR2)
        run_briefly(esc)
        assert got == [] and keep == ["y"]

    def test_sigterm_starts_shutdown(self, esc: movement.Escapement) -> None:
        """SIGTERM ends run() through the orderly shutdown, even with bindings left."""
        left, right = socket.socketpair()
        esc.fd_register(left, select.EPOLLIN, lambda: None)
        esc.after(0.02, os.kill, os.getpid(), signal.SIGTERM)
        esc.run()
        left.close()
        right.close()
        assert [type(b) for _, b in esc.leftovers] == [movement.FdBinding]

    @pytest.mark.parametrize("use_uvloop", [None, False])
    def test_a_signal_before_run_is_handled_when_it_starts(self, use_uvloop: bool | None) -> None:
        """A SIGHUP between signal_register and run() (a logrotate while a pipeline starts): handled at once.

        uvloop listens for signals only while it runs: the signal was noted and never
        handled, until another signal woke the loop, if one ever came.
        """
        esc = movement.Escapement(use_uvloop=use_uvloop)
        got: list[float] = []
        started = time.monotonic()
        esc.signal_register(signal.SIGUSR1, lambda: (got.append(time.monotonic() - started), esc.shutdown()))
        os.kill(os.getpid(), signal.SIGUSR1)
        # Only a timer far off would wake the loop otherwise.
        esc.after(20, esc.shutdown)
        try:
            esc.run()
        finally:
            esc.close()
        assert len(got) == 1 and got[0] < 10


class TestRunEnds:
    def test_run_ends_when_nothing_is_bound(self, esc: movement.Escapement) -> None:
        """With every binding gone, run() returns by itself (batch jobs, --once)."""
        esc.after(0.01, lambda: None)
        start = time.monotonic()
        esc.run()
        assert time.monotonic() - start < 5

    def test_run_returns_the_exit_status_it_earned(self) -> None:
        """An application ends with sys.exit(esc.run()): 0 for a clean run, 1 for one with a failure it could not
        make good. run() returned None, and an application written the manual's way exited 0 after data had been
        dropped (a lambda supply returning data no train takes)."""
        clean = movement.Escapement()
        clean.after(0.01, lambda: None)
        assert clean.run() == 0
        clean.close()
        failing = movement.Escapement()
        train = movement.Train(failing)

        class Supply(movement.Supply):
            def __init__(self, train: movement.Train) -> None:
                train.esc.enqueue(lambda: [{"id": "x1"}])

        train.cogs = [Supply(train), lambda d: (d,)]
        assert train.run() == 1
        assert failing.failures and "no train takes them" in failing.failures[0]
        failing.close()

    def test_spawned_task_keeps_run_alive_and_delivers(self, esc: movement.Escapement) -> None:
        """An asyncio coroutine runs on the loop; its result reaches the callback."""
        results = []

        async def work() -> str:
            await asyncio.sleep(0.05)
            return "answer"

        esc.spawn(work(), results.append)
        esc.run()
        assert results == ["answer"]

    def test_asyncio_streams_work_inside_the_loop(self, esc: movement.Escapement) -> None:
        """An asyncio network library (here asyncio streams on loopback) runs inside."""
        results = []

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        async def talk() -> bytes:
            server = await asyncio.start_server(echo, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello\n")
            line = await reader.readline()
            writer.close()
            server.close()
            await server.wait_closed()
            return line

        esc.spawn(talk(), results.append)
        esc.run()
        assert results == [b"hello\n"]


class TestDummyEscapement:
    def test_the_manuals_form_uses_it_as_it_is(self) -> None:
        """``self.esc = movement.DummyEscapement`` (data, not a class): every call works, ``inotify`` is false."""
        esc = movement.DummyEscapement
        assert not esc.inotify
        binding = esc.enqueue(print)
        assert binding.active is False
        esc.after(1, print)
        assert esc.dequeue(binding) == 0
        assert isinstance(movement.DummyEscapement(), movement.NullEscapement)
        assert isinstance(esc, movement.Escapement)

    def test_accepts_every_call_and_binds_nothing(self) -> None:
        """Every Escapement method exists on the dummy and does nothing."""
        dummy = movement.DummyEscapement()
        assert dummy.inotify is False
        dummy.enqueue(print)
        dummy.after(1, print)
        dummy.fd_register(0, select.EPOLLIN, print)
        dummy.fd_unregister(0)
        dummy.inotify_add("/", 0, print)
        dummy.inotify_rm("/")
        dummy.signal_register(signal.SIGUSR1, print)
        dummy.signal_unregister(signal.SIGUSR1)
        assert dummy.bindings_of(print) == []
        real = set(n for n in dir(movement.Escapement) if not n.startswith("_"))
        missing = [n for n in real if not hasattr(dummy, n) and n not in ("loop", "serve")]
        assert missing == []


class TestStructure:
    def test_the_escapement_knows_no_trains(self) -> None:
        """The loop imports nothing of the Train and keeps no list of trains; data go through routes."""
        import inspect

        from deadbeat.movement import _escapement

        source = inspect.getsource(_escapement)
        assert "_train" not in source
        esc = movement.Escapement()
        assert not hasattr(esc, "trains")
        esc.close()

    def test_each_kind_of_binding_is_a_type_with_cancel(self, esc: movement.Escapement, tmp_path: Path) -> None:
        """Every kind of binding has a type of its own, and cancel() unbinds it, whatever it is."""

        async def nothing() -> None:
            await asyncio.sleep(10)

        left, right = socket.socketpair()
        made = [
            esc.enqueue(print),
            esc.after(10, print),
            esc.every(10, print),
            esc.fd_register(left, select.EPOLLIN, print),
            esc.inotify_add(tmp_path, movement.IN_CREATE, print),
            esc.signal_register(signal.SIGUSR1, print),
            esc.spawn(nothing()),
        ]
        kinds = [type(b) for b in made]
        assert kinds == [
            movement.CallBinding,
            movement.TimerBinding,
            movement.TimerBinding,
            movement.FdBinding,
            movement.InotifyBinding,
            movement.SignalBinding,
            movement.TaskBinding,
        ]
        for binding in made:
            binding.cancel()
            binding.cancel()  # twice is harmless
        assert all(not b.active for b in made)
        run_briefly(esc, 0.05)
        left.close()
        right.close()
        assert esc.leftovers == []


class TestTaskResultWhilePaused:
    def test_a_result_that_came_while_paused_arrives_at_resume(self) -> None:
        """esc.spawn(coroutine, cog.method): the result of a task that ended while its cog was paused is not lost."""
        esc = movement.Escapement()
        got: list[Any] = []

        class Owner(movement.Cog):
            def arrived(self, result: Any) -> None:
                got.append(result)

        owner = Owner()

        async def answer() -> str:
            return "answer"

        try:
            esc.pause(owner)
            esc.spawn(answer(), owner.arrived)
            esc.loop.run_until_complete(asyncio.sleep(0.01))
            assert got == []
            esc.resume(owner)
            esc.loop.run_until_complete(asyncio.sleep(0.01))
            assert got == ["answer"]
        finally:
            esc.close()


class _OnHangup(movement.Cog):
    """Binds SIGHUP only (as an output reopening its file does)."""

    def __init__(self, esc: movement.Escapement) -> None:
        self.esc = esc
        esc.signal_register(signal.SIGHUP, self.reopen)

    def reopen(self) -> None:
        """Nothing to reopen here."""

    def __call__(self, datum: Any) -> None:
        return None


class TestEndingWithOnlySignalsBound:
    def test_a_supply_bound_to_a_signal_alone_is_told_it_will_not_wait(self, caplog: pytest.LogCaptureFixture) -> None:
        esc = movement.Escapement()
        train = movement.Train(esc)
        supply = _OnHangup(esc)
        train.cogs = [supply, _OnHangup(esc)]
        with caplog.at_level(logging.WARNING):
            esc.run()
        esc.close()
        said = [r.getMessage() for r in caplog.records if "the application ends now" in r.getMessage()]
        assert said == [
            f"{supply}: the application ends now, as nothing else is bound: its SIGHUP handler does not"
            " keep it running (esc.signal_register(..., keeps_alive=True) waits for the signal)"
        ]

    def test_the_first_cog_of_an_error_output_is_no_supply(self, caplog: pytest.LogCaptureFixture) -> None:
        """An [[errors]] output writing records as they come (fs.write first): its SIGHUP is no supply's trigger."""
        esc = movement.Escapement()
        errors = movement.Train(esc)
        errors.cogs = [_OnHangup(esc)]
        train = movement.Train(esc, error_output=errors)
        train.cogs = [movement.Supply(), _OnHangup(esc)]
        with caplog.at_level(logging.WARNING):
            esc.run()
        esc.close()
        assert not [r for r in caplog.records if "the application ends now" in r.getMessage()]
