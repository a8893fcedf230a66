"""Users get real types: mypy --strict over a user's program, against the built wheels.

The README's Python example and a third-party cog are type-checked the way a
user's CI would check them: with the distributions installed from their wheels
into a fresh environment, not from this source tree. A deliberate mistake must
be caught too, which shows the types are real and not ``Any``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WHEELS = ["deadbeat-core", "deadbeat-cogs-fs", "deadbeat-cogs-text", "tests/example-cog"]

THIRD_PARTY_COG = '''
"""A cog an outside author writes, typed against deadbeat's public API."""

from __future__ import annotations

import operator
from typing import Any

from deadbeat import movement


class Stamp(movement.Cog):
    """Write a constant where the setter says.

    :param value: what to write.
    :param target: where it goes.
    :param source: what to read first (unused, shows a getter).
    """

    def __init__(
        self, value: str, target: movement.FieldSetter = "stamp", source: movement.FieldGetter | None = None
    ) -> None:
        self.value = value
        self.target = target
        self.source = source
        self._set = movement.setter(target)
        self._get = movement.getter(source, operator.itemgetter("line"))

    def __call__(self, data: Any) -> tuple[Any, ...]:
        return (self._set(data, self.value),)

    def event_done(self, eid: Any) -> None:
        pass


def build() -> movement.Train:
    train = movement.Train(high_water=100)
    train.cogs = [Stamp("x"), Stamp("y", target=movement.itemsetter("other"))]
    binding: movement.Binding = train.esc.after(1.0, train.esc.shutdown)
    binding.cancel()
    return train
'''

MISTAKE = """
from deadbeat import movement

train = movement.Train(high_water="a lot")
"""


def _run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the distributions installed from freshly built wheels."""
    root = tmp_path_factory.mktemp("typing")
    wheels = root / "wheels"
    for directory in WHEELS:
        built = _run(
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--wheel-dir", wheels, REPO / directory,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
    env = root / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    installed = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", *sorted(wheels.glob("*.whl"))
    )
    assert installed.returncode == 0, installed.stderr
    return python


def _mypy(python: Path, workdir: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    config = workdir / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    return _run(
        sys.executable, "-m", "mypy", "--config-file", config, "--python-executable", python,
        "--no-incremental", *files, cwd=workdir,
    )  # fmt: skip


def test_readme_example_and_a_third_party_cog_pass_mypy_strict(wheel_env: Path, tmp_path: Path) -> None:
    """The README's Python example and a typed third-party cog check cleanly against the wheels."""
    readme = (REPO / "README.md").read_text()
    example = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)[0]
    (tmp_path / "readme_example.py").write_text(example)
    (tmp_path / "third_party_cog.py").write_text(textwrap.dedent(THIRD_PARTY_COG))
    upper = REPO / "tests" / "example-cog" / "src" / "deadbeat_example_upper" / "__init__.py"
    (tmp_path / "uses_example_cog.py").write_text(
        "from deadbeat import movement\nfrom deadbeat_example_upper import Delay, Upper\n\n"
        "train = movement.Train()\ntrain.cogs = [Upper('line'), Delay(train, 0.1)]\n"
    )
    assert upper.exists()
    result = _mypy(
        wheel_env, tmp_path, tmp_path / "readme_example.py", tmp_path / "third_party_cog.py",
        tmp_path / "uses_example_cog.py",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_type_mistake_is_caught(wheel_env: Path, tmp_path: Path) -> None:
    """The types are real: a string where the Train wants an int is an error, not Any."""
    (tmp_path / "mistake.py").write_text(MISTAKE)
    result = _mypy(wheel_env, tmp_path, tmp_path / "mistake.py")
    assert result.returncode == 1
    assert 'Argument "high_water" to "Train" has incompatible type "str"' in result.stdout
