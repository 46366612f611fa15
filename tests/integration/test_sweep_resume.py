"""A sweep run again into its folder: finished jobs are skipped and untouched, stopped ones resume
from their last checkpoint, failed ones start again from step 0; the end lines say which did what."""

from __future__ import annotations

import json
from pathlib import Path

from gan_cli import sweep_state
from tests.helpers import TINY_RING, gan


def write_job(folder: Path, status: str | None, checkpoint: bool) -> Path:
    folder.mkdir(parents=True)
    if status is not None:
        (folder / "summary.json").write_text(json.dumps({"status": status, "steps": 7}))
    if checkpoint:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "last.pt").write_bytes(b"")
    return folder


def test_what_a_job_folder_asks_for(tmp_path):
    action = {name: sweep_state.job_action(write_job(tmp_path / name, status, ckpt))
              for name, status, ckpt in [
                  ("finished", "finished", True), ("stopped", "stopped", True), ("interrupted", "interrupted", True),
                  ("killed", "running", True), ("killed_early", "running", False), ("diverged", "diverged", True),
                  ("failed", "failed", False), ("no_summary", None, True)]}
    assert action == {"finished": "skip", "stopped": "resume", "interrupted": "resume", "killed": "resume",
                      "killed_early": "rerun", "diverged": "rerun", "failed": "rerun", "no_summary": "rerun"}
    assert sweep_state.job_action(tmp_path / "never_ran") == "new"


def test_a_rerun_clears_the_attempt_but_keeps_the_log_and_config(tmp_path):
    job = write_job(tmp_path / "job", "diverged", True)
    for name in ("metrics.jsonl", "scores.jsonl", "train.log"):
        (job / name).write_text("{}\n")
    (job / ".hydra").mkdir()
    (job / ".hydra" / "config.yaml").write_text("seed: 0\n")
    assert sweep_state.clear_attempt(job) == ["checkpoints", "metrics.jsonl", "scores.jsonl", "summary.json"]
    assert sorted(p.name for p in job.iterdir()) == [".hydra", "train.log"]


def test_a_sweep_run_again_skips_finished_resumes_stopped_and_reruns_failed_jobs(tmp_path):
    args = ["train", "--multirun", *TINY_RING, "trainer.steps=20", "trainer.log_every=10",
            "trainer.checkpoint_every=10", "seed=0,1,2", f"hydra.sweep.dir={tmp_path}"]
    first = gan(*args)
    assert first.returncode == 0, first.stderr
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [j.name.split("_")[0] for j in jobs] == ["0", "1", "2"]
    finished, stopped, failed = jobs
    # Job 1 as a kill at step 10 leaves it (last.pt of step 10, logs beyond it), job 2 as a failure.
    (stopped / "checkpoints" / "step_0000010.pt").replace(stopped / "checkpoints" / "last.pt")
    (stopped / "checkpoints" / "final.pt").unlink()
    (stopped / "summary.json").write_text(json.dumps({"status": "running"}))
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "out of memory"}))
    untouched = {p: p.stat().st_mtime_ns for p in finished.rglob("*") if p.is_file()}

    again = gan(*args)
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in finished.rglob("*") if p.is_file()} == untouched
    assert "resuming" in (stopped / "train.log").read_text() and "at step 10" in (stopped / "train.log").read_text()
    assert "starting again from step 0" in (failed / "train.log").read_text()
    for job in (stopped, failed):
        assert json.loads((job / "summary.json").read_text())["status"] == "finished"
        steps = [json.loads(line)["step"] for line in (job / "metrics.jsonl").read_text().splitlines()]
        assert steps == [10, 20]  # one run's logs: the stopped job's truncated, the failed one's restarted
    lines = again.stderr.splitlines()
    start = lines.index(f"sweep: 3 jobs in {tmp_path} (run again):")
    assert lines[start + 1] == f"  {finished.name}: finished earlier: skipped, untouched"
    assert lines[start + 2] == f"  {stopped.name}: resumed from its last checkpoint -> finished"
    assert lines[start + 3] == f"  {failed.name}: did not finish earlier: run again from step 0 -> finished"
    assert lines[start + 4] == f"sweep: all 3 jobs finished ({tmp_path})"


# ----------------------------------------------------------------------------- Slurm pre-flight
def test_a_slurm_sweep_without_a_reachable_slurm_is_one_line_before_any_job(tmp_path):
    import pytest

    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from tests.conftest import REPO, run_gan

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "sbatch").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "sinfo").write_text("#!/bin/sh\necho 'sinfo: error: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n")
    for tool in ("sbatch", "sinfo"):
        (fake_bin / tool).chmod(0o755)
    args = ["train", "-m", "hydra/launcher=slurm", *TINY_RING, "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]

    unreachable = run_gan(*args, cwd=REPO, env={"PATH": f"{fake_bin}:/usr/bin:/bin"})
    assert unreachable.returncode == 2
    assert unreachable.stderr.strip().splitlines() == [
        "error: hydra/launcher=slurm: Slurm is not reachable (sinfo: sinfo: error: Unable to contact slurm controller "
        "(connect failure)): check that slurmctld is running and slurm.conf points to it"]
    missing = run_gan(*args, cwd=REPO, env={"PATH": str(tmp_path / "nothing")})
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("error: hydra/launcher=slurm: Slurm's sbatch and sinfo are not on PATH")
    assert not (tmp_path / "sweep").exists()
