"""${VAR} in pipeline files: substituted in parsed values, errors that name the place, secrets never shown."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat import movement, pipeline
from deadbeat.pipeline import PipelineError, Substitution, VariableError

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
values = st.text(max_size=40)

COGS = '''
from deadbeat import movement


class Echo(movement.Cog):
    """Passes data on.

    :param text: a text.
    :param count: a number.
    :param items: texts.
    :param password: a secret.
    """

    def __init__(self, text: str = "", count: int = 1, items: list[str] = (), password: str = "") -> None:
        self.text = text
        self.count = count
        self.items = list(items)
        self.password = password
'''


def write(tmp_path: Path, body: str) -> str:
    (tmp_path / "appcogs.py").write_text(COGS)
    path = tmp_path / "pipeline.toml"
    path.write_text(textwrap.dedent(body))
    return str(path)


class TestSubstitution:
    @given(names, values, values, values)
    def test_a_variable_is_replaced_by_its_value_wherever_it_stands(
        self, name: str, value: str, before: str, after: str
    ) -> None:
        """${NAME} becomes the value, whatever it holds (even ${ or TOML), with the text around it kept."""
        before, after = before.replace("$", ""), after.replace("$", "")
        sub = Substitution({name: value})
        assert sub.text(f"{before}${{{name}}}{after}") == before + value + after

    @given(names, values, st.sampled_from([None, ""]))
    def test_the_default_stands_for_unset_or_empty(self, name: str, default: str, found: str | None) -> None:
        """${NAME:-default} is the default when NAME is unset or empty, as in the shell."""
        default = default.replace("}", "")
        environ = {} if found is None else {name: found}
        assert Substitution(environ).text(f"${{{name}:-{default}}}") == default

    @given(values)
    def test_dollar_dollar_brace_is_a_literal(self, text: str) -> None:
        """Any text, written with each ${ as $${, comes out as it was; a text without ${ is left alone."""
        sub = Substitution({})
        assert sub.text(text.replace("${", "$${")) == text
        if "${" not in text:
            assert sub.text(text) == text

    def test_an_unset_variable_without_default_is_an_error_naming_it(self) -> None:
        """${NOPE} with NOPE unset fails, naming NOPE."""
        with pytest.raises(VariableError, match="environment variable NOPE is not set and has no default"):
            Substitution({}).text("x ${NOPE} y")

    @pytest.mark.parametrize("text", ["${", "${1X}", "${A-B}", "a ${ b"])
    def test_bad_references_are_errors(self, text: str) -> None:
        """An unclosed ${ or a name that is not one is an error, pointing at $${ for a literal."""
        with pytest.raises(VariableError, match=r"\$\$\{"):
            Substitution({}).text(text)

    @pytest.mark.parametrize("text", ["${LOG_DIR:-${HOME}/logs}", "${A:-x${B:-y}}", "${file:${KEYFILE}}"])
    def test_a_reference_inside_a_reference_is_an_error(self, text: str) -> None:
        """The shell nests defaults; here the first } would end the reference and keep "${HOME" as text."""
        with pytest.raises(VariableError, match="a reference inside a reference is not substituted"):
            Substitution({"HOME": "/root", "B": "b", "KEYFILE": "k"}).text(text)


class TestPipelineFiles:
    def test_values_are_substituted_after_parsing_so_nothing_injects_toml(self, tmp_path: Path) -> None:
        """A value holding TOML stays one string: no cog, table or key is added; lists and tables are substituted."""
        evil = '"\n[[cog]]\nuse = "appcogs:Echo"\ncount = 666\n'
        path = write(
            tmp_path,
            """
            [[cog]]
            use = "appcogs:Echo"
            text = "${EVIL}"
            count = "${COUNT:-7}"
            items = ["${A}", "plain", "$${A}"]
            """,
        )
        spec = pipeline.load(path, environ={"EVIL": evil, "A": "a-value"})
        (cog,) = spec.cogs
        assert cog.params == {"text": evil, "count": 7, "items": ["a-value", "plain", "${A}"]}

    def test_keys_are_never_substituted(self, tmp_path: Path) -> None:
        """A key written as ${X} stays a key (and here, an unknown parameter)."""
        path = write(tmp_path, '[[cog]]\nuse = "appcogs:Echo"\n"${X}" = 1\n')
        with pytest.raises(PipelineError, match=r"\$\{X\}: unknown parameter"):
            pipeline.load(path, environ={"X": "text"})

    def test_every_unset_variable_is_reported_with_file_cog_and_key(self, tmp_path: Path) -> None:
        """Each problem line names the file, the cog's index and name, the key and the variable."""
        path = write(
            tmp_path,
            """
            [log]
            level = "${LEVEL}"
            [[cog]]
            use = "appcogs:Echo"
            [[cog]]
            use = "appcogs:Echo"
            items = ["ok", "${MISSING}"]
            """,
        )
        with pytest.raises(PipelineError) as caught:
            pipeline.load(path, environ={})
        problems = caught.value.problems
        assert f"{path}: log: level: ${{LEVEL}}: environment variable LEVEL is not set and has no default" in problems
        assert (
            f"{path}: cog[1] (appcogs:Echo): items[1]: ${{MISSING}}: environment variable MISSING is not set"
            " and has no default" in problems
        )

    def test_a_secret_from_a_file_is_used_but_never_shown(self, tmp_path: Path) -> None:
        """${file:...} gives the file's text (one newline off) to the cog; --explain and errors show *** instead."""
        (tmp_path / "secret.txt").write_text("hunter2-0123456789abcdef\n")
        path = write(
            tmp_path,
            """
            [[cog]]
            use = "appcogs:Echo"
            text = "token=${file:secret.txt}"
            password = "${file:secret.txt}"
            """,
        )
        spec = pipeline.load(path, environ={})
        assert spec.cogs[0].params["text"] == "token=hunter2-0123456789abcdef"
        assert spec.cogs[0].params["password"] == "hunter2-0123456789abcdef"
        shown = pipeline.explain(spec)
        assert "hunter2" not in shown and "token=***" in shown
        (tmp_path / "pipeline.toml").write_text('[[cog]]\nuse = "appcogs:Echo"\ncount = "${file:secret.txt}"\n')
        with pytest.raises(PipelineError) as caught:
            pipeline.load(path, environ={})
        assert "hunter2" not in str(caught.value) and "cog[0] (appcogs:Echo): count" in str(caught.value)

    def test_an_unreadable_secret_file_is_an_error_naming_it(self, tmp_path: Path) -> None:
        """${file:...} naming a missing file is an error naming the file, the cog and the key."""
        path = write(tmp_path, '[[cog]]\nuse = "appcogs:Echo"\npassword = "${file:nowhere.txt}"\n')
        with pytest.raises(PipelineError, match=r"cog\[0\] \(appcogs:Echo\): password: \$\{file:nowhere.txt\}: cannot"):
            pipeline.load(path, environ={})


class TestRedaction:
    @given(st.text(min_size=1, max_size=40).filter(lambda t: t.strip("\t\n\r")))
    def test_a_secret_is_hidden_however_a_message_quotes_it(self, secret: str) -> None:
        """As it is, by repr alone or inside a container, by JSON: never shown."""
        import json

        substitution = Substitution({})
        substitution.secrets = {secret}
        for shown in (secret, repr(secret), repr([secret, "'"]), repr({"url": "x/" + secret}), json.dumps(secret)):
            assert "***" in substitution.redact(shown), shown

    @pytest.mark.parametrize("length", [499, 600, 5000])
    def test_a_long_secret_is_hidden_whole_and_cut_short(self, length: int) -> None:
        """A JWT or a PEM key: hidden as for any length (a pattern with a group per character broke at 500)."""
        secret = ("eyJhbGciOiJIUzI1NiJ9." * 300)[:length]
        substitution = Substitution({})
        substitution.secrets = {secret}
        assert substitution.redact(f"token={secret}; next") == "token=***; next"
        assert substitution.redact(f"Post(token='{secret[:77]}...')") == "Post(token='***...')"
        assert substitution.redact("a sentence... and more...") == "a sentence... and more..."

    def test_a_redaction_that_fails_hides_the_line_and_raises_nothing(self) -> None:
        """A log filter that raises raises where the line was logged, in the middle of a train's work."""
        from deadbeat.pipeline import _Redacting

        def broken(text: str) -> str:
            raise RecursionError("maximum recursion depth exceeded")

        record = logging.LogRecord("deadbeat.deadletter", logging.ERROR, __file__, 1, "token %s", ("T0PSECRET",), None)
        assert _Redacting(broken).filter(record) is True
        assert "T0PSECRET" not in record.getMessage()
        assert "not shown: hiding secrets in it failed: RecursionError" in record.getMessage()

    def test_a_short_secret_is_hidden_alone_not_inside_words(self) -> None:
        """A 2-letter secret would otherwise garble file names, event ids and the run summary."""
        substitution = Substitution({})
        substitution.secrets = {"in"}
        assert substitution.redact("/var/log/in2.jsonl:8: invalid JSON; finished: in 2, out 1") == (
            "/var/log/in2.jsonl:8: invalid JSON; finished: *** 2, out 1"
        )
        assert substitution.redact("password='in'") == "password='***'"
        substitution.secrets = {"hunter2long"}  # 8 characters or more: hidden wherever it is
        assert substitution.redact("xhunter2longx") == "x***x"

    def test_what_is_shown_of_a_secret_cut_short_is_hidden(self) -> None:
        """str(cog) cuts a long value at 80 characters: a webhook's token in the path is cut in its middle."""

        class Post(movement.Cog):
            def __init__(self, url: str) -> None:
                self.url = url

            def __call__(self, data: object) -> tuple[object]:
                return (data,)

        token = "T0KEN-9f8e7d6c5b4a39281706"
        substitution = Substitution({})
        substitution.secrets = {token}
        shown = str(Post("https://hooks.example.com/services/T0000000000/B0000000000/" + token))
        assert "T0KEN-9f8e7" in shown and token not in shown  # cut in the middle of the token
        assert "T0KEN" not in substitution.redact(shown)
        assert substitution.redact(shown).endswith("/***...)")
        assert substitution.redact("T0K...") == "T0K..."  # too short a start to say
