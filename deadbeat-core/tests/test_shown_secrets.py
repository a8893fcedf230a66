"""``str(cog)`` masks a cog's parameters exactly as ``deadbeat run --explain`` does.

``str(cog)`` is in every dead-letter line and every log line about a cog; what
shows parameters before a cog is built (``--explain``, ``deadbeat check``)
masks them through :func:`deadbeat.conf._shown.shown`. Both hide the same
things: parameters named like secrets, a URL's password and query values,
credential headers, a key pasted where its source belongs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deadbeat import movement
from deadbeat.conf._shown import shown

URL = "https://user:hunter2@example.com/x?token=abc&page=2"


class UrlCog(movement.Cog):
    """A third-party cog carrying secrets in several forms.

    :param url: where to.
    :param headers: what to send.
    :param key_env: where the key is.
    :param urls: mirrors.
    :param retries: how often.
    """

    def __init__(
        self,
        url: str = "",
        headers: dict[str, str] | None = None,
        key_env: str = "",
        urls: list[str] | None = None,
        retries: int = 3,
    ) -> None:
        self.url = url
        self.headers = headers or {}
        self.key_env = key_env
        self.urls = urls or []
        self.retries = retries

    def __call__(self, datum: Any) -> tuple[Any, ...]:
        raise ValueError("always fails")


PARAMS: dict[str, Any] = {
    "url": URL,
    "headers": {"Authorization": "Bearer xyzzy", "Accept": "text/plain"},
    "key_env": "0123456789abcdef0123456789abcdef",
    "urls": ["redis://:pw1@a:6379/0", "http://b/?sig=pw2"],
    "retries": 5,
}
SECRETS = ("hunter2", "abc", "xyzzy", "0123456789abcdef", "pw1", "pw2")


def test_str_masks_as_explain_does() -> None:
    """Parameter for parameter, str(cog) shows what --explain shows."""
    text = str(UrlCog(**PARAMS))
    for secret in SECRETS:
        assert secret not in text
    explained = ", ".join(f"{name}={shown(name, value)}" for name, value in PARAMS.items())
    assert text == f"UrlCog({explained})"
    assert "url='https://user:***@example.com/x?token=***&page=***'" in text
    assert "'Accept': 'text/plain'" in text and "'Authorization': '***'" in text
    assert "retries=5" in text


def test_repr_and_cog_name_mask_too() -> None:
    cog = UrlCog(url=URL)
    assert (
        repr(cog)
        == str(cog)
        == movement.cog_name(cog)
        == "UrlCog(url='https://user:***@example.com/x?token=***&page=***')"
    )


def test_names_like_secrets_and_plain_values_as_before() -> None:
    class Plain(movement.Cog):
        def __init__(self, api_key: str = "", password: Any = None, flag: bool = False, name: str = "") -> None:
            self.api_key = api_key
            self.password = password
            self.flag = flag
            self.name = name

    assert str(Plain(api_key="s3cr3t", password=True, flag=True, name="x")) == (
        "Plain(api_key='***', password='***', flag=True, name='x')"
    )
    assert str(Plain(password=None, name="no url here")) == "Plain(name='no url here')"


def test_a_set_and_a_named_tuple_of_urls() -> None:
    from collections import namedtuple

    Pair = namedtuple("Pair", "primary backup")

    class Holder(movement.Cog):
        def __init__(self, hosts: Any = None, pair: Any = None) -> None:
            self.hosts = hosts
            self.pair = pair

    text = str(Holder(hosts=frozenset({"http://u:pw3@h/"}), pair=Pair("http://u:pw4@a/", "b")))
    assert "pw3" not in text and "pw4" not in text
    assert "frozenset({'http://u:***@h/'})" in text
    assert "Pair(primary='http://u:***@a/', backup='b')" in text


def test_first_party_redis_url() -> None:
    stream = pytest.importorskip("deadbeat.stream")
    try:
        drain = stream.RedisStreamDrain(
            movement.Train(movement.Escapement()), stream="s", url="redis://:hunter2@localhost:6379/0"
        )
    except ImportError as exc:  # the redis client is an extra
        pytest.skip(str(exc))
    assert "hunter2" not in str(drain)
    assert "url='redis://:***@localhost:6379/0'" in str(drain)


def test_the_dead_letter_and_log_lines_of_a_failing_cog(caplog: pytest.LogCaptureFixture) -> None:
    """A cog with a URL parameter fails: its dead letter, and the warning of an error train, keep the secret out."""
    esc = movement.Escapement()
    try:
        train = movement.Train(esc)
        train.cogs = [UrlCog(**PARAMS)]
        with caplog.at_level(logging.DEBUG):
            train.send(None, ["x"])
        lines = [record.getMessage() for record in caplog.records]
        assert any("dead letter from UrlCog(url='https://user:***@example.com" in line for line in lines)
        records: list[dict[str, Any]] = []
        errors = movement.Train(esc, cogs=[lambda record: records.append(record)])
        other = movement.Train(esc, error_output=errors, cogs=[UrlCog(url=URL)])
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            other.send(None, ["y"])
        assert records and "hunter2" not in str(records[0]["cog"])
        lines = [record.getMessage() for record in caplog.records]
        assert lines
        for line in lines:
            for secret in SECRETS:
                assert secret not in line, line
    finally:
        esc.close()


MODULE = '''
from deadbeat import movement


class UrlCog(movement.Cog):
    """Carry a URL.

    :param url: where to.
    """

    def __init__(self, url: str = ""):
        self.url = url

    def __call__(self, d):
        raise ValueError("always fails")
'''


def test_deadbeat_run_dead_letter_and_explain_agree(tmp_path: Path) -> None:
    """The same cog line in ``--explain`` and in the dead letter of ``deadbeat run --once``; no secret in either."""
    pytest.importorskip("deadbeat.fs")
    (tmp_path / "urlcog.py").write_text(MODULE)
    (tmp_path / "in.txt").write_text("x\n")
    (tmp_path / "p.toml").write_text(
        textwrap.dedent(
            f"""
            [[cog]]
            use = "fs.read"
            filenames = ["in.txt"]

            [[cog]]
            use = "urlcog:UrlCog"
            url = "{URL}"

            [[cog]]
            use = "fs.write"
            filename = "-"
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}

    def deadbeat(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", *args, "p.toml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    explained = deadbeat("--explain")
    assert explained.returncode == 0, explained.stderr
    ran = deadbeat("--once")
    for output in (explained.stdout, explained.stderr, ran.stdout, ran.stderr):
        assert "hunter2" not in output and "token=abc" not in output
    masked = "url='https://user:***@example.com/x?token=***&page=***'"
    assert f"urlcog:UrlCog({masked})" in explained.stdout
    dead = [line for line in ran.stderr.splitlines() if "dead letter" in line]
    assert len(dead) == 1 and f"dead letter from UrlCog({masked})" in dead[0]
