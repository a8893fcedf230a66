"""The original developer manual, snippet by snippet, in the manual's own spelling.

The manual (Deadbeat 0.1, CESNET) is our contract: an application or a cog
written against it must run here. Each test below runs one of its snippets or
one of its promises, filling in only what the manual leaves out (a datum to
work on, a socket to read). Details of each mechanism are tested beside it in
the distributions' own tests.
"""

from __future__ import annotations

import logging
import operator
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from deadbeat import conf, daemon, fs, ip, log, movement, pipeline, text
from deadbeat.testing import Collector, run_train

MANUAL_NAMES = {
    movement: ["Escapement", "DummyEscapement", "Train", "Cog", "itemsetter"],
    movement.Escapement: [
        "enqueue",
        "dequeue",
        "fd_register",
        "fd_unregister",
        "inotify_add",
        "inotify_rm",
        "inotify",
        "signal_register",
        "signal_unregister",
        "run",
    ],
    movement.Train: ["notify", "esc"],
    movement.BroadcastSpec: ["event_done", "event_rename", "finish", "done"],
    daemon: ["daemon_base_config", "detach"],
    log: ["configure"],
    conf: ["cfg_root", "cfg_item", "cfg_section", "cast_path_list", "gather"],
    ip: ["anonymise_base_config"],
    fs: ["FileWatcherSupply"],
}


def do_something_with(data: Any) -> None:
    data["done"] = data.get("done", 0) + 1


def compute_something(piece: Any) -> Any:
    return piece * 2


# The manual's snippets. (It writes "def Pinion(movement.Cog):" for a class.)


def Pinion(data: Any) -> tuple[Any]:  # noqa: N802 - the manual's name
    do_something_with(data)
    return (data,)


class PinionCog(movement.Cog):
    def __init__(self, momentum: int) -> None:
        self.momentum = momentum

    def __call__(self, data: Any) -> tuple[Any]:
        do_something_with(data)
        data["momentum"] = self.momentum
        return (data,)


class ModifierPinion(movement.Cog):
    def __init__(self, piece_getter: Any = None, result_setter: Any = None) -> None:
        self.piece_getter = piece_getter or operator.itemgetter("piece")  # use reasonable default
        self.result_setter = result_setter or movement.itemsetter("result")

    def __call__(self, data: Any) -> tuple[Any]:
        piece = self.piece_getter(data)
        result = compute_something(piece)
        data = self.result_setter(data, result)
        return (data,)


class Remover(movement.Cog):
    """The manual's logging example: messages prefixed with the event id from an id_getter."""

    def __init__(self, id_getter: Any = None) -> None:
        self.id_getter = id_getter or operator.itemgetter("id")

    def __call__(self, data: Any) -> tuple[Any]:
        event_id = self.id_getter(data)
        long_name = data["file"]
        try:
            os.unlink(long_name)
        except Exception:
            logging.exception("%s: attempt to remove nonexistent file %s", event_id, long_name)
        else:
            logging.debug("%s: removed %s", event_id, long_name)
        return (data,)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


