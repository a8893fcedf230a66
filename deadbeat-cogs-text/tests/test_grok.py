"""text.grok and text.cef_parse: the pattern language, the library, access logs and CEF."""

from __future__ import annotations

import ipaddress
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from deadbeat import text
from deadbeat.testing import CogConformance, run_train, send_through

COMBINED = (
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)


class TestGrokConformance(CogConformance):
    cog_name = "text.grok"
    params = {"pattern": "%{COMBINEDAPACHELOG}"}
    samples = [COMBINED, {"line": COMBINED}]
    flushes_all = True
    failing_samples = ["not an access log line"]


class TestCEFConformance(CogConformance):
    cog_name = "text.cef_parse"
    params = {"keep": ["id"]}
    samples = ["CEF:0|V|P|1|100|name|5|src=10.0.0.1", {"id": "1", "line": "CEF:0|V|P|1|100|n|5|"}]
    flushes_all = True
    failing_samples = ["LEEF:1.0|x", "CEF:0|too|few"]


def grok(line: str, pattern: str | list[str], **params: Any) -> dict[str, Any]:
    return text.GrokParse(pattern, **params)(line)[0]  # type: ignore[no-any-return]


class TestAccessLogs:
    def test_combined_log(self) -> None:
        """%{COMBINEDAPACHELOG} gives the fields Logstash users know, as text."""
        assert grok(COMBINED, "%{COMBINEDAPACHELOG}") == {
            "clientip": "127.0.0.1",
            "ident": "-",
            "auth": "frank",
            "timestamp": "10/Oct/2000:13:55:36 -0700",
            "verb": "GET",
            "request": "/apache_pb.gif",
            "httpversion": "1.0",
            "response": "200",
            "bytes": "2326",
            "referrer": '"http://www.example.com/start.html"',
            "agent": '"Mozilla/4.08 [en] (Win98; I ;Nav)"',
        }

    def test_nginx_ipv6_no_bytes_and_a_garbled_request(self) -> None:
        """An IPv6 client, '-' for bytes (no field) and a request that is not 'VERB PATH' (rawrequest)."""
        line = '2001:db8::7 - - [27/Nov/2026:19:50:00 +0100] "\\x16\\x03\\x01" 400 - "-" "-"'
        fields = grok(line, "%{COMBINEDAPACHELOG}")
        assert fields["clientip"] == "2001:db8::7" and fields["rawrequest"] == "\\x16\\x03\\x01"
        assert "bytes" not in fields and "verb" not in fields

    def test_common_log_and_a_hostname_client(self) -> None:
        """%{COMMONAPACHELOG}, with a host name as the client."""
        line = 'host-1.example.org - alice@example.org [10/Oct/2000:13:55:36 -0700] "POST /x?y=1 HTTP/2.0" 201 0'
        fields = grok(line, "%{COMMONAPACHELOG}")
        assert fields["clientip"] == "host-1.example.org" and fields["auth"] == "alice@example.org"
        assert fields["request"] == "/x?y=1" and fields["httpversion"] == "2.0"

    def test_syslog_base(self) -> None:
        """%{SYSLOGBASE} then the message."""
        fields = grok("Nov 27 19:50:00 vm sshd[123]: Accepted key", "%{SYSLOGBASE} %{GREEDYDATA:message}")
        assert fields == {
            "timestamp": "Nov 27 19:50:00",
            "logsource": "vm",
            "program": "sshd",
            "pid": "123",
            "message": "Accepted key",
        }


