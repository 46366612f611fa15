"""Ctrl-C (SIGINT) and SIGTERM: the step in progress finishes, a checkpoint is written, the run
exits with 128 + the signal number and says how to resume; `gan train resume=` then ends
bit-identical to the run that never stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from gan_cli import checkpoint as ckpt_io
from tests.helpers import TINY_RING, gan, start_gan, state_differences

STEPS = 200
BASE = [*TINY_RING, f"trainer.steps={STEPS}", "trainer.checkpoint_every=10", "trainer.log_every=7"]


def start_run(run_dir) -> subprocess.Popen:
    return start_gan("train", *BASE, f"hydra.run.dir={run_dir}", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)


def wait_for_checkpoint(run_dir, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (run_dir / "checkpoints" / "last.pt").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.002)


def interrupt(run_dir, sig: signal.Signals) -> str:
    process = start_run(run_dir)
    try:
        wait_for_checkpoint(run_dir, process)
        process.send_signal(sig)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + sig.value, out + err
    return out + err  # Hydra logs to stdout, errors go to stderr


def check_interrupted(run_dir, output: str, sig: signal.Signals) -> None:
    assert "Traceback" not in output
    assert f"{sig.name} received: finishing this step and writing a checkpoint" in output
    assert f"{sig.name}: stopped after step" in output and f"Continue with: gan train resume={run_dir}" in output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["signal"] == sig.name
    assert summary["resume"] == f"gan train resume={run_dir}"
    assert 10 <= summary["steps"] < STEPS
    assert ckpt_io.safe_load(run_dir / "checkpoints" / "last.pt")["step"] == summary["steps"]


def test_sigterm_checkpoints_and_exits_with_a_resume_hint(tmp_path):
    check_interrupted(tmp_path, interrupt(tmp_path, signal.SIGTERM), signal.SIGTERM)


def test_ctrl_c_then_resume_equals_the_uninterrupted_run(tmp_path):
    whole = gan("train", *BASE, f"hydra.run.dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr
    run_dir = tmp_path / "stopped"
    check_interrupted(run_dir, interrupt(run_dir, signal.SIGINT), signal.SIGINT)

    resumed = gan("train", f"resume={run_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run_dir} at step" in resumed.stdout
    assert state_differences(tmp_path / "whole/checkpoints/final.pt", run_dir / "checkpoints/final.pt") == []

    def losses(folder):
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if k == "step" or k.startswith(("d/", "g/"))} for row in rows]

    assert losses(run_dir) == losses(tmp_path / "whole")  # one log, as if it never stopped
