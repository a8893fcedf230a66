"""The example package's own tests: the conformance kit against its cogs, then their behaviour."""

from deadbeat import movement
from deadbeat.testing import CogConformance, run_train, send_through
from deadbeat_example_upper import Delay, Upper


class TestUpperConformance(CogConformance):
    cog_name = "example.upper"
    params = {"field": "line"}
    samples = [{"id": "a", "line": "abc"}, {"id": "b", "line": "Déjà vu"}]
    # No "line" field: Upper raises, and the datum goes to the error output alone.
    failing_samples = [{"id": "c"}]
    flushes_all = True


class TestDelayConformance(CogConformance):
    cog_name = "example.delay"
    params = {"seconds": 30.0}
    samples = [{"id": str(i)} for i in range(5)]
    # Held for 30 s, but the test stops after 0.2 s: finish must flush them all.
    flushes_all = True


class TestUpper:
    def test_upper_cases_a_nested_field(self) -> None:
        """A dotted path reaches into nested data."""
        out = run_train([Upper(field="msg.text")], [{"msg": {"text": "hi"}}])
        assert out.data == [{"msg": {"text": "HI"}}]

    def test_a_datum_without_the_field_fails_alone(self) -> None:
        """The whole list goes in one call; a datum without the field reaches the error output alone."""
        out, errors = send_through([Upper()], [{"id": "a", "line": "x"}, {"id": "b"}, {"id": "c", "line": "y"}])
        assert out == [{"id": "a", "line": "X"}, {"id": "c", "line": "Y"}]
        assert [e.event_id for e in errors] == ["b"]


class TestDelay:
    def test_late_data_continue_from_the_delaying_cog(self) -> None:
        """Data released by the timer pass the cogs after Delay, not those before it."""
        esc = movement.Escapement()
        seen_before: list[str] = []

        def before(data: dict) -> tuple[dict]:
            seen_before.append(data["id"])
            return (data,)

        train = movement.Train(esc)
        delay = Delay(train, seconds=0.01)
        out = run_train([before, delay, Upper(field="id")], [{"id": "x"}, {"id": "y"}], esc=esc)
        assert seen_before == ["x", "y"]
        assert sorted(d["id"] for d in out.data) == ["X", "Y"]