class TestLanguage:
    def test_types_convert(self) -> None:
        """:int and :float convert the capture; a capture that does not convert is an error naming the field."""
        assert grok("GET 12 0.5", "%{WORD:verb} %{INT:n:int} %{NUMBER:f:float}") == {"verb": "GET", "n": 12, "f": 0.5}
        with pytest.raises(ValueError, match="field 'n': '1.5' is not an int"):
            grok("1.5", "%{NUMBER:n:int}")

    def test_a_float_that_does_not_fit_is_an_error_not_infinity(self) -> None:
        """A 400-digit number would be Infinity as a float, which JSON cannot hold: refused, naming the field."""
        with pytest.raises(ValueError, match="field 'f': .* is not a number"):
            grok("9" * 400, "%{NUMBER:f:float}")

    def test_a_field_named_twice_and_matched_twice_keeps_both_values(self) -> None:
        """Both parts matched (a sequence, not alternatives): a list of the values in order, nothing dropped."""
        assert grok("foo bar", "%{WORD:x} %{WORD:x}") == {"x": ["foo", "bar"]}
        assert grok("a b c", "%{WORD:x.y} %{WORD:x.y} %{WORD:x.y}") == {"x.y": ["a", "b", "c"]}

    def test_non_ascii_text(self) -> None:
        """Fields of text beyond ASCII are cut at character boundaries (RE2 answers byte offsets)."""
        assert grok("žluťoučký kůň 12", "%{GREEDYDATA:words} %{INT:n}") == {"words": "žluťoučký kůň", "n": "12"}
        assert grok("é 1", "%{DATA:a} (?:%{INT:n:int}|%{WORD:w})") == {"a": "é", "n": 1}
        assert grok("é x", "%{DATA:a} (?:%{INT:n:int}|%{WORD:w})") == {"a": "é", "w": "x"}

    def test_same_field_in_alternatives(self) -> None:
        """A field named in two alternatives gets whichever matched."""
        pattern = "(?:%{IP:peer}|%{HOSTNAME:peer}) up"
        assert grok("10.0.0.1 up", pattern) == {"peer": "10.0.0.1"}
        assert grok("gw.example up", pattern) == {"peer": "gw.example"}

    def test_plain_named_groups_and_dotted_fields(self) -> None:
        """Named groups written as regular expressions are fields too; field names may hold dots."""
        assert grok("ab-12", "(?P<letters>[a-z]+)-%{INT:num.value}") == {"letters": "ab", "num.value": "12"}

    def test_user_patterns_inline_and_from_files(self, tmp_path: Path) -> None:
        """patterns and pattern_files add names (and replace library ones); files are Logstash's format."""
        patterns = tmp_path / "extra"
        patterns.write_text("# ticket ids\nTICKET [A-Z]{3}-%{INT}\n\nQUEUE \\w+\n")
        fields = grok(
            "OPS-42 in ops at 10.0.0.1",
            "%{TICKET:ticket} in %{QUEUE:queue} at %{IP:ip}",
            pattern_files=[str(patterns)],
            patterns={"IP": "%{IPV4}"},
        )
        assert fields == {"ticket": "OPS-42", "queue": "ops", "ip": "10.0.0.1"}

    def test_patterns_tried_in_order(self) -> None:
        """A list of patterns: the first that matches gives the fields."""
        patterns = ["%{INT:number}", "%{WORD:word}", "%{GREEDYDATA:rest}"]
        assert [grok(line, patterns) for line in ("12", "abc", "a b")] == [
            {"number": "12"},
            {"word": "abc"},
            {"rest": "a b"},
        ]

    def test_mistakes_are_refused_when_built(self, tmp_path: Path) -> None:
        """Unknown names, cycles, unknown types, patterns capturing nothing and bad files are refused, saying which."""
        with pytest.raises(ValueError, match=r"unknown grok pattern %\{NOPE\}"):
            text.GrokParse("%{NOPE:x}")
        with pytest.raises(ValueError, match="refers to itself: A -> B -> A"):
            text.GrokParse("%{A:x}", patterns={"A": "%{B}", "B": "%{A}"})
        # Each definition using the one before twice: 2**30 characters, refused at a bound, not built.
        doubling = {"P0": "a", **{f"P{i}": f"%{{P{i - 1}}}%{{P{i - 1}}}" for i in range(1, 31)}}
        with pytest.raises(ValueError, match="expands to more than 1,000,000 characters"):
            text.GrokParse("%{P30:x}", patterns=doubling)
        with pytest.raises(ValueError, match="unknown type 'date'"):
            text.GrokParse("%{INT:x:date}")
        with pytest.raises(ValueError, match="captures no field"):
            text.GrokParse("%{INT}")
        bad = tmp_path / "bad"
        bad.write_text("GOOD x\nnot-a-name\n")
        with pytest.raises(ValueError, match="bad:2"):
            text.GrokParse("%{GOOD:x}", pattern_files=[str(bad)])

    def test_line_that_does_not_match_goes_to_the_error_output(self) -> None:
        """A line no pattern matches is an error for that datum alone, with its event id."""
        out, errors = send_through(
            [text.GrokParse("%{INT:n:int}", keep=["id"])], [{"id": "a", "line": "1"}, {"id": "b", "line": "x"}]
        )
        assert out == [{"n": 1, "id": "a"}]
        assert errors[0].event_id == "b" and "does not match" in str(errors[0].error)

    def test_whole_lists_in_a_train(self) -> None:
        """Lists give what one call per datum gives, with a bad line among them."""
        lines = [COMBINED, COMBINED.replace("200", "404"), "garbage", COMBINED]
        cog = text.GrokParse("%{COMBINEDAPACHELOG}")
        collected = run_train([cog], list(lines)).data
        assert collected == [cog(line)[0] for line in lines if line != "garbage"]

    def test_hostile_line_is_linear(self) -> None:
        """Nested lazy and greedy parts over a long line that fails at its end finish (RE2: linear time)."""
        line = "a" * 100_000 + "!"
        with pytest.raises(ValueError):
            grok(line, "%{DATA:a}%{DATA:b}%{DATA:c}x")


