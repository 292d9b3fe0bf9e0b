"""Console output that survives its terminal going away."""

from __future__ import annotations

import os
import subprocess
import sys

from rich.console import Console

from tui.output import LosableStream


def test_a_stream_whose_reader_is_gone_goes_quiet_instead_of_raising() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads any more: writes fail with EPIPE
    with os.fdopen(write_end, "w", buffering=1) as raw:
        stream = LosableStream(raw)
        console = Console(file=stream, force_terminal=False)  # type: ignore[arg-type]
        console.print("first line")
        assert stream.lost == "Broken pipe"
        console.print("and the ones after it")  # goes to /dev/null now
        stream.flush()
        assert stream.lost == "Broken pipe"
        assert os.path.samefile(f"/proc/self/fd/{raw.fileno()}", os.devnull)


def test_a_process_whose_output_is_lost_still_exits_cleanly() -> None:
    # Without the switch to /dev/null the interpreter's last flush fails, and the exit status
    # becomes 120 with a complaint written nowhere.
    program = (
        "import sys; from rich.console import Console; from tui.output import LosableStream\n"
        "console = Console(file=LosableStream(sys.stdout))\n"
        "for n in range(1000): console.print('line', n)\n"
        "print('plain print too')\n"
    )
    read_end, write_end = os.pipe()
    os.close(read_end)
    result = subprocess.run(
        [sys.executable, "-c", program],
        stdout=write_end,
        stderr=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        check=False,
    )
    os.close(write_end)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
