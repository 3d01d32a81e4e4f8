"""Ctrl-C and SIGTERM at several moments of `plan` and `report`: exit 130 (143 for SIGTERM) within a few
seconds, one line on stderr, no output file (a previous one stays as it was), no temporary file left.

The moments are found, not guessed: `plan` is first run to the end to measure how long it takes on this
machine, then interrupted at 10%, 40% and 70% of that (the later ones inside the Pulumi mock loop);
`report` is interrupted right after each stage it announces on stderr.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aifactory.cli import GRACE_S

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = str(ROOT / "examples" / "national.yaml")
PREVIOUS = "yesterday's complete output\n"
EXIT_WITHIN_S = GRACE_S + 5  # the watchdog ends the process GRACE_S after the signal; 5 s of slack


def _start(command: list[str], out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "AIFACTORY_PROGRESS": "plain"}  # stage lines on the piped stderr
    return subprocess.Popen([sys.executable, "-m", "aifactory.cli", *command, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _interrupt(proc: subprocess.Popen[str], sig: int) -> tuple[int, str, float]:
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=EXIT_WITHIN_S + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the process did not end after the signal")
    return proc.returncode, err, time.monotonic() - sent


def _judge(code: int, err: str, waited: float, out: Path, expected: int) -> None:
    assert code == expected, err
    assert waited < EXIT_WITHIN_S, f"took {waited:.1f} s to stop"
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interrupted"
    assert out.read_text() == PREVIOUS  # the previous file is intact, nothing half-written replaced it
    assert [p.name for p in out.parent.iterdir() if p.name != out.name] == []  # no temporary file left


@pytest.fixture(scope="module")
def plan_seconds(tmp_path_factory: pytest.TempPathFactory) -> float:
    out = tmp_path_factory.mktemp("full") / "manifest.json"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "aifactory.cli", "plan", NATIONAL, "--samples", "2000",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
    return time.monotonic() - started


@pytest.mark.parametrize(("fraction", "sig"), [(0.1, signal.SIGINT), (0.4, signal.SIGINT), (0.7, signal.SIGINT),
                                               (0.4, signal.SIGTERM)])
def test_plan_interrupted(tmp_path: Path, plan_seconds: float, fraction: float, sig: int) -> None:
    out = tmp_path / "manifest.json"
    out.write_text(PREVIOUS)
    proc = _start(["plan", NATIONAL, "--samples", "2000"], out)
    time.sleep(plan_seconds * fraction)
    assert proc.poll() is None, "the run ended before the signal: this moment was not tested"
    code, err, waited = _interrupt(proc, sig)
    _judge(code, err, waited, out, 128 + sig)


@pytest.mark.parametrize("stage", ["sizing", "calibration error", "offline plan", "rendering"])
def test_report_interrupted_after_each_stage(tmp_path: Path, stage: str) -> None:
    out = tmp_path / "report.html"
    out.write_text(PREVIOUS)
    proc = _start(["report", NATIONAL, "--samples", "2000"], out)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the progress display announces each stage on its own line
        seen.append(line)
        if line.startswith(stage):
            break
    else:
        pytest.fail(f"no stage {stage!r} announced: {seen}")
    code, err, waited = _interrupt(proc, signal.SIGINT)
    _judge(code, "".join(seen) + err, waited, out, 130)


def test_a_second_ctrl_c_still_ends_quietly(tmp_path: Path, plan_seconds: float) -> None:
    out = tmp_path / "manifest.json"
    out.write_text(PREVIOUS)
    proc = _start(["plan", NATIONAL, "--samples", "2000"], out)
    time.sleep(plan_seconds * 0.6)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    code, err, waited = _interrupt(proc, signal.SIGINT) if proc.poll() is None else (proc.wait(), "", 0.0)
    assert code == 130 and "Traceback" not in err
    assert out.read_text() == PREVIOUS


def test_in_process_main_keeps_the_callers_handlers() -> None:
    """main(argv) (tests, embedding) installs no signal handlers; only the command line does."""
    from aifactory.cli import main

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["size", "/nonexistent.yaml"]) == 2
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert os.environ.get("PYTEST_CURRENT_TEST")  # still running: no os._exit happened


# -- failing disks, empty paths, unwritable standard output ---------------------------------------------


def _limited(limit_bytes: int):  # noqa: ANN202 (a preexec_fn)
    import resource

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


@pytest.mark.parametrize("command", [["size", NATIONAL, "--samples", "300"],
                                     ["plan", NATIONAL, "--samples", "300"]])
def test_file_size_limit_keeps_the_previous_file(tmp_path: Path, command: list[str]) -> None:
    """A write that fails part way (here the file-size limit, as a full disk would) leaves yesterday's file."""
    out = tmp_path / "out.json"
    out.write_text(PREVIOUS)
    done = subprocess.run([sys.executable, "-m", "aifactory.cli", *command, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, preexec_fn=_limited(4096))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {out}: --out: cannot write the "
                                                f"{'plan' if command[0] == 'size' else 'manifest'}: File too large; "
                                                "the previous file, if any, is unchanged"]
    assert out.read_text() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_full_write_replaces_the_file_whole(tmp_path: Path) -> None:
    from aifactory.cli import main

    out = tmp_path / "plan.json"
    out.write_text(PREVIOUS)
    os.chmod(out, 0o640)
    assert main(["size", NATIONAL, "--samples", "200", "--out", str(out)]) == 0
    assert out.read_text().startswith("{") and out.read_text().endswith("}\n")
    assert oct(out.stat().st_mode & 0o777) == oct(0o640)  # the file's permissions are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


