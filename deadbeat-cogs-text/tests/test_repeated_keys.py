"""A key given twice on a line is never silently overwritten by ``text.kv_parse`` or ``text.cef_parse``.

``user=alice action=login user=root`` became ``{"user": "root", ...}``: one
appended field passed for the real one, exit 0, no error. By default every
value is now kept, in order, in a list; ``repeated`` chooses another policy.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat import testing
from deadbeat.text._cef import CEFParse
from deadbeat.text._parsers import KeyValueParse

CEF = "CEF:0|Vendor|Product|1.0|100|Login|5|"


@pytest.mark.parametrize(
    ("repeated", "user"),
    [("list", ["alice", "root"]), ("first", "alice"), ("last", "root")],
)
def test_kv_policies(repeated: str, user: Any) -> None:
    (out,) = KeyValueParse(repeated=repeated)({"line": "user=alice action=login user=root"})  # type: ignore[arg-type]
    assert out == {"user": user, "action": "login"}


@pytest.mark.parametrize(
    ("repeated", "user"),
    [("list", ["alice", "root"]), ("first", "alice"), ("last", "root")],
)
def test_cef_policies(repeated: str, user: Any) -> None:
    (out,) = CEFParse(repeated=repeated)({"line": CEF + "suser=alice act=login suser=root"})  # type: ignore[arg-type]
    assert out["extensions"] == {"suser": user, "act": "login"}


def test_error_sends_the_line_to_the_error_output_naming_the_key() -> None:
    for cog, line in ((KeyValueParse(repeated="error"), "u=a u=b"), (CEFParse(repeated="error"), CEF + "u=a u=b")):
        out, (record,) = testing.send_through([cog], [{"id": "ev-7", "line": line}])
        assert out == []
        assert record.event_id == "ev-7"
        assert "key 'u' is given more than once" in str(record.error)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="repeated must be one of list, error, first, last"):
        KeyValueParse(repeated="merge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="repeated must be one of"):
        CEFParse(repeated="merge")  # type: ignore[arg-type]


_KEYS = st.sampled_from(["a", "b", "c"])
_VALUES = st.text(alphabet="xyz019", min_size=1, max_size=4)


@given(st.lists(st.tuples(_KEYS, _VALUES), min_size=1, max_size=12))
def test_every_value_is_kept_in_order(pairs: list[tuple[str, str]]) -> None:
    line = " ".join(f"{k}={v}" for k, v in pairs)
    (out,) = KeyValueParse()(line)
    for key in {k for k, _ in pairs}:
        values = [v for k, v in pairs if k == key]
        assert out[key] == (values if len(values) > 1 else values[0])
    assert KeyValueParse(repeated="first")(line)[0] == {k: v for k, v in reversed(pairs)}
    assert KeyValueParse(repeated="last")(line)[0] == dict(pairs)
