"""What the text distribution's tests share: running a pipeline file as an operator does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

RunPipeline = Callable[[str], "subprocess.CompletedProcess[str]"]


@pytest.fixture
def run_pipeline(tmp_path: Path) -> RunPipeline:
    """``run_pipeline(body)``: write ``body`` as ``p.toml`` in ``tmp_path`` and ``deadbeat run`` it ``--once`` there."""

    def run(body: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "p.toml").write_text(textwrap.dedent(body))
        return subprocess.run(
            [sys.executable, "-m", "deadbeat.command", "run", "p.toml", "--once"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
