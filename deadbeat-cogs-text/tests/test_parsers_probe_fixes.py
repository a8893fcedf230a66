"""What a probe of the text cogs found, each now right or refused.

* ``text.csv_format`` wrote a field holding a line break unquoted: one record
  became two broken rows, exit 0.
* Epoch text with a fraction went through a binary float: ``2493360699675.739``
  ms came out 1 µs early, a plausible wrong time.
* ``text.encode``/``decode`` took codecs that are no text encodings (rot13,
  base64): every datum then failed.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat import text
from deadbeat.cast import Cast
from deadbeat.testing import send_through


@given(st.lists(st.text(alphabet="ab,\"\r\n '", max_size=6), min_size=1, max_size=4))
def test_csv_format_reads_back_as_written(values: list[str]) -> None:
    names = [f"f{i}" for i in range(len(values))]
    (line,) = text.CSVFormat(names)(dict(zip(names, values, strict=True)))
    assert list(csv.reader(io.StringIO(line, newline=""))) == [values]


def _micro(value: str, per_second: int) -> str:
    total = int((decimal.Decimal(value) * 1_000_000 / per_second).to_integral_value(decimal.ROUND_HALF_EVEN))
    seconds, micro = divmod(total, 1_000_000)

    moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds, microseconds=micro)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{micro:06d}" if micro else "") + "Z"


@pytest.mark.parametrize(("fmt", "per_second"), [("epoch_ms", 1000), ("epoch", 1)])
def test_epoch_text_is_read_as_the_decimal_it_is(fmt: str, per_second: int) -> None:
    chooser = random.Random(7)
    values = [f"{chooser.randrange(10**12, 4 * 10**12)}.{chooser.randrange(1000):03d}" for _ in range(300)]
    if per_second == 1:
        values = [f"{chooser.randrange(10**9, 4 * 10**9)}.{chooser.randrange(10**6):06d}" for _ in range(300)]
        values.append("253402300798.999999")
    parse = text.TimeParse(fields="t", formats=[fmt])
    for value in values:
        ((out,),) = [parse({"t": value})]
        assert out["t"] == _micro(value, per_second), value
    (cast,) = Cast({"t": "timestamp"})({"t": "1767225600.123457"})
    assert cast["t"] == "2026-01-01T00:00:00.123457Z"


def test_an_epoch_far_beyond_any_time_is_an_error() -> None:
    out, (record,) = send_through([text.TimeParse(fields="t", formats=["epoch"])], [{"id": "e1", "t": "1e400"}])
    assert out == [] and "is not a time" in str(record.error)


@pytest.mark.parametrize("codec", ["rot13", "base64", "hex", "zlib"])
def test_codecs_that_are_no_text_encodings_are_refused_when_built(codec: str) -> None:
    for cog in (text.Encode, text.Decode):
        with pytest.raises(ValueError, match="is not a text encoding"):
            cog(encoding=codec)
