"""The console script `main`: exit status, flushed output and exit handlers survive its fast exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"


def _main(argv: list[str], before: str = "", **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run `vaultline.cli.main.main` in a fresh interpreter, after `before` (Python source)."""
    code = textwrap.dedent(before) + (
        f"\nimport sys\nsys.argv = ['vaultline', *{argv!r}]\nfrom vaultline.cli.main import main\nmain()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False, **kwargs
    )  # type: ignore[call-overload, no-any-return]


def test_the_console_script_is_main() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "vaultline"]
    assert script.value == "vaultline.cli.main:main"


def test_success_exits_zero_with_all_of_stdout() -> None:
    # stdout into a pipe is block-buffered: the whole JSON schema arrives only if it was flushed
    result = _main(["schema"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "Pipeline"


def test_an_invalid_spec_keeps_exit_code_2_and_its_message(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\nname: bad\nsources: {}\nsteps:\n  - mask: {columns: [a], keep: many}\n")
    result = _main(["validate", str(spec)])
    assert result.returncode == 2
    assert "steps.0.mask" in result.stderr


def test_exit_handlers_run_before_the_process_ends(tmp_path: Path) -> None:
    marker = tmp_path / "handler-ran"
    before = f"""
        import atexit, pathlib
        atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text("yes"))
    """
    result = _main(["--help"], before)
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "yes"


def test_a_running_non_daemon_thread_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "thread-finished"
    before = f"""
        import pathlib, threading, time
        def late() -> None:
            time.sleep(1.0)
            pathlib.Path({str(marker)!r}).write_text("done")
        threading.Thread(target=late, daemon=False).start()
    """
    result = _main(["--help"], before)
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "done"