@pytest.mark.parametrize("command", [["size", NATIONAL], ["plan", NATIONAL], ["report", NATIONAL],
                                     ["calibrate"]])
def test_empty_out_is_an_error(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from aifactory.cli import main

    assert main([*command, "--out", ""]) == 2
    assert "--out: needs a file path" in capsys.readouterr().err


def test_out_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aifactory.cli import main

    assert main(["size", NATIONAL, "--samples", "100", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def _close_stdout() -> None:
    os.close(1)


@pytest.mark.parametrize(("how", "code"), [("full", 74), ("closed", 74), ("pipe", 141)])
def test_unwritable_stdout_ends_quietly(how: str, code: int) -> None:
    args = [sys.executable, "-m", "aifactory.cli", "size", NATIONAL, "--samples", "100", "--json"]
    if how == "pipe":
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # `| head -c 0`: the reader is gone before anything is written
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=300) == code and err == ""
        return
    with open("/dev/full", "w") as full:
        done = subprocess.run(args, cwd=ROOT, stdout=full if how == "full" else None, stderr=subprocess.PIPE,
                              text=True, timeout=300, preexec_fn=_close_stdout if how == "closed" else None)
    assert done.returncode == code
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_bug_is_one_line_and_exit_70(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from aifactory import cli

    def broken(_args: object) -> int:
        raise KeyError("citizen-assistant-v1")

    monkeypatch.setitem(cli.COMMANDS, "size", broken)
    monkeypatch.delenv("AIFACTORY_DEBUG", raising=False)
    assert cli.main(["size", NATIONAL]) == 70
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: internal error (KeyError: 'citizen-assistant-v1'); please report it "
                   "(AIFACTORY_DEBUG=1 shows the traceback)"]
    monkeypatch.setenv("AIFACTORY_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["size", NATIONAL])


SWALLOWED_SCRIPT = """
import gc, os, signal, sys, time, weakref
from aifactory import cli
cli._install_handlers()

class Thing:
    pass

thing = Thing()
# the first signal lands inside a weakref callback, as it did inside importlib's module-lock callback
ref = weakref.ref(thing, lambda _r: cli._on_signal(signal.SIGINT, None))
try:
    del thing
    gc.collect()
    for _ in range(200):  # the re-delivered interrupt must reach this loop
        time.sleep(0.01)
    print("not interrupted")
except KeyboardInterrupt as exc:
    print("unwound:", type(exc).__name__)
sys.stdout.flush()
os._exit(0)  # before the watchdog's grace period ends
"""


def test_signal_inside_a_weakref_callback_still_unwinds_quietly() -> None:
    """A signal raised where Python cannot propagate it (CI saw one in importlib's module-lock callback) is
    neither printed as "Exception ignored ... Traceback" nor lost: it unwinds the main flow."""
    done = subprocess.run([sys.executable, "-c", SWALLOWED_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "unwound: Interrupted", done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
