"""Every API name of the original developer manual works as the manual describes.

The manual (Deadbeat 0.1, CESNET) is our contract: an application written against
it must run. The names are listed here so the test needs nothing outside the
repository; each behaviour is exercised in detail by the tests named beside it.
"""

from __future__ import annotations

import operator
import select
import signal
import socket
from typing import Any

from deadbeat import conf, daemon, log, movement
from deadbeat.testing import run_train

MANUAL_NAMES = {
    movement: ["Escapement", "DummyEscapement", "Train", "Cog", "itemsetter"],
    movement.Escapement: [
        "enqueue",  # test_escapement.TestImmediateEvents
        "dequeue",
        "fd_register",  # test_escapement.TestDescriptors
        "fd_unregister",
        "inotify_add",  # test_escapement.TestInotify / TestPollingFallback
        "inotify_rm",
        "inotify",
        "signal_register",  # test_escapement.TestSignals
        "signal_unregister",
        "run",
    ],
    movement.Train: ["notify", "esc"],  # test_train.TestBroadcasts
    movement.BroadcastSpec: ["event_done", "event_rename", "finish", "done"],
    daemon: ["daemon_base_config", "detach"],  # test_daemon
    log: ["configure"],  # test_log
    conf: ["cfg_root", "cfg_item", "cfg_section", "cast_path_list", "gather"],  # test_conf
}


def pinion(data: Any) -> tuple[Any]:
    """The manual's plain-function cog."""
    data["seen"] = True
    return (data,)


class Pinion(movement.Cog):
    """The manual's stateful cog."""

    def __init__(self, momentum: int) -> None:
        self.momentum = momentum

    def __call__(self, data: Any) -> tuple[Any]:
        data["momentum"] = self.momentum
        return (data,)


class ModifierPinion(movement.Cog):
    """The manual's getter/setter pattern, verbatim in spirit."""

    def __init__(self, piece_getter: Any = None, result_setter: Any = None) -> None:
        self.piece_getter = piece_getter or operator.itemgetter("piece")
        self.result_setter = result_setter or movement.itemsetter("result")

    def __call__(self, data: Any) -> tuple[Any]:
        piece = self.piece_getter(data)
        data = self.result_setter(data, piece * 2)
        return (data,)


class TestManualNames:
    def test_every_name_exists(self) -> None:
        """Each name the manual uses is present where the manual puts it."""
        esc = movement.Escapement()
        train = movement.Train(esc)
        missing = []
        for owner, names in MANUAL_NAMES.items():
            probe = train if owner is movement.Train else esc if owner is movement.Escapement else owner
            missing += [f"{owner.__name__}.{n}" for n in names if not hasattr(probe, n)]
        esc.close()
        assert missing == []

    def test_manual_cog_patterns_run_in_a_train(self) -> None:
        """The manual's three cog examples work unchanged in a Train."""
        out = run_train([pinion, Pinion(momentum=3), ModifierPinion()], [{"piece": 21}])
        assert out.data == [{"piece": 21, "seen": True, "momentum": 3, "result": 42}]
        assert str(Pinion(momentum=3)) == "Pinion(momentum=3)"

    def test_getters_can_be_swapped_for_other_shapes(self) -> None:
        """With other getters and setters the same cog works on lists."""
        cog = ModifierPinion(operator.itemgetter(2), movement.itemsetter(0))
        out = run_train([cog], [[None, "x", 5]])
        assert out.data == [[10, "x", 5]]

    def test_star_configuration_of_log_and_daemon(self) -> None:
        """log.configure(**cfg.log) and daemon.detach(**cfg.daemon) accept the gathered sections."""
        cfg = conf.gather(
            conf.cfg_root((conf.cfg_base_config, log.log_base_config, daemon.daemon_base_config)),
            name="app",
            description="manual example",
            argv=["--no-log-stderr"],
        )
        log.configure(**cfg.log)
        assert daemon.detach(**cfg.daemon) is None  # foreground without pid file by default
        log.configure()

    def test_supply_binds_a_socket_and_dummy_stops_new_bindings(self) -> None:
        """A supply bound with fd_register feeds the train; a finishing cog may swap in DummyEscapement."""

        class SocketSupply(movement.Supply):
            def __init__(self, esc: movement.Escapement, sock: socket.socket) -> None:
                self.esc = esc
                self.sock = sock
                esc.fd_register(sock, select.EPOLLIN, self.readable)

            def readable(self) -> list[dict[str, str]]:
                return [{"line": line} for line in self.sock.recv(4096).decode().split()]

            def finish(self) -> None:
                self.esc.fd_unregister(self.sock)
                self.esc = movement.DummyEscapement()
                self.esc.fd_register(self.sock, select.EPOLLIN, self.readable)  # harmless now

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