class TestNames:
    def test_every_name_exists(self) -> None:
        """Each name the manual uses is present where the manual puts it."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        missing = []
        for owner, names in MANUAL_NAMES.items():
            probe = train if owner is movement.Train else esc if owner is movement.Escapement else owner
            missing += [f"{getattr(owner, '__name__', owner)}.{n}" for n in names if not hasattr(probe, n)]
        esc.close()
        assert missing == []


class TestEventsManagement:
    def test_one_escapement_per_application(self) -> None:
        """Trains made without an Escapement share the application's one; asking for another still works."""
        first, second = movement.Train(), movement.Train()
        assert first.esc is second.esc
        own = movement.Escapement()
        assert movement.Train(own).esc is own
        own.close()
        first.esc.close()
        assert movement.Train().esc is not first.esc  # a closed one is replaced

    def test_a_train_made_without_one_takes_the_escapement_the_application_made(self) -> None:
        """The app makes its Escapement first, then Trains without naming it: they use the app's, not another."""
        movement.Escapement.shared().close()
        esc = movement.Escapement()
        try:
            assert movement.Train().esc is esc
        finally:
            esc.close()

    def test_a_cog_bound_to_another_escapement_is_named(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """A supply made on one Escapement in a train on another never runs: said at once, naming the cog."""
        source = write_lines(tmp_path / "in.txt", ["a"])
        one, other = movement.Escapement(), movement.Escapement()
        try:
            with caplog.at_level(logging.WARNING):
                movement.Train(other, [fs.FileReaderSupply(one, [str(source)]), Collector()])
        finally:
            one.close()
            other.close()
        assert any(
            "FileReaderSupply" in r.getMessage() and "another Escapement than its train's" in r.getMessage()
            for r in caplog.records
        )

    def test_a_cog_plans_its_own_method_with_enqueue_and_dequeue(self) -> None:
        """enqueue plans a cog's method; dequeue cancels what is planned."""

        class Planner(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.ran: list[str] = []
                self.train.esc.enqueue(self.step, "kept")
                handle = self.train.esc.enqueue(self.step, "cancelled")
                self.train.esc.dequeue(handle)

            def step(self, what: str) -> None:
                self.ran.append(what)

        train = movement.Train(movement.Escapement())
        planner = Planner(train)
        train.cogs = [planner]
        train.run()
        train.esc.close()
        assert planner.ran == ["kept"]

    def test_fd_register_binds_a_cog_method_to_an_epoll_event(self) -> None:
        """A supply binds its method to EPOLLIN on a socket; returned data go down the train."""

        class SocketSupply(movement.Supply):
            def __init__(self, esc: movement.Escapement, sock: socket.socket) -> None:
                self.esc = esc
                self.sock = sock
                esc.fd_register(sock, select.EPOLLIN, self.readable)

            def readable(self) -> list[dict[str, str]]:
                return [{"line": line} for line in self.sock.recv(4096).decode().split()]

            def finish(self) -> None:
                self.esc.fd_unregister(self.sock)
                self.esc = movement.DummyEscapement()  # the manual's way to bind nothing more
                self.esc.fd_register(self.sock, select.EPOLLIN, self.readable)

        ours, theirs = socket.socketpair()
        esc = movement.Escapement()
        supply = SocketSupply(esc, ours)
        esc.after(0.02, theirs.send, b"a b c")
        esc.after(0.1, signal.raise_signal, signal.SIGTERM)
        out = run_train([supply], esc=esc)
        ours.close()
        theirs.close()
        assert [d["line"] for d in out.data] == ["a", "b", "c"]
        assert esc.refused == [] and esc.leftovers == []

    def test_a_socket_closed_before_fd_unregister_lets_the_application_end(self) -> None:
        """At end of stream the supply closes its socket, then unregisters it: nothing is left bound.

        A closed socket's fileno() is -1, and the binding was not found by it:
        the application never went idle, and never ended.
        """
        ours, theirs = socket.socketpair()

        class Reader(movement.Supply):
            def __init__(self, esc: movement.Escapement) -> None:
                self.esc = esc
                esc.fd_register(ours, select.EPOLLIN, self.readable)

            def readable(self) -> list[bytes] | None:
                data = ours.recv(100)
                if data:
                    return [data]
                ours.close()
                self.esc.fd_unregister(ours)  # closed first, then unregistered
                return None

        esc = movement.Escapement()
        supply = Reader(esc)
        theirs.send(b"hi")
        theirs.close()
        guarded: list[bool] = []
        esc.after(5.0, lambda: (guarded.append(True), esc.shutdown()), keeps_alive=False)  # a guard, not the end
        out = run_train([supply], esc=esc)
        assert out.data == [b"hi"]
        assert not guarded, "the application did not end by itself"
        assert esc.bindings_of(supply) == []

    def test_fd_callback_may_learn_descriptor_and_mask(self) -> None:
        """A callback handling several descriptors learns which one fired and how."""
        left, right = socket.socketpair()
        esc = movement.Escapement()
        seen: list[movement.FdEvent] = []

        def ready(event: movement.FdEvent) -> None:
            seen.append(event)
            esc.fd_unregister(event.fd)

        esc.fd_register(left, select.EPOLLIN | select.EPOLLRDHUP, ready, pass_event=True)
        fd = left.fileno()
        right.close()
        esc.after(0.2, esc.shutdown, keeps_alive=False)
        esc.run()
        esc.close()
        left.close()
        assert seen[0].fd == fd and seen[0].mask & select.EPOLLRDHUP

    def test_builtins_and_plain_functions_just_run(self, caplog: pytest.LogCaptureFixture) -> None:
        """Only a callback of a cog in a train has its result taken for data: os.write's count is not."""
        read_end, write_end = os.pipe()
        esc = movement.Escapement()
        movement.Train(esc, [Pinion])
        esc.enqueue(os.write, write_end, b"x")
        esc.after(0.05, esc.shutdown, keeps_alive=False)
        esc.run()
        esc.close()
        assert os.read(read_end, 10) == b"x"
        os.close(read_end)
        os.close(write_end)
        assert caplog.text == ""

    @pytest.mark.parametrize("use_inotify", [True, False])
    def test_inotify_only_after_checking_the_flag(self, tmp_path: Path, use_inotify: bool) -> None:
        """A cog checks Escapement.inotify and falls back to polling, getting the same events either way."""
        esc = movement.Escapement(use_inotify=use_inotify)
        created: list[str] = []
        if esc.inotify:
            watch = esc.inotify_add(tmp_path, movement.IN_CREATE, lambda event: created.append(event.name))
        else:
            watch = esc.inotify_add(
                tmp_path, movement.IN_CREATE, lambda event: created.append(event.name), poll_interval=0.02
            )
        assert esc.inotify is use_inotify
        esc.after(0.05, (tmp_path / "new").write_text, "x")
        esc.after(0.3, esc.inotify_rm, watch)
        esc.run()
        esc.close()
        assert created == ["new"]

    def test_signal_register_and_unregister(self) -> None:
        """A cog's method bound to a signal runs on it; unregistered, it does not."""
        got: list[str] = []
        esc = movement.Escapement()
        esc.signal_register(signal.SIGUSR1, got.append, "usr1")
        esc.signal_register(signal.SIGUSR2, got.append, "usr2")
        esc.signal_unregister(signal.SIGUSR2)
        esc.after(0.02, os.kill, os.getpid(), signal.SIGUSR1)
        esc.after(0.04, os.kill, os.getpid(), signal.SIGUSR2)
        esc.after(0.1, esc.shutdown)
        esc.run()
        esc.close()
        assert got == ["usr1"]

    def test_a_supply_bound_only_to_a_signal_waits_for_it(self) -> None:
        """A supply whose only system event is SIGUSR1 (keeps_alive=True): the application waits for it.

        A signal handler keeps nothing going by default (a SIGHUP to reopen a
        file must not keep ``--once`` from ending), and such a supply's app
        ended at once, before any signal came.
        """

        class OnSignal(movement.Supply):
            def __init__(self, esc: movement.Escapement) -> None:
                self.esc = esc
                esc.signal_register(signal.SIGUSR1, self.fired, keeps_alive=True)

            def fired(self) -> list[str]:
                return ["usr1"]

        def signal_later() -> None:
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGTERM)

        esc = movement.Escapement()
        supply = OnSignal(esc)
        threading.Thread(target=signal_later, daemon=True).start()
        out = run_train([supply], esc=esc)
        assert out.data == ["usr1"]


class Listener(movement.Cog):
    """Bears the broadcast names, with parameter names of its own choosing."""

    def __init__(self) -> None:
        self.done_ids: list[Any] = []
        self.renames: list[Any] = []
        self.calls: list[str] = []

    def event_done(self, eid: Any) -> None:
        self.done_ids.append(eid)

    def event_rename(self, event_id: Any) -> None:  # the manual's one-argument form
        self.renames.append(event_id)

    def finish(self) -> None:
        self.calls.append("finish")

    def done(self) -> None:
        self.calls.append("done")


class TestBroadcasts:
    def test_event_done_carries_the_ids_the_supply_gave(self, tmp_path: Path) -> None:
        """event_done(event_id) names each line by the id fs.read gave it, the id error records show."""
        source = write_lines(tmp_path / "in.jsonl", ['{"n": 1}', "not json", '{"n": 3}'])
        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        listener = Listener()
        train = movement.Train(esc, error_output=records.append)
        train.cogs = [fs.FileReaderSupply(esc, [str(source)]), listener, text.JSONParse(), Collector()]
        train.run()
        esc.close()
        assert listener.done_ids == [f"{source}:0", f"{source}:9", f"{source}:18"]
        assert [r.event_id for r in records] == [f"{source}:9"]

    def test_notify_and_event_rename_in_the_manual_form(self) -> None:
        """Train.notify reaches every cog bearing the name; event_rename(event_id) gets the old id."""
        listener = Listener()
        esc = movement.Escapement()
        train = movement.Train(esc, [listener, Pinion])
        train.notify("event_rename", "old", "new")
        train.notify("event_done", "x")
        esc.close()
        assert listener.renames == ["old"] and listener.done_ids == ["x"]

    def test_an_event_done_a_drain_sends_itself_is_heard_once(self, tmp_path: Path) -> None:
        """A drain written to the manual announces event_done once it has written: the supply hears each id once.

        The train announces every datum done when it leaves; a cog's own
        announcement came on top of it, and a supply releasing what it kept
        per event failed on the second (KeyError, logged per datum).
        """
        released: list[Any] = []

        class Spool(Listener):
            def __init__(self, esc: movement.Escapement) -> None:
                super().__init__()
                self.kept = {f"ev{i}": f"/spool/ev{i}" for i in range(3)}
                esc.enqueue(self.go)

            def go(self) -> list[Any]:
                return [{"id": key} for key in self.kept]

            def event_done(self, eid: Any) -> None:
                released.append(self.kept.pop(eid))

        class Drain(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train

            def __call__(self, data: Any) -> None:
                self.train.notify("event_done", data["id"])

        esc = movement.Escapement()
        train = movement.Train(esc, id_getter=lambda data: data["id"])
        train.cogs = [Spool(esc), Drain(train)]
        train.run()
        esc.close()
        assert released == ["/spool/ev0", "/spool/ev1", "/spool/ev2"]
        assert train.errors == 0

    def test_a_cog_delaying_data_without_hold_is_told_at_finish(self, caplog: pytest.LogCaptureFixture) -> None:
        """The manual's None "to delay": kept without train.hold(), the data counted as done long before finish
        sent them on. They still arrive; the warning says what a crash would have cost and what to do."""

        class Delayer(movement.Cog):
            def __init__(self) -> None:
                self.kept: list[Any] = []

            def __call__(self, data: Any) -> None:
                self.kept.append(data)
                return None

            def finish(self) -> list[Any]:
                kept, self.kept = self.kept, []
                return kept

        caplog.set_level(logging.WARNING)
        out = run_train([Pinion, Delayer()], [{"n": 1}, {"n": 2}])
        assert [d["n"] for d in out.data] == [1, 2]
        warnings = [r.getMessage() for r in caplog.records if "did not know were held" in r.getMessage()]
        assert len(warnings) == 1 and "Delayer" in warnings[0] and "train.hold()" in warnings[0]

    def test_sys_exit_in_a_cog_still_finishes_every_cog(self) -> None:
        """A cog calls sys.exit(3): every cog still finishes and sends on what it holds, then the exit goes on."""
        calls: list[str] = []

        class Keeper(movement.Cog):
            def __init__(self, train: movement.Train) -> None:
                self.train = train
                self.kept: list[Any] = []

            def __call__(self, data: Any) -> None:
                if data["n"] == "stop":
                    sys.exit(3)
                self.kept.append(data)
                self.train.hold()

            def finish(self) -> list[Any]:
                calls.append("finish")
                kept, self.kept = self.kept, []
                self.train.release(len(kept))
                return kept

            def done(self) -> None:
                calls.append("done")

        esc = movement.Escapement()
        train = movement.Train(esc)
        collector = Collector()
        train.cogs = [Pinion, Keeper(train), collector]
        esc.enqueue(train.send, None, [{"n": 1}, {"n": 2}])
        esc.after(0.05, train.send, None, [{"n": "stop"}])
        with pytest.raises(SystemExit) as exited:
            train.run()
        esc.close()
        assert exited.value.code == 3
        assert calls == ["finish", "done"]
        assert [d["n"] for d in collector.data] == [1, 2]

    def test_finish_then_done(self) -> None:
        """finish() before shutting the cogs down, done() before quitting."""
        listener = Listener()
        run_train([listener], [{"n": 1}])
        assert listener.calls == ["finish", "done"]

    def test_a_cog_with_an_unrelated_flush_runs(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """flush(self, force), a name the manual never reserved, keeps no cog out of a train."""

        class Buffered(movement.Cog):
            def __init__(self) -> None:
                self.buffer: list[Any] = []

            def __call__(self, data: Any) -> tuple[Any]:
                self.buffer.append(data)
                return (data,)

            def flush(self, force: bool) -> None:
                self.buffer.clear()

        source = write_lines(tmp_path / "in.txt", ["a", "b"])
        out = tmp_path / "out.txt"
        esc = movement.Escapement()
        buffered = Buffered()
        train = movement.Train(esc)
        train.cogs = [fs.FileReaderSupply(esc, [str(source)]), buffered, fs.LineFileDrain(esc, str(out))]
        train.run()
        esc.close()
        assert out.read_text() == "a\nb\n" and len(buffered.buffer) == 2
        warnings = [r.getMessage() for r in caplog.records if "flush()" in r.getMessage()]
        assert len(warnings) == 1 and "Buffered" in warnings[0]


class TestCogs:
    def test_the_manuals_cogs_run_in_a_train(self) -> None:
        """The plain function, the stateful class and the modifier pinion run unchanged."""
        out = run_train([Pinion, PinionCog(momentum=3), ModifierPinion()], [{"piece": 21}])
        assert out.data == [{"piece": 21, "done": 2, "momentum": 3, "result": 42}]

    def test_winding_up_renders_the_arguments(self) -> None:
        """__init__ arguments saved under their names make str(cog) readable."""
        assert str(PinionCog(momentum=3)) == "PinionCog(momentum=3)"

    def test_none_swallows_and_several_split(self) -> None:
        """A cog returns one datum, several, or None to swallow."""
        out = run_train([lambda d: None if d % 2 else (d, d)], [1, 2, 3, 4])
        assert out.data == [2, 2, 4, 4]

    @pytest.mark.parametrize(
        "first",
        ["train", "geartrain: movement.Train", "geartrain: 'movement.Train'", "geartrain", "my_train"],
        ids=["named", "annotated", "text", "a train by its name alone", "my_train"],
    )
    def test_a_cog_needing_events_asks_for_the_train_first(self, tmp_path: Path, first: str) -> None:
        """deadbeat run gives the Train to a cog whose first __init__ argument is the train: named so or annotated."""
        (tmp_path / "my_cogs.py").write_text(
            "from deadbeat import movement\n"
            "class Later(movement.Cog):\n"
            f"    def __init__(self, {first}, delay=0.01):\n"
            f"        self.train = {first.split(':')[0]}\n"
            "        self.delay = delay\n"
            "    def __call__(self, data):\n"
            "        self.train.hold()\n"
            "        self.train.esc.after(self.delay, self.later, data)\n"
            "    def later(self, data):\n"
            "        self.train.release()\n"
            "        data['late'] = True\n"
            "        return (data,)\n"
        )
        source = write_lines(tmp_path / "in.txt", ["x"])
        out = tmp_path / "out.jsonl"
        (tmp_path / "p.toml").write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{source}"]\nline_setter = "line"\n'
            '[[cog]]\nuse = "my_cogs:Later"\n'
            '[[cog]]\nuse = "text.json_format"\nexclude = []\ntarget = false\n'
            f'[[cog]]\nuse = "fs.write"\nfilename = "{out}"\n'
        )
        built = pipeline.build(str(tmp_path / "p.toml"), once=True)
        built.esc.run()
        built.esc.close()
        assert '"late":true' in out.read_text()
        assert str(tmp_path) not in sys.path  # the module was found beside the file, for that import only

    def test_a_first_parameter_not_given_and_not_the_train_says_how_to_mark_the_train(self, tmp_path: Path) -> None:
        """An unannotated first parameter of another name stays a parameter: missing, the error says what to do."""
        (tmp_path / "prefix_cogs.py").write_text(
            "from deadbeat import movement\n"
            "class Prefix(movement.Cog):\n"
            "    def __init__(self, momentum):\n"
            "        self.momentum = momentum\n"
            "    def __call__(self, data):\n"
            "        return (self.momentum + data,)\n"
        )
        source = write_lines(tmp_path / "in.txt", ["x"])
        (tmp_path / "p.toml").write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{source}"]\n[[cog]]\nuse = "prefix_cogs:Prefix"\n'
        )
        with pytest.raises(pipeline.PipelineError) as caught:
            pipeline.build(str(tmp_path / "p.toml"), once=True)
        assert "momentum: required parameter missing" in str(caught.value)
        assert "name it train or annotate it movement.Train" in str(caught.value)
        (tmp_path / "p.toml").write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{source}"]\n[[cog]]\nuse = "prefix_cogs:Prefix"\nmomentum = ">"\n'
        )
        built = pipeline.build(str(tmp_path / "p.toml"), once=True)
        built.esc.close()


