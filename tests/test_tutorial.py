"""The tutorial works as written: its commands, run in order in an empty directory, print what it shows.

docs/tutorial.rst is read, not copied: every ``.. code-block:: console`` is a list
of ``$ COMMAND`` lines, each followed by the output it promises (``...`` stands for
text that differs between runs), and every code block with a ``:caption:`` is a
file the reader saves under that name. They are replayed in one shell, in
order, in a fresh directory. The only liberty taken: pip finds the
distributions in wheels built from this checkout (``PIP_NO_INDEX``,
``PIP_FIND_LINKS``) rather than on the package index.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Built

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.rst"
#: Separates the output of one command from the next in the replay.
MARK = "@@@ deadbeat tutorial step"


@dataclass
class Command:
    line: str
    expected: list[str] = field(default_factory=list)


@dataclass
class SavedFile:
    name: str
    content: str


def steps(text: str) -> list[Command | SavedFile]:
    """:returns: the tutorial's console commands and files, in the order a reader meets them."""
    found: list[Command | SavedFile] = []
    blocks = re.finditer(r"^\.\. code-block:: (\w+)\n((?:   :\w+:.*\n)*)\n((?:(?:   .*)?\n)+)", text, re.MULTILINE)
    for block in blocks:
        language, options = block.group(1), block.group(2)
        body = [line[3:] for line in block.group(3).rstrip("\n").splitlines()]
        caption = re.search(r":caption: (\S+)", options)
        if language == "console":
            for line in body:
                if line.startswith("$ "):
                    found.append(Command(line[2:]))
                else:
                    assert found and isinstance(found[-1], Command), f"output before any command: {line!r}"
                    found[-1].expected.append(line)
        elif caption:
            found.append(SavedFile(caption.group(1), "\n".join(body) + "\n"))
    return found


def script(replay: list[Command | SavedFile]) -> str:
    """:returns: one bash script doing every step, with a mark before each command's output."""
    lines = []
    for number, step in enumerate(replay):
        if isinstance(step, SavedFile):
            end = "DEADBEAT_TUTORIAL_EOF"
            assert end not in step.content
            lines += [f"cat > {shlex.quote(step.name)} <<'{end}'", step.content.rstrip("\n"), end]
        else:
            lines.append(f"printf '\\n{MARK} {number}\\n'")
            # Braces, not a subshell: cd, background jobs and $! carry over to the next command.
            lines.append(f'{{ {step.line}\n}} 2>&1 || {{ echo "exit status $?"; exit 1; }}')
    return "\n".join(lines) + "\n"


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


class TestTutorial:
    def test_the_tutorial_is_a_script(self) -> None:
        """The tutorial has the steps this test replays: installing, saving the files, running, stopping."""
        replay = steps(TUTORIAL.read_text())
        files = [s.name for s in replay if isinstance(s, SavedFile)]
        commands = [s.line for s in replay if isinstance(s, Command)]
        assert files == ["events.log", "pipeline.toml"]
        assert any(c.startswith(".venv/bin/pip install") for c in commands)
        assert any(c.endswith("&") for c in commands) and "kill $!" in commands

    def test_following_the_tutorial_gives_what_it_shows(self, built: Built, tmp_path: Path) -> None:
        """Every command of the tutorial, run in order in an empty directory, prints the output shown under it."""
        replay = steps(TUTORIAL.read_text())
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))},
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(built.wheelhouse),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        # A guard against a hang, not a measure: the whole tutorial takes seconds.
        result = subprocess.run(
            ["bash"], input=script(replay), capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=300
        )
        outputs = result.stdout.split(f"\n{MARK} ")[1:]
        commands = [s for s in replay if isinstance(s, Command)]
        assert result.returncode == 0 and len(outputs) == len(commands), result.stdout + result.stderr
        for command, output in zip(commands, outputs, strict=True):
            actual = output.split("\n", 1)[1].rstrip("\n").splitlines() if "\n" in output else []
            actual = [line.rstrip() for line in actual]
            expected = [line.rstrip() for line in command.expected]
            assert len(actual) == len(expected) and all(map(matches, expected, actual)), (
                f"$ {command.line}\nshown:\n" + "\n".join(expected) + "\nprinted:\n" + "\n".join(actual)
            )

    @pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
    def test_the_unit_file_verifies(self, tmp_path: Path) -> None:
        """The tutorial's unit file passes systemd-analyze verify, but for the deadbeat binary it cannot see here."""
        unit = re.search(r"^\.\. code-block:: ini\n\n((?:(?:   .*)?\n)+)", TUTORIAL.read_text(), re.MULTILINE)
        assert unit, "the tutorial shows a unit file"
        path = tmp_path / "anonymiser.service"
        path.write_text("\n".join(line[3:] for line in unit.group(1).splitlines()) + "\n")
        result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
        output = (result.stdout + result.stderr).splitlines()
        assert [line for line in output if line and "is not executable" not in line] == []
