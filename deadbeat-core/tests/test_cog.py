"""The Cog base class: readable str() for debugging, secrets kept out of it."""

from __future__ import annotations

import operator

from deadbeat import movement


class Pinion(movement.Cog):
    def __init__(self, momentum: int, piece_getter=None, api_key: str | None = None, items=()):  # type: ignore[no-untyped-def]
        self.momentum = momentum
        self.piece_getter = piece_getter or operator.itemgetter("piece")
        self.api_key = api_key
        self.items = list(items)


class TestCogStr:
    def test_shows_saved_arguments(self) -> None:
        """str() shows the class and each __init__ argument saved under its name."""
        text = str(Pinion(3))
        assert text.startswith("Pinion(momentum=3, piece_getter=operator.itemgetter('piece')")

    def test_hides_secrets(self) -> None:
        """Arguments named like keys or passwords are never rendered."""
        text = str(Pinion(1, api_key="s3cr3t"))
        assert "s3cr3t" not in text and "api_key='***'" in text

    def test_summarises_large_containers(self) -> None:
        """A long list is summarised, so a log line stays short."""
        assert "items=<list of 1000>" in str(Pinion(1, items=range(1000)))

    def test_leaves_out_the_train_and_loop_under_any_name(self) -> None:
        """A train injected as ``geartrain`` (a name deadbeat run injects) showed as
        ``Div(geartrain=<deadbeat.movement._train.Train object at 0x7f...>)`` in every dead-letter line."""

        class Div(movement.Cog):
            def __init__(self, geartrain: movement.Train, loop: movement.Escapement, by: int = 1) -> None:
                self.geartrain = geartrain
                self.loop = loop
                self.by = by

        esc = movement.Escapement()
        try:
            assert str(Div(movement.Train(esc), esc, by=2)) == "Div(by=2)"
        finally:
            esc.close()

    def test_default_call_passes_data_through(self) -> None:
        """A Cog without __call__ of its own passes the datum on."""
        assert movement.Cog()({"a": 1}) == ({"a": 1},)
        assert movement.Supply.supply is True and movement.Cog.supply is False
