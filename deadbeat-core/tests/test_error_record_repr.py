"""An ErrorRecord shows what it holds: a failing ``assert records == []`` said only ``<... object at 0x...>``."""

from __future__ import annotations

from deadbeat import testing
from deadbeat.movement import ErrorRecord


def test_repr_names_event_cog_error_and_datum() -> None:
    def fails(datum: object) -> tuple[object, ...]:
        raise ValueError(f"cannot take {datum!r}")

    _out, (record,) = testing.send_through([fails], [{"id": "ev-1", "line": "x" * 10_000}])
    shown = repr(record)
    assert shown.startswith("ErrorRecord(event_id='ev-1', cog=")
    assert "ValueError: cannot take" in shown and "'line': 'xxx" in shown
    assert len(shown) < 1000


def test_repr_never_raises() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "Hostile" in repr(ErrorRecord(None, "c", 0, ValueError("v"), Hostile()))