ASCII = string.ascii_letters + string.digits + " .:-_/[]\"'"


class TestAgainstHandWrittenRegexes:
    """Grok's expansion matches what the same regular expression written by hand (Python's re) matches."""

    HAND = re.compile(
        r"(?P<client>\S+) (?P<ident>\S+) (?P<auth>\S+) \[(?P<timestamp>[^\]]+)\] "
        r'"(?P<verb>[A-Z]+) (?P<request>\S+) HTTP/(?P<httpversion>[0-9.]+)" (?P<response>[0-9]+) (?P<bytes>[0-9]+|-)'
    )

    @settings(max_examples=150, deadline=None)
    @given(
        st.ip_addresses().map(str),
        st.from_regex(r"[a-z][a-z0-9_.-]{0,8}", fullmatch=True) | st.just("-"),
        st.sampled_from(["GET", "POST", "HEAD", "DELETE"]),
        st.from_regex(r"/[A-Za-z0-9/._?=&-]{0,20}", fullmatch=True),
        st.integers(100, 599),
        st.integers(0, 10**9) | st.just("-"),
        st.datetimes().map(lambda d: d.strftime("%d/%b/%Y:%H:%M:%S -0000")),
    )
    def test_common_log_lines(
        self, client: str, user: str, verb: str, path: str, status: int, size: Any, stamp: str
    ) -> None:
        """Generated common-log lines give the same fields both ways."""
        assume(len(stamp.split("/")[2].split(":")[0]) == 4)  # HTTPDATE years have 2 or 4 digits
        line = f'{client} - {user} [{stamp}] "{verb} {path} HTTP/1.1" {status} {size}'
        hand = self.HAND.fullmatch(line)
        assert hand is not None
        expected = {k: v for k, v in hand.groupdict().items() if not (k == "bytes" and v == "-")}
        expected["clientip"] = expected.pop("client")
        assert grok(line, "%{COMMONAPACHELOG}") == expected

    @settings(max_examples=300, deadline=None)
    @given(st.text(ASCII, max_size=30))
    def test_any_text_word_and_int(self, line: str) -> None:
        """For any text, %{WORD:a} %{INT:b:int} matches when the hand-written regex does, with the same fields."""
        hand = re.fullmatch(r"(?P<a>[A-Za-z0-9_]+) (?P<b>[+-]?[0-9]+)", line)
        cog = text.GrokParse("%{WORD:a} %{INT:b:int}")
        if hand is None:
            with pytest.raises(ValueError, match="does not match"):
                cog(line)
        else:
            assert cog(line)[0] == {"a": hand["a"], "b": int(hand["b"])}

    @settings(max_examples=300, deadline=None)
    @given(st.text("0123456789abcdefABCDEF:.", max_size=45))
    def test_ip_matches_exactly_the_addresses(self, candidate: str) -> None:
        """%{IP} accepts a text exactly when Python's ipaddress does (without zone ids)."""
        try:
            ipaddress.ip_address(candidate)
            valid = True
        except ValueError:
            valid = False
        assert (IP_ONLY.fields(candidate) is not None) == valid, candidate

    @settings(max_examples=200, deadline=None)
    @given(st.ip_addresses(v=6))
    def test_every_ipv6_form(self, address: ipaddress.IPv6Address) -> None:
        """Compressed, exploded and IPv4-tailed forms of any IPv6 address match %{IPV6}."""
        forms = [address.compressed, address.exploded]
        head = address.exploded.rsplit(":", 2)[0]
        forms.append(f"{head}:{ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)}")
        for form in forms:
            assert IPV6_ONLY.fields(form) is not None, form


