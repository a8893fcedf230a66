"""The conformance kit catches the mistakes it is there to catch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from deadbeat.testing import CogConformance

MakeDist = Callable[..., Path]

BAD_COGS = '''
from deadbeat import movement


class ReturnsDatum(movement.Cog):
    """Returns the datum itself instead of an iterable."""

    def __init__(self, field="x"):
        self.field = field

    def __call__(self, data):
        return data


class Forgetful:
    """Does not save its arguments, so str() says nothing useful."""

    def __init__(self, field="x"):
        self._field = field

    def __call__(self, data):
        return (data,)


class Clingy(movement.Cog):
    """Keeps a timer after finish."""

    def __init__(self, esc):
        self.esc = esc
        esc.every(10, self.tick)

    def tick(self):
        pass

    def __call__(self, data):
        return (data,)


class Rebinding(movement.Cog):
    """Binds again in done."""

    def __init__(self, esc):
        self.esc = esc

    def tick(self):
        pass

    def done(self):
        self.esc.after(1, self.tick)


class Undocumented(movement.Cog):
    def __call__(self, data):
        return (data,)


class Hoarder(movement.Cog):
    """Swallows everything and never flushes."""

    def __call__(self, data):
        return None
'''


@pytest.fixture
def bad_cogs(make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch) -> None:
    site = make_dist(
        "deadbeat-bad-cogs",
        {
            "bad.returns_datum": "bad_cogs_mod:ReturnsDatum",
            "bad.forgetful": "bad_cogs_mod:Forgetful",
            "bad.clingy": "bad_cogs_mod:Clingy",
            "bad.rebinding": "bad_cogs_mod:Rebinding",
            "bad.undocumented": "bad_cogs_mod:Undocumented",
            "bad.hoarder": "bad_cogs_mod:Hoarder",
        },
        "bad_cogs_mod",
        BAD_COGS,
    )
    monkeypatch.syspath_prepend(str(site))


def kit(name: str, **attributes: object) -> CogConformance:
    cls = type("Kit", (CogConformance,), {"cog_name": name, "samples": [{"x": 1}], "run_seconds": 0.05, **attributes})
    return cls()


@pytest.mark.usefixtures("bad_cogs")
class TestKitCatches:
    def test_returning_the_datum(self) -> None:
        """Returning the bare datum instead of (datum,) fails with advice."""
        with pytest.raises(AssertionError, match="return a tuple such as"):
            kit("bad.returns_datum").test_returns_iterables()

    def test_unsaved_arguments(self) -> None:
        """A cog whose str() hides its arguments fails."""
        with pytest.raises(AssertionError, match="derive from deadbeat.movement.Cog"):
            kit("bad.forgetful", params={"field": "y"}).test_str_shows_arguments()

    def test_binding_kept_after_finish(self) -> None:
        """A timer still held after finish fails the finish check."""
        with pytest.raises(AssertionError, match="still bound after finish"):
            kit("bad.clingy").test_finish_releases_and_binds_nothing_after()

    def test_binding_after_finish(self) -> None:
        """Binding in done fails the check."""
        with pytest.raises(AssertionError, match="tried to bind after finish"):
            kit("bad.rebinding").test_finish_releases_and_binds_nothing_after()

    def test_missing_docstring(self) -> None:
        """A cog without a docstring has no summary and fails."""
        with pytest.raises(AssertionError, match="give the cog a docstring"):
            kit("bad.undocumented").test_entry_point_loads()

    def test_data_not_flushed(self) -> None:
        """A cog that must flush and does not fails with the counts."""
        with pytest.raises(AssertionError, match="1 samples in, 0 out after finish"):
            kit("bad.hoarder", flushes_all=True).test_finish_releases_and_binds_nothing_after()


class TestKitPasses:
    def test_a_good_cog_passes_every_check(self) -> None:
        """The example package's cog passes all checks when run directly."""
        good = kit("example.upper", params={"field": "x"}, samples=[{"x": "a"}], flushes_all=True)
        good.test_entry_point_loads()
        good.test_returns_iterables()
        good.test_str_shows_arguments()
        good.test_finish_releases_and_binds_nothing_after()
