"""What the deadbeat command writes survives a reader that goes away (``| head -1``)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from deadbeat.command._common import write_all


class TestClosedPipe:
    def test_a_closed_pipe_ends_the_output_quietly(self) -> None:
        """Writing to a pipe whose reader is gone returns False, and the stream then writes to /dev/null."""
        read_end, write_end = os.pipe()
        os.close(read_end)
        out = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write_end, "w")), encoding="utf-8")
        try:
            assert write_all(out, "x" * 100_000 + "\n") is False
            # What Python flushes at exit now goes to /dev/null instead of raising again.
            os.write(out.fileno(), b"more")
        finally:
            try:
                out.close()
            except BrokenPipeError:
                pass  # the text left in the wrapper's buffer, from before the redirection

    def test_an_open_stream_gets_everything(self) -> None:
        """With a reader, everything is written and flushed."""
        out = io.StringIO()
        assert write_all(out, "all of it\n") is True
        assert out.getvalue() == "all of it\n"

    def test_the_listing_into_head(self) -> None:
        """`deadbeat cogs --json | head -1` prints the first line, exit status 0, nothing on stderr."""
        command = f"{sys.executable} -m deadbeat.command cogs --json | head -1"
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60)
        assert result.stdout == "[\n"
        assert result.returncode == 0 and result.stderr == ""
