"""``fs.write`` refuses a state file that is its own output file, by any name.

``deadbeat check`` said so, but a run (or an application in Python) went on:
each checkpoint was written over the output's lines and each start cut the
output back to a "checkpoint" read from them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deadbeat import fs, movement


@pytest.mark.parametrize("spelling", ["same", "dotted", "link"])
def test_a_state_file_that_is_the_output_is_refused(tmp_path: Path, spelling: str) -> None:
    output = tmp_path / "out.log"
    output.write_text("kept\n")
    if spelling == "same":
        state = str(output)
    elif spelling == "dotted":
        state = f"{tmp_path}/./out.log"
    else:
        state = str(tmp_path / "state.json")
        os.symlink(output, state)
    with pytest.raises(ValueError, match="is the output file itself"):
        fs.LineFileDrain(movement.Escapement(), filename=str(output), state_file=state)
    assert output.read_text() == "kept\n"


def test_a_state_file_beside_the_output_is_fine(tmp_path: Path) -> None:
    writer = fs.LineFileDrain(
        movement.Escapement(), filename=str(tmp_path / "out.log"), state_file=str(tmp_path / "st.json")
    )
    writer.done()