class TestConfigurationAndLogging:
    def test_star_configuration(self, tmp_path: Path) -> None:
        """log.configure(**cfg.log), daemon.detach(**cfg.daemon), and a supply from loose settings."""
        source = write_lines(tmp_path / "in.txt", ["one"])
        cfg = conf.gather(
            conf.cfg_root(
                (
                    conf.cfg_base_config,
                    log.log_base_config,
                    daemon.daemon_base_config,
                    ip.anonymise_base_config,
                    conf.cfg_item("input_files", conf.cast_path_list, "Files to follow"),
                )
            ),
            name="app",
            description="the manual's example",
            argv=["--no-log-stderr", "--input-files", str(source), "--anonymise-v4-prefix", "16"],
        )
        log.configure(**cfg.log)
        assert daemon.detach(**cfg.daemon) is None  # foreground without pid file by default
        train = movement.Train(movement.Escapement())
        # The manual's line exactly: the lines come as text, made a mapping by the next cog.
        watcher = fs.FileWatcherSupply(train.esc, filenames=cfg.input_files, tail=True)
        anonymise = ip.Anonymise(**cfg.anonymise)
        train.cogs = [watcher, lambda d: ({"ip": "192.0.2.55", "line": d},), anonymise, Collector()]
        train.esc.after(0.2, train.esc.shutdown)
        train.run()
        train.esc.close()
        log.configure()
        collector = train.cogs[-1]
        assert [(d["line"], d["ip"]) for d in collector.data] == [("one", "192.0.0.0")]

    def test_log_messages_start_with_the_event_id(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """The manual's logging pattern: the event id first, from the cog's id_getter."""
        caplog.set_level(logging.DEBUG)
        present = tmp_path / "present"
        present.write_text("")
        run_train([Remover()], [{"id": "e1", "file": str(present)}, {"id": "e2", "file": str(tmp_path / "gone")}])
        messages = [r.getMessage() for r in caplog.records if r.name == "root"]
        assert messages == [f"e1: removed {present}", f"e2: attempt to remove nonexistent file {tmp_path / 'gone'}"]


class TestGettersAndSetters:
    def test_getters_fit_other_shapes(self) -> None:
        """operator.itemgetter(2) for a list datum, an itemsetter for the result."""
        out = run_train([ModifierPinion(operator.itemgetter(2), movement.itemsetter(0))], [[None, "x", 5]])
        assert out.data == [[10, "x", 5]]

    def test_ip_cogs_take_callables(self) -> None:
        """The ip cogs take operator.itemgetter and movement.itemsetter as well as paths."""
        anonymise = ip.Anonymise(ip_getter=operator.itemgetter("src"), ip_setter=movement.itemsetter("src"))
        out = run_train([anonymise], [{"src": "198.51.100.7"}])
        assert out.data == [{"src": "198.51.100.0"}]

    def test_id_setter_as_the_manual_describes_it(self, tmp_path: Path) -> None:
        """id_setter: the function generating and setting a unique id (one argument)."""
        source = write_lines(tmp_path / "in.txt", ["a", "b"])

        def id_setter(data: dict[str, Any]) -> dict[str, Any]:
            data["uid"] = uuid.uuid4().hex
            return data

        esc = movement.Escapement()
        listener = Listener()
        train = movement.Train(esc, id_getter="uid")
        supply = fs.FileReaderSupply(esc, [str(source)], line_setter="line", id_setter=id_setter)
        train.cogs = [supply, listener, Collector()]
        train.run()
        esc.close()
        uids = [d["uid"] for d in train.cogs[-1].data]
        assert len(set(uids)) == 2 and listener.done_ids == uids

    def test_through_fs_read_the_manual_form_with_an_option_sets_its_own_id(self, tmp_path: Path) -> None:
        """fs.read on a real file: make_id(data, field="uid") sets the uid; FILE:OFFSET lands nowhere."""
        source = tmp_path / "in.txt"
        source.write_text("a\nb\n")
        made: list[str] = []

        def make_id(data: dict[str, Any], field: str = "uid") -> dict[str, Any]:
            data[field] = uuid.uuid4().hex
            made.append(data[field])
            return data

        done: list[Any] = []

        class Listener(movement.Cog):
            def event_done(self, event_id: Any) -> None:
                done.append(event_id)

        esc = movement.Escapement()
        train = movement.Train(esc, id_getter="uid")
        collector = Collector()
        train.cogs = [
            fs.FileReaderSupply(esc, [str(source)], line_setter="line", id_setter=make_id),
            Listener(),
            collector,
        ]
        train.run()
        esc.close()
        assert [set(d) for d in collector.data] == [{"line", "uid"}, {"line", "uid"}]
        assert [d["line"] for d in collector.data] == ["a", "b"]
        assert [d["uid"] for d in collector.data] == made and len(set(made)) == 2
        assert done == made

    def test_id_setter_with_two_arguments(self, tmp_path: Path) -> None:
        """A setter (datum, id) gets the id the supply made: FILE:OFFSET."""
        source = write_lines(tmp_path / "in.txt", ["a", "b"])
        esc = movement.Escapement()
        supply = fs.FileReaderSupply(esc, [str(source)], line_setter="line", id_setter=movement.itemsetter("eid"))
        out = run_train([supply], esc=esc)
        assert [d["eid"] for d in out.data] == [f"{source}:0", f"{source}:2"]

    def test_a_failing_id_setter_costs_only_its_line(self, tmp_path: Path) -> None:
        """A setter that raises sends that datum to the error output with file and offset; the rest go on."""
        source = write_lines(tmp_path / "in.txt", ["good", "bad", "good again"])

        def picky(data: dict[str, Any]) -> dict[str, Any]:
            if data["line"] == "bad":
                raise ValueError("no id for you")
            data["uid"] = data["line"]
            return data

        records: list[movement.ErrorRecord] = []
        esc = movement.Escapement()
        collector = Collector()
        train = movement.Train(esc, error_output=records.append)
        train.cogs = [fs.FileReaderSupply(esc, [str(source)], line_setter="line", id_setter=picky), collector]
        train.run()
        esc.close()
        assert [d["line"] for d in collector.data] == ["good", "good again"]
        assert len(records) == 1
        assert records[0].datum == {"id": f"{source}:5", "line": "bad", "file": str(source), "offset": 5}
        assert str(records[0].error) == "no id for you"


class TestPipelineFiles:
    def test_false_says_none(self, tmp_path: Path) -> None:
        """A parameter that may be none takes false: fs.read with id_setter = false gives data without ids."""
        source = write_lines(tmp_path / "in.txt", ["a"])
        out = tmp_path / "out.txt"
        (tmp_path / "p.toml").write_text(
            f'[[cog]]\nuse = "fs.read"\nfilenames = ["{source}"]\nline_setter = "line"\nid_setter = false\n'
            '[[cog]]\nuse = "text.json_format"\nexclude = []\ntarget = false\n'
            f'[[cog]]\nuse = "fs.write"\nfilename = "{out}"\nstate_file = false\n'
        )
        built = pipeline.build(str(tmp_path / "p.toml"), once=True)
        built.esc.run()
        built.esc.close()
        assert out.read_text() == '{"line":"a"}\n'

    def test_a_boolean_where_a_path_belongs_is_refused(self, tmp_path: Path) -> None:
        """line_setter = true is no field named "true": the error names file, cog index and key."""
        path = tmp_path / "p.toml"
        path.write_text('[[cog]]\nuse = "fs.read"\nfilenames = ["x"]\nline_setter = true\n')
        with pytest.raises(pipeline.PipelineError, match=r"cog\[0\] \(fs\.read\): line_setter: expected a field path"):
            pipeline.load(str(path))

    def test_a_cog_taking_any_keyword_gets_the_others_unchecked(self, tmp_path: Path) -> None:
        """A cog with **options gets keys it does not name; the ones it names are still checked."""
        (tmp_path / "open_cogs.py").write_text(
            "class Labels:\n"
            "    def __init__(self, prefix: str = '', **labels):\n"
            "        self.prefix, self.labels = prefix, labels\n"
            "    def __call__(self, data):\n"
            "        return ({**data, **{self.prefix + k: v for k, v in self.labels.items()}},)\n"
        )
        path = tmp_path / "p.toml"
        path.write_text('[[cog]]\nuse = "open_cogs:Labels"\nprefix = "x_"\nsite = "lab"\n')
        assert pipeline.load(str(path)).cogs[0].params == {"prefix": "x_", "site": "lab"}
        path.write_text('[[cog]]\nuse = "open_cogs:Labels"\nprefix = 5\n')
        with pytest.raises(pipeline.PipelineError, match="prefix: expected a string"):
            pipeline.load(str(path))

    def test_every_problem_at_once(self, tmp_path: Path) -> None:
        """Three mistakes in two cogs are three lines of one error, not one at a time."""
        path = tmp_path / "p.toml"
        path.write_text(
            '[[cog]]\nuse = "fs.read"\nfilenames = ["x"]\nmax_line = "big"\nencodng = "utf-8"\n'
            '[[cog]]\nuse = "fs.tail"\nfilenames = ["x"]\nstart = "middle"\n'
        )
        with pytest.raises(pipeline.PipelineError) as caught:
            pipeline.load(str(path))
        problems = caught.value.problems
        assert len(problems) == 3
        assert any("cog[0] (fs.read): max_line: expected an integer" in p for p in problems)
        assert any("cog[0] (fs.read): encodng: unknown parameter; did you mean 'encoding'?" in p for p in problems)
        assert any("cog[1] (fs.tail): start: expected one of beginning, end" in p for p in problems)


class TestNoHiddenState:
    def test_state_files_belong_to_their_application(self, tmp_path: Path) -> None:
        """Two Escapements naming one state file hold two objects; the cogs of one share theirs."""
        path = str(tmp_path / "state.json")
        one, two = movement.Escapement(), movement.Escapement()
        a, b = fs.StateFile.acquire(one, path), fs.StateFile.acquire(one, path)
        c = fs.StateFile.acquire(two, path)
        assert a is b and a is not c
        for state in (a, b, c):
            state.release()
        assert fs.StateFile.acquire(one, path) is not a  # the last user let go
        one.close()
        two.close()

    def test_the_json_engine_is_a_parameter(self) -> None:
        """Each JSON cog chooses its engine; nothing switches every cog of the process."""
        assert not hasattr(text, "use_orjson")
        std = text.JSONParse(engine="json")
        fast = text.JSONParse(engine="orjson")
        assert std('{"a": 1}') == fast('{"a": 1}') == ({"a": 1},)