IP_ONLY = text.Grok("%{IP:ip}", text.STANDARD_PATTERNS).compiled
IPV6_ONLY = text.Grok("%{IPV6:ip}", text.STANDARD_PATTERNS).compiled


class TestCEF:
    def test_header_extension_and_syslog_prefix(self) -> None:
        """Header fields, extension pairs with spaces in values and escapes, and the syslog header before CEF:."""
        line = (
            "Sep 19 08:26:10 host CEF:0|Security|threat\\|manager|1.0|100|worm stopped|10|"
            "src=10.0.0.1 dst=2.1.2.2 msg=Detected a \\= threat\\nsecond line cs1Label=a\\\\b"
        )
        fields = text.CEFParse()(line)[0]
        assert fields == {
            "cef_version": "0",
            "device_vendor": "Security",
            "device_product": "threat|manager",
            "device_version": "1.0",
            "signature_id": "100",
            "name": "worm stopped",
            "severity": "10",
            "extensions": {
                "src": "10.0.0.1",
                "dst": "2.1.2.2",
                "msg": "Detected a = threat\nsecond line",
                "cs1Label": "a\\b",
            },
            "prefix": "Sep 19 08:26:10 host",
        }

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("LEEF:1.0|x", "no 'CEF:'"),
            ("CEF:0|a|b|c", "3 of its 7"),
            ("CEF:x|a|b|c|d|e|f|", "version"),
            ("CEF:0|a|b|c|d|e|f|garbage here", "key=value"),
        ],
    )
    def test_bad_records_name_the_problem(self, line: str, reason: str) -> None:
        """Records that are not CEF go to the error output saying what is wrong."""
        _, errors = send_through([text.CEFParse()], [line])
        assert len(errors) == 1 and reason in str(errors[0].error)

    @settings(max_examples=100, deadline=None)
    @given(
        st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12), min_size=6, max_size=6),
        st.dictionaries(
            st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{0,8}", fullmatch=True),
            st.text(st.characters(codec="utf-8", exclude_characters="\r"), max_size=12).map(str.strip),
            max_size=5,
        ),
    )
    def test_escaped_values_come_back(self, header: list[str], extension: dict[str, str]) -> None:
        """Whatever the header and extension values, written with CEF's escapes they parse back to themselves."""

        def head(value: str) -> str:
            return value.replace("\\", "\\\\").replace("|", "\\|")

        def ext(value: str) -> str:
            return value.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n")

        assume(all(v == v.strip(" ") and "  " not in v for v in extension.values()))
        line = "CEF:0|" + "|".join(map(head, header)) + "|" + " ".join(f"{k}={ext(v)}" for k, v in extension.items())
        fields = text.CEFParse()(line)[0]
        assert [fields[name] for name in text._cef.CEF_HEADER[1:]] == header
        assert fields["extensions"] == extension
